"""`chord bench recovery`: how well the loop recovers a known motion (reference teacher).

For each built-in scenario (``chord_core.scene.scenarios``: a rigid block sliding and turning, a chest
whose hinged lid opens while its body stays, two blocks moving differently) the distillation
runs with the reference teacher (``chord_core.teachers.reference``), the dense flow of the scan
points is exported (§3.3) and compared with the ground truth: EPE = mean over points and frames
of the end-point error (m). The baseline, computed in the same process, is "no motion" (every
point stays where it is); the ratio EPE / EPE(no motion) is the figure of merit (0 = exact,
1 = no better than standing still). ``--ablations`` repeats the runs without the Fenwick tree
(one free SE(3) per frame), without the fine control layer, and with uniform τ sampling
(Eq. 2 instead of Eq. 4) and with plain Eq. 7 skinning (no chromaticity term, see
``chord_core.motion.model``) and reports each against the full method.
"""

from __future__ import annotations

import argparse
import resource
import time

HELP = "motion recovery with the reference teacher: EPE vs. no motion on built-in scenarios (+ ablations)"
SCENARIO_NAMES = ("rigid_box", "hinged_lid", "two_objects")
POINTS = 4000
QUICK_ITERATIONS = 60
ABLATIONS = {
    "full": {},
    "no Fenwick tree": {"use_fenwick": False},
    "no fine layer": {"use_fine": False},
    "uniform tau": {"tau_schedule": "uniform"},
    "Eq. 7 skinning": {"appearance_sigma": 0.0},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="cpu-test", help="distillation preset (default cpu-test)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_ITERATIONS} iterations per scenario instead of the preset's")
    parser.add_argument("--iterations", type=int, help="override the iteration count")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIO_NAMES, default=list(SCENARIO_NAMES))
    parser.add_argument("--ablations", action="store_true",
                        help="also run without Fenwick tree, without fine layer, with uniform tau, "
                             "with plain Eq. 7 skinning")
    parser.add_argument("--seed", type=int, default=0)


def recover(name: str, preset, seed: int = 0, progress=None) -> dict:
    """Run one scenario; returns EPE, the no-motion EPE, their ratio and the wall time."""
    import numpy as np

    from chord_core.distill.optimize import Distiller, export_flow
    from chord_core.formats.reference_motion import end_point_error
    from chord_core.scene.objects import scene_from_scans
    from chord_core.scene.scenarios import make_scenario
    from chord_core.teachers.reference import ReferenceTeacher

    start = time.perf_counter()
    scenario = make_scenario(name, frames=preset.frames, points=POINTS, seed=seed)
    scene = scene_from_scans(scenario.scans, preset.gaussians_per_object)
    teacher = ReferenceTeacher(scene, scenario.motion, preset.frames, device=preset.device)
    distiller = Distiller(scene, teacher, preset, scenario.prompt, seed=seed, progress=progress,
                          device=preset.device)
    result = distiller.run()
    flow = export_flow(scene, result.motion, scenario.prompt, preset.fps)
    points = np.concatenate([scan.points for scan in scenario.scans])
    truth = scenario.motion.resampled(preset.frames).apply(points)
    epe = end_point_error(flow.trajectories, truth)
    still = end_point_error(np.repeat(points[None], preset.frames, 0), truth)
    seconds = time.perf_counter() - start
    return {"epe": epe, "still": still, "ratio": epe / still, "seconds": seconds,
            "per_iteration": sum(result.timings.values()) / max(result.iterations, 1)}


def peak_mb() -> float:
    """Peak resident memory of this process so far (ru_maxrss, MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: argparse.Namespace) -> int:
    from chord_core.distill.presets import load_preset

    preset = load_preset(args.preset)
    iterations = args.iterations or (QUICK_ITERATIONS if args.quick else preset.iterations)
    preset = preset.replace(iterations=iterations, checkpoint_every=max(iterations, 1))
    start = time.perf_counter()
    print(f"motion recovery, reference teacher, preset {preset.name}: {preset.width}x{preset.height}, "
          f"{preset.frames} frames, {preset.batch_cameras} cameras, {iterations} iterations")
    print(f"{'scenario':<12} {'EPE mm':>8} {'no-motion mm':>13} {'ratio':>7} {'s':>6} {'s/it':>5}")
    results = {}
    for name in args.scenarios:
        r = results[name] = recover(name, preset, args.seed)
        print(f"{name:<12} {1000 * r['epe']:>8.2f} {1000 * r['still']:>13.2f} {r['ratio']:>7.3f} "
              f"{r['seconds']:>6.0f} {r['per_iteration']:>5.2f}", flush=True)
    total = time.perf_counter() - start
    print(f"total {total:.0f} s, peak memory {peak_mb():.0f} MB")
    if args.ablations:
        print()
        print("ablations (ratio = EPE / EPE(no motion); 'vs full' = ablation ratio / full ratio)")
        print(f"{'variant':<16} " + " ".join(f"{n:>12} {'vs full':>7}" for n in args.scenarios) + f" {'mean':>7}")
        for variant, changes in ABLATIONS.items():
            rows = results if variant == "full" else {
                n: recover(n, preset.replace(**changes), args.seed) for n in args.scenarios}
            cells = " ".join(f"{rows[n]['ratio']:>12.3f} {rows[n]['ratio'] / results[n]['ratio']:>7.2f}"
                             for n in args.scenarios)
            mean = sum(rows[n]["ratio"] for n in args.scenarios) / len(args.scenarios)
            print(f"{variant:<16} {cells} {mean:>7.3f}", flush=True)
        print(f"total with ablations {time.perf_counter() - start:.0f} s, peak memory {peak_mb():.0f} MB")
    mean_ratio = sum(r["ratio"] for r in results.values()) / len(results)
    print(f"recovery ratio (mean): {mean_ratio:.3f}")
    return 0
