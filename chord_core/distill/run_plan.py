"""`chord animate --dry-run`: what a run would use, resolved without loading Wan or distilling.

A GPU user checks the settings before spending hours (and before the 28 GB experts load): preset,
teacher, video shape, cameras, the τ schedule with its shift and what it implies (A14B's expert
switch, the fine layer's start), negative prompt, dtypes, loss weights, and whether the cameras
see every object point.
"""

from __future__ import annotations

import numpy as np

from chord_core.distill.presets import Preset
from chord_core.distill.sds import TauSchedule
from chord_core.render.cameras import inside_every_view
from chord_core.scene.objects import Scene
from chord_core.teachers.base import DEFAULT_FLOW_SHIFT

FRAMING_VIEWS = 128
A14B_BOUNDARY_RATIO = 0.9  # Wan2.2-I2V-A14B model_index.json: the high-noise expert serves tau >= 0.9


def framing_fraction(scene: Scene, preset: Preset, trajectories: np.ndarray | None = None, seed: int = 0) -> float:
    """Fraction of object points inside every one of FRAMING_VIEWS cameras drawn from the preset's
    arc; with ``trajectories`` [T, N, 3] (a known motion) a point must stay inside in every frame."""
    centre, radius = scene.bounding_sphere()
    cameras = preset.camera_arc().sample(centre, radius, FRAMING_VIEWS, seed)
    frames = [scene.source_points()] if trajectories is None else list(trajectories)
    return float(np.all([inside_every_view(frame, cameras) for frame in frames], axis=0).mean())


def teacher_shift(teacher_kind: str, preset: Preset, model_dir: str | None) -> tuple[float, str]:
    """The flow shift the run's τ schedule uses, and where it comes from."""
    if teacher_kind == "wan":
        return preset.flow_shift, "preset flow_shift (a checkpoint that says otherwise is warned about at load)"
    if teacher_kind == "mini":
        from chord_core.prior.weights import load_prior

        prior = load_prior(model_dir)
        return prior.flow_shift, f"the mini prior's training ({prior.path})"
    return DEFAULT_FLOW_SHIFT, "the reference teacher's default"


def first_iteration_below(schedule: TauSchedule, tau: float) -> int | None:
    """First 0-based iteration whose annealed τ is below ``tau`` (None: never)."""
    return next((i for i in range(schedule.total_iterations) if schedule.annealed_tau(i) < tau), None)


def describe_run(prompt: str, preset: Preset, teacher_kind: str, scene: Scene, model_dir: str | None = None,
                 seed: int = 0) -> list[str]:
    """The configuration lines `chord animate --dry-run` prints."""
    p = preset
    shift, shift_source = teacher_shift(teacher_kind, p, model_dir)
    schedule = TauSchedule(p.iterations, p.tau_schedule, shift)
    centre, radius = scene.bounding_sphere()
    arc = p.camera_arc()
    teacher = f"{teacher_kind} ({p.teacher}, {model_dir})" if teacher_kind == "wan" else teacher_kind
    lines = [f"prompt: {prompt!r}",
             f"preset: {p.name}, device {p.device}, {p.iterations} iterations, seed {seed}",
             f"teacher: {teacher}",
             f"video: {p.width}x{p.height}, {p.frames} frames at {p.fps:g} fps, "
             f"{p.batch_cameras} cameras per iteration",
             f"cameras: azimuth {arc.azimuth_deg[0]:g}..{arc.azimuth_deg[1]:g} deg, elevation "
             f"{arc.elevation_deg[0]:g}..{arc.elevation_deg[1]:g} deg, horizontal field of view {arc.fov_deg:g} deg, "
             f"{arc.distance(radius):.3f} m from the scene centre (framing radius {arc.frame_radius(radius):.3f} m)"]
    if p.tau_schedule == "annealed":
        tau_line = (f"tau schedule: annealed (Eq. 4), shift {shift:g} from {shift_source}; tau "
                    f"{schedule.annealed_tau(0):.3f} -> {schedule.annealed_tau(p.iterations - 1):.3f}")
        if teacher_kind == "wan" and p.teacher == "wan-i2v-a14b":
            switch = first_iteration_below(schedule, A14B_BOUNDARY_RATIO)
            tau_line += f"; high-noise expert until iteration {switch} of {p.iterations}"
        fine = first_iteration_below(schedule, p.fine_tau) if p.use_fine else None
        tau_line += f"; fine layer from iteration {fine}" if fine is not None else "; fine layer off"
    else:
        tau_line = f"tau schedule: {p.tau_schedule} (random per iteration), shift {shift:g} from {shift_source}"
    lines.append(tau_line)
    lines.append(f"guidance: CFG {p.cfg[0]:g} -> {p.cfg[1]:g}; negative prompt: "
                 + (repr(p.negative_prompt) if p.negative_prompt else
                    "Wan 2.2's default" if teacher_kind == "wan" else "none (the unconditional branch)"))
    if teacher_kind == "wan":
        lines.append(f"dtypes: transformer {p.torch_dtype('transformer_dtype', p.device)}, "
                     f"VAE {p.torch_dtype('vae_dtype', p.device)}")
    lines.append(f"losses (each a mean): W-RFSDS {p.sds_weight:g}, temporal (Eq. 12, flow per clip) "
                 f"{p.temporal_weight[0]:g} -> {p.temporal_weight[1]:g}, ARAP (Eq. 13) {p.arap_weight[0]:g} -> "
                 f"{p.arap_weight[1]:g} on {p.arap_samples} samples per object"
                 + (f", support {p.support_weight:g} (ours)" if p.support_weight else "")
                 + (f", TV-3D {p.tv3d_weight:g}" if p.tv3d_weight else ""))
    lines.append(f"framing: {100 * framing_fraction(scene, p, seed=seed):.1f}% of object points inside every "
                 f"sampled view ({FRAMING_VIEWS} views)")
    return lines
