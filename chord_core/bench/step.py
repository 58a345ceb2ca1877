"""`chord bench step`: where one distillation iteration spends its time, phase by phase.

Runs ``chord_core.distill.optimize.Distiller.step`` (render RGB + 3D flow, teacher conditioning, VAE
encode, W-RFSDS through the transformer, temporal + ARAP losses, the two-stage backward, Adam)
and reads its per-phase clock (``Distiller.timings``). The teacher is a tiny random-weight
Wan 2.2 on CPU (``chord_core.teachers.tiny``); the same iteration with the reference teacher
(pixel space, no network), timed in the same process, is the baseline its ratios refer to.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

HELP = "per-iteration time split (render, VAE encode fwd/bwd, transformer, losses) with a tiny Wan on CPU"
PHASES = {"render": "render (fwd)", "condition": "condition", "encode": "VAE encode fwd",
          "teacher": "transformer", "losses": "losses", "encode_backward": "VAE encode bwd",
          "backward": "render+LBS bwd", "step": "Adam + setup"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="cpu-test", help="preset giving the video shape (default cpu-test)")
    parser.add_argument("--kind", choices=("i2v-a14b", "ti2v-5b"), default="i2v-a14b", help="tiny Wan variant")
    parser.add_argument("--repeats", type=int, default=3, help="timed iterations (median) after one warm-up")


def _profile(distillers: dict, repeats: int) -> dict[str, dict[str, float]]:
    """Median seconds per phase of each distiller's iterations, run alternately (one warm-up each)
    so that load changes on a shared machine hit both alike."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in distillers}
    for _ in range(repeats + 1):
        for name, distiller in distillers.items():
            before = dict(distiller.timings)
            distiller.step()
            runs[name].append({k: v - before.get(k, 0.0) for k, v in distiller.timings.items()})
    out = {}
    for name, rows in runs.items():
        rows = rows[1:]
        out[name] = {phase: statistics.median(r.get(phase, 0.0) for r in rows) for phase in PHASES}
        out[name]["step"] += statistics.median(r.get("setup", 0.0) for r in rows)
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from chord_core.distill.optimize import Distiller
    from chord_core.distill.presets import load_preset
    from chord_core.scene.objects import scene_from_scans
    from chord_core.scene.scenarios import make_scenario
    from chord_core.teachers import load_teacher
    from chord_core.teachers.reference import ReferenceTeacher
    from chord_core.teachers.tiny import build_tiny_wan

    base = load_preset(args.preset)
    # Fresh cameras every iteration, so the reference teacher renders its target each time (no cache).
    preset = base.replace(device="cpu", iterations=100, checkpoint_every=1000, camera_pool=0)
    scenario = make_scenario("rigid_box", frames=preset.frames, points=4000)
    scene = scene_from_scans(scenario.scans, preset.gaussians_per_object)
    prompt = "slide the block to the left"
    with tempfile.TemporaryDirectory() as tmp:
        wan = load_teacher(args.kind, build_tiny_wan(tmp, args.kind), device="cpu")
        times = _profile({
            "reference": Distiller(scene, ReferenceTeacher(scene, scenario.motion, preset.frames),
                                   preset.replace(teacher="reference"), prompt, seed=0),
            "tiny": Distiller(scene, wan, preset.replace(teacher=f"wan-{args.kind}"), prompt, seed=0)}, args.repeats)
    reference, tiny = times["reference"], times["tiny"]
    print(f"one distillation iteration on CPU ({torch.get_num_threads()} threads), preset {base.name}: "
          f"{preset.width}x{preset.height}, {preset.frames} frames, {preset.batch_cameras} cameras, "
          f"{len(scene.gaussians)} Gaussians; median of {args.repeats}")
    print(f"{'phase':<16} {'tiny Wan ms':>12} {'reference ms':>13} {'ratio':>7}")
    for phase, label in PHASES.items():
        ratio = f"{tiny[phase] / reference[phase]:>7.2f}" if reference[phase] > 1e-4 else f"{'-':>7}"
        print(f"{label:<16} {1000 * tiny[phase]:>12.1f} {1000 * reference[phase]:>13.1f} {ratio}")
    t_sum, r_sum = sum(tiny.values()), sum(reference.values())
    print(f"{'total':<16} {1000 * t_sum:>12.1f} {1000 * r_sum:>13.1f} {t_sum / r_sum:>7.2f}")
    print(f"tiny Wan {args.kind}: random weights, timing only. Baseline: the reference teacher (pixel space, "
          "renders its target in 'condition'), same process. 'transformer' = the W-RFSDS velocity call.")
    return 0
