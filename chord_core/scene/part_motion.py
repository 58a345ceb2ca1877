"""Render a scene moved by a known rigid motion per part (a `motion.npz` applied to Gaussians).

The reference teacher renders its target video x* this way, and the mini prior's training clips
are rendered by the same code, so both see exactly what the distillation loop renders.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.formats.reference_motion import ReferenceMotion
from chord_core.motion.geometry import quat_multiply, rotmat_to_quat
from chord_core.render.cameras import Cameras
from chord_core.render.renderer import render
from chord_core.scene.objects import Scene


def gaussian_labels(scene: Scene, labels: np.ndarray) -> np.ndarray:
    """Part label [N] of every scene Gaussian: that of its nearest source point in its object."""
    counts = [len(o.source_points) for o in scene.objects]
    if sum(counts) != len(labels):
        raise ChordError(f"reference motion labels {len(labels)} points, the scene has {sum(counts)}; "
                         "labels refer to the concatenated points of the scene files in order")
    out, start = [], 0
    for obj, count in zip(scene.objects, counts):
        tree = cKDTree(obj.source_points)
        nearest = tree.query(obj.gaussians.means.detach().cpu().numpy())[1]
        out.append(labels[start:start + count][nearest])
        start += count
    return np.concatenate(out)


class PartMotionVideo:
    """The scene's Gaussians moved by a part motion resampled to ``num_frames``, ready to render."""

    def __init__(self, scene: Scene, motion: ReferenceMotion, num_frames: int,
                 background: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 device: str | torch.device = "cpu") -> None:
        self.motion = motion.resampled(num_frames)
        self.background = background
        gaussians = scene.gaussians.to(device)
        labels = torch.as_tensor(gaussian_labels(scene, self.motion.labels), device=device)
        tf = torch.as_tensor(self.motion.transforms, dtype=torch.float32, device=device)[:, labels]  # [F,N,4,4]
        self.means = torch.einsum("fnij,nj->fni", tf[..., :3, :3], gaussians.means) + tf[..., :3, 3]
        self.quats = quat_multiply(rotmat_to_quat(tf[..., :3, :3]),
                                   gaussians.quats[None].expand(num_frames, -1, -1))
        self.gaussians = gaussians

    @property
    def num_frames(self) -> int:
        return int(self.means.shape[0])

    @torch.no_grad()
    def render(self, cameras: Cameras) -> Tensor:
        """Video [B, 3, F, H, W] in [0, 1]: the moving scene seen by each camera."""
        frames, batch = self.num_frames, len(cameras)
        cams = Cameras(cameras.viewmats.repeat_interleave(frames, 0), cameras.Ks.repeat_interleave(frames, 0),
                       cameras.width, cameras.height)
        g = self.gaussians.replace(means=self.means.repeat(batch, 1, 1), quats=self.quats.repeat(batch, 1, 1))
        rgb = render(g, cams, background=self.background).rgb  # [B*F, H, W, 3]
        return rgb.reshape(batch, frames, cameras.height, cameras.width, 3).permute(0, 4, 1, 2, 3)
