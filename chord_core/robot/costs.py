"""Trajectory cost terms as small residual functions (PyRoki habit): each returns (r, J).

All terms see the same `KinematicState` of a joint trajectory q_0..q_{T-1} (q_0 fixed, the
variables are q_1..q_{T-1}); Jacobians are with respect to those variables, [m, (T-1) n], built
from pinocchio's analytic frame Jacobians. The solver stacks whatever terms it is given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


@dataclass
class KinematicState:
    """Joint trajectory [T, n] with ee poses [T, 4, 4] and world-aligned Jacobians [T, 6, n]."""

    q: np.ndarray
    poses: np.ndarray
    jacobians: np.ndarray

    @classmethod
    def evaluate(cls, model, q: np.ndarray) -> KinematicState:
        poses, jacs = zip(*(model.fk_jacobian(qt) for qt in q))
        return cls(np.asarray(q, float), np.array(poses), np.array(jacs))

    @property
    def num_vars(self) -> int:
        return (self.q.shape[0] - 1) * self.q.shape[1]


@dataclass
class AttachedFlowTarget:
    """Rigid attachment of N object points to the ee, compressed exactly to 12 residuals a frame.

    With x_i the points in the ee frame at q_0 (centroid c, centred X = U S V^T) and y_i(t) the flow,
    (1/N) sum_i |R_t x_i + p_t - y_i(t)|^2 = |R_t c + p_t - cy_t|^2 + |S V^T R_t^T - U^T Y_t|^2 / N
    + const_t, so the cost over all N points costs O(1) per frame and is exact (not a subsample).
    """

    centroid: np.ndarray  # [3] c in the ee frame
    sv: np.ndarray  # [k, 3] rows s_j v_j^T / sqrt(N)
    flow_centroids: np.ndarray  # [T, 3]
    flow_proj: np.ndarray  # [T, k, 3] U^T Y_t / sqrt(N)
    residual_const: np.ndarray  # [T] part of the mean squared error no pose can remove

    @classmethod
    def build(cls, ee_pose0: np.ndarray, trajectories: np.ndarray) -> AttachedFlowTarget:
        traj = np.asarray(trajectories, float)
        n = traj.shape[1]
        local = (traj[0] - ee_pose0[:3, 3]) @ ee_pose0[:3, :3]
        c = local.mean(axis=0)
        u, s, vt = np.linalg.svd(local - c, full_matrices=False)
        cy = traj.mean(axis=1)
        centred = traj - cy[:, None, :]
        proj = np.einsum("nk,tnd->tkd", u, centred) / np.sqrt(n)
        total = np.einsum("tnd,tnd->t", centred, centred) / n
        const = np.maximum(total - np.einsum("tkd,tkd->t", proj, proj), 0.0)
        return cls(c, (s[:, None] * vt) / np.sqrt(n), cy, proj, const)

    def frame_residual(self, pose: np.ndarray, jac: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        """r [3 + 3k] and dr/dq [3 + 3k, n] for frame t."""
        rot, pos = pose[:3, :3], pose[:3, 3]
        rc = rot @ self.centroid
        r_c = rc + pos - self.flow_centroids[t]
        j_c = jac[:3] - skew(rc) @ jac[3:]
        rows, jrows = [r_c], [j_c]
        for k in range(self.sv.shape[0]):
            s = np.linalg.norm(self.sv[k])
            if s == 0.0:
                rows.append(-self.flow_proj[t, k])
                jrows.append(np.zeros_like(j_c))
                continue
            rv = rot @ (self.sv[k] / s)
            rows.append(s * rv - self.flow_proj[t, k])
            jrows.append(-s * skew(rv) @ jac[3:])
        return np.concatenate(rows), np.vstack(jrows)

    def rms_error(self, pose: np.ndarray, t: int) -> float:
        r, _ = self.frame_residual(pose, np.zeros((6, 1)), t)
        return float(np.sqrt(r @ r + self.residual_const[t]))


@dataclass
class PushFlowTarget:
    """Push mode: the object is assumed to translate with the ee once in contact (no attachment
    of rotation), so the mean point error reduces to the centroid offset (3 residuals a frame)."""

    start_position: np.ndarray  # [3] ee position at q_0
    flow_centroids: np.ndarray  # [T, 3]
    residual_const: np.ndarray  # [T]

    @classmethod
    def build(cls, ee_pose0: np.ndarray, trajectories: np.ndarray) -> PushFlowTarget:
        traj = np.asarray(trajectories, float)
        cy = traj.mean(axis=1)
        # predicted points p0 + d_t; error = (c0 + d_t - cy_t) + ((p0 - c0) - (y - cy_t))
        dev = (traj[0] - cy[0])[None] - (traj - cy[:, None, :])
        const = np.einsum("tnd,tnd->t", dev, dev) / traj.shape[1]
        return cls(np.array(ee_pose0[:3, 3], float), cy, const)

    def frame_residual(self, pose: np.ndarray, jac: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        r = self.flow_centroids[0] + pose[:3, 3] - self.start_position - self.flow_centroids[t]
        return r, jac[:3]

    def rms_error(self, pose: np.ndarray, t: int) -> float:
        r, _ = self.frame_residual(pose, np.zeros((6, 1)), t)
        return float(np.sqrt(r @ r + self.residual_const[t]))


def flow_tracking_cost(state: KinematicState, target, weight: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Attached (or pushed) object points minus the flow, frames 1..T-1."""
    t_count, n = state.q.shape
    res, jac = [], []
    for t in range(1, t_count):
        r, j = target.frame_residual(state.poses[t], state.jacobians[t], t)
        block = np.zeros((r.size, state.num_vars))
        block[:, (t - 1) * n:t * n] = j
        res.append(r)
        jac.append(block)
    return weight * np.concatenate(res), weight * np.vstack(jac)


def orientation_hold_cost(state: KinematicState, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """log3(R_0^T R_t): keep the ee orientation of q_0 (push mode), metres per radian weight."""
    import pinocchio as pin

    t_count, n = state.q.shape
    r0 = state.poses[0][:3, :3]
    res = np.zeros((t_count - 1) * 3)
    jac = np.zeros((res.size, state.num_vars))
    for t in range(1, t_count):
        rt = state.poses[t][:3, :3]
        err = r0.T @ rt
        res[(t - 1) * 3:t * 3] = pin.log3(err)
        jac[(t - 1) * 3:t * 3, (t - 1) * n:t * n] = pin.Jlog3(err) @ rt.T @ state.jacobians[t][3:]
    return weight * res, weight * jac


def _difference_operator(t_count: int, n: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite-difference matrix D [m, T n] over the full stacked trajectory, and rows' frame index."""
    coeffs = {1: [-1.0, 1.0], 2: [1.0, -2.0, 1.0]}[order]
    rows = []
    for t in range(t_count - order):
        for j in range(n):
            row = np.zeros(t_count * n)
            for k, c in enumerate(coeffs):
                row[(t + k) * n + j] = c
            rows.append(row)
    return np.array(rows).reshape(-1, t_count * n), np.repeat(np.arange(t_count - order), n)


def smoothness_cost(state: KinematicState, order: int, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Joint velocity (order 1) or acceleration (order 2) per frame, q_0 included as a constant."""
    t_count, n = state.q.shape
    d, _ = _difference_operator(t_count, n, order)
    return weight * d @ state.q.reshape(-1), weight * d[:, n:]


def hinge(values: np.ndarray, limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """max(0, |v| - limit) and its derivative with respect to v."""
    excess = np.abs(values) - limit
    active = excess > 0
    return np.where(active, excess, 0.0), np.where(active, np.sign(values), 0.0)


def velocity_limit_cost(state: KinematicState, dt: float, limits: np.ndarray,
                        weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Hinge on per-frame joint speed above the (scaled) velocity limits at the nominal frame rate."""
    t_count, n = state.q.shape
    d, _ = _difference_operator(t_count, n, 1)
    vel = d @ state.q.reshape(-1) / dt
    r, g = hinge(vel, np.tile(limits, t_count - 1))
    return weight * dt * r, weight * dt * (g[:, None] * d[:, n:] / dt)


def joint_limit_cost(state: KinematicState, lower: np.ndarray, upper: np.ndarray,
                     weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Hinge on entering the soft zone [lower, upper] (inside the hard bounds the solver enforces)."""
    q = state.q[1:].reshape(-1)
    lo, hi = np.tile(lower, state.q.shape[0] - 1), np.tile(upper, state.q.shape[0] - 1)
    below, above = np.maximum(lo - q, 0.0), np.maximum(q - hi, 0.0)
    grad = np.where(below > 0, -1.0, 0.0) + np.where(above > 0, 1.0, 0.0)
    return weight * (below + above), weight * np.diag(grad)


def posture_cost(state: KinematicState, reference: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Small pull toward reference postures [T-1, n] (the warm start); settles the redundant DoF."""
    r = (state.q[1:] - reference).reshape(-1)
    return weight * r, weight * np.eye(r.size)
