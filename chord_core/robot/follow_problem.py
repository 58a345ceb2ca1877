"""What every flow-following backend solves: the attached (or pushed) flow target, a warm start by
sequential IK of the flow's rigid fit, the joint bounds and velocity limits, and the weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.robot import costs
from chord_core.robot.model import RobotModel
from chord_core.robot.rigid_fit import rigid_fit_sequence


@dataclass
class FollowSolution:
    """Joint trajectory [T, n] for the flow frames and its per-frame RMS point error [T] (m)."""

    q: np.ndarray
    tracking_errors: np.ndarray
    warm_start_errors: np.ndarray
    iterations: int


@dataclass
class FollowWeights:
    tracking: float = 1.0
    acceleration: float = 0.02
    velocity: float = 0.002
    velocity_limit: float = 1.0
    joint_limit: float = 1.0
    posture: float = 1e-3
    orientation_hold: float = 0.1


def warm_start(model: RobotModel, q0: np.ndarray, ee_targets: np.ndarray) -> np.ndarray:
    """Sequential IK of the target ee poses, each seeded by the previous frame; an unreachable frame
    keeps the closest joint-limited solution (the solve and the tracking check then judge it)."""
    q = [np.asarray(q0, float)]
    for target in ee_targets[1:]:
        sol, _ = model.ik_local(target, q[-1])
        q.append(sol)
    return np.array(q)


def ee_targets_from_flow(ee_pose0: np.ndarray, trajectories: np.ndarray, push: bool) -> np.ndarray:
    """Warm-start ee poses: the rigid fit of the flow applied to the ee (grasp), or only its
    centroid translation (push: the ee keeps its orientation)."""
    fits = rigid_fit_sequence(trajectories)
    if push:
        shift = trajectories.mean(axis=1) - trajectories[0].mean(axis=0)
        out = np.repeat(ee_pose0[None], len(fits), axis=0)
        out[:, :3, 3] += shift
        return out
    return fits @ ee_pose0


@dataclass
class FollowProblem:
    """Everything both trajectory backends solve for: the attached (or pushed) flow target, the
    warm start q_init [T, n] (q_init[0] = q0, fixed), hard bounds [lo, hi] (URDF limits minus the
    margin), the soft zone [soft_lo, soft_hi] 0.05 rad inside them, the velocity limits, the frame
    step dt (already allowing the planner's max time scale) and the weights."""

    q0: np.ndarray
    target: costs.AttachedFlowTarget | costs.PushFlowTarget
    q_init: np.ndarray
    warm_errors: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    soft_lower: np.ndarray
    soft_upper: np.ndarray
    velocity_limits: np.ndarray
    dt: float
    weights: FollowWeights
    push: bool

    @classmethod
    def build(cls, model: RobotModel, q0: np.ndarray, trajectories: np.ndarray, fps: float,
              push: bool = False, weights: FollowWeights | None = None) -> FollowProblem:
        traj = np.asarray(trajectories, float)
        q0 = np.asarray(q0, float)
        pose0 = model.fk(q0)
        target = (costs.PushFlowTarget if push else costs.AttachedFlowTarget).build(pose0, traj)
        q_init = warm_start(model, q0, ee_targets_from_flow(pose0, traj, push))
        margin = model.config.joint_limit_margin
        lo, hi = model.lower + margin, model.upper - margin
        # time parameterisation may slow the flow by up to max_time_scale; only speed beyond that
        # is the optimiser's business (the rest is reported as "too fast" by the planner)
        return cls(q0, target, q_init, frame_errors(model, target, q_init), lo, hi, lo + 0.05, hi - 0.05,
                   model.velocity_limits * model.config.velocity_scale, model.config.max_time_scale / fps,
                   weights or FollowWeights(), push)

    @property
    def num_frames(self) -> int:
        return self.q_init.shape[0]

    def initial_variables(self) -> np.ndarray:
        """q_init[1:] strictly inside the hard bounds: [T-1, n]."""
        return np.clip(self.q_init[1:], self.lower + 1e-9, self.upper - 1e-9)

    def solution(self, model: RobotModel, variables: np.ndarray, iterations: int) -> FollowSolution:
        """q_0 plus the solved q_1..q_{T-1} (clipped to the hard bounds), errors measured by pinocchio."""
        q = np.vstack([self.q0, np.clip(np.asarray(variables, float).reshape(self.num_frames - 1, -1),
                                        self.lower, self.upper)])
        return FollowSolution(q, frame_errors(model, self.target, q), self.warm_errors, int(iterations))


def frame_errors(model: RobotModel, target, q: np.ndarray) -> np.ndarray:
    """[T] per-frame RMS attached-point error of joint trajectory q (pinocchio forward kinematics)."""
    return np.array([target.rms_error(model.fk(qt), t) for t, qt in enumerate(q)])
