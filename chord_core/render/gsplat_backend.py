"""gsplat backend of ``render`` (CUDA only): ``gsplat.rasterization`` in classic mode with ED depth."""

from __future__ import annotations

import torch

from chord_core.errors import ChordError
from chord_core.render.cameras import Cameras
from chord_core.render.cpu import EPS2D, NEAR_PLANE
from chord_core.render.gaussians import Gaussians


def camera_fields(gaussians: Gaussians, camera: int | None
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """means, quats, scales, opacities seen by one camera: fields with a leading camera axis (the
    per-frame deformed means and quats) are indexed, shared ones ([N, 3] scales, [N] opacities)
    pass through. ``camera`` None: every field is shared."""
    shared_dims = {"means": 2, "quats": 2, "scales": 2, "opacities": 1}
    return tuple(getattr(gaussians, name) if camera is None or getattr(gaussians, name).dim() == dims
                 else getattr(gaussians, name)[camera] for name, dims in shared_dims.items())


def rasterize_gsplat(gaussians: Gaussians, colors: torch.Tensor,
                     cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """channels [C, H, W, D] (no background), alpha [C, H, W, 1], expected depth [C, H, W, 1]."""
    if gaussians.means.device.type != "cuda":
        raise ChordError("render backend 'gsplat' needs CUDA tensors; use backend='cpu' on this machine")
    from gsplat import rasterization

    device = gaussians.means.device
    viewmats, ks = cameras.viewmats.to(device), cameras.Ks.to(device)
    per_camera = gaussians.means.dim() == 3
    outs = []
    for c in range(len(cameras)) if per_camera else [None]:
        means, quats, scales, opacities = camera_fields(gaussians, c)
        sel = slice(c, c + 1) if per_camera else slice(None)
        image, alpha, _ = rasterization(
            means, quats, scales, opacities,
            colors[c] if colors.dim() == 3 else colors, viewmats[sel], ks[sel], cameras.width, cameras.height,
            near_plane=NEAR_PLANE, eps2d=EPS2D, render_mode="RGB+ED", rasterize_mode="classic", packed=False)
        outs.append((image, alpha))
    image = torch.cat([o[0] for o in outs], 0)
    alpha = torch.cat([o[1] for o in outs], 0)
    return image[..., :-1], alpha, image[..., -1:]
