"""Scanned objects + a text command -> dense object flow: the CHORD pipeline, end to end.

:func:`animate` loads the scene, builds the teacher, runs the distillation loop and writes the
run directory (`chord_core.formats.run_outputs`). `chord animate` and the ROS choreographer both
call it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chord_core.distill.presets import Preset
from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan, load_scan
from chord_core.scene.load import load_scene
from chord_core.scene.objects import Scene, scene_from_scans

TEACHERS = ("mini", "wan", "reference")
#: The preset a teacher runs with when none is named.
DEFAULT_PRESETS = {"mini": "mini", "wan": "cpu-test", "reference": "cpu-test"}


@dataclass
class AnimateResult:
    flow: Flow
    out_dir: Path
    summary: dict


def build_teacher(kind: str, scene: Scene | None, preset: Preset, *, model_dir: str | None = None,
                  reference_motion: str | None = None, device: str = "cpu"):
    """The teacher for a run: the mini prior (shipped weights, or a mini_prior.pt as model_dir),
    Wan 2.2 from a local directory, or the reference (known motion)."""
    if kind == "mini":
        from chord_core.prior.clips import ClipSettings
        from chord_core.prior.teacher import MiniTeacher
        from chord_core.prior.weights import load_prior

        teacher = MiniTeacher(load_prior(model_dir, device), device)
        teacher.check_settings(ClipSettings(preset.camera_arc(), preset.frames, preset.gaussians_per_object))
        return teacher
    if kind == "reference":
        if reference_motion is None:
            raise ChordError("--teacher reference needs --reference-motion motion.npz (the known target motion)")
        from chord_core.formats.reference_motion import ReferenceMotion
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
    return load_teacher(wan_kind, model_dir, device=device, dtype=preset.torch_dtype("transformer_dtype", device),
                        vae_dtype=preset.torch_dtype("vae_dtype", device), flow_shift=preset.flow_shift)


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


def _with_live_flow(progress, live_flow: Callable[[Flow], None], every: int, current: Callable[[], Flow]):
    """The progress callback, also handing the current flow to `live_flow` every `every` iterations."""
    import torch

    if every < 1:
        raise ChordError(f"live flow updates need a positive interval, got {every}")

    def report(p) -> None:
        if progress is not None:
            progress(p)
        if p.iteration % every == 0 or p.iteration == p.total:
            with torch.no_grad():
                live_flow(current())

    return report


def animate(prompt: str, out_dir: str | Path, preset: Preset, *, scene_paths: list[str] | None = None,
            scans: list[Scan] | None = None, teacher_kind: str = "wan", model_dir: str | None = None,
            reference_motion: str | None = None, seed: int = 0, resume: bool = False,
            continue_from: str | None = None, progress=None, cancel: threading.Event | None = None,
            write_views: bool = True, teacher=None, live_flow: Callable[[Flow], None] | None = None,
            live_every: int = 20) -> AnimateResult:
    """Run the whole pipeline and write the outputs; scans may be given in memory instead of paths.

    `teacher`: an already loaded Wan teacher to reuse (a long-lived node loads its weights once);
    None builds the one `teacher_kind` names. `live_flow` receives the flow as it stands before the
    first iteration and every `live_every` iterations (a viewer watching a run); it costs one export
    each time.
    """
    import torch

    from chord_core.distill.optimize import Distiller, export_flow, gradient_norm_records
    from chord_core.distill.views import render_views
    from chord_core.formats.run_outputs import plot_losses, write_summary
    from chord_core.formats.video import write_video

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
        teacher = build_teacher(teacher_kind, scene, preset, model_dir=model_dir,
                                reference_motion=reference_motion, device=preset.device)
    t_setup = time.perf_counter() - t_start
    if live_flow is not None:
        progress = _with_live_flow(progress, live_flow, live_every, lambda: export_flow(scene, distiller.motion,
                                                                                       prompt, preset.fps))
    distiller = Distiller(scene, teacher, preset, prompt, out_dir, seed=seed, progress=progress, cancel=cancel,
                          device=preset.device)
    if live_flow is not None:
        with torch.no_grad():
            live_flow(export_flow(scene, distiller.motion, prompt, preset.fps))
    result = distiller.run(resume=resume)
    t_loop = time.perf_counter() - t_start - t_setup
    flow = export_flow(scene, result.motion, prompt, preset.fps)
    flow.save(out_dir / "flow.npz")
    if write_views and not result.cancelled:  # a cancelled run frees its caller at once: no video
        frames = render_views(scene, result.motion)
        write_video(frames, out_dir / "views.mp4", fps=min(preset.fps, 16.0))
    if result.history:
        plot_losses(result.history, out_dir / "losses.png")
    summary = {
        "prompt": prompt,
        "teacher": teacher.name,
        "reference_teacher": bool(getattr(teacher, "is_reference", False)),
        "preset": preset.to_dict(),
        "seed": seed,
        "iterations": result.iterations,
        "cancelled": result.cancelled,
        "final_losses": result.history[-1] if result.history else {},
        "term_gradient_norms": gradient_norm_records(result.history),
        "timings_s": {"setup": t_setup, "loop": t_loop, **{f"loop.{k}": v for k, v in result.timings.items()},
                      "export": time.perf_counter() - t_start - t_setup - t_loop},
        "points": flow.num_points,
        "objects": flow.object_names,
    }
    write_summary(out_dir / "summary.json", summary)
    return AnimateResult(flow, out_dir, summary)
