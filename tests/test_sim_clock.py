"""sim_arm's /clock: the physics' time while it steps, wall time x real_time_factor at rest."""

from chord_ros.sim_clock import SimClock


class Fake:
    """A wall clock and a physics time the test moves by hand."""

    def __init__(self) -> None:
        self.wall, self.physics = 100.0, 0.0


def test_clock_rests_at_the_real_time_factor_and_follows_the_physics_while_it_steps():
    fake = Fake()
    clock = SimClock(4.0, lambda: fake.physics, wall=lambda: fake.wall)
    assert clock.seconds() == 0.0
    fake.wall += 2.5                      # at rest: 2.5 wall s are 10 simulated s
    assert clock.seconds() == 10.0
    clock.begin_stepping()
    fake.wall += 3.0                      # a goal: the physics advances 1.5 s (a slow CPU lags the wall)
    fake.physics += 1.5
    assert clock.seconds() == 11.5        # the physics decides, not the wall
    clock.end_stepping()
    fake.wall += 0.5                      # at rest again
    assert clock.seconds() == 13.5
    msg = clock.now_msg()
    assert (msg.sec, msg.nanosec) == (13, 500_000_000)


def test_clock_never_runs_backwards_across_goals():
    fake = Fake()
    clock = SimClock(20.0, lambda: fake.physics, wall=lambda: fake.wall)
    seen = [clock.seconds()]
    for _ in range(5):
        fake.wall += 0.1
        seen.append(clock.seconds())
        clock.begin_stepping()
        for _ in range(3):
            fake.wall += 0.01
            fake.physics += 0.2
            seen.append(clock.seconds())
        clock.end_stepping()
        seen.append(clock.seconds())
    assert all(b >= a for a, b in zip(seen, seen[1:]))
    assert abs(seen[-1] - (5 * 0.1 * 20 + 5 * 3 * 0.2)) < 1e-9
