"""Rigid parts and the joints between them, read from a flow's motion alone.

A lid that opens, a lamp head that lowers, a drawer that slides: one object whose points move as
two (or more) rigid bodies. `segment_parts` splits each object's points into parts that move
together (sequential RANSAC over rigid motions: a hypothesis is the per-frame rigid fit of a few
neighbouring points, its inliers the points it explains to within ``tolerance`` RMS over the
frames; then every point goes to the part that explains it best, and parts whose motions agree
within the tolerance are merged, so a part that barely moves stays with its base). `fit_joint`
describes a moving part relative to its object's base (the part that moves least): revolute
(axis, pivot, angle per frame), prismatic (axis, travel per frame), or free when neither explains
it. Everything is in the flow's frame at frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.robot.rigid_fit import batch_kabsch

SCORED_POINTS = 300  # points a RANSAC hypothesis is scored on


@dataclass(frozen=True)
class Joint:
    """How part ``child`` moves relative to part ``parent`` (both global part ids)."""

    kind: str               # revolute | prismatic | free
    parent: int
    child: int
    axis: np.ndarray        # [3] unit vector (zeros for free)
    pivot: np.ndarray       # [3] a point on a revolute axis, the child's frame-0 centroid otherwise
    values: np.ndarray      # [T] angle (rad) or travel (m) from frame 0; zeros for free
    residual: float         # RMS distance (m) between the child's points and the joint model


@dataclass(frozen=True)
class Articulation:
    part_ids: np.ndarray          # [N] global part id of each flow point
    part_objects: np.ndarray      # [P] object id of each part
    joints: tuple[Joint, ...]

    def parts_of(self, object_id: int) -> np.ndarray:
        return np.flatnonzero(self.part_objects == object_id)

    def to_arrays(self, frames: int) -> dict[str, np.ndarray]:
        """The optional flow.npz arrays (`formats.flow.ARTICULATION_KEYS`)."""
        j = self.joints
        return {"part_ids": self.part_ids, "part_objects": self.part_objects,
                "joint_kinds": np.array([x.kind for x in j], dtype=np.str_),
                "joint_parents": np.array([x.parent for x in j], dtype=np.int32),
                "joint_children": np.array([x.child for x in j], dtype=np.int32),
                "joint_axes": np.array([x.axis for x in j], dtype=np.float32).reshape(-1, 3),
                "joint_pivots": np.array([x.pivot for x in j], dtype=np.float32).reshape(-1, 3),
                "joint_values": np.array([x.values for x in j], dtype=np.float32).reshape(-1, frames).T,
                "joint_residuals": np.array([x.residual for x in j], dtype=np.float32)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Articulation:
        joints = tuple(Joint(str(kind), int(parent), int(child), np.asarray(axis, float), np.asarray(pivot, float),
                             np.asarray(values, float), float(residual))
                       for kind, parent, child, axis, pivot, values, residual in zip(
                           arrays["joint_kinds"], arrays["joint_parents"], arrays["joint_children"],
                           arrays["joint_axes"], arrays["joint_pivots"], arrays["joint_values"].T,
                           arrays["joint_residuals"]))
        return cls(np.asarray(arrays["part_ids"], np.int32), np.asarray(arrays["part_objects"], np.int32), joints)


def motion_residuals(poses: np.ndarray, trajectories: np.ndarray) -> np.ndarray:
    """[M] RMS over frames of |pose_t p_0 - p_t| for trajectories [T, M, 3]."""
    predicted = np.einsum("tij,mj->tmi", poses[:, :3, :3], trajectories[0]) + poses[:, None, :3, 3]
    return np.sqrt(np.mean(np.sum((predicted - trajectories) ** 2, axis=-1), axis=0))


def segment_object(trajectories: np.ndarray, tolerance: float = 0.01, min_points: int = 20,
                   max_parts: int = 4, hypotheses: int = 64, seed: int = 0) -> np.ndarray:
    """[M] part label (0..K-1, ordered by size) of each point of one object, trajectories [T, M, 3]."""
    traj = np.asarray(trajectories, float)
    m = traj.shape[1]
    if m < 2 * min_points or traj.shape[0] < 2 or motion_residuals(batch_kabsch(traj[0], traj), traj).max() \
            <= tolerance:
        return np.zeros(m, dtype=np.int32)  # one rigid body (or too little to split)
    rng = np.random.default_rng(seed)
    remaining = np.arange(m)
    motions = []
    while len(remaining) >= min_points and len(motions) < max_parts:
        best = _best_hypothesis(traj[:, remaining], tolerance, hypotheses, rng)
        if best is None:
            break
        inliers = best
        for _ in range(2):  # refit on the inliers, which then grow to all points it explains
            pose = batch_kabsch(traj[0, remaining[inliers]], traj[:, remaining[inliers]])
            inliers = motion_residuals(pose, traj[:, remaining]) <= tolerance
        if inliers.sum() < min_points:
            break
        motions.append(pose)
        remaining = remaining[~inliers]
    if not motions:
        return np.zeros(m, dtype=np.int32)
    labels = _assign(traj, motions)
    labels = _merge(traj, labels, tolerance)
    sizes = np.bincount(labels)
    order = np.argsort(-sizes, kind="stable")
    return np.argsort(order).astype(np.int32)[labels]


def _best_hypothesis(traj: np.ndarray, tolerance: float, hypotheses: int, rng: np.random.Generator):
    """Inlier mask of the best rigid motion fitted to 4 neighbouring points, or None. Hypotheses are
    scored on at most SCORED_POINTS points (the winner's inliers are then found among all)."""
    first = traj[0]
    m = len(first)
    scored = rng.choice(m, size=min(m, SCORED_POINTS), replace=False)
    best, best_count = None, 0
    neighbours = min(16, m - 1)
    for _ in range(hypotheses):
        seed = rng.integers(m)
        near = np.argpartition(np.linalg.norm(first - first[seed], axis=1), neighbours)[: neighbours + 1]
        sample = rng.choice(near, size=min(4, len(near)), replace=False)
        pose = batch_kabsch(first[sample], traj[:, sample])
        count = int(np.count_nonzero(motion_residuals(pose, traj[:, scored]) <= tolerance))
        if count > best_count:
            best, best_count = pose, count
    return None if best is None else motion_residuals(best, traj) <= tolerance


def _assign(traj: np.ndarray, motions: list[np.ndarray]) -> np.ndarray:
    """Each point to the motion that explains it best; motions refitted on their points once."""
    residuals = np.stack([motion_residuals(pose, traj) for pose in motions])
    labels = residuals.argmin(axis=0)
    refit = [batch_kabsch(traj[0, labels == k], traj[:, labels == k]) if np.sum(labels == k) >= 3 else motions[k]
             for k in range(len(motions))]
    return np.stack([motion_residuals(pose, traj) for pose in refit]).argmin(axis=0)


def _merge(traj: np.ndarray, labels: np.ndarray, tolerance: float) -> np.ndarray:
    """Merge parts whose union still moves as one rigid body within ``tolerance`` (RMS)."""
    labels = np.unique(labels, return_inverse=True)[1]
    merged = True
    while merged and labels.max() > 0:
        merged = False
        for a in range(labels.max() + 1):
            for b in range(a + 1, labels.max() + 1):
                both = (labels == a) | (labels == b)
                pose = batch_kabsch(traj[0, both], traj[:, both])
                if np.sqrt(np.mean(motion_residuals(pose, traj[:, both]) ** 2)) <= tolerance / 2:
                    labels[labels == b] = a
                    labels = np.unique(labels, return_inverse=True)[1]
                    merged = True
                    break
            if merged:
                break
    return labels


def _rotation_vectors(rotations: np.ndarray) -> np.ndarray:
    """[T, 3] axis * angle of rotation matrices [T, 3, 3] (angles in [0, pi])."""
    cos = np.clip((np.trace(rotations, axis1=1, axis2=2) - 1) / 2, -1.0, 1.0)
    angle = np.arccos(cos)
    skew = np.stack([rotations[:, 2, 1] - rotations[:, 1, 2], rotations[:, 0, 2] - rotations[:, 2, 0],
                     rotations[:, 1, 0] - rotations[:, 0, 1]], axis=1)
    norm = np.linalg.norm(skew, axis=1)
    axis = np.divide(skew, norm[:, None], out=np.zeros_like(skew), where=norm[:, None] > 1e-12)
    return axis * angle[:, None]


def _axis_rotation(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """[T, 3, 3] rotations by ``angles`` about the unit ``axis`` (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    s, c = np.sin(angles)[:, None, None], np.cos(angles)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def fit_joint(base_poses: np.ndarray, child_poses: np.ndarray, child_points: np.ndarray, parent: int, child: int,
              tolerance: float = 0.01, min_angle_deg: float = 3.0) -> Joint:
    """The joint of a child part moving by ``child_poses`` relative to a base moving by ``base_poses``
    ([T, 4, 4] world motions from frame 0), for the child's frame-0 points [M, 3]."""
    relative = np.linalg.inv(base_poses) @ child_poses
    rotations, translations = relative[:, :3, :3], relative[:, :3, 3]
    centroid = child_points.mean(axis=0)
    moved = np.einsum("tij,mj->tmi", rotations, child_points) + translations[:, None]
    vectors = _rotation_vectors(rotations)
    if np.degrees(np.linalg.norm(vectors, axis=1).max()) >= min_angle_deg:
        axis = np.linalg.svd(vectors, full_matrices=False)[2][0]
        angles = vectors @ axis
        if angles[np.argmax(np.abs(angles))] < 0:
            axis, angles = -axis, -angles
        turning = np.abs(angles) >= np.radians(min_angle_deg / 2)
        stack = (np.eye(3) - rotations[turning]).reshape(-1, 3)
        pivot = np.linalg.lstsq(stack, translations[turning].reshape(-1), rcond=None)[0]
        pivot = pivot + axis * np.dot(centroid - pivot, axis)  # the axis point nearest the part
        model = np.einsum("tij,mj->tmi", _axis_rotation(axis, angles), child_points - pivot) + pivot
        joint = Joint("revolute", parent, child, axis, pivot, angles, _rms(model, moved))
    else:
        axis = np.linalg.svd(translations, full_matrices=False)[2][0]
        travel = translations @ axis
        if travel[np.argmax(np.abs(travel))] < 0:
            axis, travel = -axis, -travel
        model = child_points[None] + travel[:, None, None] * axis
        joint = Joint("prismatic", parent, child, axis, centroid, travel, _rms(model, moved))
    if joint.residual > tolerance:
        return Joint("free", parent, child, np.zeros(3), centroid, np.zeros(len(relative)), joint.residual)
    return joint


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=-1))))


def analyse_flow(trajectories: np.ndarray, object_ids: np.ndarray, tolerance: float = 0.01,
                 seed: int = 0) -> Articulation:
    """Parts of every object and a joint for each part that moves relative to its object's base."""
    traj = np.asarray(trajectories, float)
    part_ids = np.zeros(traj.shape[1], dtype=np.int32)
    part_objects, joints = [], []
    for obj in np.unique(object_ids):
        index = np.flatnonzero(object_ids == obj)
        labels = segment_object(traj[:, index], tolerance, seed=seed)
        first = len(part_objects)
        part_ids[index] = first + labels
        parts = [index[labels == k] for k in range(labels.max() + 1)]
        part_objects += [int(obj)] * len(parts)
        poses = [batch_kabsch(traj[0, p], traj[:, p]) for p in parts]
        still = [np.linalg.norm(traj[:, p] - traj[0, p], axis=-1).mean() for p in parts]
        base = int(np.argmin(still))
        joints += [fit_joint(poses[base], poses[k], traj[0, parts[k]], first + base, first + k, tolerance)
                   for k in range(len(parts)) if k != base]
    return Articulation(part_ids, np.array(part_objects, dtype=np.int32), tuple(joints))
