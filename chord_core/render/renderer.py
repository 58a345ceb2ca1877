"""One rendering interface over two backends: gsplat on CUDA, our pure-torch rasterizer on CPU.

Renders RGB, alpha, expected depth and arbitrary per-Gaussian features — the 3D flow map of
§3.4 (features μᵗ − μᵗ⁺¹ composited like colours, used by Eq. 12) — for a batch of pinhole
cameras. Both backends follow gsplat's "classic" image formation, so they agree up to float
error (see tests/core/test_render.py for the measured difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from chord_core.errors import ChordError
from chord_core.render.cameras import Cameras
from chord_core.render.gaussians import Gaussians

BACKENDS = ("auto", "cpu", "gsplat")


@dataclass
class Renders:
    """rgb [C, H, W, 3], alpha [C, H, W, 1], depth [C, H, W, 1], features [C, H, W, D] or None."""

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    features: torch.Tensor | None = None


def flow_features(means_t: torch.Tensor, means_next: torch.Tensor) -> torch.Tensor:
    """Per-Gaussian 3D flow μᵗ − μᵗ⁺¹ [.., N, 3], the feature rendered for Eq. 12."""
    return means_t - means_next


def _check(gaussians: Gaussians, cameras: Cameras, features: torch.Tensor | None) -> None:
    n = gaussians.means.shape[-2]
    if n == 0:
        raise ChordError("render: the scene has no Gaussians; load at least one non-empty object")
    if gaussians.means.dim() == 3 and gaussians.means.shape[0] != len(cameras):
        raise ChordError(f"render: per-camera means have {gaussians.means.shape[0]} sets for {len(cameras)} cameras")
    if features is not None and features.shape[-2] != n:
        raise ChordError(f"render: features have {features.shape[-2]} rows for {n} Gaussians")
    if not torch.isfinite(gaussians.means).all():
        raise ChordError("render: Gaussian means contain NaN/inf; check the motion parameters")


def render(gaussians: Gaussians, cameras: Cameras, features: torch.Tensor | None = None,
           backend: str = "auto", background: tuple[float, float, float] | torch.Tensor | None = (1.0, 1.0, 1.0)
           ) -> Renders:
    """Render gaussians into every camera; differentiable in every Gaussian attribute.

    Gaussian fields are [N, ...] (one scene for all cameras) or [C, N, ...] (one per camera,
    e.g. a deformed frame per camera). features: [N, D] or [C, N, D]. backend "auto" picks
    gsplat when the tensors live on CUDA, else the CPU rasterizer.
    """
    if backend not in BACKENDS:
        raise ChordError(f"render backend '{backend}' unknown; use one of {BACKENDS}")
    _check(gaussians, cameras, features)
    device = gaussians.means.device
    if backend == "auto":
        backend = "gsplat" if device.type == "cuda" else "cpu"
    bg = None if background is None else torch.as_tensor(background, dtype=gaussians.means.dtype, device=device)
    rgb_dims = gaussians.colors.shape[-1]
    colors = gaussians.colors
    if features is not None:
        if colors.dim() == 2 and features.dim() == 3:
            colors = colors[None].expand(features.shape[0], -1, -1)
        elif colors.dim() == 3 and features.dim() == 2:
            features = features[None].expand(colors.shape[0], -1, -1)
        colors = torch.cat((colors, features.to(colors.dtype)), -1)
    if backend == "gsplat":
        from chord_core.render.gsplat_backend import rasterize_gsplat

        chans, alpha, depth = rasterize_gsplat(gaussians, colors, cameras)
    else:
        from chord_core.render.cpu import rasterize_cpu

        chans, alpha, depth = rasterize_cpu(gaussians.means, gaussians.quats, gaussians.scales,
                                            gaussians.opacities, colors, cameras.viewmats.to(device),
                                            cameras.Ks.to(device), cameras.width, cameras.height)
    rgb = chans[..., :rgb_dims]
    if bg is not None:
        rgb = rgb + (1.0 - alpha) * bg
    feats = chans[..., rgb_dims:] if features is not None else None
    return Renders(rgb=rgb, alpha=alpha, depth=depth, features=feats)

