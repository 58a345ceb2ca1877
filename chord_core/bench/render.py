"""`chord bench render`: CPU rasterizer speed and memory vs. the dense float64 reference.

For each (Gaussians, resolution) a fresh worker process renders a batch of cameras with RGB +
3D-flow features, runs backward, and reports ms per frame and its peak resident memory above
the post-setup baseline (ru_maxrss, so each configuration needs its own process). The dense
reference runs in the same worker afterwards, in row bands with a backward per band so its
memory stays bounded. Also reports Fenwick query (Eq. 10–11) and LBS (Eq. 5–7) throughput.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

HELP = "time the CPU Gaussian renderer (fwd+bwd), its memory, and Fenwick/LBS throughput"
GAUSSIANS = (5000, 20000)
RESOLUTIONS = ((64, 64), (128, 72), (208, 116))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cameras", type=int, default=4, help="cameras (frames) per render call")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions (median reported)")
    parser.add_argument("--dense-limit", type=float, default=2.5e8,
                        help="skip the dense reference above this many pixel×Gaussian products per frame")
    parser.add_argument("--worker", help=argparse.SUPPRESS)


def _scene(n: int, seed: int = 0):
    """Gaussians on two touching spheres (surface-like coverage, as scan/mesh objects are)."""
    import math

    import torch

    gen = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=1)
    radius = torch.where(torch.arange(n) % 2 == 0, 0.6, 0.4)[:, None]
    centre = torch.where(torch.arange(n)[:, None] % 2 == 0, torch.tensor([-0.3, 0, 0]), torch.tensor([0.55, 0, 0]))
    means = centre + radius * dirs
    spacing = math.sqrt(4 * math.pi * 0.52 / n)
    scales = spacing * torch.exp(0.3 * torch.randn(n, 3, generator=gen))
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=gen), dim=1)
    opacities = 0.5 + 0.5 * torch.rand(n, generator=gen)
    colors = torch.rand(n, 3, generator=gen)
    flow = 0.01 * torch.randn(n, 3, generator=gen)
    return means, quats, scales, opacities, colors, flow


def _worker(spec: dict) -> dict:
    import resource
    import statistics
    import time

    import torch

    from chord_core.render.cameras import orbit_cameras
    from chord_core.render.cpu import rasterize_cpu
    from chord_core.render.dense_reference import render_dense

    torch.manual_seed(0)
    n, (width, height), ncam = spec["n"], spec["res"], spec["cameras"]
    means, quats, scales, opacities, colors, flow = _scene(n)
    cams = orbit_cameras((0.125, 0, 0), 0.9, ncam, width, height, elevation_deg=(0, 30), seed=1)
    leaves = [t.clone().requires_grad_(True) for t in (means, quats, scales, opacities, torch.cat((colors, flow), 1))]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(spec["repeats"] + 1):
        start = time.perf_counter()
        chans, alpha, depth = rasterize_cpu(*leaves, cams.viewmats, cams.Ks, width, height)
        (chans.square().sum() + alpha.sum() + depth.sum()).backward()
        times.append(time.perf_counter() - start)
    peak_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    result = {"cpu_ms": 1000 * statistics.median(times[1:]) / ncam, "peak_mb": peak_mb,
              "coverage": float(alpha.mean())}
    if width * height * n <= spec["dense_limit"]:
        dense_leaves = [t.detach().clone().requires_grad_(True) for t in leaves]
        band = max(1, int(2e7 // (width * n)))  # ~2e7 pixel×Gaussian entries per band
        start = time.perf_counter()
        for r0 in range(0, height, band):
            c, a, d = render_dense(*dense_leaves, cams.viewmats[:1], cams.Ks[:1], width, height,
                                   rows=(r0, min(height, r0 + band)))
            (c.square().sum() + a.sum() + d.sum()).backward()
        result["dense_ms"] = 1000 * (time.perf_counter() - start)
    return result


def _throughput() -> list[str]:
    import time

    import numpy as np
    import torch

    from chord_core.motion.model import MotionConfig, ObjectMotion

    rng = np.random.default_rng(0)
    motion = ObjectMotion(rng.uniform(-1, 1, (4000, 3)), MotionConfig(num_frames=41, num_coarse=32, num_fine=256), 0.1)
    motion.enable_fine()
    seq = motion.fine.deformation
    frames = torch.arange(41)
    start, reps = time.perf_counter(), 50
    for _ in range(reps):
        seq.translations(frames), seq.rotations(frames)
    fen = reps * 41 * 256 / (time.perf_counter() - start)
    points = torch.as_tensor(rng.uniform(-1, 1, (20000, 3)), dtype=torch.float32)
    quats = torch.nn.functional.normalize(torch.randn(20000, 4), dim=1)
    start = time.perf_counter()
    pos, rot = motion.deform(points, torch.arange(0, 41, 5), quats)
    (pos.sum() + rot.sum()).backward()
    lbs = 9 * 20000 / (time.perf_counter() - start)
    return [f"Fenwick query (Eq. 10-11, T=41, 256 control points): {fen / 1e6:.2f} M control-point-frames/s",
            f"LBS deform, coarse 32 + fine 256, 20k points x 9 frames, fwd+bwd: {lbs / 1e6:.2f} M point-frames/s"]


def run(args: argparse.Namespace) -> int:
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    print(f"CPU renderer, forward+backward, RGB + 3-channel flow features, {args.cameras} cameras per call")
    print(f"{'gaussians':>9} {'resolution':>10} {'cpu ms/frame':>13} {'peak MB':>8} "
          f"{'dense ms/frame':>15} {'speed-up':>9}")
    for n in GAUSSIANS:
        for res in RESOLUTIONS:
            spec = {"n": n, "res": res, "cameras": args.cameras, "repeats": args.repeats,
                    "dense_limit": args.dense_limit}
            proc = subprocess.run([sys.executable, "-m", "chord_core.cli", "bench", "render", "--worker",
                                   json.dumps(spec)], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            dense = f"{r['dense_ms']:.0f}" if "dense_ms" in r else "skipped"
            ratio = f"{r['dense_ms'] / r['cpu_ms']:.0f}x" if "dense_ms" in r else "-"
            print(f"{n:>9} {res[0]:>4}x{res[1]:<5} {r['cpu_ms']:>13.1f} {r['peak_mb']:>8.0f} {dense:>15} {ratio:>9}")
    print("peak MB: resident-set growth of a fresh worker during the timed CPU renders (ru_maxrss).")
    print("dense: float64 brute force (chord_core.render.dense_reference), one camera, row bands.")
    for line in _throughput():
        print(line)
    return 0
