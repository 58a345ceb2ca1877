"""Simulated time for /clock: what the nodes of a simulated graph read with use_sim_time.

sim_arm steps its physics only while a goal executes; between goals the scene is at rest and
frozen. Simulated time must still pass then (timers and stamps of nodes on use_sim_time would
stop), so the clock is the physics' time while it steps, and wall time x real_time_factor while
it rests: nothing moves at rest, so no physics is needed to let that time pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from builtin_interfaces.msg import Time


class SimClock:
    def __init__(self, real_time_factor: float, physics_time: Callable[[], float],
                 wall: Callable[[], float] = time.monotonic) -> None:
        self.rtf, self.physics_time, self.wall = real_time_factor, physics_time, wall
        self._rested = 0.0  # simulated seconds that passed at rest
        self._stepping = False
        self._last_wall = wall()
        self._lock = threading.Lock()

    def _rest_until_now(self) -> None:
        now = self.wall()
        if not self._stepping:
            self._rested += (now - self._last_wall) * self.rtf
        self._last_wall = now

    def begin_stepping(self) -> None:
        """The physics starts advancing: from now on the clock follows it."""
        with self._lock:
            self._rest_until_now()
            self._stepping = True

    def end_stepping(self) -> None:
        """The scene rests again: the clock follows the wall clock x real_time_factor."""
        with self._lock:
            self._rest_until_now()
            self._stepping = False

    def seconds(self) -> float:
        with self._lock:
            self._rest_until_now()
            return self._rested + self.physics_time()

    def now_msg(self) -> Time:
        nanoseconds = int(round(self.seconds() * 1e9))
        return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)
