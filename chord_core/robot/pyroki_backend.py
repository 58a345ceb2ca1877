"""Optional PyRoki (JAX) backend for flow-following trajectories; same contract as `follow_flow`.

PyRoki (github.com/chungmin99/pyroki) is not on PyPI and pulls jax + jaxls, so nothing here is
imported at module load: `pyroki_available()` probes, `follow_flow_pyroki` imports lazily.

The problem is `follow_problem.FollowProblem`, the one the pinocchio backend solves, written as jaxls
costs on a `pyroki.Robot` built from the same URDF (joints other than the configured arm joints are
frozen at 0, as pinocchio's reduced model does):

* flow tracking: the exact 12 residuals a frame of `costs.AttachedFlowTarget` (grasp), or the
  centroid offset plus the orientation hold log(R_0^T R_t) (push), from PyRoki's forward kinematics;
* acceleration and velocity finite differences with q_0 as a constant, a hinge on joint speed
  above the scaled velocity limits, a hinge on the soft joint-limit zone, PyRoki's `rest_cost`
  toward the warm start;
* the hard bounds [lower + margin, upper - margin] as jaxls inequality constraints (augmented
  Lagrangian); the result is also clipped to them.

Solved with Levenberg-Marquardt (dense Cholesky) in float64 from the Kabsch/IK warm start; errors
are then measured with pinocchio, and the planner certifies the trajectory like any other.
"""

from __future__ import annotations

import functools

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.follow_problem import FollowProblem, FollowSolution, FollowWeights
from chord_core.robot.model import RobotModel

INSTALL_HINT = ("pip install git+https://github.com/chungmin99/pyroki (on a machine with GitHub access; "
                "it also installs jax, jaxlie and jaxls from GitHub)")
_MODULES = ("jax", "jaxlie", "jaxls", "yourdfpy", "pyroki")


def _import_error() -> str | None:
    """None when every module the backend needs imports, else the first failure."""
    import importlib

    for name in _MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # ImportError, or a broken install raising anything else
            return f"{name}: {type(exc).__name__}: {exc}"
    return None


def pyroki_available() -> bool:
    """Whether PyRoki and its JAX stack import in this environment."""
    return _import_error() is None


def require_pyroki() -> None:
    """ChordError naming what failed and how to install PyRoki, unless it is importable."""
    problem = _import_error()
    if problem is not None:
        raise ChordError(f"trajectory_backend 'pyroki' needs PyRoki, which is not importable here "
                         f"({problem}). It is not on PyPI: {INSTALL_HINT}; or use trajectory_backend "
                         f"'pinocchio' (the default, 'auto').")


@functools.lru_cache(maxsize=4)
def _robot(urdf_path: str, arm_joints: tuple[str, ...], ee_frame: str):
    """(pyroki.Robot over the arm joints only, index of the ee link)."""
    import pyroki
    import yourdfpy

    urdf = yourdfpy.URDF.load(urdf_path, load_meshes=False, build_scene_graph=True,
                              load_collision_meshes=False, build_collision_scene_graph=False)
    description = urdf.robot
    for joint in description.joints:  # fingers etc.: frozen at 0 like pinocchio's reduced model
        if joint.name not in arm_joints and joint.type != "fixed":
            joint.type, joint.mimic = "fixed", None
    urdf = yourdfpy.URDF(robot=description, build_scene_graph=True, load_meshes=False)
    robot = pyroki.Robot.from_urdf(urdf)
    if tuple(robot.joints.actuated_names) != tuple(arm_joints):
        raise ChordError(f"PyRoki reads the actuated joints {robot.joints.actuated_names} from {urdf_path}, "
                         f"not the configured arm_joints {list(arm_joints)}")
    if ee_frame not in robot.links.names:
        raise ChordError(f"PyRoki backend: ee_frame '{ee_frame}' is not a link of {urdf_path}")
    return robot, robot.links.names.index(ee_frame)


def _value(vals, x):
    """A variable's value, or x itself when it is a constant (q_0)."""
    import jaxls

    return vals[x] if isinstance(x, jaxls.Var) else x


@functools.lru_cache(maxsize=1)
def _residuals():
    """The jaxls residual functions, created once so jaxls' compiled solver is reused across calls."""
    import jax.numpy as jnp
    import jaxlie

    def ee_pose(robot, q, ee):
        pose = jaxlie.SE3(robot.forward_kinematics(q)[ee])
        return pose.rotation(), pose.translation()

    def attached(vals, robot, var, ee, centroid, sv, flow_centroid, flow_proj, weight):
        rot, pos = ee_pose(robot, vals[var], ee)
        matrix = rot.as_matrix()
        r_c = matrix @ centroid + pos - flow_centroid
        return weight * jnp.concatenate([r_c, (sv @ matrix.T - flow_proj).reshape(-1)])

    def pushed(vals, robot, var, ee, start, first_centroid, flow_centroid, rot0, weight, hold_weight):
        rot, pos = ee_pose(robot, vals[var], ee)
        hold = (jaxlie.SO3.from_matrix(rot0).inverse() @ rot).log()
        return jnp.concatenate([weight * (first_centroid + pos - start - flow_centroid), hold_weight * hold])

    def acceleration(vals, a, b, c, weight):
        return weight * (_value(vals, a) - 2.0 * _value(vals, b) + _value(vals, c))

    def velocity(vals, prev, cur, weight, dt, limits, limit_weight):
        step = _value(vals, cur) - _value(vals, prev)
        over = jnp.maximum(jnp.abs(step / dt) - limits, 0.0)
        return jnp.concatenate([weight * step, limit_weight * dt * over])

    def soft_limits(vals, var, lower, upper, weight):
        q = vals[var]
        return weight * (jnp.maximum(lower - q, 0.0) + jnp.maximum(q - upper, 0.0))

    def hard_bounds(vals, var, lower, upper):
        q = vals[var]
        return jnp.concatenate([q - upper, lower - q])

    return attached, pushed, acceleration, velocity, soft_limits, hard_bounds


def _solve(robot, ee, data: dict, push: bool, max_iterations: int):
    """Build the jaxls problem over q_1..q_{T-1} and solve it; returns (q [T-1, n], iterations)."""
    import jax
    import jax.numpy as jnp
    import jaxls
    import pyroki

    attached, pushed, acceleration, velocity, soft_limits, hard_bounds = _residuals()
    t_count = data["flow_centroids"].shape[0]
    var_cls = robot.joint_var_cls
    q_vars = var_cls(jnp.arange(1, t_count))
    batched = jax.tree.map(lambda x: x[None], robot)
    ids = lambda start, stop: var_cls(jnp.arange(start, stop))  # noqa: E731
    w = data["weights"]
    q0 = data["q0"][None]  # every cost is batched: constants carry a leading axis of 1 or T-1
    if push:
        tracking = jaxls.Cost(pushed, (batched, q_vars, jnp.array([ee]), data["start"][None],
                                       data["flow_centroids"][:1], data["flow_centroids"][1:], data["rot0"][None],
                                       w["tracking"], w["orientation_hold"]), name="push tracking")
    else:
        tracking = jaxls.Cost(attached, (batched, q_vars, jnp.array([ee]), data["centroid"][None],
                                         data["sv"][None], data["flow_centroids"][1:], data["flow_proj"][1:],
                                         w["tracking"]), name="attached flow tracking")
    vel_args = (w["velocity"], data["dt"], data["velocity_limits"][None], w["velocity_limit"])
    cost_list = [
        tracking,
        jaxls.Cost(velocity, (q0, ids(1, 2), *vel_args), name="velocity (from q0)"),
        jaxls.Cost(soft_limits, (q_vars, data["soft_lower"][None], data["soft_upper"][None], w["joint_limit"]),
                   name="soft joint limits"),
        pyroki.costs.rest_cost(q_vars, data["reference"], w["posture"]),
        jaxls.Cost(hard_bounds, (q_vars, data["lower"][None], data["upper"][None]), kind="constraint_leq_zero",
                   name="joint bounds"),
    ]
    if t_count > 2:
        cost_list += [
            jaxls.Cost(velocity, (ids(1, t_count - 1), ids(2, t_count), *vel_args), name="velocity"),
            jaxls.Cost(acceleration, (q0, ids(1, 2), ids(2, 3), w["acceleration"]), name="acceleration (q0)"),
        ]
    if t_count > 3:
        cost_list.append(jaxls.Cost(acceleration, (ids(1, t_count - 2), ids(2, t_count - 1), ids(3, t_count),
                                                   w["acceleration"]), name="acceleration"))
    problem = jaxls.LeastSquaresProblem(cost_list, [q_vars]).analyze()
    solution, summary = problem.solve(
        jaxls.VarValues.make([q_vars.with_value(data["x0"])]), linear_solver="dense_cholesky",
        termination=jaxls.TerminationConfig(max_iterations=max_iterations, cost_tolerance=1e-12,
                                            gradient_tolerance=1e-10, parameter_tolerance=1e-12),
        verbose=False, return_summary=True)
    return solution[q_vars], summary.iterations


@functools.lru_cache(maxsize=1)
def _compiled_solve():
    """`_solve` under jax.jit: traced and compiled once per (T, k, push, max_iterations, robot)."""
    import jax

    return jax.jit(_solve, static_argnames=("ee", "push", "max_iterations"))


def _problem_data(model: RobotModel, problem: FollowProblem) -> dict:
    w = problem.weights
    target = problem.target
    data = dict(q0=problem.q0, x0=problem.initial_variables(), reference=problem.q_init[1:],
                lower=problem.lower, upper=problem.upper, soft_lower=problem.soft_lower,
                soft_upper=problem.soft_upper, velocity_limits=problem.velocity_limits, dt=problem.dt,
                flow_centroids=target.flow_centroids,
                weights={k: getattr(w, k) for k in ("tracking", "acceleration", "velocity", "velocity_limit",
                                                    "joint_limit", "posture", "orientation_hold")})
    if problem.push:
        data.update(start=target.start_position, rot0=model.fk(problem.q0)[:3, :3])
    else:
        data.update(centroid=target.centroid, sv=target.sv, flow_proj=target.flow_proj)
    return data


def follow_flow_pyroki(model: RobotModel, q0: np.ndarray, trajectories: np.ndarray, fps: float,
                       push: bool = False, weights: FollowWeights | None = None,
                       max_iterations: int = 60) -> FollowSolution:
    """`trajectory.follow_flow` solved with PyRoki + jaxls (see the module docstring)."""
    require_pyroki()
    import jax

    problem = FollowProblem.build(model, q0, trajectories, fps, push, weights)
    if problem.num_frames == 1:
        return FollowSolution(problem.q_init, problem.warm_errors, problem.warm_errors, 0)
    cfg = model.config
    x64 = jax.enable_x64 if hasattr(jax, "enable_x64") else jax.experimental.enable_x64  # older jax
    with x64(True):  # pinocchio-grade precision, without changing the process default
        robot, ee = _robot(cfg.resolved_urdf(), tuple(cfg.arm_joints), cfg.ee_frame)
        data = jax.tree.map(lambda x: jax.numpy.asarray(x, dtype=jax.numpy.float64),
                            _problem_data(model, problem))
        q, iterations = _compiled_solve()(robot, ee=ee, data=data, push=push, max_iterations=max_iterations)
        q = np.asarray(q, float)
    return problem.solution(model, q, int(iterations))
