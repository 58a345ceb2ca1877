"""Every malformed message of `chord_ros.fuzz` is refused by the check its node runs on it, with a
reason (the DDS run of these messages is `chord-ros bench reliability`, tests/test_reliability.py)."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.prior.vocabulary import check_command
from chord_msgs.action import Choreograph
from chord_ros import fuzz
from chord_ros.command_client import goal_scans
from chord_ros.convert import check_text_length, msg_to_flow
from chord_ros.trajectory_conversion import gripper_target, trajectory_to_arrays

PER_KIND = 6
PANDA = [f"panda_joint{i}" for i in range(1, 8)]


def refusal(check) -> str:
    with pytest.raises(ChordError) as caught:
        check()
    assert len(str(caught.value)) > 15  # a reason, not just a failure
    return str(caught.value)


def test_every_bad_cloud_is_refused_before_a_goal_is_sent():
    rng = np.random.default_rng(0)
    for kind, cloud in fuzz.bad_clouds(PER_KIND * len(fuzz.CLOUD_KINDS), rng):
        goal = Choreograph.Goal(prompt="lift the block", clouds=[cloud], object_names=["block"])
        assert "block" in refusal(lambda goal=goal: goal_scans(goal, 500_000, 500)), kind


def test_every_bad_command_is_refused_by_the_command_node_or_the_mini_prior():
    rng = np.random.default_rng(1)
    for kind, text in fuzz.bad_commands(PER_KIND * len(fuzz.COMMAND_KINDS), rng):
        if not text.strip():
            assert kind in ("empty", "blank")  # refused by make_goal: tested in test_command_client
            continue
        refusal(lambda text=text: (check_text_length(text, 500), check_command(text)))


def test_every_bad_flow_is_refused_by_the_planners_checks():
    rng = np.random.default_rng(2)
    kinds = set()
    for kind, msg in fuzz.bad_flows(PER_KIND * len(fuzz.FLOW_KINDS), rng):
        refusal(lambda msg=msg: msg_to_flow(msg).validate(min_frames=2))
        kinds.add(kind)
    assert kinds == set(fuzz.FLOW_KINDS)


def test_malformed_trajectories_are_refused_by_the_conversion():
    """The kinds trajectory_to_arrays owns (names, sizes, NaN, times, no points); limits, speed and
    the start point are the arm's own checks (tests/test_sim_arm_node.py)."""
    rng = np.random.default_rng(3)
    own = {"unknown joint names", "repeated joint name", "positions size mismatch", "NaN position",
           "times not increasing", "no points"}
    lower, upper = -np.ones(7) * 2.8, np.ones(7) * 2.8
    cases = fuzz.bad_trajectories(PER_KIND * 9, rng, PANDA, np.zeros(7), lower, upper)
    seen = set()
    for kind, msg in cases:
        if kind in own:
            refusal(lambda msg=msg: trajectory_to_arrays(msg, PANDA))
            seen.add(kind)
    assert seen == own


def test_malformed_gripper_commands_are_refused():
    from chord_msgs.msg import GripperCommand

    rng = np.random.default_rng(4)
    cases = fuzz.bad_gripper_commands(PER_KIND * 5, rng, 0.0, 0.04)
    for _, (position, effort) in cases:
        refusal(lambda p=position, e=effort: gripper_target(GripperCommand(position=p, max_effort=e), 0.0, 0.04))
    assert len({kind for kind, _ in cases}) == 5
    assert gripper_target(GripperCommand(position=0.04, max_effort=40.0), 0.0, 0.04) == 0.04  # the edge is fine
