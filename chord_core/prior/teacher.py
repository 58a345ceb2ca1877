"""The mini teacher: the project's own small text-driven video prior behind the Teacher interface.

Pixel space like the reference teacher (``encode`` maps [0, 1] renders to the prior's [-1, 1]),
but the velocity is learned: ``v̂ = v_u + s (v_c − v_u)`` from `chord_core.prior.model` with the
first frame as I2V conditioning and the prompt's tokens. Its noise-level weighting is the shift
it was trained with, so `distill.sds.TauSchedule` and W-RFSDS apply unchanged. The prior only
knows the motion vocabulary it was trained on (`prior.vocabulary`); other commands are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.prior.clips import ClipSettings
from chord_core.prior.vocabulary import check_command, tokenize
from chord_core.prior.weights import LoadedPrior
from chord_core.teachers.base import Conditioning, VideoGeometry


@dataclass
class MiniConditioning(Conditioning):
    """first_frame: the frozen frame-0 renders [B, 3, H, W] in the prior's [-1, 1] units."""

    first_frame: Tensor | None = None


def settings_mismatch(trained: ClipSettings, wanted: ClipSettings) -> list[str]:
    """Human-readable differences between the prior's training clips and a run's renders. The run's
    azimuth arc may be any part of the trained one (the prior has seen every view on it)."""
    problems = []
    for name in ("frames", "gaussians_per_object"):
        if getattr(trained, name) != getattr(wanted, name):
            problems.append(f"{name} {getattr(wanted, name)} (trained: {getattr(trained, name)})")
    (trained_lo, trained_hi), (lo, hi) = trained.arc.azimuth_deg, wanted.arc.azimuth_deg
    if not trained_lo <= lo <= hi <= trained_hi:
        problems.append(f"azimuth_deg {wanted.arc.azimuth_deg} (trained: {trained.arc.azimuth_deg}; "
                        "a run may use any part of it)")
    for name in ("width", "height", "fov_deg", "radius_scale", "elevation_deg", "min_frame_radius"):
        have, want = getattr(trained.arc, name), getattr(wanted.arc, name)
        if tuple(map(float, have if isinstance(have, tuple) else (have,))) != \
                tuple(map(float, want if isinstance(want, tuple) else (want,))):
            problems.append(f"{name} {want} (trained: {have})")
    return problems


class MiniTeacher:
    """See the module docstring."""

    name = "mini"
    is_reference = False
    geometry = VideoGeometry(temporal_factor=1, spatial_factor=1, patch_size=(1, 2, 2), latent_channels=3)

    def __init__(self, prior: LoadedPrior, device: str | torch.device = "cpu") -> None:
        self.prior = prior
        self.net = prior.net.to(device)
        self.flow_shift = prior.flow_shift
        self.tokens: Tensor | None = None
        self.uncond_tokens: Tensor | None = None

    def check_settings(self, wanted: ClipSettings) -> None:
        """Refuse renders the prior never saw (other size, frames, cameras or Gaussian budget)."""
        problems = settings_mismatch(self.prior.settings, wanted)
        if problems:
            raise ChordError(f"the mini prior ({self.prior.path}) was trained on other renders than this preset "
                             f"makes: {'; '.join(problems)}. Use --preset mini or retrain with "
                             "`chord prior train --preset YOURS`")

    def set_prompt(self, prompt: str, negative_prompt: str | None = None) -> None:
        check_command(prompt)
        self.tokens = torch.as_tensor(tokenize(prompt))[None]
        self.uncond_tokens = None if not negative_prompt else torch.as_tensor(tokenize(negative_prompt))[None]

    def encode(self, video: Tensor) -> Tensor:
        """Renders [B, 3, F, H, W] in [0, 1] -> the prior's [-1, 1] video space."""
        return video * 2.0 - 1.0

    def latent_shape(self, batch: int, frames: int, height: int, width: int) -> tuple[int, int, int, int, int]:
        return self.geometry.latent_shape(batch, frames, height, width)

    def condition(self, first_frame: Tensor, num_frames: int, cameras=None) -> MiniConditioning:
        if num_frames != self.prior.settings.frames:
            raise ChordError(f"the mini prior makes {self.prior.settings.frames}-frame videos, asked for {num_frames}")
        return MiniConditioning(first_frame=first_frame.detach() * 2.0 - 1.0)

    @torch.no_grad()
    def velocity(self, z_tau: Tensor, tau: float, cond: MiniConditioning, guidance_scale: float) -> Tensor:
        if self.tokens is None or cond.first_frame is None:
            raise ChordError("call set_prompt() and condition() before velocity()")
        b = z_tau.shape[0]
        uncond = None if self.uncond_tokens is None else self.uncond_tokens.expand(b, -1)
        return self.net.guided(z_tau, tau, cond.first_frame, self.tokens.expand(b, -1), guidance_scale, uncond)
