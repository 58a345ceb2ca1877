"""`chord bench gpu`: the one prepared check for an H100/H200 (about 8 minutes, no weights needed).

Four measurements, each printed as a table as soon as it is done and written to a JSON file
(rewritten after every section, so a run cut short keeps what it measured):

1. ``matmul``: the bf16 matrix-product rate of this GPU (8192³, mean of ten after three
   warm-ups), the ceiling the FLOP floor below is computed against.
2. ``render``: gsplat against our CPU rasterizer on the same Gaussians and cameras: largest
   absolute difference of RGB, alpha, flow features and depth (where covered), and forward +
   backward milliseconds per frame of each, with the ratio.
3. ``wan``: one full distillation iteration (``Distiller.step``) of real-size random-weight Wan
   2.2 I2V-A14B at gpu-14b and TI2V-5B at gpu-5b, against the reference teacher at the same
   preset (same process): s/it, peak GPU memory, the iteration's FLOPs (torch's counter), the
   FLOP floor (FLOPs / measured matmul rate) and s/it over that floor; for I2V-A14B also the
   paper's ≈36 s/it (appendix A.1).
4. ``gradient norms``: the L2 norm of each loss term's gradient on the motion parameters (W-RFSDS,
   weighted temporal Eq. 12, weighted ARAP Eq. 13) at gpu-14b after the timed steps. The
   teacher's weights are random, so the W-RFSDS norm is that of an untrained velocity field: a
   scale, not a prediction.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

HELP = "the prepared H100/H200 check: gsplat parity and speed, real-size Wan s/it, memory, FLOP floor, term norms"
SECTIONS = ("render", "i2v", "ti2v")
#: (Gaussians, width, height): a training-size frame and a gpu-14b frame.
RENDER_SIZES = ((20000, 208, 116), (30000, 832, 464))
WAN_PRESETS = {"i2v": "gpu-14b", "ti2v": "gpu-5b"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="bench_gpu.json", help="JSON file for the results (default bench_gpu.json)")
    parser.add_argument("--repeats", type=int, default=2, help="timed iterations per measurement (median)")
    parser.add_argument("--skip", nargs="*", default=[], choices=SECTIONS, help="sections to leave out")
    parser.add_argument("--experts", type=int, choices=(1, 2), default=2,
                        help="I2V-A14B experts resident: 2 as the paper, 1 module for both noise ranges "
                             "(identical work per iteration, 28 GB less)")


def matmul_tflops(device, size: int = 8192, repeats: int = 10) -> float:
    """Measured dense bf16 matrix-product rate in TFLOP/s (random operands)."""
    import torch

    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * size**3 * repeats / (time.perf_counter() - start) / 1e12


def _timed_render(gaussians, cameras, features, backend: str, repeats: int):
    """(renders of the last call, median ms per frame of forward + backward)."""
    import statistics

    import torch

    from chord_core.render.renderer import render

    leaves = [t.detach().clone().requires_grad_(True) for t in (gaussians.means, gaussians.quats, features)]
    seconds = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        out = render(gaussians.replace(means=leaves[0], quats=leaves[1]), cameras, features=leaves[2], backend=backend)
        (out.rgb.square().sum() + out.alpha.sum() + out.depth.sum() + out.features.square().sum()).backward()
        if gaussians.means.device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - start)
    return out, 1000 * statistics.median(seconds[1:]) / len(cameras)


def render_parity(device, repeats: int, cameras_per_call: int = 2) -> list[dict]:
    """gsplat vs the CPU rasterizer on the same scene: differences and ms/frame (fwd + bwd)."""
    import torch

    from chord_core.bench.render import _scene
    from chord_core.render.cameras import orbit_cameras
    from chord_core.render.gaussians import Gaussians

    rows = []
    for n, width, height in RENDER_SIZES:
        means, quats, scales, opacities, colors, flow = _scene(n)
        g = Gaussians(means, quats, scales, opacities, colors, torch.zeros(n, dtype=torch.int64))
        cams = orbit_cameras((0.125, 0, 0), 0.9, cameras_per_call, width, height, elevation_deg=(0, 30), seed=1)
        cpu, cpu_ms = _timed_render(g, cams, flow, "cpu", repeats)
        gpu, gpu_ms = _timed_render(g.to(device), cams.to(device), flow.to(device), "gsplat", repeats)
        diffs = {name: float((getattr(cpu, name) - getattr(gpu, name).cpu()).detach().abs().max())
                 for name in ("rgb", "alpha", "features")}
        covered = cpu.alpha > 0.5
        diffs["depth"] = float((cpu.depth - gpu.depth.cpu()).detach()[covered].abs().max())
        rows.append({"gaussians": n, "width": width, "height": height, "max_abs_diff": diffs,
                     "cpu_ms_per_frame": cpu_ms, "gsplat_ms_per_frame": gpu_ms})
    return rows


def print_render(rows: list[dict]) -> None:
    print("\ngsplat vs CPU rasterizer, forward+backward, RGB + 3-channel flow features")
    print(f"{'gaussians':>9} {'resolution':>10} {'max |diff| rgb/alpha/flow/depth':>34} "
          f"{'cpu ms/frame':>13} {'gsplat ms/frame':>16} {'speed-up':>9}")
    for r in rows:
        d = r["max_abs_diff"]
        diffs = f"{d['rgb']:.1e}/{d['alpha']:.1e}/{d['features']:.1e}/{d['depth']:.1e}"
        print(f"{r['gaussians']:>9} {r['width']:>4}x{r['height']:<5} {diffs:>34} {r['cpu_ms_per_frame']:>13.1f} "
              f"{r['gsplat_ms_per_frame']:>16.2f} {r['cpu_ms_per_frame'] / r['gsplat_ms_per_frame']:>8.0f}x")


def wan_row(preset_name: str, repeats: int, tflops: float, experts: int = 2) -> dict:
    """Real-size random-weight teacher of the preset against the reference teacher."""
    from chord_core.bench.wan_size import measure
    from chord_core.distill.presets import load_preset

    preset = load_preset(preset_name)
    result = measure(preset, "cuda", experts, repeats, count_flops=True, gradient_norms=preset.name == "gpu-14b")
    wan, reference = result["wan"], result["reference"]
    floor = wan.flops / (tflops * 1e12)
    row = {"preset": preset.name, "teacher": preset.teacher, "size": [preset.width, preset.height],
           "frames": preset.frames, "cameras": preset.batch_cameras, "parameters": result["parameters"],
           "seconds_per_iteration": wan.seconds, "peak_gb": wan.peak_gb, "flops": wan.flops,
           "flop_floor_seconds": floor, "reference_seconds": reference.seconds, "reference_peak_gb": reference.peak_gb}
    if "gradient_norms" in result:
        row["gradient_norms"] = result["gradient_norms"]
    return row


def print_wan(rows: list[dict]) -> None:
    from chord_core.bench.wan_size import PAPER_SECONDS_PER_ITERATION

    print("\none distillation iteration, random weights at the real size (median after a warm-up)")
    print(f"{'preset':<8} {'teacher':<13} {'params':>7} {'s/it':>7} {'peak GB':>8} {'TFLOP/it':>9} "
          f"{'floor s':>8} {'vs floor':>9} {'ref s/it':>9} {'vs ref':>7}")
    for r in rows:
        print(f"{r['preset']:<8} {r['teacher']:<13} {r['parameters'] / 1e9:>6.1f}B {r['seconds_per_iteration']:>7.2f} "
              f"{r['peak_gb']:>8.1f} {r['flops'] / 1e12:>9.0f} {r['flop_floor_seconds']:>8.2f} "
              f"{r['seconds_per_iteration'] / r['flop_floor_seconds']:>8.1f}x {r['reference_seconds']:>9.3f} "
              f"{r['seconds_per_iteration'] / r['reference_seconds']:>6.0f}x")
        if r["teacher"] == "wan-i2v-a14b":
            print(f"  paper (appendix A.1): ≈{PAPER_SECONDS_PER_ITERATION:.0f} s/it; ours / paper "
                  f"{r['seconds_per_iteration'] / PAPER_SECONDS_PER_ITERATION:.2f}")
        if "gradient_norms" in r:
            norms = r["gradient_norms"]
            print("  gradient norm on the motion parameters: " + ", ".join(
                f"{name} {value:.3g}" for name, value in norms.items())
                + f" (regularisers / W-RFSDS {(norms['temporal'] + norms['arap']) / max(norms['sds'], 1e-30):.3g})")


def run(args: argparse.Namespace) -> int:
    import torch

    from chord_core.errors import ChordError

    if not torch.cuda.is_available():
        raise ChordError("chord bench gpu needs a CUDA GPU (H100/H200 class: the real-size I2V-A14B holds "
                         "2 x 14 B parameters); this machine has none")
    device = torch.device("cuda")
    out = Path(args.out)
    results: dict = {"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__}

    def save() -> None:
        out.write_text(json.dumps(results, indent=2) + "\n")

    results["bf16_matmul_tflops"] = matmul_tflops(device)
    save()
    print(f"{results['gpu']}: bf16 matmul {results['bf16_matmul_tflops']:.0f} TFLOP/s (8192³, measured)", flush=True)
    if "render" not in args.skip:
        results["render"] = render_parity(device, args.repeats)
        save()
        print_render(results["render"])
    results["wan"] = []
    for section in ("i2v", "ti2v"):
        if section in args.skip:
            continue
        results["wan"].append(wan_row(WAN_PRESETS[section], args.repeats, results["bf16_matmul_tflops"], args.experts))
        save()
        print_wan(results["wan"][-1:])
    print(f"\nwrote {out}")
    return 0
