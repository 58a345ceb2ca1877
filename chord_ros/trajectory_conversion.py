"""Plans <-> trajectory messages at the arm boundary.

* :class:`chord_core.robot.planner.Plan` -> ``chord_msgs/PlanReport`` (accepted plans and refusals
  alike): the whole plan as one arm-only ``JointTrajectory`` plus the gripper opening per point.
* an arm segment of the plan (:mod:`chord_core.robot.execution`) -> the ``JointTrajectory`` a
  ros2_control joint_trajectory_controller accepts: exactly the arm joints, from t = 0, ending at rest.
* ``JointTrajectory`` -> arrays for the arm server, validated: joint names (exactly the arm's: none
  unknown, missing or repeated), point lengths, finite values and strictly increasing times. A
  malformed message raises ChordError (`JointNamesError` for name problems) naming the field at fault.
* a GripperCommand's command -> the finger joint target, validated against the joint's range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from builtin_interfaces.msg import Duration, Time
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chord_core.errors import ChordError
from chord_core.robot.execution import ArmSegment
from chord_msgs.msg import Grasp as GraspMsg
from chord_msgs.msg import PlanReport
from chord_ros.convert import float32_array, make_header, pose_to_msg
from chord_ros.names import BASE_FRAME


class JointNamesError(ChordError):
    """A trajectory names joints the arm does not have, lacks some it needs, or repeats one."""


@dataclass
class TrajectoryArrays:
    """A validated joint trajectory: columns follow the arm's `joint_names`."""

    joint_names: tuple[str, ...]
    times: np.ndarray  # [K] s from the trajectory's start, strictly increasing
    positions: np.ndarray  # [K, n]
    velocities: np.ndarray | None  # [K, n], or None when the message carries none


def duration_msg(seconds: float) -> Duration:
    """Seconds -> Duration, rounded to whole nanoseconds (nanosec always in [0, 1e9))."""
    nanoseconds = int(round(float(seconds) * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def duration_seconds(duration: Duration) -> float:
    """Duration -> seconds; the one conversion every chord_ros module uses."""
    return duration.sec + duration.nanosec * 1e-9


def joint_trajectory(joint_names: Sequence[str], times: np.ndarray, positions: np.ndarray,
                     velocities: np.ndarray) -> JointTrajectory:
    """Waypoints [K] of the named joints as a JointTrajectory (positions and velocities per point)."""
    msg = JointTrajectory(joint_names=list(joint_names))
    for t, q, v in zip(times, positions, velocities):
        msg.points.append(JointTrajectoryPoint(positions=q.tolist(), velocities=v.tolist(),
                                               time_from_start=duration_msg(t)))
    return msg


def plan_to_trajectory(plan) -> JointTrajectory:
    """The whole plan for the arm joints (no points for a refused plan): what the report shows."""
    if not plan.accepted or len(plan.times) == 0:
        return JointTrajectory(joint_names=list(plan.joint_names))
    return joint_trajectory(plan.joint_names, plan.times, plan.positions, plan.velocities)


def segment_to_trajectory(segment: ArmSegment, joint_names: Sequence[str]) -> JointTrajectory:
    """One arm segment as the goal of a FollowJointTrajectory action or the arm's trajectory topic."""
    return joint_trajectory(joint_names, segment.times, segment.positions, segment.velocities)


def grasp_to_msg(grasp, object_name: str, frame_id: str = BASE_FRAME, stamp: Time | None = None) -> GraspMsg:
    """A graspnetAPI-layout grasp (rotation columns: approach, closing, third) as chord_msgs/Grasp."""
    msg = GraspMsg(header=make_header(frame_id, stamp), object_name=object_name)
    if grasp is None:
        msg.pose.orientation.w = 1.0
        return msg
    msg.score, msg.width, msg.height, msg.depth = (float(grasp.score), float(grasp.width),
                                                   float(grasp.height), float(grasp.depth))
    msg.pose = pose_to_msg(grasp.rotation, grasp.translation)
    return msg


def plan_to_report(plan, frame_id: str = BASE_FRAME, stamp: Time | None = None) -> PlanReport:
    """chord_msgs/PlanReport of an accepted plan or a refusal (reason + offending frame, no trajectory)."""
    msg = PlanReport(header=make_header(frame_id, stamp))
    msg.accepted = bool(plan.accepted)
    msg.reason = plan.reason
    msg.offending_frame = int(plan.offending_frame)
    msg.mode = plan.mode
    part = plan.extra.get("part")
    msg.manipulated_part = part.describe(plan.object_name) if part is not None else ""
    msg.grasp = grasp_to_msg(plan.grasp, plan.object_name, frame_id, stamp)
    motion = np.asarray(plan.extra.get("object_motion", np.eye(4)), float)
    msg.object_motion = pose_to_msg(motion[:3, :3], motion[:3, 3])
    msg.trajectory = plan_to_trajectory(plan)
    if msg.trajectory.points:
        msg.gripper_openings = float32_array(plan.gripper)
    msg.tracking_errors = float32_array(plan.tracking_errors)
    msg.max_tracking_error = plan.max_tracking_error
    msg.planning_time = float(plan.planning_time)
    return msg


def _column(point_index: int, field: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values, float)
    if arr.shape != (n,):
        raise ChordError(f"trajectory point {point_index} has {arr.size} {field} for {n} joints")
    if not np.all(np.isfinite(arr)):
        raise ChordError(f"trajectory point {point_index} has NaN/inf {field}")
    return arr


def trajectory_to_arrays(msg: JointTrajectory, joint_names: Sequence[str]) -> TrajectoryArrays:
    """Validated arrays of a JointTrajectory that names exactly the joints in `joint_names` (in any
    order, as a joint_trajectory_controller requires); columns are reordered to joint_names."""
    names = list(msg.joint_names)
    known = list(joint_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise JointNamesError(f"the trajectory names the joints {repeated} more than once")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise JointNamesError(f"the trajectory names unknown joints {unknown}; the arm has {known}")
    missing = [n for n in joint_names if n not in names]
    if missing:
        raise JointNamesError(f"the trajectory lacks the joints {missing}; it names {names}")
    if not msg.points:
        raise ChordError("the trajectory has no points")
    order = [names.index(n) for n in known]
    n = len(names)
    times = np.array([duration_seconds(p.time_from_start) for p in msg.points])
    if times[0] < 0 or np.any(np.diff(times) <= 0):
        bad = 0 if times[0] < 0 else int(np.flatnonzero(np.diff(times) <= 0)[0]) + 1
        raise ChordError(f"trajectory times must start at >= 0 s and strictly increase; point {bad} is at "
                         f"{times[bad]:.4f} s after {times[bad - 1] if bad else 0.0:.4f} s")
    positions = np.array([_column(k, "positions", p.positions, n) for k, p in enumerate(msg.points)])
    with_velocities = [len(p.velocities) > 0 for p in msg.points]
    velocities = None
    if any(with_velocities):
        if not all(with_velocities):
            raise ChordError("trajectory velocities must be given for every point or for none")
        velocities = np.array([_column(k, "velocities", p.velocities, n) for k, p in enumerate(msg.points)])
        velocities = velocities[:, order]
    return TrajectoryArrays(tuple(names[i] for i in order), times, positions[:, order], velocities)


def gripper_target(command, lower: float, upper: float) -> float:
    """The finger joint target (m) of a GripperCommand's `command` within the joint's [lower, upper],
    else ChordError naming the problem."""
    position, effort = float(command.position), float(command.max_effort)
    if not (np.isfinite(position) and np.isfinite(effort)):
        raise ChordError(f"gripper command with NaN/inf: position {position}, max_effort {effort}")
    if not lower - 1e-6 <= position <= upper + 1e-6:
        raise ChordError(f"gripper position {position:.4f} m is outside the finger joint's limits "
                         f"[{lower:.4f}, {upper:.4f}] (the position is half the opening)")
    return position
