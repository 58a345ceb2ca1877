"""Rigid fits of point sets (Kabsch/Umeyama): how a flow's object moves as one body."""

from __future__ import annotations

import numpy as np


def kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """[4, 4] rigid transform minimising sum |T source_i - target_i|^2 (Kabsch/Umeyama, no scale)."""
    src, dst = np.asarray(source, float), np.asarray(target, float)
    cs, cd = src.mean(axis=0), dst.mean(axis=0)
    h = (src - cs).T @ (dst - cd)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    rot = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    pose = np.eye(4)
    pose[:3, :3] = rot
    pose[:3, 3] = cd - rot @ cs
    return pose


def rigid_fit_sequence(trajectories: np.ndarray) -> np.ndarray:
    """[T, 4, 4] per-frame Kabsch fits of the flow to its frame 0."""
    return np.array([kabsch(trajectories[0], frame) for frame in trajectories])
