"""Distillation presets: every knob of one `chord animate` run in one dataclass (A.1 settings).

Presets live in ``config/presets/<name>.yaml`` (shipped inside the package too, so an installed
`chord` finds them); a YAML file path works as well. Pairs ``[start, end]`` are decayed over
the run: log-linearly for learning rates (3D-GS schedule), linearly for loss weights and CFG.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from chord_core.errors import ChordError
from chord_core.formats.config_files import read_config
from chord_core.render.cameras import CameraArc
from chord_core.share import config_path

PRESET_NAMES = ("cpu-test", "mini", "gpu-5b", "gpu-14b")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class Preset:
    """One distillation configuration (defaults = the paper's gpu-14b values where it gives them)."""

    name: str = "custom"
    teacher: str = "wan-i2v-a14b"      # wan-i2v-a14b | wan-ti2v-5b | reference
    device: str = "cuda"
    width: int = 832
    height: int = 464
    frames: int = 41
    fps: float = 16.0
    batch_cameras: int = 4
    iterations: int = 2000
    gaussians_per_object: int = 30000
    # motion model (Eq. 5-11)
    num_coarse: int = 32
    num_fine: int = 256
    neighbours: int = 4
    use_fenwick: bool = True
    use_fine: bool = True
    learned_skinning: bool = False     # learnable offsets on Eq. 7's exponent per Gaussian (not in the paper)
    appearance_sigma: float = 0.0      # > 0: chromaticity term in the skinning, parts of other colours
                                       # barely blend (chord_core.motion.model; not in the paper); 0: Eq. 7
    control_scale: float = 1.0         # initial Σ_k std / mean distance to the 3 nearest control points (A.1: 1)
    fine_tau: float = 0.6              # the fine layer joins once tau falls below this
    split_iteration: int = 100         # A.1: deformations after split_fraction*T reset to that frame's
    split_fraction: float = 0.75
    # learning rates [start, end] (log-linear, A.1)
    lr_deformation: list[float] = field(default_factory=lambda: [6e-3, 6e-5])
    lr_rotation: list[float] = field(default_factory=lambda: [3e-3, 3e-5])
    lr_scale: list[float] = field(default_factory=lambda: [6e-3, 6e-5])
    lr_skinning: list[float] = field(default_factory=lambda: [5e-2, 5e-3])  # learned skinning only
    # loss weights [start, end] (linear, A.1). Every term is a mean, the temporal flow is per clip
    # (distill.regularize), so the balance holds at any size, frame count and batch; the weights carry it.
    sds_weight: float = 1061632.0      # on W-RFSDS's mean over latent elements; shipped presets: their own latent
                                       # elements per batch (here 4 x 16 x 11 x 58 x 104), i.e. Eq. 3's sum at that size
    temporal_weight: list[float] = field(default_factory=lambda: [0.006, 0.001])  # A.1's 9.6 -> 1.6 on the
                                       # per-frame flow of 41 frames, / 40^2 for the flow per clip
    arap_weight: list[float] = field(default_factory=lambda: [3000.0, 300.0])
    tv3d_weight: float = 0.0
    support_weight: float = 0.0  # nothing sinks below the scene's lowest point at rest (ours; 0: off)
    arap_samples: int = 7500
    # guidance (Eq. 3-4, App. B)
    tau_schedule: str = "annealed"     # annealed | weighted | uniform
    cfg: list[float] = field(default_factory=lambda: [25.0, 12.0])
    negative_prompt: str = ""          # empty = the teacher's own (Wan: Wan 2.2's default, which penalises static
                                       # frames; mini: the unconditional branch)
    flow_shift: float = 5.0            # Wan teachers: shift of the noise-level weighting (Eq. 4) and so of the
                                       # expert switch and the fine layer's start; Wan's own sampling uses 5.0
                                       # for both 2.2 models (diffusers' converted A14B scheduler says 3.0)
    transformer_dtype: str = "auto"    # Wan transformer: auto = bfloat16 on CUDA, float32 on CPU
    vae_dtype: str = "float32"         # Wan VAE: its encoder's backward carries every gradient the motion gets
    # cameras: an arc around the operator's viewpoint (render.cameras.CameraArc); azimuth 180 =
    # behind the robot base looking forward, where direction words mean what they say
    fov_deg: float = 50.0
    radius_scale: float = 2.2          # camera distance / framing radius
    min_frame_radius: float = 0.0      # metres: framing radius = max(scene bounding radius, this)
    elevation_deg: list[float] = field(default_factory=lambda: [10.0, 40.0])
    azimuth_deg: list[float] = field(default_factory=lambda: [135.0, 225.0])
    prior_azimuth_deg: list[float] = field(default_factory=list)  # arc `chord prior train` renders its
                                       # clips on, containing azimuth_deg; empty = azimuth_deg
    widen_azimuth: bool = False        # 3to4D: start narrow around the front view, widen to the range
    camera_pool: int = 0               # > 0: draw each batch from this many fixed orbit cameras (0: fresh ones)
    checkpoint_every: int = 100
    deterministic: bool = True         # deterministic torch kernels: --resume is bit-for-bit (CPU)

    def validate(self) -> Preset:
        """Raise ChordError for values no run could use."""
        positive = ("width", "height", "frames", "fps", "batch_cameras", "iterations",
                    "gaussians_per_object", "num_coarse", "num_fine", "neighbours",
                    "arap_samples", "checkpoint_every")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ChordError(f"preset {self.name}: {name} must be > 0, got {getattr(self, name)}")
        if self.frames < 2:
            raise ChordError(f"preset {self.name}: frames must be >= 2 to have motion")
        for name in ("lr_deformation", "lr_rotation", "lr_scale", "lr_skinning", "temporal_weight",
                     "arap_weight", "cfg", "elevation_deg", "azimuth_deg"):
            value = getattr(self, name)
            if len(value) != 2:
                raise ChordError(f"preset {self.name}: {name} must be [start, end], got {value}")
        for name in ("lr_deformation", "lr_rotation", "lr_scale", "lr_skinning"):
            if min(getattr(self, name)) <= 0:
                raise ChordError(f"preset {self.name}: {name} must be positive (log-linear decay)")
        for name in ("appearance_sigma", "support_weight", "tv3d_weight"):
            if not getattr(self, name) >= 0:
                raise ChordError(f"preset {self.name}: {name} must be >= 0 (0 = off), got {getattr(self, name)}")
        if not self.min_frame_radius >= 0:
            raise ChordError(f"preset {self.name}: min_frame_radius must be >= 0 metres, got {self.min_frame_radius}")
        if not self.control_scale > 0:
            raise ChordError(f"preset {self.name}: control_scale must be > 0, got {self.control_scale}")
        if not 0.0 < self.split_fraction <= 1.0:
            raise ChordError(f"preset {self.name}: split_fraction must be in (0, 1]")
        if not self.sds_weight > 0:
            raise ChordError(f"preset {self.name}: sds_weight must be > 0 (the teacher is the only signal), "
                             f"got {self.sds_weight}")
        prior_arc = self.prior_azimuth_deg
        if prior_arc and not (len(prior_arc) == 2 and prior_arc[0] <= min(self.azimuth_deg)
                              and max(self.azimuth_deg) <= prior_arc[1]):
            raise ChordError(f"preset {self.name}: prior_azimuth_deg must be [start, end] containing "
                                 f"azimuth_deg {self.azimuth_deg}, got {self.prior_azimuth_deg}")
        for name in ("transformer_dtype", "vae_dtype"):
            if getattr(self, name) not in DTYPES:
                raise ChordError(f"preset {self.name}: {name} must be one of {DTYPES}, got {getattr(self, name)!r}")
        if not self.flow_shift > 0:
            raise ChordError(f"preset {self.name}: flow_shift must be > 0, got {self.flow_shift}")
        if self.device not in ("cpu", "cuda"):
            raise ChordError(f"preset {self.name}: device must be cpu or cuda, got {self.device!r}")
        return self

    def camera_arc(self) -> CameraArc:
        """The cameras every teacher's renders come from during distillation."""
        return CameraArc(self.width, self.height, self.fov_deg, self.radius_scale, tuple(self.elevation_deg),
                         tuple(self.azimuth_deg), self.min_frame_radius)

    def prior_camera_arc(self) -> CameraArc:
        """The cameras the mini prior's training clips come from: the distillation arc, or the
        wider ``prior_azimuth_deg`` around it (a prior trained on more views, distilled from the
        views where it reads directions best)."""
        return dataclasses.replace(self.camera_arc(), azimuth_deg=tuple(self.prior_azimuth_deg or self.azimuth_deg))

    def torch_dtype(self, name: str, device: str):
        """The torch dtype of ``transformer_dtype`` / ``vae_dtype`` on ``device`` (auto: bf16 on CUDA)."""
        import torch

        value = getattr(self, name)
        if value == "auto":
            return torch.bfloat16 if device == "cuda" else torch.float32
        return getattr(torch, value)

    def replace(self, **changes) -> Preset:
        """A copy with some fields changed (None values are ignored), validated."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None}).validate()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise ChordError(f"preset file not found: {path}")
        return path
    candidate = config_path("presets", f"{name_or_path}.yaml")
    if candidate.is_file():
        return candidate
    raise ChordError(f"unknown preset '{name_or_path}'; choose one of {PRESET_NAMES} or a .yaml file")


def load_preset(name_or_path: str) -> Preset:
    """A named preset (cpu-test, gpu-5b, gpu-14b) or a YAML file: keys and types checked, values validated."""
    return Preset(**read_config(preset_path(name_or_path), Preset, "preset")).validate()
