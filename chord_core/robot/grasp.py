"""Grasp proposal behind one interface, in graspnetAPI layout, plus the default antipodal sampler.

A grasp is (score, width, height, depth, rotation [3, 3], translation [3], object_id) with the
graspnetAPI frame: rotation columns = (approach, closing, third axis), translation = the point
between the finger pads where the end-effector frame goes, width = finger opening (m), depth =
how far the fingertips reach past the translation along the approach.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig
from chord_core.robot.model import rotation_error_angle


@dataclass
class Grasp:
    score: float
    width: float
    height: float
    depth: float
    rotation: np.ndarray
    translation: np.ndarray
    object_id: int = 0

    @property
    def approach(self) -> np.ndarray:
        return self.rotation[:, 0]

    @property
    def closing(self) -> np.ndarray:
        return self.rotation[:, 1]

    def to_array(self) -> np.ndarray:
        """One graspnetAPI GraspGroup row [17]: score, width, height, depth, R (9), t (3), object_id."""
        return np.concatenate([[self.score, self.width, self.height, self.depth],
                               np.asarray(self.rotation, float).reshape(-1),
                               np.asarray(self.translation, float), [self.object_id]])

    @classmethod
    def from_array(cls, row: np.ndarray) -> Grasp:
        row = np.asarray(row, float)
        return cls(float(row[0]), float(row[1]), float(row[2]), float(row[3]), row[4:13].reshape(3, 3),
                   row[13:16].copy(), int(row[16]))

    def to_json(self, object_name: str = "") -> dict:
        return {"object_name": object_name, "score": float(self.score), "width": float(self.width),
                "height": float(self.height), "depth": float(self.depth),
                "rotation": np.asarray(self.rotation).tolist(),
                "translation": np.asarray(self.translation).tolist(), "object_id": int(self.object_id)}


class GraspProposer(Protocol):
    """Anything that proposes grasps on one object given the rest of the scene."""

    def propose(self, object_points: np.ndarray, scene_points: np.ndarray,
                colors: np.ndarray | None = None) -> list[Grasp]: ...


def estimate_normals(points: np.ndarray, neighbours: int = 20) -> np.ndarray:
    """[N, 3] unit normals by open3d PCA on k nearest neighbours, flipped away from the centroid
    (outward for the convex-ish objects a gripper can hold)."""
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.asarray(points, np.float64)))
    cloud.estimate_normals(o3d.geometry.KDTreeSearchParamKNN(knn=neighbours))
    normals = np.asarray(cloud.normals)
    outward = np.einsum("nd,nd->n", normals, points - points.mean(axis=0)) < 0
    normals[outward] *= -1
    return normals


def _boxes_local(cfg: RobotConfig, opening: float, sweep: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gripper volumes in the grasp frame (x approach, y closing, z third) as (lo, hi) boxes:
    two fingers and the palm, extended backwards by `sweep` for the approach motion."""
    half, th, br = opening / 2.0, cfg.finger_thickness, cfg.finger_breadth / 2.0
    fl, tip = cfg.finger_length, 0.008
    depth, py, pz = cfg.palm_size
    return [
        (np.array([-fl - sweep, half, -br]), np.array([tip, half + th, br])),
        (np.array([-fl - sweep, -half - th, -br]), np.array([tip, -half, br])),
        (np.array([-fl - depth - sweep, -py / 2, -pz / 2]), np.array([-fl, py / 2, pz / 2])),
    ]


def _inside(local: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.all((local > lo) & (local < hi), axis=-1)


def grasp_collides(cfg: RobotConfig, rotation: np.ndarray, center: np.ndarray, opening: float,
                   object_points: np.ndarray, scene_points: np.ndarray) -> bool:
    """True if the open gripper (and its approach sweep) hits the object, another object, the space
    between the fingers holds another object, or any gripper volume dips below the table."""
    sweep = cfg.pregrasp_distance
    boxes = _boxes_local(cfg, opening, sweep)
    obj = (object_points - center) @ rotation
    for lo, hi in boxes:
        if _inside(obj, lo, hi).any():
            return True
        corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
        if (corners @ rotation.T + center)[:, 2].min() < cfg.table_height + cfg.table_clearance:
            return True
    if len(scene_points):
        other = (scene_points - center) @ rotation
        between = (np.array([-cfg.finger_length, -opening / 2, -cfg.finger_breadth / 2]),
                   np.array([0.008, opening / 2, cfg.finger_breadth / 2]))
        for lo, hi in boxes + [between]:
            if _inside(other, lo, hi).any():
                return True
    return False


@dataclass
class AntipodalSampler:
    """Default grasp proposer: antipodal contact pairs on the object cloud (paper §4.2 uses AnyGrasp;
    this is the open stand-in). Pairs whose normals oppose within the friction cone, opening within
    the gripper, collision-free against the object, the scene and the table; scored; NMS."""

    config: RobotConfig
    num_samples: int = 800  # contact points tried: a lid's 3 cm lip holds few pairs; 250 left the chest demo's
    # lid 0-2 candidates, none reachable on one CPU's distilled flow (800: planning 1.0 -> 1.7 s, bench planner)
    friction_cone_deg: float = 20.0
    approach_angles: int = 12
    max_grasps: int = 20
    clearance: float = 0.01  # opening beyond the contact distance
    seed: int = 0

    def propose(self, object_points: np.ndarray, scene_points: np.ndarray,
                colors: np.ndarray | None = None) -> list[Grasp]:
        pts = np.asarray(object_points, float)
        if len(pts) < 10:
            raise ChordError(f"grasp proposal needs at least 10 object points, got {len(pts)}")
        scene = np.asarray(scene_points, float).reshape(-1, 3)
        rng = np.random.default_rng(self.seed)
        if len(pts) > 3000:
            pts = pts[rng.choice(len(pts), 3000, replace=False)]
        normals = estimate_normals(pts)
        cos_cone = np.cos(np.radians(self.friction_cone_deg))
        max_contact = self.config.gripper_max_width - self.clearance
        centroid = pts.mean(axis=0)
        candidates: list[Grasp] = []
        for i in rng.choice(len(pts), min(self.num_samples, len(pts)), replace=False):
            p1, n1 = pts[i], normals[i]
            vec = pts - p1
            along = vec @ -n1
            perp = np.linalg.norm(vec + along[:, None] * n1, axis=1)
            ok = (along > 0.005) & (along < max_contact) & (perp < 0.004) & (normals @ n1 < -cos_cone)
            if not ok.any():
                continue
            j = np.flatnonzero(ok)[np.argmax(along[ok])]
            axis = (pts[j] - p1) / np.linalg.norm(pts[j] - p1)
            quality = min(abs(n1 @ axis), abs(normals[j] @ axis))
            if quality < cos_cone:
                continue
            width = float(np.linalg.norm(pts[j] - p1))
            opening = min(width + self.clearance, self.config.gripper_max_width)
            center = (p1 + pts[j]) / 2.0
            u = np.cross(axis, [0.0, 0.0, 1.0] if abs(axis[2]) < 0.9 else [1.0, 0.0, 0.0])
            u /= np.linalg.norm(u)
            v = np.cross(axis, u)
            for theta in np.linspace(0, 2 * np.pi, self.approach_angles, endpoint=False):
                approach = np.cos(theta) * u + np.sin(theta) * v
                rot = np.stack([approach, axis, np.cross(approach, axis)], axis=1)
                if grasp_collides(self.config, rot, center, opening, pts, scene):
                    continue
                top_down = max(0.0, -approach[2])
                centred = np.exp(-np.linalg.norm(center - centroid) / 0.03)
                score = quality**2 * (0.3 + 0.7 * top_down) * (0.5 + 0.5 * centred)
                candidates.append(Grasp(float(score), opening, self.config.finger_breadth,
                                        0.008, rot, center))
        return non_maximum_suppression(candidates, self.max_grasps)


def non_maximum_suppression(grasps: list[Grasp], max_grasps: int, distance: float = 0.01,
                            angle_deg: float = 30.0) -> list[Grasp]:
    """Best-first; drop a grasp within `distance` and `angle_deg` of a kept one (a grasp and its
    180-degree flip about the approach are the same grasp)."""
    flip = np.diag([1.0, -1.0, -1.0])
    kept: list[Grasp] = []
    for g in sorted(grasps, key=lambda g: -g.score):
        close = any(np.linalg.norm(g.translation - k.translation) < distance
                    and min(rotation_error_angle(g.rotation, k.rotation),
                            rotation_error_angle(g.rotation @ flip, k.rotation)) < np.radians(angle_deg)
                    for k in kept)
        if not close:
            kept.append(g)
        if len(kept) >= max_grasps:
            break
    return kept
