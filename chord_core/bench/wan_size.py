"""`chord bench wan-size`: seconds per iteration and peak GPU memory at the real Wan 2.2 size.

The paper reports ≈36 s per iteration for Wan 2.2 I2V-A14B at 832x464, 41 frames, 4 cameras
(appendix A.1, the gpu-14b preset). No weights are needed to measure that: both experts
(40 layers, width 5120, ≈14 B parameters each, published diffusers configuration) and the
Wan 2.1 VAE (AutoencoderKLWan defaults) are built with random weights in the preset's dtypes
(transformer bf16 on CUDA, VAE float32), and the UMT5-XXL prompt embeddings are random tensors of their real shape (the
text encoder runs once per run, not per iteration). One timed iteration is a full
``Distiller.step``: gsplat render, VAE encode, both CFG passes of the transformer, W-RFSDS
backward through the VAE encoder, regularisers, Adam. The outputs are meaningless, the timings
and memory are those of the real architecture. Baseline, same process and preset: the
reference teacher (pixel space, no network). ``--experts 1`` lets one module serve both noise
ranges (identical per-iteration work, half the weight memory) for GPUs below ~80 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

HELP = "s/iteration and peak memory of the real-size Wan 2.2 I2V-A14B (random weights) at the gpu-14b preset"
PAPER_SECONDS_PER_ITERATION = 36.0

#: Wan-AI/Wan2.2-I2V-A14B-Diffusers transformer/config.json (and transformer_2/): the published sizes.
I2V_A14B_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=40, attention_head_dim=128, in_channels=36, out_channels=16,
    text_dim=4096, freq_dim=256, ffn_dim=13824, num_layers=40, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
#: The I2V-A14B VAE is Wan 2.1's: AutoencoderKLWan's defaults (96 base channels, z 16, 8x spatial).
WAN21_VAE: dict = {}
#: Wan-AI/Wan2.2-TI2V-5B-Diffusers transformer/config.json: one ≈5 B expert on 48 latent channels.
TI2V_5B_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=24, attention_head_dim=128, in_channels=48, out_channels=48,
    text_dim=4096, freq_dim=256, ffn_dim=14336, num_layers=30, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
#: ...TI2V-5B-Diffusers vae/config.json: the Wan 2.2 VAE (48 channels, 16x spatial via a 2x2 patchify).
#: The latent statistics are placeholders of the right length (timings do not depend on them).
WAN22_VAE = dict(base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                 temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                 patch_size=2, scale_factor_spatial=16,
                 latents_mean=[0.0] * 48, latents_std=[1.0] * 48)
#: Real-size (transformer, VAE) configurations per teacher kind.
REAL_SIZE = {"wan-i2v-a14b": (I2V_A14B_TRANSFORMER, WAN21_VAE), "wan-ti2v-5b": (TI2V_5B_TRANSFORMER, WAN22_VAE)}
BOUNDARY_RATIO = 0.9
SCHEDULER_CONFIG = {"num_train_timesteps": 1000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="gpu-14b", help="preset giving the video shape (default gpu-14b)")
    parser.add_argument("--experts", type=int, choices=(1, 2), default=2,
                        help="2: both experts resident (as the paper); 1: one module for both noise ranges")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations (median) after one warm-up")


def random_components(device, dtype, experts: int = 2, transformer_config: dict | None = None,
                      vae_config: dict | None = None, kind: str = "wan-i2v-a14b", vae_dtype=None):
    """WanComponents of teacher ``kind`` holding random-weight modules of the given configs (default:
    the real size), frozen, on ``device``, the VAE in ``vae_dtype`` (default: ``dtype``). TI2V-5B
    has one expert whatever ``experts`` says."""
    import torch
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from chord_core.teachers.wan_loading import I2V_A14B, WanComponents

    device = torch.device(device)
    real_transformer, real_vae = REAL_SIZE[kind]
    i2v = kind == I2V_A14B

    def frozen(module, module_dtype=dtype):
        """Cast like ``from_pretrained(dtype=...)``: ``_keep_in_fp32_modules`` stay float32."""
        module = module.to(device=device, dtype=module_dtype).eval().requires_grad_(False)
        keep = getattr(module, "_keep_in_fp32_modules", None) or []
        for name, param in module.named_parameters():
            if any(part in keep for part in name.split(".")):
                param.data = param.data.float()
        return module

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the run dtype: 14 B fp32 parameters would not fit
    try:
        with device:
            vae = frozen(AutoencoderKLWan(**(real_vae if vae_config is None else vae_config)), vae_dtype or dtype)
            config = real_transformer if transformer_config is None else transformer_config
            transformer = frozen(WanTransformer3DModel(**config))
            transformer_2 = None if not i2v else (
                frozen(WanTransformer3DModel(**config)) if experts == 2 else transformer)
    finally:
        torch.set_default_dtype(previous)
    return WanComponents(kind, Path("<random weights>"), device, dtype, vae, transformer, transformer_2,
                         dict(SCHEDULER_CONFIG), BOUNDARY_RATIO if i2v else None, expand_timesteps=not i2v)


def random_prompt_teacher(components, seed: int = 0):
    """The components' Wan teacher with prompt embeddings that are random tensors of UMT5's output shape."""
    import torch

    from chord_core.teachers.wan import MAX_SEQUENCE_LENGTH, wan_teacher_class

    class RandomPromptTeacher(wan_teacher_class(components.kind)):
        name = f"{components.kind} (random weights)"

        def set_prompt(self, prompt: str, negative_prompt: str | None = None) -> None:
            generator = torch.Generator().manual_seed(seed)
            width = int(self.transformer.config.text_dim)
            self.prompt_embeds, self.negative_prompt_embeds = (
                torch.randn(1, MAX_SEQUENCE_LENGTH, width, generator=generator).to(self.device, self.dtype)
                for _ in range(2))
            self.prompt = prompt

    return RandomPromptTeacher(components)


@dataclass
class IterationTiming:
    seconds: float              # median wall seconds per iteration
    peak_gb: float              # CUDA allocator peak over the timed steps (resident peak on CPU)
    flops: float | None = None  # floating-point operations of one iteration (torch's FLOP counter)


def time_iterations(distiller, repeats: int, count_flops: bool = False) -> IterationTiming:
    """Median of ``repeats`` steps after one warm-up; the warm-up step runs under torch's FLOP
    counter when ``count_flops`` (matrix products, convolutions and attention; gsplat's kernels
    are not seen, they are a rounding error beside the transformer)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from chord_core.bench.recovery import peak_mb

    cuda = distiller.device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(distiller.device)

    counter = FlopCounterMode(display=False) if count_flops else None
    with counter if counter is not None else contextlib.nullcontext():
        distiller.step()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(distiller.device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        distiller.step()
        sync()
        seconds.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(distiller.device) / 2**30 if cuda else peak_mb() / 1024
    return IterationTiming(statistics.median(seconds), peak,
                           float(counter.get_total_flops()) if counter is not None else None)


def measure(preset, device: str, experts: int = 2, repeats: int = 3, transformer_config: dict | None = None,
            vae_config: dict | None = None, count_flops: bool = False, gradient_norms: bool = False) -> dict:
    """{"reference": IterationTiming, "wan": IterationTiming, "parameters": resident transformer
    parameters, "gradient_norms": per-term norms after the timed steps (when asked)} for a
    random-weight teacher of ``preset.teacher`` at ``preset`` on ``device``."""
    import torch

    from chord_core.distill.optimize import Distiller
    from chord_core.scene.objects import scene_from_scans
    from chord_core.scene.scenarios import make_scenario
    from chord_core.teachers.reference import ReferenceTeacher

    preset = preset.replace(device=device, iterations=max(preset.iterations, repeats + 2),
                            checkpoint_every=10**6, camera_pool=0)
    scenario = make_scenario("rigid_box", frames=preset.frames, points=preset.gaussians_per_object)
    scene = scene_from_scans(scenario.scans, max(len(scan.points) for scan in scenario.scans))  # no resampling
    prompt = "slide the block to the left and turn it"
    out: dict = {"reference": time_iterations(Distiller(
        scene, ReferenceTeacher(scene, scenario.motion, preset.frames, device=device),
        preset.replace(teacher="reference"), prompt, seed=0, device=device), repeats)}
    components = random_components(device, preset.torch_dtype("transformer_dtype", device), experts,
                                   transformer_config, vae_config, kind=preset.teacher,
                                   vae_dtype=preset.torch_dtype("vae_dtype", device))
    teacher = random_prompt_teacher(components)
    distiller = Distiller(scene, teacher, preset, prompt, seed=0, device=device)
    out["wan"] = time_iterations(distiller, repeats, count_flops)
    if gradient_norms:
        out["gradient_norms"] = distiller.term_gradient_norms()
    resident = {id(m): m for m in (components.transformer, components.transformer_2) if m is not None}
    out["parameters"] = sum(p.numel() for m in resident.values() for p in m.parameters())
    del teacher, components, distiller
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from chord_core.distill.presets import load_preset
    from chord_core.errors import ChordError

    if not torch.cuda.is_available():
        raise ChordError("chord bench wan-size needs a CUDA GPU (H100/H200 class; the real-size model "
                         "holds 2 x 14 B parameters); this machine has none")
    preset = load_preset(args.preset)
    result = measure(preset, "cuda", args.experts, args.repeats)
    name = torch.cuda.get_device_name()
    print(f"one distillation iteration on {name}, preset {preset.name}: {preset.width}x{preset.height}, "
          f"{preset.frames} frames, {preset.batch_cameras} cameras; median of {args.repeats} after a warm-up")
    print(f"{'teacher':<34} {'s/it':>8} {'peak GB':>8} {'vs reference':>13}")
    ref_s, ref_gb = result["reference"].seconds, result["reference"].peak_gb
    wan_s, wan_gb = result["wan"].seconds, result["wan"].peak_gb
    print(f"{'reference (baseline)':<34} {ref_s:>8.2f} {ref_gb:>8.1f} {1.0:>13.2f}")
    label = f"Wan I2V-A14B random, {args.experts} expert(s)"
    print(f"{label:<34} {wan_s:>8.2f} {wan_gb:>8.1f} {wan_s / ref_s:>13.2f}")
    print(f"transformer parameters resident: {result['parameters'] / 1e9:.1f} B; "
          f"paper: ≈{PAPER_SECONDS_PER_ITERATION:.0f} "
          f"s/it (ratio ours / paper {wan_s / PAPER_SECONDS_PER_ITERATION:.2f})")
    return 0
