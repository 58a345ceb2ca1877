"""Arm kinematics with pinocchio: forward kinematics, analytic frame Jacobians, bounded IK.

The URDF is reduced to the configured arm joints (fingers locked) so q is the arm's joint vector;
the end-effector frame is a URDF frame (Panda: ``panda_grasptarget``, between the finger pads,
z = approach, y = closing direction).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig

# Frames whose origins must stay above the table (besides the hand/finger points below).
_PANDA_BODY_FRAMES = ("panda_link3", "panda_link4", "panda_link5", "panda_link6", "panda_link7",
                      "panda_hand")
# IK budget, from `chord bench ik` (>= 99.5 % of random reachable Panda poses solved from home):
# at most IK_ITERATIONS steps per seed, a seed is dropped once its squared residual has not halved
# in IK_STALL_WINDOW steps (a local minimum, most of an unreachable pose's cost otherwise), then up
# to IK_RESTARTS seeds from a table of IK_SEED_TABLE_SIZE configurations.
IK_ITERATIONS = 100
IK_STALL_WINDOW = 10
IK_RESTARTS = 16
IK_SEED_TABLE_SIZE = 4096


@dataclass(frozen=True)
class IKResult:
    """One IK search: the best q found (clipped to the limits), whether it meets the tolerances,
    its remaining errors (m, rad) and how many seeds were descended (0: outside the reach)."""

    q: np.ndarray
    success: bool
    position_error: float
    rotation_error: float
    attempts: int


def grasp_to_ee_rotation(rotation: np.ndarray) -> np.ndarray:
    """graspnetAPI rotation (columns: approach, closing, third) -> ee frame (x, y=closing, z=approach)."""
    rotation = np.asarray(rotation, float)
    return np.stack([-rotation[:, 2], rotation[:, 1], rotation[:, 0]], axis=1)


def ee_to_grasp_rotation(ee_rotation: np.ndarray) -> np.ndarray:
    """Inverse of grasp_to_ee_rotation."""
    ee_rotation = np.asarray(ee_rotation, float)
    return np.stack([ee_rotation[:, 2], ee_rotation[:, 1], -ee_rotation[:, 0]], axis=1)


def pose_matrix(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = translation
    return pose


def rotation_error_angle(r_a: np.ndarray, r_b: np.ndarray) -> float:
    """Geodesic angle (rad) between two rotation matrices."""
    cos = (np.trace(np.asarray(r_a).T @ np.asarray(r_b)) - 1.0) / 2.0
    return float(np.arccos(np.clip(cos, -1.0, 1.0)))


class RobotModel:
    """Kinematic model of the arm: q [n] -> end-effector pose, Jacobian, collision points."""

    def __init__(self, config: RobotConfig | None = None) -> None:
        import pinocchio as pin

        self.config = config or RobotConfig()
        urdf = self.config.resolved_urdf()
        try:
            full = pin.buildModelFromUrdf(urdf)
        except Exception as exc:  # pinocchio raises ValueError/RuntimeError for broken URDFs
            raise ChordError(f"pinocchio could not read the robot URDF {urdf}: {exc}") from exc
        names = list(full.names)
        missing = [j for j in self.config.arm_joints if j not in names]
        if missing:
            raise ChordError(f"robot URDF {urdf} lacks the arm joints {missing}; set arm_joints")
        lock = [full.getJointId(n) for n in names[1:] if n not in self.config.arm_joints]
        self.model = pin.buildReducedModel(full, lock, pin.neutral(full)) if lock else full
        if self.model.nq != self.model.nv or self.model.nq != len(self.config.arm_joints):
            raise ChordError("robot arm joints must be single-DoF revolute/prismatic joints")
        if list(self.model.names[1:]) != list(self.config.arm_joints):
            raise ChordError(f"arm_joints must follow the URDF chain order: {list(self.model.names[1:])}")
        if not self.model.existFrame(self.config.ee_frame):
            raise ChordError(f"robot URDF {urdf} has no frame '{self.config.ee_frame}'; set ee_frame")
        self.data = self.model.createData()
        self.ee_id = self.model.getFrameId(self.config.ee_frame)
        self.body_ids = [self.model.getFrameId(f) for f in _PANDA_BODY_FRAMES if self.model.existFrame(f)]
        self.joint_names = tuple(self.config.arm_joints)
        self.n = self.model.nq
        self.lower = np.array(self.model.lowerPositionLimit, float)
        self.upper = np.array(self.model.upperPositionLimit, float)
        vel = self.config.velocity_limits or tuple(self.model.velocityLimit)
        self.velocity_limits = np.array(vel, float)
        self.acceleration_limits = np.array(self.config.acceleration_limits, float)
        if self.velocity_limits.shape != (self.n,) or self.acceleration_limits.shape != (self.n,):
            raise ChordError(f"velocity/acceleration limits need {self.n} values (one per arm joint)")
        self.home = np.clip(np.array(self.config.home, float), self.lower, self.upper)
        self._pin = pin

    # -- kinematics -------------------------------------------------------------------------
    def fk(self, q: np.ndarray) -> np.ndarray:
        """[4, 4] end-effector pose in the base frame."""
        pin = self._pin
        pin.forwardKinematics(self.model, self.data, np.asarray(q, float))
        return pin.updateFramePlacement(self.model, self.data, self.ee_id).homogeneous.copy()

    def fk_jacobian(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pose [4, 4] and the analytic Jacobian [6, n] (linear; angular), world-aligned at the ee."""
        pin = self._pin
        q = np.asarray(q, float)
        jac = pin.computeFrameJacobian(self.model, self.data, q, self.ee_id, pin.LOCAL_WORLD_ALIGNED)
        pin.updateFramePlacement(self.model, self.data, self.ee_id)
        return self.data.oMf[self.ee_id].homogeneous.copy(), np.array(jac)

    def hand_points_local(self, width: float) -> np.ndarray:
        """[K, 3] points of the fingers and palm in the ee frame, for table/workspace checks."""
        c = self.config
        half = width / 2.0 + c.finger_thickness / 2.0
        tips = [(x, s * half, 0.008) for s in (-1, 1) for x in (-c.finger_breadth / 2, c.finger_breadth / 2)]
        pz = -(c.finger_length + 0.005)
        palm = [(x, y, pz) for x in (-c.palm_size[2] / 2, c.palm_size[2] / 2)
                for y in (-c.palm_size[1] / 2, c.palm_size[1] / 2)]
        return np.array(tips + palm, float)

    def collision_points(self, q: np.ndarray, width: float) -> np.ndarray:
        """[K, 3] world points (link origins, palm corners, fingertips) that must clear the table."""
        pin = self._pin
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, float))
        ee = self.data.oMf[self.ee_id]
        hand = (ee.rotation @ self.hand_points_local(width).T).T + ee.translation
        links = np.array([self.data.oMf[i].translation for i in self.body_ids]).reshape(-1, 3)
        return np.vstack([links, hand])

    # -- inverse kinematics -----------------------------------------------------------------
    @functools.cached_property
    def reach(self) -> tuple[np.ndarray, float]:
        """(anchor, radius): the ee never leaves this ball, so IK rejects targets outside it at once.

        The anchor is the first joint's origin (fixed); the radius sums the chain's fixed offsets
        (rotations keep lengths) plus each prismatic joint's largest travel.
        """
        model, frame = self.model, self.model.frames[self.ee_id]
        radius, joint = float(np.linalg.norm(frame.placement.translation)), frame.parentJoint
        while joint > 0:
            if model.joints[joint].shortname().startswith("JointModelP"):
                radius += max(abs(self.lower[joint - 1]), abs(self.upper[joint - 1]))
            if joint > 1:
                radius += float(np.linalg.norm(model.jointPlacements[joint].translation))
            joint = model.parents[joint]
        return np.array(model.jointPlacements[1].translation, float), radius

    @functools.cached_property
    def seed_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Uniform random configurations inside the limits and their ee poses: restart seeds are
        the entries whose pose is nearest the target (fixed generator seed: IK is deterministic)."""
        margin = self.config.joint_limit_margin
        configs = np.random.default_rng(0).uniform(self.lower + margin, self.upper - margin,
                                                   (IK_SEED_TABLE_SIZE, self.n))
        return configs, np.array([self.fk(q) for q in configs])

    def _pose_error(self, pose: np.ndarray, target: np.ndarray, rotation_weight: float) -> np.ndarray:
        """[6] residual (p - p*, w log3(R*^T R)) that IK drives to zero; w is metres per radian."""
        rot = self._pin.log3(target[:3, :3].T @ pose[:3, :3])
        return np.concatenate([pose[:3, 3] - target[:3, 3], rotation_weight * rot])

    def _pose_error_jacobian(self, q: np.ndarray, target: np.ndarray,
                             rotation_weight: float) -> tuple[np.ndarray, np.ndarray]:
        """_pose_error at q and its analytic Jacobian [6, n]."""
        pose, jac = self.fk_jacobian(q)
        j_rot = self._pin.Jlog3(target[:3, :3].T @ pose[:3, :3]) @ pose[:3, :3].T @ jac[3:]
        return self._pose_error(pose, target, rotation_weight), np.vstack([jac[:3], rotation_weight * j_rot])

    def _ik_descend(self, target: np.ndarray, seed: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    stop: np.ndarray, rotation_weight: float) -> np.ndarray:
        """Bounded Levenberg-Marquardt from one seed -> q.

        Joints at a limit whose gradient points outwards are frozen for the step (an active set),
        so solutions on the limit are reached instead of stalling there. Stops once both residual
        parts are below `stop`, when no damping gives descent or the squared residual has not
        halved in IK_STALL_WINDOW steps (a local minimum), or after IK_ITERATIONS steps.
        """
        q, damping = np.clip(seed, lo, hi), 1e-3
        costs: list[float] = []
        for _ in range(IK_ITERATIONS):
            err, jac = self._pose_error_jacobian(q, target, rotation_weight)
            if np.linalg.norm(err[:3]) < stop[0] and np.linalg.norm(err[3:]) < stop[1]:
                break
            costs.append(float(err @ err))
            if len(costs) > IK_STALL_WINDOW and costs[-1] > 0.5 * costs[-1 - IK_STALL_WINDOW]:
                break
            grad = jac.T @ err
            free = ~(((q <= lo) & (grad > 0)) | ((q >= hi) & (grad < 0)))
            if not free.any():
                break
            jf = jac[:, free]
            while damping < 1e4:
                step = np.zeros(self.n)
                step[free] = np.linalg.solve(jf.T @ jf + damping * np.eye(jf.shape[1]), jf.T @ err)
                trial = np.clip(q - step, lo, hi)
                trial_err = self._pose_error(self.fk(trial), target, rotation_weight)
                if trial_err @ trial_err < costs[-1]:
                    q, damping = trial, max(damping * 0.3, 1e-9)
                    break
                damping *= 10.0
            else:
                break
        return q

    def _ik_measure(self, q: np.ndarray, target: np.ndarray, position_tol: float, rotation_tol: float,
                    attempts: int) -> IKResult:
        """Success is judged on the returned q's FK, the way callers and tests check it."""
        pose = self.fk(q)
        position_error = float(np.linalg.norm(pose[:3, 3] - target[:3, 3]))
        rotation_error = rotation_error_angle(pose[:3, :3], target[:3, :3])
        return IKResult(q, position_error < position_tol and rotation_error < rotation_tol,
                        position_error, rotation_error, attempts)

    def solve_ik(self, target: np.ndarray, seeds: list[np.ndarray] | None = None,
                 position_tol: float = 1e-4, rotation_tol: float = 1e-3, rotation_weight: float = 0.3,
                 margin: float | None = None, restarts: int = IK_RESTARTS) -> IKResult:
        """Search for a joint vector reaching the [4, 4] target within tolerances and joint limits.

        Targets outside `reach` fail at once. Each seed (default: home) is descended in turn; the
        first seed's solution wins outright, otherwise the solution closest to the first seed among
        the given seeds. If none reaches the target, up to `restarts` seeds from a fixed table of
        configurations, nearest the target in pose first, are tried until one does: the budget
        bounds the cost of an unreachable pose.
        """
        margin = self.config.joint_limit_margin if margin is None else margin
        lo, hi = self.lower + margin, self.upper - margin
        target = np.asarray(target, float)
        given = [np.clip(np.asarray(s, float), lo, hi) for s in (seeds or [self.home])]
        anchor, radius = self.reach
        if np.linalg.norm(target[:3, 3] - anchor) > radius:
            return self._ik_measure(given[0], target, position_tol, rotation_tol, 0)
        # converge well below the tolerances, so success does not hinge on the last bits
        stop = np.array([position_tol, rotation_weight * rotation_tol]) * 1e-2
        results: list[IKResult] = []

        def descend(seed: np.ndarray) -> IKResult:
            q = self._ik_descend(target, seed, lo, hi, stop, rotation_weight)
            results.append(self._ik_measure(q, target, position_tol, rotation_tol, len(results) + 1))
            return results[-1]

        if descend(given[0]).success:
            return results[0]
        solved = [r for r in map(descend, given[1:]) if r.success]
        if solved:
            best = min(solved, key=lambda r: float(np.linalg.norm(r.q - given[0])))
            return replace(best, attempts=len(results))
        if restarts > 0:
            configs, poses = self.seed_table
            cos = (np.einsum("kij,ij->k", poses[:, :3, :3], target[:3, :3]) - 1.0) / 2.0
            distance = (np.linalg.norm(poses[:, :3, 3] - target[:3, 3], axis=1)
                        + rotation_weight * np.arccos(np.clip(cos, -1.0, 1.0)))
            for index in np.argsort(distance, kind="stable")[:restarts]:
                if descend(configs[index]).success:
                    return results[-1]
        best = min(results, key=lambda r: r.position_error + rotation_weight * r.rotation_error)
        return replace(best, attempts=len(results))

    def ik(self, target: np.ndarray, seeds: list[np.ndarray] | None = None,
           position_tol: float = 1e-4, rotation_tol: float = 1e-3, rotation_weight: float = 0.3,
           margin: float | None = None, restarts: int = IK_RESTARTS) -> np.ndarray | None:
        """solve_ik's joint vector, or None when the target was not reached."""
        result = self.solve_ik(target, seeds, position_tol, rotation_tol, rotation_weight, margin, restarts)
        return result.q if result.success else None

    def ik_local(self, target: np.ndarray, seed: np.ndarray, iterations: int = 20,
                 damping: float = 1e-4, rotation_weight: float = 0.3) -> tuple[np.ndarray, bool]:
        """Damped Gauss-Newton from a nearby seed, clipped to the joint limits; cheap per-frame IK
        for warm starts along a trajectory. Returns (q, converged to 1 mm / 0.6 deg)."""
        margin = self.config.joint_limit_margin
        lo, hi = self.lower + margin, self.upper - margin
        target = np.asarray(target, float)
        q = np.clip(np.asarray(seed, float), lo, hi)
        for _ in range(iterations):
            err, j = self._pose_error_jacobian(q, target, rotation_weight)
            if np.linalg.norm(err[:3]) < 1e-5 and np.linalg.norm(err[3:]) < 1e-4 * rotation_weight:
                return q, True
            step = j.T @ np.linalg.solve(j @ j.T + damping * np.eye(6), err)
            q = np.clip(q - step, lo, hi)
        pose = self.fk(q)
        ok = (np.linalg.norm(pose[:3, 3] - target[:3, 3]) < 1e-3
              and rotation_error_angle(pose[:3, :3], target[:3, :3]) < 1e-2)
        return q, ok
