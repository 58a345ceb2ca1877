"""Scanned object point clouds from disk: .ply / .pcd / .xyz / .pts via open3d, or .npz.

The one place files become (points, colours) arrays; everything downstream trusts them.
An ``.npz`` scan holds ``points`` [N, 3] and optionally ``colors`` [N, 3] in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError

SCAN_SUFFIXES = (".ply", ".pcd", ".xyz", ".xyzrgb", ".pts", ".npz")


@dataclass
class Scan:
    """One object's scan in the world frame (metres).

    Attributes:
        name: object name (the file stem unless given).
        points: [N, 3] float32.
        colors: [N, 3] float32 in [0, 1], or None when the scan has no colour.
    """

    name: str
    points: np.ndarray
    colors: np.ndarray | None = None


def validate_scan_arrays(name: str, points: np.ndarray, colors: np.ndarray | None) -> Scan:
    """Check shapes and values of a scan given as arrays (files, ROS clouds, tests)."""
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ChordError(f"scan '{name}': points must have shape (N, 3), got {points.shape}")
    if len(points) == 0:
        raise ChordError(f"scan '{name}' has no points")
    finite = np.all(np.isfinite(points), axis=1)
    if not finite.all():
        raise ChordError(
            f"scan '{name}' has {int((~finite).sum())} points with NaN/inf coordinates; "
            "remove them before animating"
        )
    if colors is not None:
        colors = np.asarray(colors, dtype=np.float32)
        if colors.shape != points.shape:
            raise ChordError(f"scan '{name}': colours have shape {colors.shape}, points {points.shape}")
        if not np.all(np.isfinite(colors)) or colors.min() < 0.0 or colors.max() > 1.0:
            raise ChordError(f"scan '{name}': colours must be finite and within [0, 1]")
    return Scan(name=name, points=points, colors=colors)


def load_scan(path: str | Path, name: str | None = None) -> Scan:
    """Read one scan file; unknown suffixes, empty clouds and NaN points raise ChordError."""
    path = Path(path)
    name = name or path.stem
    if not path.is_file():
        raise ChordError(f"scan file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SCAN_SUFFIXES:
        raise ChordError(f"scan {path}: unknown format '{suffix}', expected one of {SCAN_SUFFIXES}")
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "points" not in data.files:
                raise ChordError(f"scan {path} lacks the 'points' array")
            colors = data["colors"] if "colors" in data.files else None
            return validate_scan_arrays(name, data["points"], colors)
    import open3d as o3d

    cloud = o3d.io.read_point_cloud(str(path), remove_nan_points=False, remove_infinite_points=False)
    colors = np.asarray(cloud.colors) if cloud.has_colors() else None
    return validate_scan_arrays(name, np.asarray(cloud.points), colors)


def save_scan(scan: Scan, path: str | Path) -> Path:
    """Write a scan as .ply/.pcd (open3d) or .npz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".npz":
        arrays = {"points": scan.points}
        if scan.colors is not None:
            arrays["colors"] = scan.colors
        np.savez_compressed(path, **arrays)
        return path
    import open3d as o3d

    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(scan.points.astype(np.float64)))
    if scan.colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(scan.colors.astype(np.float64))
    if not o3d.io.write_point_cloud(str(path), cloud):
        raise ChordError(f"open3d could not write {path}")
    return path
