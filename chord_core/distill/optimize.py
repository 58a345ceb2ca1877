"""The CHORD distillation loop (paper §3, appendix A.1).

Each iteration: pick τ (Eq. 4 schedule), sample orbit cameras, deform the Gaussians for every
frame (Eq. 5–11), render RGB video and 3D flow maps, take the teacher's W-RFSDS gradient through
its encoder into the renders (Eq. 3), add the temporal (Eq. 12) and ARAP (Eq. 13) regularisers
with their decaying weights, and step Adam with log-linear learning rates. The fine control
layer joins once τ falls below ``preset.fine_tau``; at ``preset.split_iteration`` deformations
after ``split_fraction``·T are reset to that frame's (A.1). Checkpoints hold everything needed
to resume bit-for-bit (parameters, Adam state, RNG states, fine-layer switch, history).

Units: the paper's assets are normalised Blender scenes, ours are scans in metres. Lengths the
schedules act on are therefore measured in scene units of the bounding radius r: translation
learning rates are multiplied by r (Adam steps are ≈ lr in parameter units) and the temporal
(Eq. 12) and ARAP (Eq. 13) losses see positions divided by r, so A.1's learning rates and loss
weights mean the same for a 10 cm block as for a unit-size asset.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chord_core.distill import regularize
from chord_core.distill.presets import Preset
from chord_core.distill.sds import TauSchedule, cfg_scale, sds_step
from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.motion.model import MotionConfig, SceneMotion
from chord_core.render.cameras import Cameras
from chord_core.render.renderer import flow_features, render
from chord_core.scene.objects import Scene

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class Progress:
    """What the progress callback receives once per iteration."""

    iteration: int          # 1-based, iterations finished
    total: int
    phase: str              # "coarse" | "fine"
    tau: float
    losses: dict[str, float]
    elapsed: float          # seconds since this run (or resume) started
    eta: float              # seconds left, from the mean iteration time so far


@dataclass
class LossTerms:
    """One iteration's forward: the rendered video (W-RFSDS flows back through it) and each term."""

    video: torch.Tensor         # [B, 3, F, H, W]
    sds: torch.Tensor           # W-RFSDS surrogate (Eq. 3): sds_weight × its mean over latent elements
    temporal: torch.Tensor      # weighted Eq. 12
    arap: torch.Tensor          # weighted Eq. 13
    support: torch.Tensor       # weighted support term (0 when the preset turns it off)
    regularizers: torch.Tensor  # temporal + arap + support (+ optional TV-3D)
    tau: float
    guidance: float


@dataclass
class DistillResult:
    motion: SceneMotion
    iterations: int                     # iterations completed in total
    cancelled: bool
    history: list[dict[str, float]]     # per-iteration losses, tau, cfg
    timings: dict[str, float]           # seconds per phase of the iteration, summed
    checkpoint: Path | None


def log_linear(start: float, end: float, fraction: float) -> float:
    """3D-GS learning-rate decay: exp(lerp(log start, log end))."""
    fraction = min(max(fraction, 0.0), 1.0)
    return math.exp((1 - fraction) * math.log(start) + fraction * math.log(end))


def linear(start: float, end: float, fraction: float) -> float:
    fraction = min(max(fraction, 0.0), 1.0)
    return (1 - fraction) * start + fraction * end


class Distiller:
    """Optimises a SceneMotion against a teacher; see the module docstring for one iteration."""

    def __init__(self, scene: Scene, teacher, preset: Preset, prompt: str, out_dir: str | Path | None = None,
                 seed: int = 0, progress: Callable[[Progress], None] | None = None,
                 cancel: threading.Event | None = None, device: str = "cpu") -> None:
        if not prompt.strip() and not getattr(teacher, "is_reference", False):
            raise ChordError("the prompt is empty; say how the objects should move")
        self.scene, self.teacher, self.preset = scene, teacher, preset.validate()
        self.prompt, self.seed, self.device = prompt, seed, torch.device(device)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress, self.cancel = progress, cancel or threading.Event()
        teacher.geometry.check_size(preset.frames, preset.height, preset.width, "the preset's video")
        torch.manual_seed(seed)
        config = MotionConfig(num_frames=preset.frames, num_coarse=preset.num_coarse, num_fine=preset.num_fine,
                              neighbours=preset.neighbours, use_fenwick=preset.use_fenwick,
                              use_fine=preset.use_fine, learned_skinning=preset.learned_skinning,
                              appearance_sigma=preset.appearance_sigma,
                              scale_factor=preset.control_scale, seed=seed)
        self.motion = SceneMotion.from_scene(scene, config).to(self.device)
        self.gaussians = scene.gaussians.to(self.device)
        self.arap_samples = [torch.as_tensor(obj.near_surface_samples(preset.arap_samples)[0],
                                             dtype=torch.float32, device=self.device) for obj in scene.objects]
        self.arap_neighbours = [regularize.arap_neighbours(s).to(self.device) for s in self.arap_samples]
        self.schedule = TauSchedule(preset.iterations, preset.tau_schedule, teacher.flow_shift)
        self.generator = torch.Generator().manual_seed(seed)
        self.center, self.radius = scene.bounding_sphere()
        self.unit = float(self.radius)  # scene unit (module docstring)
        self.floor = float(self.gaussians.means[:, 2].min())  # what the scene stands on (support term)
        self.camera_pool = self._camera_pool()
        groups = self.motion.param_groups()
        self.lr_ranges = {"deformations": [lr * self.unit for lr in preset.lr_deformation],
                          "rotations": preset.lr_rotation, "scales": preset.lr_scale, "skinning": preset.lr_skinning}
        self.optimizer = torch.optim.Adam(
            [{"params": groups[name], "name": name, "lr": self.lr_ranges[name][0]} for name in self.lr_ranges
             if groups[name]], eps=1e-15)
        self.iteration = 0
        self.history: list[dict[str, float]] = []
        self.timings: dict[str, float] = {}
        teacher.set_prompt(prompt, preset.negative_prompt or None)

    # ----------------------------------------------------------------- schedules
    def fraction(self, iteration: int) -> float:
        return iteration / max(self.preset.iterations - 1, 1)

    def set_learning_rates(self, iteration: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = log_linear(*self.lr_ranges[group["name"]], self.fraction(iteration))

    def azimuth_range(self, iteration: int) -> tuple[float, float]:
        """Full range, or (3to4D) a window around the front widening linearly over the first half."""
        lo, hi = self.preset.azimuth_deg
        if not self.preset.widen_azimuth:
            return lo, hi
        grow = min(1.0, 0.2 + 1.6 * self.fraction(iteration))
        mid = 0.5 * (lo + hi)
        return mid - grow * (mid - lo), mid + grow * (hi - mid)

    def _orbit(self, count: int, azimuth: tuple[float, float], seed: int) -> Cameras:
        return self.preset.camera_arc().sample(self.center, self.radius, count, seed, azimuth)

    def _camera_pool(self) -> tuple[Cameras, np.ndarray] | None:
        """``preset.camera_pool`` fixed orbit cameras and their azimuths (degrees), or None."""
        if self.preset.camera_pool <= 0:
            return None
        pool = self._orbit(self.preset.camera_pool, tuple(self.preset.azimuth_deg), 10**9 + self.seed)
        eyes = -torch.einsum("cji,cj->ci", pool.viewmats[:, :3, :3], pool.viewmats[:, :3, 3]).numpy()
        offset = eyes - np.asarray(self.center)[None]
        low = self.preset.azimuth_deg[0]  # azimuths in [low, low + 360): an arc may cross 180 deg
        return pool, low + np.mod(np.degrees(np.arctan2(offset[:, 1], offset[:, 0])) - low, 360.0)

    def cameras(self, iteration: int) -> Cameras:
        """The iteration's orbit cameras: fresh random ones, or a random subset of the fixed pool
        (whose azimuth lies in the current, possibly widening, range) when ``camera_pool`` > 0."""
        p, azimuth, seed = self.preset, self.azimuth_range(iteration), self.seed * 100_003 + iteration
        if self.camera_pool is None:
            return self._orbit(p.batch_cameras, azimuth, seed).to(self.device)
        pool, azimuths = self.camera_pool
        allowed = np.flatnonzero((azimuths >= azimuth[0]) & (azimuths <= azimuth[1]))
        if len(allowed) == 0:
            allowed = np.array([int(np.argmin(np.abs(azimuths - 0.5 * sum(azimuth))))])
        rng = np.random.default_rng(seed)
        chosen = rng.choice(allowed, size=p.batch_cameras, replace=len(allowed) < p.batch_cameras)
        return pool[torch.as_tensor(chosen)].to(self.device)

    # ----------------------------------------------------------------- one step
    def _timed(self, name: str, start: float) -> float:
        now = time.perf_counter()
        self.timings[name] = self.timings.get(name, 0.0) + now - start
        return now

    def render_video(self, cameras: Cameras) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """RGB video [B, 3, F, H, W], flow maps [B, F−1, H, W, 3] (μᵗ − μᵗ⁺¹ rendered, §3.4) and the
        Gaussian centres per frame [F, N, 3]."""
        p, frames = self.preset, self.preset.frames
        means, quats = self.motion.deform_gaussians(self.gaussians, torch.arange(frames))
        feats = torch.cat([flow_features(means[:-1], means[1:]), torch.zeros_like(means[:1])], 0)
        batch = len(cameras)
        cams = Cameras(cameras.viewmats.repeat_interleave(frames, 0), cameras.Ks.repeat_interleave(frames, 0),
                       cameras.width, cameras.height)
        g = self.gaussians.replace(means=means.repeat(batch, 1, 1), quats=quats.repeat(batch, 1, 1))
        out = render(g, cams, features=feats.repeat(batch, 1, 1))
        video = out.rgb.reshape(batch, frames, p.height, p.width, 3).permute(0, 4, 1, 2, 3)
        flow_maps = out.features.reshape(batch, frames, p.height, p.width, 3)[:, :-1]
        return video, flow_maps, means

    def arap(self) -> torch.Tensor:
        """Eq. 13 summed over objects and frames on the near-surface samples (scene units)."""
        total = torch.zeros((), device=self.device)
        frames = torch.arange(self.preset.frames)
        for index, (samples, neighbours) in enumerate(zip(self.arap_samples, self.arap_neighbours)):
            deformed, _ = self.motion.deform(samples, index, frames)
            total = total + regularize.arap_loss(samples / self.unit, deformed / self.unit, neighbours)
        return total

    def _forward(self, i: int, generator: torch.Generator) -> LossTerms:
        """Render, query the teacher and build every loss term of iteration ``i`` (no backward)."""
        p = self.preset
        t0 = time.perf_counter()
        tau = self.schedule.sample(i, generator)
        fine = self.motion.objects[0].fine_enabled
        if p.use_fine and not fine and tau.tau < p.fine_tau:
            self.motion.enable_fine()
        if i == p.split_iteration and p.split_iteration < p.iterations:
            self.motion.reset_after(int(p.split_fraction * (p.frames - 1)))
        cams = self.cameras(i)
        t0 = self._timed("setup", t0)
        video, flow_maps, means = self.render_video(cams)
        t0 = self._timed("render", t0)
        cond = self.teacher.condition(video[:, :, 0].detach(), p.frames, cameras=cams)
        t0 = self._timed("condition", t0)
        z = self.teacher.encode(video)
        t0 = self._timed("encode", t0)
        guidance = cfg_scale(i, p.iterations, *p.cfg)
        sds = sds_step(self.teacher, z, tau, cond, guidance, generator, reduction="mean")
        t0 = self._timed("teacher", t0)
        frac = self.fraction(i)
        w_temp, w_arap = linear(*p.temporal_weight, frac), linear(*p.arap_weight, frac)
        # every term a mean, the flow per clip (regularize's module docstring): a balance free of
        # resolution, frame count and batch
        temporal = w_temp * regularize.temporal_loss(flow_maps * (p.frames - 1) / self.unit)
        arap = w_arap * self.arap()
        support = p.support_weight * regularize.support_loss(means / self.unit, self.floor / self.unit)
        regularizers = temporal + arap + support
        if p.tv3d_weight > 0:
            regularizers = regularizers + p.tv3d_weight * self.tv3d()
        self._timed("losses", t0)
        return LossTerms(video, p.sds_weight * sds.loss, temporal, arap, support, regularizers, tau.tau, guidance)

    def step(self) -> dict[str, float]:
        i = self.iteration
        self.set_learning_rates(i)
        terms = self._forward(i, self.generator)
        total = terms.sds + terms.regularizers
        if not torch.isfinite(total):
            raise ChordError(
                f"iteration {i + 1}: the loss became {total.item()} (sds {terms.sds.item():.4g}, weighted "
                f"temporal {terms.temporal.item():.4g}, weighted arap {terms.arap.item():.4g}); lower the "
                "learning rates or loss weights and resume from the last checkpoint")
        t0 = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        # Backward in two stages (same gradients): W-RFSDS through the encoder to the video, then
        # video gradient + regularizers through renderer, LBS and Fenwick tree to the parameters.
        (video_grad,) = torch.autograd.grad(terms.sds, terms.video)
        t0 = self._timed("encode_backward", t0)
        norms = self._gradient_norms(terms, video_grad) if self.logs_gradient_norms(i) else {}
        t0 = self._timed("gradient_norms", t0)
        torch.autograd.backward([terms.video, terms.regularizers], [video_grad, torch.ones_like(terms.regularizers)])
        t0 = self._timed("backward", t0)
        self.optimizer.step()
        self._timed("step", t0)
        self.iteration += 1
        record = {"sds": terms.sds.item(), "temporal": terms.temporal.item(), "arap": terms.arap.item(),
                  "total": total.item(), "tau": terms.tau, "cfg": terms.guidance}
        if self.preset.support_weight:
            record["support"] = terms.support.item()
        record.update({f"grad_{name}": value for name, value in norms.items()})
        self.history.append(record)
        return record

    def logs_gradient_norms(self, iteration: int) -> bool:
        """Whether step ``iteration`` (0-based) records each term's gradient norm: at every
        checkpoint and the last iteration (one extra backward per term, so not every step)."""
        done = iteration + 1
        return done % self.preset.checkpoint_every == 0 or done == self.preset.iterations

    def term_gradient_norms(self, seed: int = 0) -> dict[str, float]:
        """L2 norm of each loss term's gradient on all motion parameters at the current iteration
        (W-RFSDS, weighted temporal, ARAP and support terms): whether the regularisers still count beside
        the teacher at this resolution. Uses its own noise generator and takes no step."""
        terms = self._forward(self.iteration, torch.Generator().manual_seed(seed))
        (video_grad,) = torch.autograd.grad(terms.sds, terms.video)
        return self._gradient_norms(terms, video_grad)

    def _gradient_norms(self, terms: LossTerms, video_grad: torch.Tensor) -> dict[str, float]:
        """Each term's gradient norm on the motion parameters; keeps the graph for the step's backward."""
        params = [q for group in self.motion.param_groups().values() for q in group]
        sources = {"sds": (terms.video, video_grad), "temporal": (terms.temporal, None), "arap": (terms.arap, None)}
        if self.preset.support_weight:
            sources["support"] = (terms.support, None)
        norms = {}
        for name, (output, grad_output) in sources.items():
            grads = torch.autograd.grad(output, params, grad_output, retain_graph=True, allow_unused=True)
            norms[name] = math.sqrt(sum(float(g.double().square().sum()) for g in grads if g is not None))
        return norms

    def tv3d(self) -> torch.Tensor:
        """Animus3D's TV-3D on the Gaussian trajectories (option)."""
        means, _ = self.motion.deform_gaussians(self.gaussians, torch.arange(self.preset.frames))
        return regularize.tv3d_loss(means)

    # ----------------------------------------------------------------- run
    def run(self, resume: bool = False) -> DistillResult:
        """Iterate to preset.iterations (or until cancelled); checkpoints go to out_dir."""
        if resume:
            self.load_checkpoint()
        start, first = time.perf_counter(), self.iteration
        p = self.preset
        cancelled = False
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(p.deterministic, warn_only=True)
        try:
            while self.iteration < p.iterations:
                if self.cancel.is_set():
                    cancelled = True
                    break
                losses = self.step()
                if self.out_dir is not None and (self.iteration % p.checkpoint_every == 0):
                    self.save_checkpoint()
                if self.progress is not None:
                    elapsed = time.perf_counter() - start
                    per_iter = elapsed / (self.iteration - first)
                    self.progress(Progress(self.iteration, p.iterations,
                                           "fine" if self.motion.objects[0].fine_enabled else "coarse",
                                           losses["tau"], losses, elapsed, per_iter * (p.iterations - self.iteration)))
        finally:
            torch.use_deterministic_algorithms(was_deterministic)
        checkpoint = self.save_checkpoint() if self.out_dir is not None else None
        return DistillResult(self.motion, self.iteration, cancelled, self.history, dict(self.timings), checkpoint)

    def checkpoint_path(self) -> Path:
        if self.out_dir is None:
            raise ChordError("no output directory was given, so there is no checkpoint")
        return self.out_dir / CHECKPOINT_NAME

    def save_checkpoint(self) -> Path:
        path = self.checkpoint_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "iteration": self.iteration,
            "motion": self.motion.state_dict(),
            "fine_enabled": [o.fine_enabled for o in self.motion.objects],
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": self.history,
            "timings": self.timings,
            "preset": self.preset.to_dict(),
            "prompt": self.prompt,
            "seed": self.seed,
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint
        return path

    def load_checkpoint(self) -> None:
        path = self.checkpoint_path()
        if not path.is_file():
            raise ChordError(f"cannot resume: no checkpoint at {path}")
        state = torch.load(path, weights_only=False)
        if state["preset"] != self.preset.to_dict() or state["seed"] != self.seed or state["prompt"] != self.prompt:
            raise ChordError(f"{path} was written with a different preset, seed or prompt; "
                             "resume with the same arguments or use a new --out directory")
        try:
            self.motion.load_state_dict(state["motion"])
        except RuntimeError:  # other clouds (a moved or re-scanned object) give other control points
            raise ChordError(f"{path} was written for a different scene (other object clouds); resume with the "
                             "same scans or start a new run") from None
        for obj, enabled in zip(self.motion.objects, state["fine_enabled"]):
            obj.fine_enabled = enabled
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.iteration, self.history, self.timings = state["iteration"], state["history"], state["timings"]


def gradient_norm_records(history: list[dict[str, float]]) -> list[dict[str, float]]:
    """The iterations that logged each term's gradient norm (``Distiller.logs_gradient_norms``), for
    summary.json: {"iteration": 1-based, "sds": …, "temporal": …, "arap": …[, "support": …]}."""
    return [{"iteration": i, **{key[len("grad_"):]: value for key, value in record.items() if key.startswith("grad_")}}
            for i, record in enumerate(history, start=1) if "grad_sds" in record]


def gradient_norm_line(iteration: int, losses: dict[str, float]) -> str:
    """One progress line: each term's gradient norm on the motion, the regularisers also as a
    fraction of W-RFSDS's (whether they still count beside the teacher)."""
    sds = losses["grad_sds"]
    parts = [f"W-RFSDS {sds:.3g}"]
    for name in ("temporal", "arap", "support"):
        if (norm := losses.get(f"grad_{name}")) is not None:
            parts.append(f"{name} {norm:.3g} ({norm / max(sds, 1e-30):.2g}x)")
    return f"iteration {iteration}: gradient norm on the motion: " + ", ".join(parts)


@torch.no_grad()
def export_flow(scene: Scene, motion: SceneMotion, prompt: str, fps: float) -> Flow:
    """Dense object flow of every object's source points (scan points / mesh vertices), §3.3."""
    frames = torch.arange(motion.num_frames)
    trajectories, ids = [], []
    device = next(motion.parameters()).device
    for index, obj in enumerate(scene.objects):
        points = torch.as_tensor(obj.source_points, dtype=torch.float32, device=device)
        positions = motion.deform(points, index, frames)[0].cpu().numpy()
        positions[0] = obj.source_points  # frame 0 is the canonical scene by definition (frozen)
        trajectories.append(positions)
        ids.append(np.full(len(points), index, dtype=np.int32))
    return Flow(np.concatenate(trajectories, 1), np.concatenate(ids), fps, prompt=prompt,
                object_names=[o.name for o in scene.objects])
