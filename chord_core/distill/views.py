"""Videos people watch of a distilled motion: the animated scene from a few fixed views."""

from __future__ import annotations

import numpy as np
import torch

from chord_core.motion.model import SceneMotion
from chord_core.render.cameras import orbit_cameras
from chord_core.render.renderer import render
from chord_core.scene.objects import Scene


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
