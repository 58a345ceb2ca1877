"""The one small interface every teacher implements, plus the video size rules it implies.

A teacher turns renders into the space its velocity lives in (``encode``), builds the
first-frame conditioning once per camera batch (``condition``) and predicts the rectified-flow
velocity with classifier-free guidance applied (``velocity``). The W-RFSDS math in
:mod:`chord_core.distill.sds` only ever calls ``velocity``. Shapes follow diffusers' Wan layout:
videos ``[B, 3, F, H, W]`` in [0, 1], latents ``[B, C, F', h, w]``.

A pixel-space teacher (the reference teacher: ``encode`` is the identity, velocity
``(z_tau - x*)/tau``) fits the same interface with ``VideoGeometry(1, 1, (1, 1, 1), 3)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from chord_core.errors import ChordError

#: Shift used when no scheduler config says otherwise: the Wan 2.2 repository's ``sample_shift``
#: for both I2V-A14B and TI2V-5B.
DEFAULT_FLOW_SHIFT = 5.0


def shift_sigma(sigma: Tensor | float, shift: float) -> Tensor | float:
    """Wan's shifted flow-matching sigma ``s*sigma / (1 + (s-1)*sigma)``: the training noise level
    for ``sigma ~ U(0, 1)``; it equals the inverse CDF ``h^{-1}`` of the W-RFSDS weighting (Eq. 4)."""
    return shift * sigma / (1.0 + (shift - 1.0) * sigma)


def shift_from_scheduler_config(config: Mapping[str, Any]) -> float | None:
    """The flow shift a diffusers scheduler config declares, or None if it declares none.

    ``UniPCMultistepScheduler`` stores it as ``flow_shift`` (used with ``use_flow_sigmas``);
    ``FlowMatchEulerDiscreteScheduler`` as ``shift`` (ignored when ``use_dynamic_shifting``,
    which depends on resolution and has no single training weighting).
    """
    if config.get("use_dynamic_shifting"):
        return None
    for key in ("flow_shift", "shift"):
        value = config.get(key)
        if value is not None:
            value = float(value)
            if not math.isfinite(value) or value <= 0:
                raise ChordError(f"scheduler config {key}={value!r} is not a positive number; "
                                 "fix scheduler/scheduler_config.json or pass an explicit shift")
            return value
    return None


@dataclass(frozen=True)
class VideoGeometry:
    """How a teacher's latent grid relates to pixel videos.

    temporal_factor: pixel frames per latent frame after the first (Wan VAE: 4, so F = 4k+1).
    spatial_factor: pixels per latent cell (Wan 2.1 VAE: 8; Wan 2.2 VAE: 16).
    patch_size: the transformer's (t, h, w) patch; H and W must be multiples of
        ``spatial_factor * patch``.
    latent_channels: channels of the latents ``encode`` returns (16 or 48 for Wan).
    """

    temporal_factor: int
    spatial_factor: int
    patch_size: tuple[int, int, int]
    latent_channels: int

    @property
    def height_multiple(self) -> int:
        return self.spatial_factor * self.patch_size[1]

    @property
    def width_multiple(self) -> int:
        return self.spatial_factor * self.patch_size[2]

    def check_size(self, frames: int, height: int, width: int, what: str = "video") -> None:
        """Raise ChordError naming the nearest valid sizes if the video cannot be encoded."""
        problems = []
        tf = self.temporal_factor
        if frames < 1 or (frames - 1) % tf:
            lower = max(1, (frames - 1) // tf * tf + 1)
            problems.append(f"{frames} frames is not {tf}k+1 (use {lower} or {lower + tf})")
        for name, size, multiple in (("height", height, self.height_multiple),
                                     ("width", width, self.width_multiple)):
            if size < multiple or size % multiple:
                lower = max(multiple, size // multiple * multiple)
                problems.append(f"{name} {size} is not a multiple of {multiple} "
                                f"(use {lower} or {lower + multiple})")
        if problems:
            raise ChordError(f"{what} of {frames}x{height}x{width} (frames x H x W) does not fit "
                             f"the teacher: " + "; ".join(problems))

    def latent_shape(self, batch: int, frames: int, height: int,
                     width: int) -> tuple[int, int, int, int, int]:
        """``(B, C, F', h, w)`` of the latents for a ``[B, 3, F, H, W]`` video."""
        self.check_size(frames, height, width)
        return (batch, self.latent_channels, (frames - 1) // self.temporal_factor + 1,
                height // self.spatial_factor, width // self.spatial_factor)


@dataclass
class Conditioning:
    """Per-batch conditioning a teacher's ``velocity`` consumes.

    clean_latent_frames: leading latent frames the teacher holds clean instead of predicting
    (TI2V-5B: 1). :func:`chord_core.distill.sds.sds_step` gives them zero gradient.
    """

    clean_latent_frames: int = 0


@runtime_checkable
class Teacher(Protocol):
    """A video prior behind encode / condition / velocity (paper §3.2)."""

    name: str                 # "wan-i2v-a14b", "wan-ti2v-5b", "reference"
    is_reference: bool        # True only for the known-target reference teacher
    geometry: VideoGeometry   # frame / size rules and latent shape
    flow_shift: float         # shift of the training weighting, for chord_core.distill.sds.TauSchedule

    def set_prompt(self, prompt: str, negative_prompt: str | None = None) -> None:
        """Compute and cache the prompt (and negative prompt) embeddings; free the text encoder."""

    def encode(self, video: Tensor) -> Tensor:
        """``[B, 3, F, H, W]`` video in [0, 1] (differentiable) -> normalised latents ``z``."""

    def condition(self, first_frame: Tensor, num_frames: int, cameras: Any = None) -> Conditioning:
        """Conditioning from the frozen frame-0 render ``[B, 3, H, W]`` in [0, 1] (no grad) for a
        video of ``num_frames`` frames; ``cameras`` (the batch's ``Cameras``) matter only to the
        reference teacher, which renders its known target for them."""

    def velocity(self, z_tau: Tensor, tau: float, cond: Conditioning,
                 guidance_scale: float) -> Tensor:
        """Predicted velocity ``v_hat ~ eps - z`` at noise level ``tau`` (no grad, CFG applied)."""

    def latent_shape(self, batch: int, frames: int, height: int,
                     width: int) -> tuple[int, int, int, int, int]:
        """Shape ``encode`` returns for a ``[batch, 3, frames, height, width]`` video."""


def check_video(video: Tensor, geometry: VideoGeometry, what: str = "video") -> None:
    """Validate a ``[B, 3, F, H, W]`` render batch at the teacher boundary."""
    if not isinstance(video, Tensor) or video.ndim != 5 or video.shape[1] != 3:
        shape = tuple(video.shape) if isinstance(video, Tensor) else type(video).__name__
        raise ChordError(f"{what} must be a [B, 3, F, H, W] tensor in [0, 1], got {shape}; "
                         "stack renders as (batch, rgb, frames, height, width)")
    _, _, frames, height, width = video.shape
    geometry.check_size(frames, height, width, what)
    _check_finite(video, what)


def check_image(image: Tensor, geometry: VideoGeometry, what: str = "first frame") -> None:
    """Validate a ``[B, 3, H, W]`` frame-0 render batch."""
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != 3:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ChordError(f"{what} must be a [B, 3, H, W] tensor in [0, 1], got {shape}")
    geometry.check_size(1, image.shape[2], image.shape[3], what)
    _check_finite(image, what)


def _check_finite(tensor: Tensor, what: str) -> None:
    with torch.no_grad():
        finite = bool(torch.isfinite(tensor).all())
    if not finite:
        raise ChordError(f"{what} contains NaN or infinite values; check the renderer output "
                         "(and the learning rate) before the teacher sees it")
