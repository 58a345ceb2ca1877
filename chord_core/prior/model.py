"""The mini prior's network: a factorised-convolution rectified-flow video model (≈ 3.2 M parameters).

Conditioning follows Wan 2.2 I2V: the clean first frame and a mask marking it as given are
concatenated to the noisy video on the channel axis; the text and the noise level τ enter every
block through FiLM (scale and shift per channel), and in the deepest ``text_attention_levels``
levels every space-time cell also cross-attends to the text tokens (as Wan's blocks do), so a
word can steer one region differently from another: a global FiLM vector alone learnt
"left"/"right" for slides but not the sense of a turn, whose evidence is a few moving pixels.
Each block is a 3x3 spatial convolution and a 3-tap temporal convolution (a factorised 3D
convolution); a 2x2 pixel-unshuffle, three down-sampling stages and skip connections make a small
U-Net over 9 x 32 x 32 videos. The text encoder is a 2-layer transformer over the vocabulary
tokens (`prior.vocabulary`), read at its <cls> token for FiLM and as a token sequence for
cross-attention; an empty text (<cls> alone) is the unconditional branch of classifier-free
guidance. The network predicts the rectified-flow velocity v = ε − x (Wan's flow prediction) for
z_τ = (1 − τ) x + τ ε.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from chord_core.prior.vocabulary import MAX_TOKENS, PAD, VOCABULARY


@dataclass(frozen=True)
class PriorConfig:
    channels: tuple[int, ...] = (32, 64, 128, 256)  # per U-Net level (16, 8, 4, 2 cells at 32 px)
    blocks_per_level: int = 1
    text_width: int = 128
    text_layers: int = 2
    embedding: int = 256
    text_attention_levels: int = 2  # deepest U-Net levels whose blocks cross-attend to the text tokens

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PriorConfig:
        data = dict(data)
        data["channels"] = tuple(data["channels"])
        data.setdefault("text_attention_levels", 0)  # weights trained before cross-attention existed
        return cls(**data)


def timestep_embedding(tau: Tensor, dim: int) -> Tensor:
    """Sinusoidal features [B, dim] of the timestep τ·1000 (the scale Wan is called with)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=tau.device) / half)
    angles = (tau.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], dim=1)


class TextEncoder(nn.Module):
    """Token ids [B, T] -> token features [B, T, D] after a small transformer (<cls> first)."""

    def __init__(self, width: int, layers: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(len(VOCABULARY), width, padding_idx=PAD)
        self.positions = nn.Parameter(torch.randn(MAX_TOKENS, width) * 0.02)
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=2 * width, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, ids: Tensor) -> Tensor:
        h = self.tokens(ids) + self.positions[: ids.shape[1]]
        h = self.encoder(h, src_key_padding_mask=ids == PAD)
        return self.norm(h)


class TextCrossAttention(nn.Module):
    """x + attention(x -> text tokens): each cell of [B*F, C, H, W] reads the words it needs.

    Padding tokens are masked; <cls> is never padding, so the unconditional branch attends to it
    alone. The output projection starts at zero, so a new block begins as the identity.
    """

    def __init__(self, channels: int, text_width: int, heads: int = 4) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(8, channels)
        self.attention = nn.MultiheadAttention(channels, heads, kdim=text_width, vdim=text_width, batch_first=True)
        nn.init.zeros_(self.attention.out_proj.weight)
        nn.init.zeros_(self.attention.out_proj.bias)

    def forward(self, x: Tensor, text: Tensor, padding: Tensor, frames: int) -> Tensor:
        n, c, h, w = x.shape
        queries = self.norm(x).flatten(2).transpose(1, 2)  # [B*F, H*W, C]
        keys = text.repeat_interleave(frames, 0)
        out, _ = self.attention(queries, keys, keys, key_padding_mask=padding.repeat_interleave(frames, 0),
                                need_weights=False)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class FactorisedBlock(nn.Module):
    """x + temporal(FiLM(spatial(x))): a residual 3x3 spatial then 3-tap temporal convolution.

    Works on frames stacked in the batch, [B*F, C, H, W]; the temporal convolution is a 1x1
    convolution over each frame concatenated with its neighbours (zero beyond the clip), which is
    a (3, 1, 1) 3D convolution computed as one matrix product (fast on a CPU).
    """

    def __init__(self, channels: int, embedding: int, text_width: int | None = None) -> None:
        super().__init__()
        self.cross = TextCrossAttention(channels, text_width) if text_width else None
        self.norm1 = nn.GroupNorm(8, channels)
        self.spatial = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, channels)
        self.film = nn.Linear(embedding, 2 * channels)
        self.temporal = nn.Conv2d(3 * channels, channels, 1)
        nn.init.zeros_(self.temporal.weight)
        nn.init.zeros_(self.temporal.bias)

    def forward(self, x: Tensor, emb: Tensor, text: Tensor, padding: Tensor, frames: int) -> Tensor:
        if self.cross is not None:
            x = self.cross(x, text, padding, frames)
        h = self.spatial(F.silu(self.norm1(x)))
        scale, shift = self.film(emb).repeat_interleave(frames, 0)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm2(h) * (1 + scale) + shift)
        clip = h.unflatten(0, (-1, frames))  # [B, F, C, H, W]
        before = F.pad(clip[:, :-1], (0, 0, 0, 0, 0, 0, 1, 0))
        after = F.pad(clip[:, 1:], (0, 0, 0, 0, 0, 0, 0, 1))
        return x + self.temporal(torch.cat([before, clip, after], dim=2).flatten(0, 1))


class MiniPriorNet(nn.Module):
    """v̂(z_τ, τ, first frame, text): velocity [B, 3, F, H, W] for videos in [-1, 1]."""

    def __init__(self, config: PriorConfig = PriorConfig()) -> None:
        super().__init__()
        self.config = config
        c, e = config.channels, config.embedding
        self.text = TextEncoder(config.text_width, config.text_layers)
        self.embed = nn.Sequential(nn.Linear(config.text_width + 128, e), nn.SiLU(), nn.Linear(e, e))
        self.stem = nn.Conv2d(7 * 4, c[0], 1)  # noisy video 3 + first frame 3 + mask 1, 2x2 unshuffled
        attend = [config.text_width if level >= len(c) - config.text_attention_levels else None
                  for level in range(len(c))]
        self.down_blocks = nn.ModuleList()
        self.downsample = nn.ModuleList()
        for level, width in enumerate(c):
            self.down_blocks.append(nn.ModuleList(FactorisedBlock(width, e, attend[level])
                                                  for _ in range(config.blocks_per_level)))
            if level + 1 < len(c):
                self.downsample.append(nn.Conv2d(width, c[level + 1], 3, stride=2, padding=1))
        self.upsample = nn.ModuleList()
        self.merge = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for level in reversed(range(len(c) - 1)):
            self.upsample.append(nn.Conv2d(c[level + 1], c[level], 3, padding=1))
            self.merge.append(nn.Conv2d(2 * c[level], c[level], 1))
            self.up_blocks.append(nn.ModuleList(FactorisedBlock(c[level], e, attend[level])
                                                for _ in range(config.blocks_per_level)))
        self.out_norm = nn.GroupNorm(8, c[0])
        self.out = nn.Conv2d(c[0], 3 * 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, z_tau: Tensor, tau: Tensor, first_frame: Tensor, tokens: Tensor) -> Tensor:
        """z_tau [B, 3, F, H, W], tau [B], first_frame [B, 3, H, W] (all in [-1, 1] units), tokens [B, T]."""
        b, _, f, h, w = z_tau.shape
        mask = torch.zeros(b, 1, f, h, w, dtype=z_tau.dtype, device=z_tau.device)
        mask[:, :, 0] = 1.0
        x = torch.cat([z_tau, first_frame[:, :, None].expand(-1, -1, f, -1, -1), mask], dim=1)
        x = self.stem(F.pixel_unshuffle(x.transpose(1, 2).flatten(0, 1), 2))  # frames stacked in the batch
        text, padding = self.text(tokens), tokens == PAD
        emb = self.embed(torch.cat([text[:, 0], timestep_embedding(tau, 128)], dim=1))
        skips = []
        for level, blocks in enumerate(self.down_blocks):
            for block in blocks:
                x = block(x, emb, text, padding, f)
            if level < len(self.downsample):
                skips.append(x)
                x = self.downsample[level](x)
        for upsample, merge, blocks in zip(self.upsample, self.merge, self.up_blocks):
            x = upsample(F.interpolate(x, scale_factor=2.0, mode="nearest"))
            x = merge(torch.cat([x, skips.pop()], dim=1))
            for block in blocks:
                x = block(x, emb, text, padding, f)
        x = F.pixel_shuffle(self.out(F.silu(self.out_norm(x))), 2)
        return x.unflatten(0, (b, f)).transpose(1, 2)

    def guided(self, z_tau: Tensor, tau: float, first_frame: Tensor, tokens: Tensor, guidance_scale: float,
               uncond_tokens: Tensor | None = None) -> Tensor:
        """Classifier-free guidance v_u + s (v_c − v_u), both branches in one batch.

        The unconditional branch reads ``uncond_tokens`` (a negative prompt) or <cls> alone.
        """
        b = z_tau.shape[0]
        if uncond_tokens is None:
            uncond_tokens = torch.full_like(tokens, PAD)
            uncond_tokens[:, 0] = tokens[:, 0]  # <cls> alone
        taus = torch.full((2 * b,), float(tau), device=z_tau.device)
        v = self(torch.cat([z_tau, z_tau]), taus, torch.cat([first_frame, first_frame]),
                 torch.cat([tokens, uncond_tokens]))
        v_cond, v_uncond = v[:b], v[b:]
        return v_uncond + guidance_scale * (v_cond - v_uncond)
