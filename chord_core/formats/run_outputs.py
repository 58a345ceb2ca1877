"""Files a distillation run leaves for people: loss curves and summary.json.

The run directory (docs/formats.md): `flow.npz` (:class:`chord_core.formats.flow.Flow`),
`checkpoint.pt` (the Distiller), `views.mp4` (`chord_core.distill.views` + `formats.video`),
`losses.png` and `summary.json` (here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def plot_losses(history: list[dict[str, float]], path: str | Path) -> Path:
    """Loss curves (log scale) and τ over the iterations, one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    its = np.arange(1, len(history) + 1)
    fig, (ax_loss, ax_tau) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for key in ("sds", "temporal", "arap", "total"):
        values = np.array([h[key] for h in history])
        ax_loss.semilogy(its, np.maximum(values, 1e-12), label=key)
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_tau.plot(its, [h["tau"] for h in history], color="k")
    ax_tau.set_ylabel("tau")
    ax_tau.set_xlabel("iteration")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_summary(path: str | Path, summary: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, default=float))
    return path
