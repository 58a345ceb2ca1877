"""Files a distillation run leaves for people: loss curves and summary.json.

The run directory (docs/formats.md): `flow.npz` (:class:`chord_core.formats.flow.Flow`),
`checkpoint.pt` (the Distiller), `views.mp4` (`chord_core.distill.views` + `formats.video`),
`losses.png` and `summary.json` (here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def plot_losses(history: list[dict[str, float]], path: str | Path,
                curves: tuple[str, ...] = ("sds", "temporal", "arap", "total"), lower: str = "tau",
                x_label: str = "iteration") -> Path:
    """Loss curves (log scale) over a lower panel (τ, or a learning rate), one PNG.

    Entries without a curve's key (e.g. an occasional validation loss) are skipped for it.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, (ax_loss, ax_lower) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    for key in curves:
        points = [(i, h[key]) for i, h in enumerate(history, start=1) if key in h]
        if points:
            its, values = np.array(points).T
            ax_loss.semilogy(its, np.maximum(values, 1e-12), label=key)
    ax_loss.set_ylabel("loss")
    ax_loss.legend()
    ax_lower.plot(np.arange(1, len(history) + 1), [h[lower] for h in history], color="k")
    ax_lower.set_ylabel(lower)
    ax_lower.set_xlabel(x_label)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_summary(path: str | Path, summary: dict) -> Path:
    path = Path(path)
    path.write_text(json.dumps(summary, indent=2, default=float))
    return path
