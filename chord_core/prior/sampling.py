"""What the prior itself believes: videos sampled from it for a scene and a command.

Sampling integrates the rectified-flow ODE dz/dτ = v̂ from pure noise (τ = 1) to the clean
video (τ = 0) with Euler steps on the shifted-sigma grid the prior was trained on, with
classifier-free guidance. `chord prior sample` writes the result; `chord bench text` scores it
separately from the distilled flows, to tell prior errors from distillation errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.prior.vocabulary import check_command, tokenize
from chord_core.prior.weights import LoadedPrior, load_prior
from chord_core.render.cameras import CameraArc, Cameras
from chord_core.render.renderer import render
from chord_core.scene.objects import Scene
from chord_core.teachers.base import shift_sigma


@torch.no_grad()
def sample_videos(prior: LoadedPrior, first_frames: Tensor, prompt: str, steps: int = 30, guidance: float = 5.0,
                  generator: torch.Generator | None = None) -> Tensor:
    """Videos [B, 3, F, H, W] in [0, 1] continuing first frames [B, 3, H, W] in [0, 1] as the prompt says."""
    check_command(prompt)
    if steps < 1:
        raise ChordError(f"the sampler needs at least one step, got {steps}")
    b, _, h, w = first_frames.shape
    frames = prior.settings.frames
    tokens = torch.as_tensor(tokenize(prompt))[None].expand(b, -1)
    first = first_frames * 2 - 1
    z = torch.randn((b, 3, frames, h, w), generator=generator)
    taus = shift_sigma(torch.linspace(1.0, 0.0, steps + 1), prior.flow_shift)
    for tau, tau_next in zip(taus[:-1], taus[1:]):
        v = prior.net.guided(z, float(tau), first, tokens, guidance)
        z = z + (tau_next - tau) * v
    z[:, :, 0] = first  # the given frame
    return ((z + 1) / 2).clamp(0, 1)


def first_frames(prior: LoadedPrior, scene: Scene, views: int, seed: int,
                 arc: CameraArc | None = None) -> tuple[Cameras, Tensor]:
    """Cameras on ``arc`` (default: the prior's training arc) around the scene and their frame-0
    renders [views, 3, H, W]."""
    centre, radius = scene.bounding_sphere()
    cameras = (arc or prior.settings.arc).sample(centre, radius, views, seed)
    with torch.no_grad():
        return cameras, render(scene.gaussians, cameras).rgb.permute(0, 3, 1, 2)


def sample_to_directory(scene_paths: list[str], prompt: str, out_dir: str | Path, *, weights: str | None = None,
                        views: int = 4, steps: int = 30, guidance: float = 5.0, seed: int = 0,
                        arc: CameraArc | None = None) -> list[Path]:
    """Write ``prior_samples.mp4`` (the views side by side) and ``prior_samples.png`` (frames x views),
    seen from ``arc`` (default: the prior's training arc)."""
    from PIL import Image

    from chord_core.formats.video import write_video
    from chord_core.scene.load import load_scene

    check_command(prompt)
    prior = load_prior(weights)
    scene = load_scene(scene_paths, prior.settings.gaussians_per_object)
    generator = torch.Generator().manual_seed(seed)
    videos = sample_videos(prior, first_frames(prior, scene, views, seed, arc)[1], prompt, steps, guidance,
                           generator)
    frames = (videos.permute(2, 3, 0, 4, 1).flatten(2, 3) * 255).round().to(torch.uint8).numpy()  # [F, H, V*W, 3]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sheet = np.concatenate(list(frames), axis=0)  # frames down, views across
    png = out_dir / "prior_samples.png"
    Image.fromarray(sheet).resize((sheet.shape[1] * 4, sheet.shape[0] * 4), Image.NEAREST).save(png)
    mp4 = write_video([np.kron(f, np.ones((4, 4, 1), np.uint8)) for f in frames], out_dir / "prior_samples.mp4",
                      fps=4.0)
    return [p for p in (mp4, png) if p is not None]
