"""`chord bench vae`: memory and time of the differentiable Wan VAE encode, by checkpointing mode.

W-RFSDS back-propagates through the VAE encoder, and its activations decide whether a preset fits
on a GPU (gpu-14b did not fit in 141 GB with one checkpoint per video). For one video, forward +
backward of the real Wan 2.1 encoder architecture (random weights, float32) in three ways, each
in a fresh worker process: no checkpoint, one checkpoint per video (re-run whole in backward),
one checkpoint per causal chunk (`teachers.wan_vae`). Peak memory is the CUDA allocator's peak,
or on CPU the worker's resident-set growth (ru_maxrss) over its state after building the VAE.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

HELP = "peak memory and seconds of the differentiable Wan VAE encode: no / per-video / per-chunk checkpoints"
MODES = ("none", "video", "chunk")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=17, help="video frames (4k + 1)")
    parser.add_argument("--width", type=int, default=104)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--worker", help=argparse.SUPPRESS)


def _worker(spec: dict) -> dict:
    import resource

    import torch
    from diffusers import AutoencoderKLWan
    from torch.utils.checkpoint import checkpoint

    from chord_core.teachers.wan_vae import encode_mode_chunked

    torch.manual_seed(0)
    device = torch.device(spec["device"])
    vae = AutoencoderKLWan().to(device).eval().requires_grad_(False)
    video = torch.rand(1, 3, spec["frames"], spec["height"], spec["width"], device=device, requires_grad=True)

    def whole(x):
        return vae.encode(x).latent_dist.mode()

    encode = {"none": whole, "video": lambda x: checkpoint(whole, x, use_reentrant=False),
              "chunk": lambda x: encode_mode_chunked(vae, x)}[spec["mode"]]
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    encode(video * 2 - 1).square().sum().backward()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak_mb = (torch.cuda.max_memory_allocated() / 2**20 if cuda
               else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024)
    return {"seconds": seconds, "peak_mb": peak_mb, "grad_sum": float(video.grad.abs().sum())}


def run(args: argparse.Namespace) -> int:
    from chord_core.errors import ChordError

    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if (args.frames - 1) % 4:
        raise ChordError(f"--frames must be 4k + 1 (the Wan VAE's temporal stride), got {args.frames}")
    print(f"Wan 2.1 VAE encoder (random weights, float32) on {args.device}: one {args.frames}-frame "
          f"{args.width}x{args.height} video, forward + backward")
    print(f"{'checkpoint':<10} {'peak MB':>9} {'vs none':>8} {'seconds':>8} {'vs none':>8}")
    rows = {}
    for mode in MODES:
        spec = {"mode": mode, "frames": args.frames, "width": args.width, "height": args.height, "device": args.device}
        proc = subprocess.run([sys.executable, "-m", "chord_core.cli", "bench", "vae", "--worker", json.dumps(spec)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            return proc.returncode
        rows[mode] = r = json.loads(proc.stdout.strip().splitlines()[-1])
        base = rows["none"]
        print(f"{mode:<10} {r['peak_mb']:>9.0f} {r['peak_mb'] / base['peak_mb']:>8.2f} {r['seconds']:>8.2f} "
              f"{r['seconds'] / base['seconds']:>8.2f}")
    same = max(abs(r["grad_sum"] / rows["none"]["grad_sum"] - 1) for r in rows.values())
    print(f"video gradients agree across modes to {same:.1e} (relative, sum of |grad|)")
    return 0
