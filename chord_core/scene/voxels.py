"""Voxel grids around an object and its near-surface samples (paper A.1, the ARAP samples of Eq. 13).

``near_surface_voxels``: S_i = {x ∈ V_s : |φ_i(x)| ≤ τ}, the voxel size s searched so that
|S_i| ≈ 7500 (A.1). τ = ``band`` · s, so the band is a fixed number of voxels thick at any s.
The same voxel size seeds the control points (voxel centres inside the object, Eq. 5-7).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from chord_core.errors import ChordError

LOG = logging.getLogger(__name__)
ARAP_TARGET = 7500
MAX_GRID_CELLS = 4_000_000


def voxels_around_points(points: np.ndarray, lo: np.ndarray, size: float, pad: float) -> np.ndarray:
    """Centres of the grid voxels (origin lo − pad, edge size) holding a point or touching one
    that does: every voxel centre within ``size`` of a point is among them (3×3×3 dilation)."""
    origin = np.asarray(lo, dtype=np.float64) - pad
    cells = np.unique(np.floor((np.asarray(points, dtype=np.float64) - origin) / size).astype(np.int64), axis=0)
    offsets = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    around = np.unique((cells[:, None, :] + offsets[None]).reshape(-1, 3), axis=0)
    return (origin + (around + 0.5) * size).astype(np.float32)


def voxel_centres(lo: np.ndarray, hi: np.ndarray, size: float, pad: float = 0.0) -> np.ndarray:
    """Centres [V, 3] of a grid of cubes of edge ``size`` covering [lo − pad, hi + pad]."""
    lo = np.asarray(lo, dtype=np.float64) - pad
    hi = np.asarray(hi, dtype=np.float64) + pad
    counts = np.maximum(np.ceil((hi - lo) / size).astype(np.int64), 1)
    offset = lo + 0.5 * (hi - lo - counts * size)  # centre the grid on the box
    axes = [offset[d] + size * (np.arange(counts[d]) + 0.5) for d in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return grid.astype(np.float32)


def _grid_cells(lo: np.ndarray, hi: np.ndarray, size: float, pad: float) -> float:
    return float(np.prod(np.maximum(np.ceil((np.asarray(hi) - np.asarray(lo) + 2 * pad) / size), 1)))


def near_surface_voxels(distance: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
                        target: int = ARAP_TARGET, tolerance: float = 0.1, band: float = 1.0,
                        max_iterations: int = 40,
                        candidates: Callable[[float, float], np.ndarray] | None = None) -> tuple[np.ndarray, float]:
    """Near-surface samples [S, 3] and voxel size s with |S| within target·(1 ± tolerance).

    ``distance`` maps points [M, 3] to |φ| [M] (unsigned is enough, and much faster for
    meshes). The count shrinks as s grows; s is searched by power-law steps inside a bisection
    bracket. When no s reaches the window (an object of a few isolated
    points, whose band holds ~4 voxels per point at any s) the closest count found is returned
    and logged — a documented fallback, not an error. ``candidates(size, pad)``, when given,
    returns a superset of the band's voxel centres (e.g. the voxels around a point cloud) so the
    distance is not evaluated on the whole grid.
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    extent = float(np.max(hi - lo))
    if not np.isfinite(extent):
        raise ChordError("near-surface sampling: the object bounds are not finite")
    if extent <= 0:  # a single point: its own position is the only sample
        return lo[None].astype(np.float32), 0.0

    def sample(size: float) -> np.ndarray | None:
        pad = band * size + size
        if candidates is not None:
            centres = candidates(size, pad)
        elif _grid_cells(lo, hi, size, pad) > MAX_GRID_CELLS:
            return None
        else:
            centres = voxel_centres(lo, hi, size, pad)
        return centres[np.abs(distance(centres)) <= band * size]

    # The count scales like s⁻² for surfaces: take power-law steps, safeguarded by a bracket.
    lo_size, hi_size = 0.0, np.inf
    size = extent / 8.0
    best, best_size, best_err = None, extent, np.inf
    for _ in range(max_iterations):
        points = sample(size)
        count = np.inf if points is None else len(points)
        if points is not None and abs(count - target) < best_err:
            best, best_size, best_err = points, size, abs(count - target)
        if abs(count - target) <= tolerance * target:
            return points, size
        if count > target:
            lo_size = size
        else:
            hi_size = size
        step = np.clip(np.sqrt(count / target), 0.25, 4.0) if 0 < count < np.inf else (4.0 if count else 0.25)
        proposal = size * step
        if not lo_size < proposal < hi_size:
            proposal = np.sqrt(lo_size * hi_size) if lo_size > 0 and np.isfinite(hi_size) else proposal
        if lo_size > 0 and np.isfinite(hi_size) and hi_size / lo_size < 1.0 + 1e-6:
            break
        size = float(proposal)
    LOG.warning("near-surface sampling reached %d samples (target %d); using them", len(best), target)
    return best, best_size
