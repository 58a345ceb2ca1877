"""Every trajectory the planner sends would be accepted by the ros2_control controllers of
config/ros2_controllers.yaml: joint_trajectory_controller's goal checks (exactly its joints, sized
points without efforts, strictly increasing times, at rest at the end) plus the robot's limits, and
GripperActionController commands on its joint's range."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from chord_core.robot import flow_cases
from chord_core.robot.execution import ArmSegment, GripperStep, execution_steps
from chord_core.robot.model import RobotModel
from chord_core.robot.planner import plan_flow
from chord_ros.trajectory_conversion import duration_seconds, segment_to_trajectory

ROOT = Path(__file__).resolve().parents[1]
CONTROLLERS = yaml.safe_load((ROOT / "config" / "ros2_controllers.yaml").read_text())


@pytest.fixture(scope="module")
def panda() -> RobotModel:
    return RobotModel()


class Rejected(Exception):
    pass


def jtc_accepts(msg, settings: dict, lower, upper, velocity_limits) -> None:
    """joint_trajectory_controller's checks of an incoming goal, and the URDF limits; Rejected if not."""
    joints = list(settings["joints"])
    names = list(msg.joint_names)
    if not names or len(set(names)) != len(names):
        raise Rejected("empty or repeated joint names")
    if set(names) - set(joints):
        raise Rejected(f"joints {sorted(set(names) - set(joints))} are not the controller's")
    if not settings.get("allow_partial_joints_goal", False) and set(names) != set(joints):
        raise Rejected("a goal must name all the controller's joints")
    order = [names.index(j) for j in joints]
    previous = -1.0
    for k, point in enumerate(msg.points):
        t = duration_seconds(point.time_from_start)
        if k > 0 and t <= previous:
            raise Rejected(f"time_from_start not strictly increasing at point {k}")
        previous = t
        if len(point.positions) != len(names):
            raise Rejected(f"point {k} has {len(point.positions)} positions")
        for field in ("velocities", "accelerations"):
            if len(getattr(point, field)) not in (0, len(names)):
                raise Rejected(f"point {k} has {len(getattr(point, field))} {field}")
        if len(point.effort):
            raise Rejected("efforts are not accepted")
    if not settings.get("allow_nonzero_velocity_at_trajectory_end", True) and np.any(msg.points[-1].velocities):
        raise Rejected("nonzero velocity at the trajectory's end")
    q = np.array([p.positions for p in msg.points])[:, order]
    v = np.array([p.velocities for p in msg.points])[:, order]
    t = np.array([duration_seconds(p.time_from_start) for p in msg.points])
    if np.any(q < lower - 1e-9) or np.any(q > upper + 1e-9):
        raise Rejected("a position outside the joint limits")
    if np.any(np.abs(v) > velocity_limits + 1e-9):
        raise Rejected("a waypoint velocity above the limits")
    if len(t) > 1 and np.any(np.abs(np.diff(q, axis=0)) / np.diff(t)[:, None] > velocity_limits + 1e-9):
        raise Rejected("a segment faster than the velocity limits")


def planned(panda, kind: str):
    case = flow_cases.push_across() if kind == "push" else flow_cases.lift_and_move()
    return plan_flow(case.flow, case.scene, panda, kind)


@pytest.mark.parametrize("kind", ["grasp", "push"])
def test_every_arm_segment_and_gripper_command_is_accepted_by_the_controllers(panda, kind):
    arm = CONTROLLERS["arm_controller"]["ros__parameters"]
    gripper = CONTROLLERS["gripper_controller"]["ros__parameters"]
    assert arm["joints"] == list(panda.joint_names)  # the shipped configuration matches the robot config
    assert gripper["joint"] == panda.config.finger_joints[0]
    plan = planned(panda, kind)
    steps = execution_steps(plan)
    segments = [s for s in steps if isinstance(s, ArmSegment)]
    at = plan.positions[0]  # where the arm is when the plan starts
    for segment in segments:
        msg = segment_to_trajectory(segment, panda.joint_names)
        jtc_accepts(msg, arm, panda.lower, panda.upper, panda.velocity_limits)
        assert duration_seconds(msg.points[0].time_from_start) == 0.0
        np.testing.assert_array_equal(msg.points[0].positions, at)  # starts where the arm stands
        at = np.array(msg.points[-1].positions)
    finger = panda.config.gripper_max_width / 2.0
    for step in (s for s in steps if isinstance(s, GripperStep)):
        assert 0.0 <= step.width / 2.0 <= finger  # GripperCommand position within the finger joint's range


def test_the_rules_refuse_what_a_controller_refuses(panda):
    """The checker can fail: the former whole-plan trajectory with the finger joints, a goal ending
    in motion, and a repeated time are each refused."""
    arm = CONTROLLERS["arm_controller"]["ros__parameters"]
    segment = execution_steps(planned(panda, "grasp"))[3]  # the carry
    msg = segment_to_trajectory(segment, panda.joint_names)
    limits = (panda.lower, panda.upper, panda.velocity_limits)
    with_fingers = segment_to_trajectory(segment, panda.joint_names)
    with_fingers.joint_names += list(panda.config.finger_joints)
    for point in with_fingers.points:
        point.positions = list(point.positions) + [0.02, 0.02]
        point.velocities = list(point.velocities) + [0.0, 0.0]
    with pytest.raises(Rejected, match="not the controller's"):
        jtc_accepts(with_fingers, arm, *limits)
    moving = segment_to_trajectory(segment, panda.joint_names)
    fastest = int(np.argmax([np.abs(p.velocities).max() for p in msg.points]))
    moving.points[-1].velocities = list(msg.points[fastest].velocities)
    with pytest.raises(Rejected, match="nonzero velocity"):
        jtc_accepts(moving, arm, *limits)
    repeated = segment_to_trajectory(segment, panda.joint_names)
    repeated.points[3].time_from_start = repeated.points[2].time_from_start
    with pytest.raises(Rejected, match="strictly increasing"):
        jtc_accepts(repeated, arm, *limits)
