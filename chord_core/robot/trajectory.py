"""Flow-following joint trajectories: Kabsch warm start, then one bounded least-squares solve.

Variables are q_1..q_{T-1} (q_0 comes from the grasp or push pose); the residual is the stack
of the cost terms in `costs` (flow tracking, acceleration, velocity, limits, posture). `FollowProblem`
holds what every backend solves; `select_follow` picks the default pinocchio + scipy solver here or
the optional PyRoki/jaxls one (`pyroki_backend`). Either way the planner certifies the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.robot import costs
from chord_core.robot.config import TRAJECTORY_BACKENDS
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


@dataclass
class FollowProblem:
    """Everything both trajectory backends solve for: the attached (or pushed) flow target, the
    warm start q_init [T, n] (q_init[0] = q0, fixed), hard bounds [lo, hi] (URDF limits minus the
    margin), the soft zone [soft_lo, soft_hi] 0.05 rad inside them, the velocity limits, the frame
    step dt (already allowing the planner's max time scale) and the weights."""

    q0: np.ndarray
    target: "costs.AttachedFlowTarget | costs.PushFlowTarget"
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
              push: bool = False, weights: FollowWeights | None = None) -> "FollowProblem":
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


def follow_flow(model: RobotModel, q0: np.ndarray, trajectories: np.ndarray, fps: float,
                push: bool = False, weights: FollowWeights | None = None,
                max_iterations: int = 60) -> FollowSolution:
    """Solve q_1..q_{T-1} so the attached (grasp) or pushed points follow the flow [T, N, 3]."""
    from scipy import sparse
    from scipy.optimize import least_squares

    problem = FollowProblem.build(model, q0, trajectories, fps, push, weights)
    if problem.num_frames == 1:
        return FollowSolution(problem.q_init, problem.warm_errors, problem.warm_errors, 0)
    w, target, q_init, t_count = problem.weights, problem.target, problem.q_init, problem.num_frames
    q0, lo, hi = problem.q0, problem.lower, problem.upper
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
                costs.velocity_limit_cost(state, problem.dt, problem.velocity_limits, w.velocity_limit),
                costs.joint_limit_cost(state, problem.soft_lower, problem.soft_upper, w.joint_limit),
                costs.posture_cost(state, q_init[1:], w.posture),
            ]
            if problem.push:
                terms.append(costs.orientation_hold_cost(state, w.orientation_hold))
            cache[key] = (np.concatenate([t[0] for t in terms]),
                          sparse.csr_matrix(np.vstack([t[1] for t in terms])))
        return cache[key]

    sol = least_squares(lambda x: evaluate(x)[0], problem.initial_variables().reshape(-1),
                        jac=lambda x: evaluate(x)[1],
                        bounds=(np.tile(lo, t_count - 1), np.tile(hi, t_count - 1)), method="trf",
                        tr_solver="lsmr", x_scale=1.0, ftol=1e-10, xtol=1e-10, gtol=1e-10, max_nfev=max_iterations)
    return problem.solution(model, sol.x, sol.nfev)


def resolve_backend(name: str | None) -> str:
    """'auto' (or None) -> 'pinocchio'; 'pyroki' only when PyRoki is importable (else a ChordError
    saying how to install it); anything else is a ChordError."""
    from chord_core.errors import ChordError

    name = (name or "auto").strip().lower()
    if name not in TRAJECTORY_BACKENDS:
        raise ChordError(f"unknown trajectory backend '{name}'; use one of {TRAJECTORY_BACKENDS}")
    if name == "pyroki":
        from chord_core.robot import pyroki_backend

        pyroki_backend.require_pyroki()
        return "pyroki"
    return "pinocchio"


def select_follow(name: str | None):
    """(resolved backend name, follow function with follow_flow's signature)."""
    resolved = resolve_backend(name)
    if resolved == "pyroki":
        from chord_core.robot import pyroki_backend

        return resolved, pyroki_backend.follow_flow_pyroki
    return resolved, follow_flow
