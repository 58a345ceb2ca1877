"""The one gate between a planned trajectory and a robot: refuse with the first offending frame.

`certify` checks every waypoint (and the midpoint of every segment for workspace/table) against
the URDF joint limits, velocity and acceleration limits, the workspace box, the support plane and
the gripper's opening, then the whole path continuously for collisions of the URDF's collision
geometry with the table, the obstacles and itself (`collision.CollisionChecker`); it is the only
constructor of an accepted `Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.collision import CollisionChecker
from chord_core.robot.model import RobotModel
from chord_core.robot.timing import finite_accelerations, finite_velocities, waypoint_velocities


class PlanRefused(ChordError):
    """A plan that would violate a limit; `frame` is the flow frame, `reason` says what broke."""

    def __init__(self, frame: int, reason: str) -> None:
        self.frame = int(frame)
        self.reason = reason
        super().__init__(f"plan refused at flow frame {frame}: {reason}")


@dataclass
class TrajectoryDraft:
    """An unchecked timed joint trajectory; only `certify` turns it into a Plan."""

    times: np.ndarray  # [K]
    positions: np.ndarray  # [K, n]
    gripper: np.ndarray  # [K] commanded finger opening (m)
    flow_frames: np.ndarray  # [K] flow frame each waypoint belongs to
    phases: list[str]  # [K] approach | descend | close | follow | hold | release | retreat
    object_points: np.ndarray | None = None  # [K, M, 3] predicted object hull points, or None
    obstacles: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [M, 3] cloud the arm must avoid


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if idx.size else None


def check_trajectory(model: RobotModel, draft: TrajectoryDraft, tol: float = 1e-9) -> None:
    """Raise PlanRefused naming the earliest waypoint that breaks any limit."""
    cfg = model.config
    names = model.joint_names
    times, q = np.asarray(draft.times, float), np.asarray(draft.positions, float)
    issues: list[tuple[int, str]] = []

    def add(k: int | None, text) -> None:
        if k is not None:
            issues.append((k, text(k)))

    if q.ndim != 2 or q.shape[1] != model.n or len(times) != len(q) or len(q) == 0:
        raise PlanRefused(0, f"trajectory shape {q.shape} does not match {model.n} joints and {len(times)} times")
    add(_first(~np.all(np.isfinite(q), axis=1)), lambda k: "non-finite joint positions")
    if len(times) > 1:
        add(_first(np.diff(times) <= 0), lambda k: f"times not increasing after {times[k]:.3f} s")
    if issues:  # limits of a broken trajectory are meaningless
        k, text = min(issues)
        raise PlanRefused(int(draft.flow_frames[k]), f"{draft.phases[k]} waypoint {k}: {text}")

    out = (q < model.lower - tol) | (q > model.upper + tol)
    add(_first(out.any(axis=1)), lambda k: (
        lambda j: f"joint {names[j]} at {q[k, j]:.4f} rad outside [{model.lower[j]:.4f}, {model.upper[j]:.4f}]"
    )(int(np.argmax(out[k]))))
    if len(q) > 1:
        vel = finite_velocities(times, q)
        over = np.abs(vel) > model.velocity_limits + tol
        add(_first(over.any(axis=1)), lambda k: (
            lambda j: f"joint {names[j]} speed {abs(vel[k, j]):.3f} rad/s exceeds {model.velocity_limits[j]:.3f}"
        )(int(np.argmax(over[k]))))
        reported = np.abs(waypoint_velocities(times, q)) > model.velocity_limits + tol
        add(_first(reported.any(axis=1)), lambda k: "reported joint velocity exceeds the limit")
        acc = finite_accelerations(times, q)
        over_a = np.abs(acc) > model.acceleration_limits + tol
        add(_first(over_a.any(axis=1)), lambda k: (
            lambda j: f"joint {names[j]} acceleration {abs(acc[k, j]):.2f} rad/s^2 exceeds "
                      f"{model.acceleration_limits[j]:.2f}"
        )(int(np.argmax(over_a[k]))))
    width = np.asarray(draft.gripper, float)
    add(_first((width > cfg.gripper_max_width + tol) | (width < -tol)),
        lambda k: f"gripper opening {width[k]:.4f} m outside [0, {cfg.gripper_max_width}]")

    box_lo, box_hi = cfg.workspace_box
    floor = cfg.table_height + cfg.table_clearance
    samples = [(k, q[k], width[k]) for k in range(len(q))]
    samples += [(k + 1, (q[k] + q[k + 1]) / 2, max(width[k], width[k + 1])) for k in range(len(q) - 1)]
    for k, qk, wk in sorted(samples, key=lambda s: s[0]):
        ee = model.fk(qk)[:3, 3]
        if np.any(ee < box_lo - tol) or np.any(ee > box_hi + tol):
            add(k, lambda k, ee=ee: f"end effector at {np.round(ee, 3).tolist()} leaves the workspace box "
                                    f"{list(cfg.workspace_min)}..{list(cfg.workspace_max)}")
            break
        low = model.collision_points(qk, wk)[:, 2].min()
        if low < floor - tol:
            add(k, lambda k, low=low: f"robot point at z={low:.4f} m hits the support plane "
                                      f"(must stay above {floor:.4f} m)")
            break
    if draft.object_points is not None:
        lowest = draft.object_points[:, :, 2].min(axis=1)
        add(_first(lowest < cfg.table_height - cfg.object_table_tolerance),
            lambda k: f"held object pushed {cfg.table_height - lowest[k]:.4f} m into the support plane")
    if issues:
        k, text = min(issues, key=lambda i: i[0])
        raise PlanRefused(int(draft.flow_frames[k]), f"{draft.phases[k]} waypoint {k}: {text}")
    checker = CollisionChecker(model, draft.obstacles)
    contact = checker.first_contact(q, width)
    if contact is not None:
        k = contact.waypoint
        raise PlanRefused(int(draft.flow_frames[k]), f"{draft.phases[k]} waypoint {k}: collision: "
                                                     f"{contact.describe(checker.margin)}")
