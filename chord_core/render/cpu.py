"""Differentiable pure-torch Gaussian rasterizer for CPU (gsplat has no CPU path).

Same image formation as gsplat 1.5 "classic" mode, so both backends agree: EWA projection with
a 0.3 px² blur, Jacobian clamped to 1.3× the field of view, opacity-aware bounding boxes,
α = min(0.999, o·exp(−σ)) skipped below 1/255, front-to-back compositing in mean-depth order
that stops before transmittance falls to 1e-4, pixel centres at +0.5. Depth is the
alpha-normalised expected depth ("ED"); features (e.g. the 3D flow μᵗ − μᵗ⁺¹ of §3.4) are
composited like colours without a background.

Speed comes from never touching (pixel, Gaussian) pairs that cannot contribute: each Gaussian
emits pairs only inside its bounding box, pairs under the α threshold are dropped before the
differentiable pass, and compositing is a segmented scan over the depth-sorted pair list
(transmittance = exp of a float64 segmented cumulative sum of log(1 − α)). Cameras are
processed in chunks to bound memory.
"""

from __future__ import annotations

import math

import torch

from chord_core.motion.geometry import quat_to_rotmat

ALPHA_THRESHOLD = 1.0 / 255.0
ALPHA_MAX = 0.999
TRANSMITTANCE_MIN = 1e-4
EPS2D = 0.3
NEAR_PLANE = 0.01
FAR_PLANE = 1e10
EXTEND_MAX = 3.33
MAX_PAIRS_PER_CHUNK = 4_000_000


def project(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, viewmats: torch.Tensor,
            Ks: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EWA projection of Gaussians [C, N, ...] into C cameras.

    Returns means2d [C, N, 2] (pixels), cov2d [C, N, 2, 2] (blur added) and depths [C, N].
    """
    rot = viewmats[:, :3, :3]
    mean_c = torch.einsum("cij,cnj->cni", rot, means) + viewmats[:, None, :3, 3]
    x, y, z = mean_c.unbind(-1)
    fx, fy, cx, cy = Ks[:, 0, 0, None], Ks[:, 1, 1, None], Ks[:, 0, 2, None], Ks[:, 1, 2, None]
    # Culled Gaussians (behind the near plane) get a harmless depth so no inf/NaN reaches autograd.
    zs = torch.where(z > NEAR_PLANE, z, torch.ones_like(z))
    tan_x, tan_y = 0.5 * width / fx, 0.5 * height / fy
    tx = zs * torch.minimum((width - cx) / fx + 0.3 * tan_x, torch.maximum(-(cx / fx + 0.3 * tan_x), x / zs))
    ty = zs * torch.minimum((height - cy) / fy + 0.3 * tan_y, torch.maximum(-(cy / fy + 0.3 * tan_y), y / zs))
    zero = torch.zeros_like(zs)
    jac = torch.stack((fx / zs, zero, -fx * tx / zs**2, zero, fy / zs, -fy * ty / zs**2), -1).reshape(*zs.shape, 2, 3)
    r = quat_to_rotmat(quats)  # [C, N, 3, 3]
    m = r * scales[..., None, :]  # R S
    cov_world = m @ m.transpose(-1, -2)
    cov_cam = rot[:, None] @ cov_world @ rot[:, None].transpose(-1, -2)
    cov2d = jac @ cov_cam @ jac.transpose(-1, -2)
    cov2d = cov2d + EPS2D * torch.eye(2, dtype=cov2d.dtype)
    means2d = torch.stack((fx * x / zs + cx, fy * y / zs + cy), -1)
    return means2d, cov2d, z


def _broadcast(t: torch.Tensor, cams: int, per_item_dims: int) -> torch.Tensor:
    """[N, ...] or [C, N, ...] → [C, N, ...]."""
    return t.expand(cams, *t.shape) if t.dim() == per_item_dims else t


def rasterize_cpu(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
                  colors: torch.Tensor, viewmats: torch.Tensor, Ks: torch.Tensor, width: int, height: int,
                  background: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Render C cameras; per-Gaussian inputs are [N, ...] or per-camera [C, N, ...].

    colors [N, D] holds any channels (RGB and features alike). Returns channels [C, H, W, D]
    (background added where given, [D] or [C, D]), alpha [C, H, W, 1], depth [C, H, W, 1].
    """
    cams = viewmats.shape[0]
    means, quats, scales = (_broadcast(t, cams, 2) for t in (means, quats, scales))
    opacities, colors = _broadcast(opacities, cams, 1), _broadcast(colors, cams, 2)
    boxes = _visible_boxes(means, quats, scales, opacities, viewmats, Ks, width, height)
    pairs = boxes[-1].sum(1).tolist()  # upper bound on pairs per camera
    outs, start = [], 0
    while start < cams:  # camera chunks keep the pair list (and memory) bounded
        stop, total = start + 1, pairs[start]
        while stop < cams and total + pairs[stop] <= MAX_PAIRS_PER_CHUNK:
            total += pairs[stop]
            stop += 1
        chunk = slice(start, stop)
        outs.append(_rasterize_chunk(means[chunk], quats[chunk], scales[chunk], opacities[chunk], colors[chunk],
                                     viewmats[chunk], Ks[chunk], width, height, tuple(b[chunk] for b in boxes)))
        start = stop
    channels = torch.cat([o[0] for o in outs], 0)
    alpha = torch.cat([o[1] for o in outs], 0)
    depth = torch.cat([o[2] for o in outs], 0)
    if background is not None:
        bg = background.to(channels.dtype)
        bg = bg[:, None, None, :] if bg.dim() == 2 else bg
        channels = channels + (1.0 - alpha) * bg
    return channels, alpha, depth


@torch.no_grad()
def _visible_boxes(means, quats, scales, opacities, viewmats, Ks, width, height):
    """Per-(camera, Gaussian) pixel boxes x0, y0, x1, y1 (inclusive) and pair counts [C, N]."""
    means2d, cov2d, depth = project(means, quats, scales, viewmats, Ks, width, height)
    det = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] ** 2
    ok_opacity = opacities >= ALPHA_THRESHOLD
    extend = torch.clamp(torch.sqrt(2.0 * torch.log(opacities.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD)),
                         max=EXTEND_MAX)
    rx = torch.ceil(extend * torch.sqrt(cov2d[..., 0, 0].clamp_min(0)))
    ry = torch.ceil(extend * torch.sqrt(cov2d[..., 1, 1].clamp_min(0)))
    mx, my = means2d.unbind(-1)
    valid = (depth > NEAR_PLANE) & (depth < FAR_PLANE) & (det > 0) & ok_opacity
    valid &= torch.isfinite(mx) & torch.isfinite(my)
    valid &= (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
    # Pixel j (centre j + 0.5) is inside |j + 0.5 − mx| ≤ rx.
    x0 = torch.ceil(mx - rx - 0.5).clamp(0, width - 1)
    x1 = torch.floor(mx + rx - 0.5).clamp(0, width - 1)
    y0 = torch.ceil(my - ry - 0.5).clamp(0, height - 1)
    y1 = torch.floor(my + ry - 0.5).clamp(0, height - 1)
    valid &= (x1 >= x0) & (y1 >= y0)
    counts = torch.where(valid, (x1 - x0 + 1) * (y1 - y0 + 1), torch.zeros_like(x0)).to(torch.int64)
    return x0.nan_to_num(0).long(), y0.nan_to_num(0).long(), x1.nan_to_num(0).long(), counts


def _rasterize_chunk(means, quats, scales, opacities, colors, viewmats, Ks, width, height, boxes):
    cams, n = means.shape[:2]
    channels_n = colors.shape[-1]
    means2d, cov2d, depth = project(means, quats, scales, viewmats, Ks, width, height)
    with torch.no_grad():
        x0, y0, x1, counts = boxes
        flat_counts = counts.reshape(-1)
        gauss = torch.repeat_interleave(torch.arange(cams * n), flat_counts)  # flattened (c, n)
        starts = torch.cumsum(flat_counts, 0) - flat_counts
        local = torch.arange(len(gauss)) - starts[gauss]
        box_w = (x1 - x0 + 1).reshape(-1)[gauss]
        px = x0.reshape(-1)[gauss] + local % box_w
        py = y0.reshape(-1)[gauss] + torch.div(local, box_w, rounding_mode="floor")
    det = cov2d[..., 0, 0] * cov2d[..., 1, 1] - cov2d[..., 0, 1] ** 2
    conic = torch.stack((cov2d[..., 1, 1], -cov2d[..., 0, 1], cov2d[..., 0, 0]), -1) / det[..., None]
    conic, means2d = conic.reshape(-1, 3), means2d.reshape(-1, 2)
    with torch.no_grad():  # drop pairs below the α threshold before building the graph
        sigma = _sigma(conic[gauss], means2d[gauss], px, py)
        alpha = torch.clamp(opacities.reshape(-1)[gauss] * torch.exp(-sigma), max=ALPHA_MAX)
        keep = (sigma >= 0) & (alpha >= ALPHA_THRESHOLD)
        gauss, px, py, alpha = gauss[keep], px[keep], py[keep], alpha[keep]
        # Sort pairs by (pixel, depth rank); ranks from a stable depth sort per camera.
        order = torch.argsort(depth.detach(), dim=1, stable=True)
        rank = torch.empty_like(order)
        rank.scatter_(1, order, torch.arange(n).expand(cams, n).contiguous())
        cam = torch.div(gauss, n, rounding_mode="floor")
        pixel = (cam * height + py) * width + px
        perm = torch.argsort(pixel * n + rank.reshape(-1)[gauss])
        gauss, pixel, px, py, alpha = gauss[perm], pixel[perm], px[perm], py[perm], alpha[perm]
        # Drop pairs behind the saturation point (always a suffix of their pixel's list), so
        # the differentiable pass only sees contributing pairs; kept pairs' T is unchanged.
        seg_counts = torch.unique_consecutive(pixel, return_counts=True)[1]
        log_transmittance = _segmented_log_transmittance(torch.log1p(-alpha.double()), seg_counts)[0]
        include = log_transmittance > math.log(TRANSMITTANCE_MIN)
        gauss, pixel, px, py = gauss[include], pixel[include], px[include], py[include]
        seg_counts = torch.unique_consecutive(pixel, return_counts=True)[1]
    sigma = _sigma(conic[gauss], means2d[gauss], px, py)
    alpha = torch.clamp(opacities.reshape(-1)[gauss] * torch.exp(-sigma), max=ALPHA_MAX)
    log_1m = torch.log1p(-alpha.double())
    log_t_excl = _segmented_log_transmittance(log_1m, seg_counts)[1]
    weight = alpha * torch.exp(log_t_excl).to(alpha.dtype)
    values = torch.cat((colors.reshape(-1, channels_n)[gauss], torch.ones_like(alpha)[:, None],
                        depth.reshape(-1)[gauss][:, None]), 1) * weight[:, None]
    out = torch.zeros(cams * height * width, channels_n + 2, dtype=values.dtype)
    out = out.index_add(0, pixel, values).reshape(cams, height, width, channels_n + 2)
    channels, alpha_img, depth_acc = out[..., :channels_n], out[..., channels_n:channels_n + 1], out[..., -1:]
    return channels, alpha_img, depth_acc / alpha_img.clamp_min(1e-10)


def _sigma(conic: torch.Tensor, means2d: torch.Tensor, px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    dx = px.to(means2d.dtype) + 0.5 - means2d[:, 0]
    dy = py.to(means2d.dtype) + 0.5 - means2d[:, 1]
    return 0.5 * (conic[:, 0] * dx * dx + conic[:, 2] * dy * dy) + conic[:, 1] * dx * dy


def _segmented_log_transmittance(log_1m: torch.Tensor, seg_counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive and exclusive log T within each pixel's contiguous, depth-sorted segment."""
    csum = torch.cumsum(log_1m, 0)
    seg_start = torch.cumsum(seg_counts, 0) - seg_counts
    base = torch.repeat_interleave(csum[seg_start] - log_1m[seg_start], seg_counts)
    incl = csum - base
    return incl, incl - log_1m
