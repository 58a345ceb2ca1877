"""The default flow-following solver (pinocchio + scipy): one bounded least-squares solve.

Variables are q_1..q_{T-1} (q_0 comes from the grasp or push pose); the residual is the stack
of the cost terms in `costs` (flow tracking, acceleration, velocity, limits, posture) over the
`follow_problem.FollowProblem` that every backend solves. `backends.select_follow` chooses
between this solver and the optional PyRoki one; either way the planner certifies the result.
"""

from __future__ import annotations

import numpy as np

from chord_core.robot import costs
from chord_core.robot.follow_problem import FollowProblem, FollowSolution, FollowWeights
from chord_core.robot.model import RobotModel


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
