"""Differentiable Wan VAE encoding that fits in memory: one checkpoint per causal chunk.

W-RFSDS (Eq. 3) needs the gradient of the latents with respect to the rendered video, so the Wan
VAE encoder runs with autograd. Keeping its activations for a whole 41-frame 832x464 clip needs
about 100 GB (measured on an H200: gpu-14b ran out of 141 GB with a checkpoint per video). The
Wan encoder is causal and already works chunk by chunk (frame 0, then 4 frames at a time) with a
cache holding the last two input frames of every causal convolution. Here every chunk is its own
activation checkpoint whose inputs are the chunk and the cache it starts from, and whose outputs
are its latents and the cache it leaves: only one chunk's activations are alive during backward,
plus the small per-chunk caches. Values and gradients equal ``vae.encode(x).latent_dist.mode()``
(tested against it); written against diffusers 0.42.1's AutoencoderKLWan.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

CHUNK_FRAMES = 4  # the Wan encoder's temporal chunk after the first frame
_TENSOR = object()  # marks a cache slot that holds a tensor


def chunk_bounds(frames: int) -> list[tuple[int, int]]:
    """Frame ranges the Wan encoder processes one after another: [0, 1), then 4 at a time."""
    return [(0, 1)] + [(1 + CHUNK_FRAMES * i, 1 + CHUNK_FRAMES * (i + 1)) for i in range((frames - 1) // CHUNK_FRAMES)]


class _Chunk:
    """One encoder call on a chunk with an explicit cache in and out (tensors only, so it can be
    checkpointed); the cache's non-tensor markers (None, "Rep") are kept on the side."""

    def __init__(self, encoder: torch.nn.Module, markers: list) -> None:
        self.encoder = encoder
        self.markers_in = markers
        self.markers_out: list | None = None

    def __call__(self, x: Tensor, *cache_tensors: Tensor) -> tuple[Tensor, ...]:
        tensors = iter(cache_tensors)
        cache = [next(tensors) if marker is _TENSOR else marker for marker in self.markers_in]
        out = self.encoder(x, feat_cache=cache, feat_idx=[0])
        self.markers_out = [_TENSOR if isinstance(entry, Tensor) else entry for entry in cache]
        return (out, *(entry for entry in cache if isinstance(entry, Tensor)))


def encode_mode_chunked(vae, x: Tensor) -> Tensor:
    """``vae.encode(x).latent_dist.mode()`` for one video [1, C, F, H, W], checkpointed per chunk."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import patchify
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    if vae.config.patch_size is not None:
        x = patchify(x, patch_size=vae.config.patch_size)
    markers: list = [None] * vae._cached_conv_counts["encoder"]
    cache: tuple[Tensor, ...] = ()
    outs = []
    for start, stop in chunk_bounds(x.shape[2]):
        chunk = _Chunk(vae.encoder, markers)
        out, *cache = checkpoint(chunk, x[:, :, start:stop], *cache, use_reentrant=False)
        markers = chunk.markers_out
        outs.append(out)
    return DiagonalGaussianDistribution(vae.quant_conv(torch.cat(outs, 2))).mode()
