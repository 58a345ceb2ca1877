"""A certified plan as the steps a ros2_control arm executes: arm trajectories and gripper commands.

A `joint_trajectory_controller` owns the arm joints only, and a gripper is driven through its own
action (GripperCommand). A plan's gripper opening changes only while the arm stands still (the
`close` and `release` phases), so the plan splits there into

    gripper to the plan's first opening -> arm segment (approach, descend) -> gripper close
    -> arm segment (follow, hold) -> gripper open -> arm segment (retreat)

(a push keeps its opening: the gripper step, then one arm segment). The first step sets the
opening the plan was certified with: a gripper left closed (a stopped plan, an operator's
command) would otherwise approach the object with shut fingers. Every arm segment starts at t = 0 where the
previous one ended and is rest-to-rest: zero velocity at its first and last point, which the
controller requires at the end of a trajectory. The waypoints at which the plan waited for the
fingers are dropped: the gripper command returns once the fingers have stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.timing import waypoint_velocities


@dataclass(frozen=True)
class ArmSegment:
    """Arm joints only; `times` from 0 at the segment's start; `plan_indices` into the plan's waypoints."""

    times: np.ndarray  # [K] s
    positions: np.ndarray  # [K, n] rad
    velocities: np.ndarray  # [K, n] rad/s, zero at both ends
    plan_indices: np.ndarray  # [K]
    phases: tuple[str, ...]  # the plan phases the segment covers, in order


@dataclass(frozen=True)
class GripperStep:
    """Open or close the gripper to `width` (m, finger to finger) and wait until the fingers stop."""

    width: float
    phase: str  # "prepare" (the plan's first opening), or the plan phase that changes it: "close", "release"


def execution_steps(plan) -> list[ArmSegment | GripperStep]:
    """The plan's arm segments and gripper steps in execution order (an accepted plan only)."""
    if not plan.accepted or len(plan.times) == 0:
        raise ChordError("a refused plan has no steps to execute")
    widths = np.asarray(plan.gripper, float)
    steps: list[ArmSegment | GripperStep] = [GripperStep(float(widths[0]), "prepare")]
    changes = np.flatnonzero(np.abs(np.diff(widths)) > 1e-9) + 1  # first waypoint of each new opening
    starts = [0, *changes.tolist()]
    ends = [*changes.tolist(), len(plan.times)]
    for run, (start, end) in enumerate(zip(starts, ends)):
        if run > 0:
            steps.append(GripperStep(float(widths[start]), plan.phases[start]))
            start = _first_move(plan.positions, start - 1, end)  # from the waypoint the arm rests at
        if end - start > 1:  # a lone waypoint where the arm already rests moves nothing
            steps.append(_segment(plan, np.arange(start, end)))
    return steps


def _first_move(positions: np.ndarray, rest: int, end: int) -> int:
    """The last waypoint in [rest, end) still at positions[rest]: the arm's start after a gripper step."""
    k = rest
    while k + 1 < end and np.array_equal(positions[k + 1], positions[rest]):
        k += 1
    return k


def _segment(plan, indices: np.ndarray) -> ArmSegment:
    times = plan.times[indices] - plan.times[indices[0]]
    positions = plan.positions[indices]
    phases = tuple(dict.fromkeys(plan.phases[i] for i in indices))
    return ArmSegment(times, positions, waypoint_velocities(times, positions), indices, phases)
