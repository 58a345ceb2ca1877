"""Files a distillation run leaves for people: views video, loss curves and summary.json.

(`flow.npz` is written by :class:`chord_core.flow.Flow`, the checkpoint by the Distiller.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from chord_core.cameras import orbit_cameras
from chord_core.motion import SceneMotion
from chord_core.render import render
from chord_core.scene import Scene


@torch.no_grad()
def render_views(scene: Scene, motion: SceneMotion, views: int = 3, width: int = 256, height: int = 192,
                 fov_deg: float = 50.0, radius_scale: float = 2.2, elevation_deg: float = 25.0) -> np.ndarray:
    """Frames [F, H, views*W, 3] uint8: the animated scene from `views` evenly spaced azimuths."""
    centre, radius = scene.bounding_sphere()
    cams = orbit_cameras(centre, radius, views, width, height, elevation_deg=(elevation_deg, elevation_deg),
                         azimuth_deg=(-150.0, 150.0), fov_x_deg=fov_deg, distance=radius_scale * radius,
                         random=False)
    device = next(motion.parameters()).device
    gaussians = scene.gaussians.to(device)
    frames = motion.num_frames
    means, quats = motion.deform_gaussians(gaussians, torch.arange(frames))
    rows = []
    for f in range(frames):
        g = gaussians.replace(means=means[f], quats=quats[f])
        rgb = render(g, cams.to(device)).rgb  # [V, H, W, 3]
        rows.append(torch.cat(list(rgb), dim=1))
    return (torch.stack(rows).clamp(0, 1) * 255).round().byte().cpu().numpy()


def write_video(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    """mp4 (imageio-ffmpeg) of frames [F, H, W, 3] uint8; sizes padded to even numbers for H.264."""
    import imageio.v2 as imageio

    path = Path(path)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def plot_losses(history: list[dict[str, float]], path: str | Path) -> Path:
    """Loss curves (log scale) and τ over the iterations, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    its = np.arange(1, len(history) + 1)
    fig, (ax_loss, ax_tau) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for key in ("sds", "temporal", "arap", "total"):
        values = np.array([h[key] for h in history])
        ax_loss.semilogy(its, np.maximum(values, 1e-12), label=key)
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_tau.plot(its, [h["tau"] for h in history], color="k")
    ax_tau.set_ylabel("tau")
    ax_tau.set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_summary(path: str | Path, summary: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, default=float))
    return path
