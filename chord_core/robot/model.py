"""Arm kinematics with pinocchio: forward kinematics, analytic frame Jacobians, bounded IK.

The URDF is reduced to the configured arm joints (fingers locked) so q is the arm's joint vector;
the end-effector frame is a URDF frame (Panda: ``panda_grasptarget``, between the finger pads,
z = approach, y = closing direction).
"""

from __future__ import annotations

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig

# Frames whose origins must stay above the table (besides the hand/finger points below).
_PANDA_BODY_FRAMES = ("panda_link3", "panda_link4", "panda_link5", "panda_link6", "panda_link7",
                      "panda_hand")


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
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, float))
        return self.data.oMf[self.ee_id].homogeneous.copy()

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
    def ik(self, target: np.ndarray, seeds: list[np.ndarray] | None = None,
           position_tol: float = 1e-4, rotation_tol: float = 1e-3, rotation_weight: float = 0.3,
           margin: float | None = None, restarts: int = 4) -> np.ndarray | None:
        """Joint vector reaching the [4, 4] target within tolerances and joint limits, or None.

        Bounded Levenberg-Marquardt (scipy trf) on [p - p*, w log3(R*^T R)] with pinocchio's
        analytic Jacobian; tries each seed, then (restarts > 0) home and random seeds, and keeps the
        solution closest to the first seed.
        """
        from scipy.optimize import least_squares

        pin = self._pin
        margin = self.config.joint_limit_margin if margin is None else margin
        lo, hi = self.lower + margin, self.upper - margin
        target = np.asarray(target, float)
        r_star, p_star = target[:3, :3], target[:3, 3]

        def fun(q: np.ndarray) -> np.ndarray:
            pose = self.fk(q)
            rot = pin.log3(r_star.T @ pose[:3, :3])
            return np.concatenate([pose[:3, 3] - p_star, rotation_weight * rot])

        def jac(q: np.ndarray) -> np.ndarray:
            pose, j = self.fk_jacobian(q)
            r_err = r_star.T @ pose[:3, :3]
            j_rot = pin.Jlog3(r_err) @ pose[:3, :3].T @ j[3:]
            return np.vstack([j[:3], rotation_weight * j_rot])

        candidates = [np.asarray(s, float) for s in (seeds or [self.home])]
        if restarts:
            rng = np.random.default_rng(0)
            candidates += [self.home] + [rng.uniform(lo, hi) for _ in range(restarts)]
        best, reference = None, candidates[0]
        for seed in candidates:
            x0 = np.clip(seed, lo + 1e-9, hi - 1e-9)
            sol = least_squares(fun, x0, jac=jac, bounds=(lo, hi), method="trf", xtol=1e-12,
                                ftol=1e-12, gtol=1e-12, max_nfev=100)
            pose = self.fk(sol.x)
            ok = (np.linalg.norm(pose[:3, 3] - p_star) < position_tol
                  and rotation_error_angle(pose[:3, :3], r_star) < rotation_tol)
            if ok:
                if best is None or np.linalg.norm(sol.x - reference) < np.linalg.norm(best - reference):
                    best = sol.x
                if seed is candidates[0]:
                    break
        return best

    def ik_local(self, target: np.ndarray, seed: np.ndarray, iterations: int = 20,
                 damping: float = 1e-4, rotation_weight: float = 0.3) -> tuple[np.ndarray, bool]:
        """Damped Gauss-Newton from a nearby seed, clipped to the joint limits; cheap per-frame IK
        for warm starts along a trajectory. Returns (q, converged to 1 mm / 0.6 deg)."""
        pin = self._pin
        margin = self.config.joint_limit_margin
        lo, hi = self.lower + margin, self.upper - margin
        target = np.asarray(target, float)
        q = np.clip(np.asarray(seed, float), lo, hi)
        w = np.array([1, 1, 1, rotation_weight, rotation_weight, rotation_weight], float)
        for _ in range(iterations):
            pose, jac = self.fk_jacobian(q)
            r_err = target[:3, :3].T @ pose[:3, :3]
            err = np.concatenate([pose[:3, 3] - target[:3, 3], pin.log3(r_err)])
            if np.linalg.norm(err[:3]) < 1e-5 and np.linalg.norm(err[3:]) < 1e-4:
                return q, True
            j = np.vstack([jac[:3], pin.Jlog3(r_err) @ pose[:3, :3].T @ jac[3:]]) * w[:, None]
            step = j.T @ np.linalg.solve(j @ j.T + damping * np.eye(6), err * w)
            q = np.clip(q - step, lo, hi)
        pose = self.fk(q)
        ok = (np.linalg.norm(pose[:3, 3] - target[:3, 3]) < 1e-3
              and rotation_error_angle(pose[:3, :3], target[:3, :3]) < 1e-2)
        return q, ok
