"""Wan 2.2 teachers (I2V-A14B and TI2V-5B) over diffusers' Wan components (paper §3.2, A.1).

The teachers reproduce how diffusers' ``WanImageToVideoPipeline`` feeds the transformer, but for
one velocity query at an arbitrary noise level instead of a sampling loop:

* timestep ``t = tau * num_train_timesteps`` (1000), velocity = the transformer's
  ``flow_prediction`` (``~ eps - z``), CFG ``v_u + s (v_c - v_u)`` (paper App. A.1: s 25 -> 12);
* I2V-A14B: two experts, ``transformer`` for ``t >= boundary_ratio * 1000`` (high noise) and
  ``transformer_2`` below; input channels ``[z_tau (16) | mask (4) | condition latents (16)]``
  where the condition is the VAE encoding of ``[frame 0, zeros...]`` and the mask marks pixel
  frame 0, folded 4 pixel frames per latent frame;
* TI2V-5B (``expand_timesteps``): one 48-channel model; latent frame 0 is replaced by the clean
  encoding of frame 0 and its tokens get timestep 0, all others ``t``.

Latents are the VAE posterior mode normalised with ``(mu - latents_mean) / latents_std``;
videos in [0, 1] are mapped to the VAE's [-1, 1].
"""

from __future__ import annotations

import gc
import html
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.teachers.base import (
    DEFAULT_FLOW_SHIFT,
    Conditioning,
    VideoGeometry,
    check_image,
    check_video,
    shift_from_scheduler_config,
)
from chord_core.teachers.wan_loading import (
    I2V_A14B,
    TI2V_5B,
    WanComponents,
    load_text_encoder,
)
from chord_core.teachers.wan_vae import encode_mode_chunked

#: diffusers' WanImageToVideoPipeline default prompt length.
MAX_SEQUENCE_LENGTH = 512
#: Wan 2.2's own default negative prompt (its shared config's ``sample_neg_prompt``). It names
#: static and frozen frames among what to avoid, so at CFG 12-25 it decides how much motion the
#: guidance pushes for; used whenever a run gives no negative prompt of its own.
WAN_NEGATIVE_PROMPT = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，"
                       "低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，"
                       "毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走")


@dataclass
class WanConditioning(Conditioning):
    """First-frame conditioning of a Wan teacher.

    latents: I2V-A14B ``[B, 4 + 16, F', h, w]`` (mask channels then condition latents);
    TI2V-5B ``[B, 48, 1, h, w]`` (normalised latents of frame 0).
    num_frames: pixel frames of the videos this conditioning was built for.
    """

    latents: Tensor | None = None
    num_frames: int = 1


def _clean_prompt(text: str) -> str:
    """Normalise a prompt the way Wan's pipelines do (mojibake fix, HTML entities, spaces)."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    return " ".join(html.unescape(html.unescape(text)).split())


class WanTeacher:
    """Shared Wan machinery: prompt cache, differentiable VAE encode, expert choice, CFG.

    Build with :func:`chord_core.teachers.load_teacher`. ``vae_checkpointing`` re-runs the VAE
    encoder chunk by chunk during backward so only one causal chunk's activations are alive at a
    time (`teachers.wan_vae`; same gradients, about one extra encoder pass per step).
    """

    name = "wan"
    is_reference = False

    def __init__(self, components: WanComponents, max_sequence_length: int = MAX_SEQUENCE_LENGTH,
                 vae_checkpointing: bool = True, flow_shift: float | None = None) -> None:
        self.components = components
        self.device = components.device
        self.dtype = components.dtype
        self.vae = components.vae
        self.transformer = components.transformer
        self.transformer_2 = components.transformer_2
        self.max_sequence_length = int(max_sequence_length)
        self.vae_checkpointing = vae_checkpointing
        vae_cfg = self.vae.config
        self.geometry = VideoGeometry(
            temporal_factor=int(vae_cfg.scale_factor_temporal),
            spatial_factor=int(vae_cfg.scale_factor_spatial),
            patch_size=tuple(int(p) for p in self.transformer.config.patch_size),
            latent_channels=int(vae_cfg.z_dim),
        )
        config_shift = shift_from_scheduler_config(components.scheduler_config)
        #: Shift of the training weighting for chord_core.distill.sds.TauSchedule: explicit argument
        #: (the preset's), else the checkpoint's scheduler config, else Wan's sample_shift 5.0.
        self.flow_shift = float(flow_shift or config_shift or DEFAULT_FLOW_SHIFT)
        if flow_shift and config_shift and abs(config_shift - self.flow_shift) > 1e-9:
            warnings.warn(f"{components.model_dir}/scheduler/scheduler_config.json declares flow shift "
                          f"{config_shift:g}, the run uses {self.flow_shift:g} (the preset's flow_shift); they "
                          "decide which expert serves which iterations and when the fine layer starts", stacklevel=2)
        self.num_train_timesteps = int(components.scheduler_config.get("num_train_timesteps", 1000))
        ratio = components.boundary_ratio
        self.boundary_timestep = None if ratio is None else float(ratio) * self.num_train_timesteps
        self.latents_mean = torch.tensor(vae_cfg.latents_mean, dtype=torch.float32,
                                         device=self.device).view(1, -1, 1, 1, 1)
        self.latents_std = torch.tensor(vae_cfg.latents_std, dtype=torch.float32,
                                        device=self.device).view(1, -1, 1, 1, 1)
        self.prompt: str | None = None
        self.negative_prompt: str | None = None
        self.prompt_embeds: Tensor | None = None
        self.negative_prompt_embeds: Tensor | None = None

    # -- prompt --------------------------------------------------------------------------
    def set_prompt(self, prompt: str, negative_prompt: str | None = None) -> None:
        """Embed prompt and negative prompt (empty or None: Wan's own, WAN_NEGATIVE_PROMPT) with UMT5
        once, then free the text encoder."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise ChordError("prompt must be a non-empty string describing the motion")
        tokenizer, encoder = load_text_encoder(self.components.model_dir, self.device, self.dtype)
        try:
            self.prompt_embeds = self._embed(tokenizer, encoder, prompt)
            self.negative_prompt = negative_prompt or WAN_NEGATIVE_PROMPT
            self.negative_prompt_embeds = self._embed(tokenizer, encoder, self.negative_prompt)
        finally:
            del tokenizer, encoder
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        self.prompt = prompt

    @torch.no_grad()
    def _embed(self, tokenizer, encoder, text: str) -> Tensor:
        """``[1, L, D]`` UMT5 states, zeroed past the prompt's tokens as Wan's pipelines do."""
        tokens = tokenizer([_clean_prompt(text)], padding="max_length",
                           max_length=self.max_sequence_length, truncation=True,
                           add_special_tokens=True, return_attention_mask=True,
                           return_tensors="pt")
        mask = tokens.attention_mask.to(self.device)
        states = encoder(tokens.input_ids.to(self.device), mask).last_hidden_state
        states = states * mask.unsqueeze(-1).to(states.dtype)
        return states.to(self.transformer.dtype)

    # -- encoding ------------------------------------------------------------------------
    def latent_shape(self, batch: int, frames: int, height: int,
                     width: int) -> tuple[int, int, int, int, int]:
        return self.geometry.latent_shape(batch, frames, height, width)

    def encode(self, video: Tensor) -> Tensor:
        """``[B, 3, F, H, W]`` in [0, 1] -> normalised float32 latents, differentiable."""
        check_video(video, self.geometry)
        return self._encode_pixels(video)

    def _encode_pixels(self, video: Tensor) -> Tensor:
        x = (video.to(self.device, self.vae.dtype) * 2.0 - 1.0)
        if self.vae_checkpointing and torch.is_grad_enabled() and x.requires_grad:
            latents = torch.cat([encode_mode_chunked(self.vae, sample) for sample in x.split(1)])
        else:
            latents = self._vae_mode(x)
        return (latents.float() - self.latents_mean) / self.latents_std

    def _vae_mode(self, x: Tensor) -> Tensor:
        return self.vae.encode(x).latent_dist.mode()

    # -- denoiser ------------------------------------------------------------------------
    def timestep(self, tau: float) -> float:
        """Wan timestep for noise level tau (sigma * num_train_timesteps)."""
        return float(tau) * self.num_train_timesteps

    def expert(self, tau: float):
        """The transformer diffusers would run at this noise level (A14B: high/low-noise expert)."""
        if self.transformer_2 is None or self.boundary_timestep is None:
            return self.transformer
        high_noise = self.timestep(tau) >= self.boundary_timestep
        return self.transformer if high_noise else self.transformer_2

    def _check_query(self, z_tau: Tensor, tau: float, cond: Conditioning) -> None:
        if self.prompt_embeds is None:
            raise ChordError(f"{self.name}: call set_prompt(prompt) before velocity()")
        if not 0.0 <= float(tau) <= 1.0:
            raise ChordError(f"noise level tau={tau} must lie in [0, 1]")
        if not isinstance(cond, WanConditioning) or cond.latents is None:
            raise ChordError(f"{self.name}: cond must come from this teacher's condition()")
        if z_tau.ndim != 5 or z_tau.shape[1] != self.geometry.latent_channels:
            raise ChordError(f"z_tau must be [B, {self.geometry.latent_channels}, F', h, w] "
                             f"latents from encode(), got {tuple(z_tau.shape)}")
        frames = (cond.num_frames - 1) // self.geometry.temporal_factor + 1
        _, _, h, w = cond.latents.shape[1:]
        batch_ok = cond.latents.shape[0] in (1, z_tau.shape[0])
        if tuple(z_tau.shape[2:]) != (frames, h, w) or not batch_ok:
            raise ChordError(f"z_tau {tuple(z_tau.shape)} does not match the conditioning (built "
                             f"for batch {cond.latents.shape[0]}, {cond.num_frames} frames, "
                             f"latent {h}x{w}); call condition() for this camera batch")

    def _guided(self, model, hidden: Tensor, timestep: Tensor, guidance_scale: float) -> Tensor:
        """One expert, conditional and unconditional passes, CFG combination, float32 out."""
        batch = hidden.shape[0]
        text = self.prompt_embeds.expand(batch, -1, -1)
        v_cond = model(hidden_states=hidden, timestep=timestep, encoder_hidden_states=text,
                       return_dict=False)[0].float()
        if guidance_scale == 1.0:
            return v_cond
        negative = self.negative_prompt_embeds.expand(batch, -1, -1)
        v_uncond = model(hidden_states=hidden, timestep=timestep, encoder_hidden_states=negative,
                         return_dict=False)[0].float()
        return v_uncond + guidance_scale * (v_cond - v_uncond)

    def _check_first_frame(self, first_frame: Tensor, num_frames: int) -> None:
        """The frame-0 render must encode, and the video it conditions must fit the VAE grid."""
        check_image(first_frame, self.geometry)
        self.geometry.check_size(num_frames, first_frame.shape[2], first_frame.shape[3],
                                 "conditioned video")


class WanI2VTeacher(WanTeacher):
    """Wan 2.2 I2V-A14B: two experts switched at ``boundary_ratio * 1000`` (0.9 -> t = 900)."""

    name = I2V_A14B

    @torch.no_grad()
    def condition(self, first_frame: Tensor, num_frames: int, cameras: object = None) -> WanConditioning:
        """Mask + latents of ``[frame 0, zeros...]`` as WanImageToVideoPipeline.prepare_latents."""
        self._check_first_frame(first_frame, num_frames)
        image = first_frame.to(self.device, torch.float32).unsqueeze(2)
        zeros = image.new_full((*image.shape[:2], num_frames - 1, *image.shape[3:]), 0.5)
        latents = self._encode_pixels(torch.cat([image, zeros], dim=2))
        mask = first_frame_mask(latents.shape[0], num_frames, self.geometry.temporal_factor,
                                latents.shape[3], latents.shape[4], latents.device)
        return WanConditioning(clean_latent_frames=0, latents=torch.cat([mask, latents], dim=1),
                               num_frames=num_frames)

    @torch.no_grad()
    def velocity(self, z_tau: Tensor, tau: float, cond: WanConditioning,
                 guidance_scale: float) -> Tensor:
        self._check_query(z_tau, tau, cond)
        model = self.expert(tau)
        condition = cond.latents.expand(z_tau.shape[0], -1, -1, -1, -1)
        hidden = torch.cat([z_tau.to(self.device, torch.float32), condition], dim=1)
        timestep = torch.full((z_tau.shape[0],), self.timestep(tau), device=self.device)
        return self._guided(model, hidden.to(model.dtype), timestep, guidance_scale)


def first_frame_mask(batch: int, num_frames: int, temporal_factor: int, height: int, width: int,
                     device: torch.device | str = "cpu") -> Tensor:
    """I2V mask ``[B, temporal_factor, F', h, w]``: pixel frame 0 known, the rest generated.

    Pixel frame 0 is repeated ``temporal_factor`` times so every latent frame owns
    ``temporal_factor`` pixel frames; channel ``k`` of latent frame ``j`` is the mask of the
    ``k``-th of them. Only latent frame 0 ends up non-zero (all its channels 1).
    """
    per_pixel = torch.zeros(num_frames + temporal_factor - 1)
    per_pixel[:temporal_factor] = 1.0
    grouped = per_pixel.view(-1, temporal_factor).t()  # [temporal_factor, F']
    mask = grouped.view(1, temporal_factor, -1, 1, 1)
    return mask.expand(batch, -1, -1, height, width).to(device)


class WanTI2VTeacher(WanTeacher):
    """Wan 2.2 TI2V-5B: 48-channel VAE (16x spatial), first latent frame held clean."""

    name = TI2V_5B

    @torch.no_grad()
    def condition(self, first_frame: Tensor, num_frames: int, cameras: object = None) -> WanConditioning:
        """Normalised latents of frame 0 alone (``WanImageToVideoPipeline`` expand_timesteps)."""
        self._check_first_frame(first_frame, num_frames)
        latents = self._encode_pixels(first_frame.to(self.device, torch.float32).unsqueeze(2))
        return WanConditioning(clean_latent_frames=1, latents=latents, num_frames=num_frames)

    @torch.no_grad()
    def velocity(self, z_tau: Tensor, tau: float, cond: WanConditioning,
                 guidance_scale: float) -> Tensor:
        """Latent frame 0 replaced by the condition at timestep 0; its output is not a
        prediction (sds_step zeroes its gradient via ``clean_latent_frames``)."""
        self._check_query(z_tau, tau, cond)
        model = self.expert(tau)
        batch, _, frames, height, width = z_tau.shape
        hidden = z_tau.to(self.device, torch.float32).clone()
        hidden[:, :, :1] = cond.latents.expand(batch, -1, -1, -1, -1)
        _, p_h, p_w = self.geometry.patch_size
        per_frame = torch.full((frames,), self.timestep(tau), device=self.device)
        per_frame[0] = 0.0
        tokens = per_frame.view(frames, 1, 1).expand(frames, height // p_h, width // p_w)
        timestep = tokens.reshape(1, -1).expand(batch, -1)
        return self._guided(model, hidden.to(model.dtype), timestep, guidance_scale)


def wan_teacher_class(kind: str) -> type[WanTeacher]:
    return WanI2VTeacher if kind == I2V_A14B else WanTI2VTeacher
