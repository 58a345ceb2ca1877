"""Plan -> JointTrajectory / PlanReport, and JointTrajectory -> validated arrays."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chord_core.errors import ChordError
from chord_core.robot.articulation import Joint
from chord_core.robot.config import PANDA_ARM_JOINTS
from chord_core.robot.execution import ArmSegment
from chord_core.robot.grasp import Grasp
from chord_core.robot.planner import ManipulatedPart, Plan
from chord_core.robot.safety import PlanRefused
from chord_ros.convert import pose_msg_to_matrix
from chord_ros.trajectory_conversion import (
    JointNamesError,
    duration_msg,
    duration_seconds,
    plan_to_report,
    segment_to_trajectory,
    trajectory_to_arrays,
)


def _plan(k: int = 5) -> Plan:
    rng = np.random.default_rng(0)
    times = np.linspace(0.0, 2.0, k)
    grasp = Grasp(0.9, 0.05, 0.02, 0.01, np.eye(3)[:, [2, 1, 0]] * [1, 1, -1], np.array([0.5, 0.0, 0.1]))
    return Plan(joint_names=PANDA_ARM_JOINTS, times=times, positions=rng.normal(size=(k, 7)),
                velocities=rng.normal(size=(k, 7)), gripper=np.linspace(0.08, 0.0, k), flow_frames=np.zeros(k, int),
                phases=["follow"] * k, mode="grasp", object_name="box", grasp=grasp,
                tracking_errors=np.array([0.001, 0.002, 0.0015]), planning_time=0.7)


def _msg(names, rows, times) -> JointTrajectory:
    return JointTrajectory(joint_names=list(names), points=[
        JointTrajectoryPoint(positions=[float(v) for v in q], time_from_start=duration_msg(t))
        for q, t in zip(rows, times)])


def test_durations_round_trip():
    for seconds in (0.0, 0.05, 1.999999999, 8.69264638725303, 120.5):
        msg = duration_msg(seconds)
        assert 0 <= msg.nanosec < 1_000_000_000
        assert duration_seconds(msg) == pytest.approx(seconds, abs=1e-9)


def test_the_report_trajectory_is_the_arm_alone_with_the_gripper_beside_it():
    plan = _plan()
    report = plan_to_report(plan)
    msg = report.trajectory
    assert list(msg.joint_names) == list(PANDA_ARM_JOINTS)  # what a joint_trajectory_controller owns
    assert len(msg.points) == len(plan.times)
    np.testing.assert_allclose([p.positions for p in msg.points], plan.positions)
    np.testing.assert_allclose([p.velocities for p in msg.points], plan.velocities)
    np.testing.assert_allclose([duration_seconds(p.time_from_start) for p in msg.points], plan.times, atol=1e-9)
    np.testing.assert_allclose(report.gripper_openings, plan.gripper, rtol=1e-6)
    back = trajectory_to_arrays(msg, PANDA_ARM_JOINTS)
    np.testing.assert_allclose(back.positions, plan.positions)
    np.testing.assert_allclose(back.velocities, plan.velocities)


def test_an_arm_segment_becomes_a_trajectory_from_zero():
    plan = _plan()
    rest = np.zeros((3, 7))
    segment = ArmSegment(np.array([0.0, 0.4, 0.9]), plan.positions[1:4], rest, np.arange(1, 4), ("follow",))
    msg = segment_to_trajectory(segment, PANDA_ARM_JOINTS)
    assert list(msg.joint_names) == list(PANDA_ARM_JOINTS)
    np.testing.assert_allclose([p.positions for p in msg.points], plan.positions[1:4])
    assert [duration_seconds(p.time_from_start) for p in msg.points] == pytest.approx([0.0, 0.4, 0.9], abs=1e-9)


def test_plan_report_of_accepted_and_refused_plans():
    plan = _plan()
    report = plan_to_report(plan)
    assert report.accepted and report.offending_frame == -1 and report.mode == "grasp"
    assert report.grasp.object_name == "box" and report.grasp.width == pytest.approx(0.05)
    q = report.grasp.pose.orientation
    assert np.linalg.norm([q.x, q.y, q.z, q.w]) == pytest.approx(1.0)
    assert report.max_tracking_error == pytest.approx(0.002)
    np.testing.assert_allclose(report.tracking_errors, plan.tracking_errors, rtol=1e-6)
    assert len(report.trajectory.points) == len(plan.times)
    assert report.header.frame_id == "world"
    assert report.manipulated_part == ""  # the whole box is held
    np.testing.assert_allclose(pose_msg_to_matrix(report.object_motion), np.eye(4), atol=1e-12)  # none given
    motion = np.eye(4)
    motion[:3, :3] = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    motion[:3, 3] = [0.02, -0.1, -0.012]
    plan.extra["object_motion"] = motion
    np.testing.assert_allclose(pose_msg_to_matrix(plan_to_report(plan).object_motion), motion, atol=1e-12)

    joint = Joint("revolute", 0, 1, np.array([0.0, 1.0, 0.0]), np.zeros(3), np.zeros(3), 0.0)
    plan.extra["part"] = ManipulatedPart(np.array([True, False, True]), 1, joint)
    assert plan_to_report(plan).manipulated_part == "part 1 of 'box' (revolute joint, 2 points)"

    refused = Plan.refused(PlanRefused(4, "too fast"), PANDA_ARM_JOINTS, "push", "block", 0.3)
    report = plan_to_report(refused)
    assert not report.accepted and report.reason == "too fast" and report.offending_frame == 4
    assert report.mode == "push" and report.grasp.object_name == "block"
    assert len(report.trajectory.points) == 0 and len(report.tracking_errors) == 0
    assert len(report.gripper_openings) == 0
    np.testing.assert_allclose(pose_msg_to_matrix(report.object_motion), np.eye(4), atol=1e-12)


def test_arrays_follow_the_arm_order_and_finger_joints_are_refused():
    rows = np.arange(14, dtype=float).reshape(2, 7)
    shuffled = list(reversed(PANDA_ARM_JOINTS))
    out = trajectory_to_arrays(_msg(shuffled, rows, [0.0, 1.0]), PANDA_ARM_JOINTS)
    assert out.joint_names == PANDA_ARM_JOINTS and out.velocities is None
    np.testing.assert_array_equal(out.positions, rows[:, ::-1])
    np.testing.assert_array_equal(out.times, [0.0, 1.0])
    with_finger = _msg(PANDA_ARM_JOINTS + ("panda_finger_joint2",), np.zeros((1, 8)), [0.5])
    with pytest.raises(JointNamesError, match="unknown joints.*panda_finger_joint2"):  # the gripper has its own action
        trajectory_to_arrays(with_finger, PANDA_ARM_JOINTS)


@pytest.mark.parametrize("names, rows, times, error, match", [
    (("joint_x",) + PANDA_ARM_JOINTS[1:], np.zeros((1, 7)), [1.0], JointNamesError, "unknown joints.*joint_x"),
    (PANDA_ARM_JOINTS[:6], np.zeros((1, 6)), [1.0], JointNamesError, "lacks the joints.*panda_joint7"),
    (PANDA_ARM_JOINTS + ("panda_joint1",), np.zeros((1, 8)), [1.0], JointNamesError, "more than once"),
    (PANDA_ARM_JOINTS, np.zeros((0, 7)), [], ChordError, "no points"),
    (PANDA_ARM_JOINTS, np.zeros((3, 7)), [0.0, 1.0, 1.0], ChordError, "strictly increase; point 2"),
    (PANDA_ARM_JOINTS, np.zeros((2, 7)), [1.0, 0.5], ChordError, "strictly increase; point 1"),
    (PANDA_ARM_JOINTS, np.full((1, 7), np.nan), [1.0], ChordError, "NaN"),
    (PANDA_ARM_JOINTS, np.zeros((1, 6)), [1.0], ChordError, "6 positions for 7 joints"),
])
def test_malformed_trajectories_are_rejected(names, rows, times, error, match):
    with pytest.raises(error, match=match):
        trajectory_to_arrays(_msg(names, rows, times), PANDA_ARM_JOINTS)


def test_velocities_must_be_complete_and_finite():
    msg = _msg(PANDA_ARM_JOINTS, np.zeros((2, 7)), [0.5, 1.0])
    msg.points[0].velocities = [0.0] * 7
    with pytest.raises(ChordError, match="every point or for none"):
        trajectory_to_arrays(msg, PANDA_ARM_JOINTS)
    msg.points[1].velocities = [0.0] * 6 + [float("inf")]
    with pytest.raises(ChordError, match="NaN/inf velocities"):
        trajectory_to_arrays(msg, PANDA_ARM_JOINTS)
