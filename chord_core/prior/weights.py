"""Loading the mini prior's weights file (``mini_prior.pt``) and checking what it was trained for.

The file (written by `prior.training`) holds the EMA weights, the network config, the clip
settings (cameras, size, frames, Gaussian budget) the training clips were rendered with, the
flow shift of its training τ distribution and the vocabulary. The shipped copy lives next to this
module in ``weights/`` with its model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from chord_core.errors import ChordError
from chord_core.prior.clips import ClipSettings
from chord_core.prior.model import MiniPriorNet, PriorConfig
from chord_core.prior.vocabulary import VOCABULARY

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mini_prior.pt"
FORMAT = "chord-mini-prior-1"


@dataclass
class LoadedPrior:
    net: MiniPriorNet
    settings: ClipSettings
    flow_shift: float
    training: dict
    path: Path


def load_prior(path: str | Path | None = None, device: str | torch.device = "cpu") -> LoadedPrior:
    """The network in eval mode plus its training settings; a clear error for a wrong file."""
    path = Path(path) if path is not None else SHIPPED_WEIGHTS
    if not path.is_file():
        raise ChordError(f"no mini prior weights at {path}; rebuild them with `chord prior train --out DIR` "
                         "and pass DIR/mini_prior.pt")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise ChordError(f"{path} is not a readable mini prior weights file ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ChordError(f"{path} is not a mini prior weights file (expected format {FORMAT})")
    if list(state["vocabulary"]) != list(VOCABULARY):
        raise ChordError(f"{path} was trained with another vocabulary than this version of chord_core; "
                         "retrain it with `chord prior train`")
    net = MiniPriorNet(PriorConfig.from_dict(state["model"]))
    net.load_state_dict(state["state_dict"])
    net.eval().requires_grad_(False)
    return LoadedPrior(net.to(device), ClipSettings.from_dict(state["clip_settings"]), float(state["flow_shift"]),
                       dict(state["training"]), path)
