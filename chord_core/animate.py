"""`chord animate`: scanned objects + a text command -> dense object flow (the CHORD pipeline).

Library entry point :func:`animate` (used by the CLI and the ROS choreographer) and the CLI
wrapper. Outputs in --out: flow.npz, checkpoint.pt, views.mp4 (3 views), losses.png,
summary.json.
"""

from __future__ import annotations

import argparse
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.flow import Flow
from chord_core.presets import PRESET_NAMES, Preset, load_preset
from chord_core.scan_io import Scan, load_scan
from chord_core.scene import Scene, load_scene, scene_from_scans

HELP = "distil dense object flow for scanned objects and a text command"
TEACHERS = ("wan", "reference")


@dataclass
class AnimateResult:
    flow: Flow
    out_dir: Path
    summary: dict


def build_teacher(kind: str, scene: Scene, preset: Preset, model_dir: str | None,
                  reference_motion: str | None, device: str):
    """The teacher for a run: Wan 2.2 from a local directory, or the reference (known motion)."""
    if kind == "reference":
        if reference_motion is None:
            raise ChordError("--teacher reference needs --reference-motion motion.npz (the known target motion)")
        from chord_core.reference_motion import ReferenceMotion
        from chord_core.teachers.reference import ReferenceTeacher

        total = sum(len(o.source_points) for o in scene.objects)
        motion = ReferenceMotion.load(reference_motion, num_points=total)
        return ReferenceTeacher(scene, motion, preset.frames, device=device)
    if kind != "wan":
        raise ChordError(f"unknown teacher '{kind}'; use one of {TEACHERS}")
    if model_dir is None:
        raise ChordError("--teacher wan needs --model-dir DIR, a local diffusers Wan 2.2 directory "
                         "(see docs/teachers.md; nothing is downloaded)")
    from chord_core.teachers import load_teacher

    wan_kind = preset.teacher if preset.teacher.startswith("wan") else None
    return load_teacher(wan_kind, model_dir, device=device)


def chained_scans(paths: list[str], previous: Flow) -> list[Scan]:
    """Scans whose points start where a previous flow ended (long-horizon chaining, §4.2)."""
    scans = [load_scan(p) for p in paths]
    counts = [len(s.points) for s in scans]
    if sum(counts) != previous.num_points:
        raise ChordError(f"--continue-from flow has {previous.num_points} points but the scans hold "
                         f"{sum(counts)}; chain runs over the same scan files")
    last = previous.trajectories[-1]
    out, start = [], 0
    for scan, count in zip(scans, counts):
        out.append(Scan(scan.name, last[start:start + count].copy(), scan.colors))
        start += count
    return out


def animate(scene_paths: list[str] | None, prompt: str, out_dir: str | Path, preset: Preset,
            teacher_kind: str = "wan", model_dir: str | None = None, reference_motion: str | None = None,
            seed: int = 0, resume: bool = False, continue_from: str | None = None,
            scans: list[Scan] | None = None, progress=None, cancel: threading.Event | None = None,
            write_views: bool = True, teacher=None) -> AnimateResult:
    """Run the whole pipeline and write the outputs; scans may be given in memory instead of paths.

    `teacher`: an already loaded Wan teacher to reuse (a long-lived node loads its weights once);
    None builds the one `teacher_kind` names.
    """
    import torch

    from chord_core import outputs
    from chord_core.optimize import Distiller, export_flow

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if scans is not None:
        scene = scene_from_scans(scans, preset.gaussians_per_object)
    elif continue_from is not None:
        scene = scene_from_scans(chained_scans(scene_paths or [], Flow.load(continue_from)),
                                 preset.gaussians_per_object)
    else:
        scene = load_scene(scene_paths or [], preset.gaussians_per_object)
    if preset.device == "cuda" and not torch.cuda.is_available():
        raise ChordError("the preset asks for --device cuda but no CUDA GPU is visible; use --device cpu")
    if teacher is None:
        teacher = build_teacher(teacher_kind, scene, preset, model_dir, reference_motion, preset.device)
    t_setup = time.perf_counter() - t_start
    distiller = Distiller(scene, teacher, preset, prompt, out_dir, seed=seed, progress=progress, cancel=cancel,
                          device=preset.device)
    result = distiller.run(resume=resume)
    t_loop = time.perf_counter() - t_start - t_setup
    flow = export_flow(scene, result.motion, prompt, preset.fps)
    flow.save(out_dir / "flow.npz")
    if write_views:
        frames = outputs.render_views(scene, result.motion)
        outputs.write_video(frames, out_dir / "views.mp4", fps=min(preset.fps, 16.0))
    if result.history:
        outputs.plot_losses(result.history, out_dir / "losses.png")
    summary = {
        "prompt": prompt,
        "teacher": teacher.name,
        "reference_teacher": bool(getattr(teacher, "is_reference", False)),
        "preset": preset.to_dict(),
        "seed": seed,
        "iterations": result.iterations,
        "cancelled": result.cancelled,
        "final_losses": result.history[-1] if result.history else {},
        "timings_s": {"setup": t_setup, "loop": t_loop, **{f"loop.{k}": v for k, v in result.timings.items()},
                      "export": time.perf_counter() - t_start - t_setup - t_loop},
        "points": flow.num_points,
        "objects": flow.object_names,
    }
    outputs.write_summary(out_dir / "summary.json", summary)
    return AnimateResult(flow, out_dir, summary)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", nargs="+", help="scan (.ply/.pcd/.npz) or mesh (.obj/.glb/.ply) files, one per object")
    parser.add_argument("--prompt", required=True, help="how the objects should move, e.g. 'lower the lamp head'")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--preset", default="cpu-test", help=f"one of {PRESET_NAMES} or a preset .yaml")
    parser.add_argument("--teacher", choices=TEACHERS, default="wan",
                        help="wan: Wan 2.2 from --model-dir; reference: known target motion (a test instrument)")
    parser.add_argument("--model-dir", help="local diffusers directory with Wan 2.2 weights")
    parser.add_argument("--reference-motion", help="motion.npz for --teacher reference (labels follow the "
                                                   "concatenated points of the SCENE files in order)")
    parser.add_argument("--frames", type=int, help="override the preset's frame count")
    parser.add_argument("--iterations", type=int, help="override the preset's iteration count")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="override the preset's device")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--continue-from", help="a previous flow.npz: start where it ended (long-horizon chaining)")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    preset = load_preset(args.preset).replace(frames=args.frames, iterations=args.iterations, device=args.device)
    if args.teacher == "reference":
        print("note: the reference teacher follows a known target motion (--reference-motion); "
              "the prompt does not drive it.")
    bar = tqdm(total=preset.iterations, unit="it", desc="distilling")
    cancel = threading.Event()
    # Ctrl-C finishes the current iteration and keeps a checkpoint instead of losing the run
    previous_handler = signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def report(p) -> None:
        bar.n = p.iteration
        bar.set_postfix(phase=p.phase, tau=f"{p.tau:.3f}", sds=f"{p.losses['sds']:.3g}", refresh=False)
        bar.refresh()

    try:
        result = animate(args.scene, args.prompt, args.out, preset, args.teacher, args.model_dir,
                         args.reference_motion, args.seed, args.resume, args.continue_from,
                         progress=report, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        bar.close()
    if result.summary["cancelled"]:
        print(f"cancelled after {result.summary['iterations']} iterations; continue with --resume "
              f"(checkpoint {result.out_dir / 'checkpoint.pt'})")
    flow = result.flow
    moved = np.linalg.norm(flow.trajectories[-1] - flow.trajectories[0], axis=1)
    print(f"flow: {result.out_dir / 'flow.npz'} ({flow.num_frames} frames, {flow.num_points} points, "
          f"max displacement {moved.max():.3f} m)")
    print(f"views: {result.out_dir / 'views.mp4'}  losses: {result.out_dir / 'losses.png'}  "
          f"summary: {result.out_dir / 'summary.json'}")
    return 0
