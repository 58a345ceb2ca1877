"""Scenes of objects as 3D Gaussians, with per-object distance fields (paper §3.3, A.1).

* Scans (.ply/.pcd/... point clouds, or in-memory ``Scan``): voxel down-sampled to a budget
  with open3d (colours averaged from the scan), isotropic scale from the neighbour spacing.
* Meshes: see ``chord_core.scene.mesh_fit``; ``chord_core.scene.load`` picks scan or mesh per file.
Every object also answers distance queries: a signed distance (open3d RaycastingScene) for a
watertight mesh, otherwise an unsigned distance to the surface samples — documented fallback
for partial scans and non-watertight meshes, whose "inside" is undefined. Control points
(Eq. 5–7) start from voxel centres inside (φ ≤ 0) or, without a sign, on the surface band.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from chord_core.errors import ChordError
from chord_core.formats.scans import Scan, validate_scan_arrays
from chord_core.render.gaussians import Gaussians
from chord_core.scene.voxels import near_surface_voxels, voxel_centres, voxels_around_points

LOG = logging.getLogger(__name__)
DEFAULT_GAUSSIANS_PER_OBJECT = 5000
SINGLE_POINT_SCALE = 0.005  # metres: the Gaussian size of a one-point object (no spacing to measure)
DEFAULT_COLOR = 0.5  # grey for scans without colour
DEFAULT_OPACITY = 0.9


def gaussians_from_points(points: np.ndarray, colors: np.ndarray | None, object_id: int = 0,
                          opacity: float = DEFAULT_OPACITY) -> Gaussians:
    """Isotropic Gaussians on points [N, 3]; std = mean distance to the 3 nearest neighbours."""
    from scipy.spatial import cKDTree

    n = len(points)
    if n >= 2:
        k = min(3, n - 1)
        dist, _ = cKDTree(points).query(points, k=k + 1)
        spacing = dist[:, 1:].mean(axis=1)
        positive = spacing[spacing > 0]
        floor = positive.min() if len(positive) else SINGLE_POINT_SCALE
        spacing = np.maximum(spacing, floor)
    else:
        spacing = np.full(n, SINGLE_POINT_SCALE)
    if colors is None:
        colors = np.full((n, 3), DEFAULT_COLOR, dtype=np.float32)
    quats = np.zeros((n, 4), dtype=np.float32)
    quats[:, 0] = 1.0
    return Gaussians(
        means=torch.as_tensor(points, dtype=torch.float32),
        quats=torch.as_tensor(quats),
        scales=torch.as_tensor(np.repeat(spacing[:, None], 3, axis=1), dtype=torch.float32),
        opacities=torch.full((n,), opacity, dtype=torch.float32),
        colors=torch.as_tensor(np.clip(colors, 0, 1), dtype=torch.float32),
        object_ids=torch.full((n,), object_id, dtype=torch.int64),
    )


def downsample_to_budget(points: np.ndarray, colors: np.ndarray | None,
                         budget: int) -> tuple[np.ndarray, np.ndarray | None]:
    """open3d voxel down-sampling with the voxel size bisected so the count is <= budget."""
    if len(points) <= budget:
        return points, colors
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points.astype(np.float64)))
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(colors.astype(np.float64))
    extent = float(np.max(points.max(0) - points.min(0)))
    lo, hi = 0.0, max(extent, 1e-9)
    best = cloud.voxel_down_sample(hi)
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        trial = cloud.voxel_down_sample(mid)
        if len(trial.points) <= budget:
            hi, best = mid, trial
        else:
            lo = mid
        if len(best.points) >= 0.95 * budget:
            break
    out_colors = np.asarray(best.colors, dtype=np.float32) if colors is not None else None
    return np.asarray(best.points, dtype=np.float32), out_colors


@dataclass
class SceneObject:
    """One object: its Gaussians, source points (for flow export) and a distance field.

    ``source_points`` [P, 3] are the scan points or mesh vertices; ``mesh`` is the open3d
    TriangleMesh for mesh objects (None for scans); ``signed`` tells whether ``distance`` is a
    true SDF (watertight mesh) or an unsigned distance (scans, non-watertight meshes).
    """

    name: str
    gaussians: Gaussians
    source_points: np.ndarray
    source_colors: np.ndarray | None = None
    mesh: object | None = None
    signed: bool = False
    _raycast: object | None = field(default=None, repr=False)
    _kdtree: object | None = field(default=None, repr=False)

    def distance(self, x: np.ndarray) -> np.ndarray:
        """φ(x) [M]: signed distance (negative inside) for watertight meshes, else unsigned."""
        x = np.asarray(x, dtype=np.float32).reshape(-1, 3)
        if self.mesh is not None:
            import open3d as o3d

            if self._raycast is None:
                scene = o3d.t.geometry.RaycastingScene()
                scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(self.mesh))
                self._raycast = scene
            query = o3d.core.Tensor(x, dtype=o3d.core.Dtype.Float32)
            if self.signed:
                return self._raycast.compute_signed_distance(query).numpy()
            return self._raycast.compute_distance(query).numpy()
        if self._kdtree is None:
            from scipy.spatial import cKDTree

            self._kdtree = cKDTree(self.source_points)
        return self._kdtree.query(x)[0].astype(np.float32)

    def unsigned_distance(self, x: np.ndarray) -> np.ndarray:
        """|φ(x)| [M] — cheaper than the signed query for meshes (no inside test)."""
        if self.mesh is None:
            return self.distance(x)
        self.distance(np.zeros((1, 3), dtype=np.float32))  # builds the raycasting scene once
        import open3d as o3d

        query = o3d.core.Tensor(np.asarray(x, dtype=np.float32).reshape(-1, 3), dtype=o3d.core.Dtype.Float32)
        return self._raycast.compute_distance(query).numpy()

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.source_points.min(0), self.source_points.max(0)

    def near_surface_samples(self, target: int = 7500, tolerance: float = 0.1) -> tuple[np.ndarray, float]:
        """Uniform voxel centres with |φ| ≤ τ, voxel size bisected so |S| ≈ target (§3.4, A.1)."""
        candidates = None
        if self.mesh is None:  # a point cloud: only voxels around its points can be near it
            lo = self.bounds()[0]
            candidates = lambda size, pad: voxels_around_points(self.source_points, lo, size, pad)  # noqa: E731
        return near_surface_voxels(self.unsigned_distance, *self.bounds(), target=target, tolerance=tolerance,
                                   candidates=candidates)

    def control_point_candidates(self, target: int = 7500) -> np.ndarray:
        """Voxel centres inside the object, I = {x | φ(x) ≤ 0} (A.1), at the ARAP voxel size.

        Without a sign (scans, open meshes) or when no voxel centre falls inside (sheets thinner
        than a voxel) the near-surface band is used instead.
        """
        if len(self.source_points) == 1:
            return self.source_points.copy()
        surface, size = self.near_surface_samples(target)
        if self.signed:
            centres = voxel_centres(*self.bounds(), size)
            inside = centres[self.distance(centres) <= 0]
            if len(inside) > 0:
                return inside
        return surface

    def fallback_scale(self) -> float:
        """A control-point std for objects with a single control point: half the extent."""
        lo, hi = self.bounds()
        return float(max(0.5 * np.max(hi - lo), SINGLE_POINT_SCALE))


@dataclass
class Scene:
    """Objects in the world frame; ``gaussians`` concatenates them with object_ids = index."""

    objects: list[SceneObject]

    @property
    def gaussians(self) -> Gaussians:
        parts = [o.gaussians.replace(object_ids=torch.full((len(o.gaussians),), i, dtype=torch.int64))
                 for i, o in enumerate(self.objects)]
        return Gaussians.cat(parts)

    def source_points(self) -> np.ndarray:
        """[N, 3] every object's source points, in object order."""
        return np.concatenate([o.source_points for o in self.objects], 0)

    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        """Centre [3] and radius of the box around every object's source points."""
        points = self.source_points()
        lo, hi = points.min(0), points.max(0)
        return 0.5 * (lo + hi), float(max(0.5 * np.linalg.norm(hi - lo), 1e-3))


def object_from_scan(scan: Scan, budget: int = DEFAULT_GAUSSIANS_PER_OBJECT) -> SceneObject:
    """A scan object: down-sampled Gaussians, unsigned distance to the scan points."""
    scan = validate_scan_arrays(scan.name, scan.points, scan.colors)
    points, colors = downsample_to_budget(scan.points, scan.colors, budget)
    return SceneObject(name=scan.name, gaussians=gaussians_from_points(points, colors),
                       source_points=scan.points, source_colors=scan.colors)


def scene_from_scans(scans: list[Scan], budget: int = DEFAULT_GAUSSIANS_PER_OBJECT) -> Scene:
    """A scene from in-memory clouds (the ROS node's path)."""
    if not scans:
        raise ChordError("scene needs at least one object cloud")
    return Scene([object_from_scan(s, budget) for s in scans])
