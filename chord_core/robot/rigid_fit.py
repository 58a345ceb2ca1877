"""Rigid fits of point sets (Kabsch/Umeyama): how a flow's object moves as one body."""

from __future__ import annotations

import numpy as np


def batch_kabsch(source: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """[T, 4, 4] rigid transforms with T_t source ≈ targets[t] (least squares per frame, no scale)."""
    src = np.asarray(source, float)
    dst = np.asarray(targets, float)
    cs, cd = src.mean(axis=0), dst.mean(axis=1)
    h = np.einsum("ki,tkj->tij", src - cs, dst - cd[:, None])
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tji,tkj->tik", vt, u)))
    d[d == 0] = 1.0
    fix = np.ones((len(h), 3))
    fix[:, 2] = d
    rot = np.einsum("tji,tj,tkj->tik", vt, fix, u)  # V diag(1, 1, d) U^T
    poses = np.tile(np.eye(4), (len(h), 1, 1))
    poses[:, :3, :3] = rot
    poses[:, :3, 3] = cd - np.einsum("tij,j->ti", rot, cs)
    return poses


def rigid_fit_sequence(trajectories: np.ndarray) -> np.ndarray:
    """[T, 4, 4] per-frame Kabsch fits of the flow to its frame 0."""
    return batch_kabsch(trajectories[0], trajectories)


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[4, 4] rigid transform minimising sum |T source_i - target_i|^2 (Kabsch/Umeyama, no scale)."""
    return batch_kabsch(source, np.asarray(target, float)[None])[0]


def tilt_deg(transform: np.ndarray) -> float:
    """Angle (deg) by which a rigid motion tips the vertical: 0 for a turn about z."""
    return float(np.degrees(np.arccos(np.clip(transform[2, 2], -1.0, 1.0))))
