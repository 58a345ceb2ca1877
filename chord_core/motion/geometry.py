"""Quaternion and rotation helpers (wxyz, Hamilton convention) shared by motion, render, scene.

Quaternions are stored w-first to match gsplat and the flow file's ``rotations`` field.
All functions are batched over leading dimensions and differentiable unless noted.
"""

from __future__ import annotations

import torch


def quat_normalize(q: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Unit quaternion(s) [..., 4]; a zero quaternion maps to identity instead of NaN."""
    norm = q.norm(dim=-1, keepdim=True)
    identity = torch.zeros_like(q)
    identity[..., 0] = 1.0
    return torch.where(norm > eps, q / norm.clamp_min(eps), identity)


def quat_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product a ⊗ b of [..., 4] wxyz quaternions (broadcasting)."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack(
        (
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ),
        dim=-1,
    )


def quat_to_rotmat(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] of (not necessarily unit) wxyz quaternions [..., 4]."""
    w, x, y, z = quat_normalize(q).unbind(-1)
    rows = (
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    )
    return torch.stack(rows, dim=-1).reshape(q.shape[:-1] + (3, 3))


def rotmat_to_quat(r: torch.Tensor) -> torch.Tensor:
    """wxyz unit quaternions [..., 4] of rotation matrices [..., 3, 3] (w >= 0)."""
    m = r.reshape(-1, 3, 3)
    trace = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    # Four candidate solutions; pick the numerically largest pivot per matrix.
    cands = torch.stack(
        (
            torch.stack((1 + trace, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]), -1),
            torch.stack((m[:, 2, 1] - m[:, 1, 2], 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2],
                         m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]), -1),
            torch.stack((m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0],
                         1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], m[:, 1, 2] + m[:, 2, 1]), -1),
            torch.stack((m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0],
                         m[:, 1, 2] + m[:, 2, 1], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]), -1),
        ),
        dim=1,
    )
    pivots = torch.stack((1 + trace, 1 + m[:, 0, 0] - m[:, 1, 1] - m[:, 2, 2],
                          1 - m[:, 0, 0] + m[:, 1, 1] - m[:, 2, 2], 1 - m[:, 0, 0] - m[:, 1, 1] + m[:, 2, 2]), -1)
    best = pivots.argmax(dim=1)
    q = quat_normalize(cands[torch.arange(len(m)), best])
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(r.shape[:-2] + (4,))


def kabsch_rotation(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Best rotations R [..., 3, 3] minimising sum_j w_j |target_j - R source_j|^2.

    source, target: [..., J, 3] centred vectors (e.g. edges to neighbours). No reflection.
    """
    if weights is not None:
        source = source * weights[..., None]
    h = source.transpose(-1, -2) @ target  # [..., 3, 3]
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.transpose(-1, -2) @ u.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    diag = torch.ones(h.shape[:-2] + (3,), dtype=h.dtype, device=h.device)
    diag[..., 2] = d
    return vt.transpose(-1, -2) @ (diag[..., None] * u.transpose(-1, -2))
