"""Flow-following joint trajectories: Kabsch warm start, then one bounded least-squares solve.

Variables are q_1..q_{T-1} (q_0 comes from the grasp or push pose); the residual is the stack
of the cost terms in `costs` (flow tracking, acceleration, velocity, limits, posture).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.robot import costs
from chord_core.robot.model import RobotModel


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[4, 4] rigid transform minimising sum |T source_i - target_i|^2 (Kabsch/Umeyama, no scale)."""
    src, dst = np.asarray(source, float), np.asarray(target, float)
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    h = (src - cs).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = cd - rot @ cs
    return pose


def rigid_fit_sequence(trajectories: np.ndarray) -> np.ndarray:
    """[T, 4, 4] per-frame Kabsch fits of the flow to its frame 0."""
    return np.array([kabsch(trajectories[0], frame) for frame in trajectories])


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


def follow_flow(model: RobotModel, q0: np.ndarray, trajectories: np.ndarray, fps: float,
                push: bool = False, weights: FollowWeights | None = None,
                max_iterations: int = 60) -> FollowSolution:
    """Solve q_1..q_{T-1} so the attached (grasp) or pushed points follow the flow [T, N, 3]."""
    from scipy import sparse
    from scipy.optimize import least_squares

    w = weights or FollowWeights()
    traj = np.asarray(trajectories, float)
    q0 = np.asarray(q0, float)
    pose0 = model.fk(q0)
    target = (costs.PushFlowTarget if push else costs.AttachedFlowTarget).build(pose0, traj)
    q_init = warm_start(model, q0, ee_targets_from_flow(pose0, traj, push))
    warm_errors = np.array([target.rms_error(model.fk(q), t) for t, q in enumerate(q_init)])
    t_count = traj.shape[0]
    if t_count == 1:
        return FollowSolution(q_init, warm_errors, warm_errors, 0)

    margin = model.config.joint_limit_margin
    lo, hi = model.lower + margin, model.upper - margin
    soft_lo, soft_hi = lo + 0.05, hi - 0.05
    vel_lim = model.velocity_limits * model.config.velocity_scale
    # time parameterisation may slow the flow by up to max_time_scale; only speed beyond that is
    # the optimiser's business (the rest is reported as "too fast" by the planner)
    dt = model.config.max_time_scale / fps
    cache: dict = {}

    def evaluate(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        key = x.tobytes()
        if key not in cache:
            cache.clear()
            q = np.vstack([q0, x.reshape(t_count - 1, model.n)])
            state = costs.KinematicState.evaluate(model, q)
            terms = [
                costs.flow_tracking_cost(state, target, w.tracking),
                costs.smoothness_cost(state, 2, w.acceleration),
                costs.smoothness_cost(state, 1, w.velocity),
                costs.velocity_limit_cost(state, dt, vel_lim, w.velocity_limit),
                costs.joint_limit_cost(state, soft_lo, soft_hi, w.joint_limit),
                costs.posture_cost(state, q_init[1:], w.posture),
            ]
            if push:
                terms.append(costs.orientation_hold_cost(state, w.orientation_hold))
            cache[key] = (np.concatenate([t[0] for t in terms]),
                          sparse.csr_matrix(np.vstack([t[1] for t in terms])))
        return cache[key]

    x0 = np.clip(q_init[1:], lo + 1e-9, hi - 1e-9).reshape(-1)
    sol = least_squares(lambda x: evaluate(x)[0], x0, jac=lambda x: evaluate(x)[1],
                        bounds=(np.tile(lo, t_count - 1), np.tile(hi, t_count - 1)), method="trf",
                        tr_solver="lsmr", x_scale=1.0, ftol=1e-10, xtol=1e-10, gtol=1e-10, max_nfev=max_iterations)
    q = np.vstack([q0, sol.x.reshape(t_count - 1, model.n)])
    errors = np.array([target.rms_error(model.fk(qt), t) for t, qt in enumerate(q)])
    return FollowSolution(q, errors, warm_errors, int(sol.nfev))
