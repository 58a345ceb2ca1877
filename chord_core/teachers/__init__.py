"""Video teachers for W-RFSDS (paper §3.2): one interface, Wan 2.2 backends.

``load_teacher("wan-i2v-a14b", model_dir, device)`` returns a :class:`Teacher`; the loop then
calls ``set_prompt`` once, and per step ``condition`` / ``encode`` / ``velocity`` (through
:func:`chord_core.distill.sds.sds_step`). Heavy imports (diffusers, transformers) happen on load.
"""

from __future__ import annotations

from pathlib import Path

import torch

from chord_core.teachers.base import Conditioning, Teacher, VideoGeometry
from chord_core.teachers.wan_loading import (
    I2V_A14B,
    TI2V_5B,
    WAN_KINDS,
    detect_wan_kind,
    load_wan_components,
    missing_wan_files,
    normalize_kind,
)

__all__ = [
    "Conditioning", "Teacher", "VideoGeometry", "I2V_A14B", "TI2V_5B", "WAN_KINDS",
    "detect_wan_kind", "load_teacher", "missing_wan_files",
]


def load_teacher(kind: str | None, model_dir: Path | str, device: torch.device | str = "cpu",
                 dtype: torch.dtype | None = None, *, vae_dtype: torch.dtype | None = None,
                 flow_shift: float | None = None, vae_checkpointing: bool = True,
                 max_sequence_length: int = 512) -> Teacher:
    """Load a Wan 2.2 teacher from a local diffusers directory (nothing is downloaded).

    kind: ``"wan-i2v-a14b"``, ``"wan-ti2v-5b"`` (``"wan-"`` optional), or None / ``"auto"`` to
    read it from ``model_index.json``. dtype: default bf16 on CUDA, float32 on CPU; the VAE uses
    ``vae_dtype`` (default: dtype). flow_shift: override the scheduler config's shift used for
    the noise-level schedule. Raises ChordError listing missing files for an incomplete dir.
    """
    from chord_core.teachers.wan import wan_teacher_class

    kind = detect_wan_kind(model_dir) if kind in (None, "auto") else normalize_kind(kind)
    components = load_wan_components(model_dir, kind, device, dtype, vae_dtype)
    return wan_teacher_class(kind)(components, max_sequence_length=max_sequence_length,
                                   vae_checkpointing=vae_checkpointing, flow_shift=flow_shift)
