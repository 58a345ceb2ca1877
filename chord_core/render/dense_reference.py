"""Brute-force dense float64 Gaussian compositor: the reference for tests and benchmarks.

Evaluates every Gaussian at every pixel (no culling, no pair lists), in float64, with its own
projection code, and composites front to back with a cumulative product — the textbook 3D-GS
image formation (the rules shared with gsplat "classic" mode: 0.3 px² blur, Jacobian clamp,
α = min(0.999, o·exp(−σ)) kept only ≥ 1/255, stop before transmittance reaches 1e-4).
Memory is O(pixels × Gaussians); use ``rows`` to render a band of rows at a time.
"""

from __future__ import annotations

import torch

from chord_core.render.cpu import ALPHA_MAX, ALPHA_THRESHOLD, EPS2D, FAR_PLANE, NEAR_PLANE, TRANSMITTANCE_MIN


def _rotation(q: torch.Tensor) -> torch.Tensor:
    """R = (w² − v·v) I + 2 v vᵀ + 2 w [v]ₓ for unit q = (w, v); [N, 3, 3]."""
    q = q / q.norm(dim=-1, keepdim=True)
    w, v = q[:, 0], q[:, 1:]
    cross = torch.zeros(len(q), 3, 3, dtype=q.dtype)
    cross[:, 0, 1], cross[:, 0, 2], cross[:, 1, 2] = -v[:, 2], v[:, 1], -v[:, 0]
    cross = cross - cross.transpose(1, 2)
    eye = torch.eye(3, dtype=q.dtype)
    return ((w * w - (v * v).sum(1))[:, None, None] * eye + 2 * v[:, :, None] * v[:, None, :]
            + 2 * w[:, None, None] * cross)


def render_dense(means, quats, scales, opacities, colors, viewmats, Ks, width: int, height: int,
                 background=None, rows: tuple[int, int] | None = None):
    """Render C cameras densely in float64; per-Gaussian inputs [N, ...] (shared by all cameras).

    Returns channels [C, h, W, D] (+ background), alpha [C, h, W, 1], expected depth [C, h, W, 1]
    for rows [r0, r1) (all rows by default).
    """
    r0, r1 = rows if rows is not None else (0, height)
    means, quats, scales, opacities, colors = (t.double() for t in (means, quats, scales, opacities, colors))
    ys, xs = torch.meshgrid(torch.arange(r0, r1, dtype=torch.float64) + 0.5,
                            torch.arange(width, dtype=torch.float64) + 0.5, indexing="ij")
    px, py = xs.reshape(-1, 1), ys.reshape(-1, 1)
    rot_g = _rotation(quats)
    cov_world = rot_g @ torch.diag_embed(scales**2) @ rot_g.transpose(1, 2)
    outs_c, outs_a, outs_d = [], [], []
    for view, k in zip(viewmats.double(), Ks.double()):
        rot, trans = view[:3, :3], view[:3, 3]
        pc = means @ rot.T + trans
        z = pc[:, 2]
        visible = (z > NEAR_PLANE) & (z < FAR_PLANE) & (opacities >= ALPHA_THRESHOLD)
        z_safe = torch.where(visible, z, torch.ones_like(z))
        fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
        lim_x = ((width - cx) / fx + 0.15 * width / fx, cx / fx + 0.15 * width / fx)
        lim_y = ((height - cy) / fy + 0.15 * height / fy, cy / fy + 0.15 * height / fy)
        u = torch.clamp(pc[:, 0] / z_safe, -lim_x[1], lim_x[0])
        v = torch.clamp(pc[:, 1] / z_safe, -lim_y[1], lim_y[0])
        jac = torch.zeros(len(z), 2, 3, dtype=torch.float64)
        jac[:, 0, 0] = fx / z_safe
        jac[:, 0, 2] = -fx * u / z_safe
        jac[:, 1, 1] = fy / z_safe
        jac[:, 1, 2] = -fy * v / z_safe
        cov2 = jac @ rot @ cov_world @ rot.T @ jac.transpose(1, 2) + EPS2D * torch.eye(2, dtype=torch.float64)
        visible = visible & (torch.linalg.det(cov2) > 0)
        inv = torch.linalg.inv(cov2)
        mx = fx * pc[:, 0] / z_safe + cx
        my = fy * pc[:, 1] / z_safe + cy
        dx, dy = px - mx, py - my  # [P, N]
        sigma = 0.5 * (inv[:, 0, 0] * dx * dx + (inv[:, 0, 1] + inv[:, 1, 0]) * dx * dy + inv[:, 1, 1] * dy * dy)
        alpha = torch.clamp(opacities * torch.exp(-sigma), max=ALPHA_MAX)
        alpha = torch.where(visible & (sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
        order = torch.argsort(z.detach(), stable=True)
        alpha = alpha[:, order]
        t_incl = torch.cumprod(1 - alpha, dim=1)
        t_excl = torch.cat((torch.ones_like(t_incl[:, :1]), t_incl[:, :-1]), 1)
        weight = alpha * t_excl * (t_incl > TRANSMITTANCE_MIN)
        acc_alpha = weight.sum(1, keepdim=True)
        outs_c.append(weight @ colors[order])
        outs_a.append(acc_alpha)
        outs_d.append((weight @ z[order][:, None]) / acc_alpha.clamp_min(1e-10))
    shape = (len(viewmats), r1 - r0, width)
    chans = torch.stack(outs_c).reshape(*shape, -1)
    alpha = torch.stack(outs_a).reshape(*shape, 1)
    depth = torch.stack(outs_d).reshape(*shape, 1)
    if background is not None:
        chans = chans + (1 - alpha) * background.double()
    return chans, alpha, depth
