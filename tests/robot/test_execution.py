"""A plan split for a ros2_control arm: arm-only rest-to-rest segments and gripper steps that
together replay every waypoint the arm moves through, in order."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.robot import flow_cases
from chord_core.robot.execution import ArmSegment, GripperStep, execution_steps
from chord_core.robot.planner import Plan, plan_flow
from chord_core.robot.safety import PlanRefused


@pytest.fixture(scope="module")
def grasp_plan(panda):
    case = flow_cases.lift_and_move()
    return plan_flow(case.flow, case.scene, panda, "grasp")


def test_a_grasp_splits_into_open_approach_close_carry_open_retreat(grasp_plan, panda):
    steps = execution_steps(grasp_plan)
    kinds = [type(s).__name__ for s in steps]
    assert kinds == ["GripperStep", "ArmSegment", "GripperStep", "ArmSegment", "GripperStep", "ArmSegment"]
    prepare, close, release = steps[0], steps[2], steps[4]
    assert (prepare.phase, prepare.width) == ("prepare", grasp_plan.gripper[0]) and prepare.width > 0.03
    assert (close.phase, close.width) == ("close", 0.0)
    assert release.phase == "release" and release.width == pytest.approx(grasp_plan.gripper[0])
    assert steps[1].phases == ("approach", "descend")
    assert steps[3].phases[-2:] == ("follow", "hold") and steps[5].phases[-1] == "retreat"
    for segment in steps[1::2]:
        assert segment.positions.shape[1] == len(panda.joint_names)  # arm joints only
        np.testing.assert_array_equal(segment.positions, grasp_plan.positions[segment.plan_indices])
        assert segment.times[0] == 0.0 and np.all(np.diff(segment.times) > 0)
        np.testing.assert_allclose(np.diff(segment.times), np.diff(grasp_plan.times[segment.plan_indices]))
        assert not segment.velocities[0].any() and not segment.velocities[-1].any()  # rest to rest
        # inside a segment: the plan's own (certified) waypoint velocities
        np.testing.assert_allclose(segment.velocities[1:-1], grasp_plan.velocities[segment.plan_indices[1:-1]],
                                   atol=1e-9)
        widths = grasp_plan.gripper[segment.plan_indices[1:]]
        assert np.all(widths == widths[0]), "the gripper changes inside an arm segment"


def test_the_segments_replay_every_waypoint_and_skip_only_waits_in_place(grasp_plan):
    steps = execution_steps(grasp_plan)
    segments = [s for s in steps if isinstance(s, ArmSegment)]
    for before, after in zip(segments, segments[1:]):  # each starts where the arm stopped
        np.testing.assert_array_equal(after.positions[0], before.positions[-1])
    covered = np.concatenate([s.plan_indices for s in segments])
    assert np.all(np.diff(covered) >= 0) and covered[0] == 0 and covered[-1] == len(grasp_plan.times) - 1
    skipped = np.setdiff1d(np.arange(len(grasp_plan.times)), covered)
    assert len(skipped) > 0  # the waits for the fingers
    for k in skipped:  # only waypoints where the arm stands still
        np.testing.assert_array_equal(grasp_plan.positions[k], grasp_plan.positions[k - 1])
        assert grasp_plan.phases[k] in ("close", "release")


def test_a_push_sets_its_opening_once_and_is_one_trajectory(panda):
    case = flow_cases.push_across()
    plan = plan_flow(case.flow, case.scene, panda, "push")
    steps = execution_steps(plan)
    assert len(steps) == 2 and steps[0] == GripperStep(float(plan.gripper[0]), "prepare")
    assert isinstance(steps[1], ArmSegment)
    np.testing.assert_array_equal(steps[1].plan_indices, np.arange(len(plan.times)))


def test_a_refused_plan_has_no_steps(panda):
    refused = Plan.refused(PlanRefused(3, "unreachable"), panda.joint_names, "grasp", "box", 0.1)
    with pytest.raises(ChordError, match="no steps"):
        execution_steps(refused)
