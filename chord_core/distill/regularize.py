"""Regularizers of the distillation (paper §3.4, A.1; Animus3D §4.2.1).

* ``temporal_loss``  Eq. 12: L_temp = Σ_t Σ_p ‖F_pᵗ‖², F the rendered 3D flow μᵗ − μᵗ⁺¹.
* ``arap_loss``      Eq. 13: L_ARAP = Σ_{i,t,x∈S_i,y∈N_x} ‖x − y − R̂_x (xᵗ − yᵗ)‖², with N_x the
  10 nearest neighbours in S_i and R̂_x the per-point Kabsch rotation, computed without gradient.
  S_i are the near-surface samples of ``chord_core.scene.voxels`` (A.1: |S_i| ≈ 7500).
* ``tv3d_loss``      Animus3D Eq. 13: (1 / (N (T − 1))) Σ_τ Σ_i ‖x_{i,τ} − x_{i,τ−1}‖₁.
* ``support_loss``   ours, not the paper's: (1 / (N T)) Σ_t Σ_i max(0, z₀ − z_iᵗ)², z₀ the lowest point of
  the scene at rest (the support it stands on). A teacher that cannot see a small roll (the mini
  prior at 32 px) otherwise tips a sliding block into the table, deeper than an arm can follow.
Balance between the terms. The paper writes sums, whose sizes grow differently with resolution,
frame count and batch (W-RFSDS with latent elements, Eq. 12 with pixels, Eq. 13 with samples), so
one set of weights could only be right at one size. Here every term is a mean — W-RFSDS over latent
elements (``distill.optimize``), Eq. 12 over pixels and frame steps, Eq. 13 over pairs and frames —
and the distiller passes Eq. 12 the flow *per clip*, (T − 1)(μᵗ − μᵗ⁺¹): its mean over frame steps
is then a Riemann sum of ∫‖dμ/ds‖² ds over the clip, a velocity penalty that keeps its size when the
same motion is sampled at twice the frames, as the per-frame means of the other terms do. The
weights (``sds_weight``, ``temporal_weight``, ``arap_weight``) carry the balance; a test holds the
ratio of the terms' gradient norms within 10 % when resolution or frame count doubles.
"""

from __future__ import annotations

import numpy as np
import torch

from chord_core.errors import ChordError
from chord_core.motion.geometry import kabsch_rotation

ARAP_NEIGHBOURS = 10


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "sum":
        return values.sum()
    if reduction == "mean":
        return values.mean()
    raise ChordError(f"reduction '{reduction}' unknown; use 'mean' or 'sum'")


def temporal_loss(flow_renders: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 12 on rendered flow maps [..., H, W, 3] (any leading frame/camera dims)."""
    return _reduce(flow_renders.square().sum(-1), reduction)


def tv3d_loss(trajectories: torch.Tensor) -> torch.Tensor:
    """Animus3D TV-3D on per-point trajectories [T, N, 3]: mean L1 step length (0 if T < 2)."""
    if trajectories.shape[0] < 2:
        return trajectories.new_zeros(())
    steps = trajectories[1:] - trajectories[:-1]
    return steps.abs().sum(-1).mean()


def support_loss(trajectories: torch.Tensor, floor: float) -> torch.Tensor:
    """Mean squared depth of points [T, N, 3] below the height ``floor`` (0 for points above it)."""
    return torch.relu(floor - trajectories[..., 2]).square().mean()


def arap_neighbours(points: np.ndarray | torch.Tensor, k: int = ARAP_NEIGHBOURS) -> torch.Tensor:
    """Indices [S, k] of each sample's k nearest other samples (scipy cKDTree)."""
    from scipy.spatial import cKDTree

    pts = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=np.float64)
    if len(pts) < 2:
        raise ChordError(f"ARAP needs at least 2 samples, got {len(pts)}; the object is a single point")
    k = min(k, len(pts) - 1)
    _, idx = cKDTree(pts).query(pts, k=k + 1)
    return torch.as_tensor(idx[:, 1:], dtype=torch.int64)


def arap_loss(rest: torch.Tensor, deformed: torch.Tensor, neighbours: torch.Tensor,
              reduction: str = "mean") -> torch.Tensor:
    """Eq. 13 for one object: rest samples [S, 3], deformed samples [F, S, 3], neighbours [S, k].

    R̂_x best maps deformed edges onto rest edges (Kabsch, no gradient); the loss is the
    remaining edge mismatch, zero exactly for rigid motions.
    """
    rest_edges = rest[:, None, :] - rest[neighbours]  # [S, k, 3]
    edges = deformed[:, :, None, :] - deformed[:, neighbours]  # [F, S, k, 3]
    with torch.no_grad():
        rot = kabsch_rotation(edges.double(), rest_edges.double().expand_as(edges)).to(edges.dtype)
    residual = rest_edges - torch.einsum("fsij,fskj->fski", rot, edges)
    return _reduce(residual.square().sum(-1), reduction)
