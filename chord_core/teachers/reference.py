"""The reference teacher: the ideal rectified-flow velocity for a *known* target motion.

For a data distribution concentrated on one target video x*, the rectified-flow velocity at
z_τ = (1−τ)x* + τε is v = ε − x* = (z_τ − x*)/τ, so the W-RFSDS gradient (Eq. 3) becomes
v − ε + z = (z − x*)/τ. The teacher renders x* from the ground-truth deformed scene for the
cameras the loop samples. It exercises every part of CHORD except the learned video prior and
makes motion recovery measurable on a CPU. It is a test and benchmark instrument: it ignores
the prompt and is labelled "reference" wherever its results appear.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.formats.reference_motion import ReferenceMotion
from chord_core.render.cameras import Cameras
from chord_core.scene.objects import Scene
from chord_core.scene.part_motion import PartMotionVideo
from chord_core.teachers.base import DEFAULT_FLOW_SHIFT, Conditioning, VideoGeometry

CACHE_SIZE = 256


def _camera_key(camera: Cameras) -> bytes:
    return b"".join(t.detach().cpu().numpy().tobytes() for t in (camera.viewmats, camera.Ks)) + \
        f"{camera.width}x{camera.height}".encode()


@dataclass
class ReferenceConditioning(Conditioning):
    """target: x* [B, 3, F, H, W], the ground-truth video for the sampled cameras."""

    target: Tensor | None = None


class ReferenceTeacher:
    """Known-target teacher in pixel space (encode = identity), see the module docstring."""

    name = "reference"
    is_reference = True
    geometry = VideoGeometry(temporal_factor=1, spatial_factor=1, patch_size=(1, 1, 1), latent_channels=3)

    def __init__(self, scene: Scene, motion: ReferenceMotion, num_frames: int,
                 flow_shift: float = DEFAULT_FLOW_SHIFT, background: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 device: str | torch.device = "cpu") -> None:
        self.flow_shift = flow_shift
        self._video = PartMotionVideo(scene, motion, num_frames, background, device)  # ground truth per frame
        self._cache: dict[bytes, Tensor] = {}  # camera -> its target video [3, F, H, W]
        self.prompt = ""

    def set_prompt(self, prompt: str, negative_prompt: str | None = None) -> None:
        """Recorded for the summary only: the reference target does not depend on text."""
        self.prompt = prompt

    def encode(self, video: Tensor) -> Tensor:
        """Pixel space: the latents are the video itself [B, 3, F, H, W]."""
        return video

    def latent_shape(self, batch: int, frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
        return self.geometry.latent_shape(batch, frames, height, width)

    @torch.no_grad()
    def target_video(self, cameras: Cameras) -> Tensor:
        """x* [B, 3, F, H, W]: the ground-truth deformed scene seen by each camera.

        Renders are cached per camera (up to CACHE_SIZE), so a loop drawing from a fixed camera
        pool renders each target once. Each camera is rendered alone, so its target is the same bits
        whichever cameras it is drawn with: a run resumed with an empty cache (a new process)
        continues exactly as the uninterrupted run.
        """
        keys = [_camera_key(cameras[i]) for i in range(len(cameras))]
        missing = [i for i, key in enumerate(keys) if key not in self._cache]
        if len(self._cache) + len(missing) > CACHE_SIZE:
            self._cache.clear()
            missing = list(range(len(keys)))
        for i in missing:  # one camera per render: its target must not depend on the batch it came in
            self._cache[keys[i]] = self._video.render(cameras[torch.as_tensor([i])])[0]
        return torch.stack([self._cache[key] for key in keys])

    def condition(self, first_frame: Tensor, num_frames: int, cameras: Cameras | None = None) -> ReferenceConditioning:
        if cameras is None:
            raise ChordError("the reference teacher needs the sampled cameras to render its target")
        if num_frames != self._video.num_frames:
            raise ChordError(f"reference teacher built for {self._video.num_frames} frames, asked for {num_frames}")
        return ReferenceConditioning(target=self.target_video(cameras))

    def velocity(self, z_tau: Tensor, tau: float, cond: ReferenceConditioning, guidance_scale: float) -> Tensor:
        """v = (z_τ − x*)/τ, the exact velocity toward the target; guidance has nothing to scale."""
        if cond.target is None or cond.target.shape != z_tau.shape:
            raise ChordError("reference conditioning does not match the latents; call condition() first")
        return (z_tau - cond.target) / tau
