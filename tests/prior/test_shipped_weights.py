"""The shipped mini prior loads and reproduces its recorded output on a fixed input.

The input comes from torch's CPU generator (the same numbers on every machine); the tolerance is
far above float rounding differences between CPUs and far below what a different network gives.
After retraining, record again with ``python tests/prior/test_shipped_weights.py --record``.
"""

import re
import sys
from pathlib import Path

import numpy as np
import torch

from chord_core.prior.vocabulary import tokenize
from chord_core.prior.weights import SHIPPED_WEIGHTS, load_prior

RECORDED = Path(__file__).with_name("data") / "recorded_velocity.npz"
PROMPT, TAU, SCALE = "slide the block to the left and turn it", 0.7, 5.0


def guided_velocity() -> np.ndarray:
    prior = load_prior()
    gen = torch.Generator().manual_seed(1234)
    z = torch.randn(2, 3, 9, 32, 32, generator=gen)
    first = torch.rand(2, 3, 32, 32, generator=gen) * 2 - 1
    tokens = torch.as_tensor(tokenize(PROMPT))[None].expand(2, -1)
    with torch.no_grad():
        return prior.net.guided(z, TAU, first, tokens, SCALE).numpy()


def test_shipped_weights_reproduce_the_recorded_output():
    recorded = np.load(RECORDED)["velocity"]
    velocity = guided_velocity()
    scale = float(np.abs(recorded).max())
    assert np.abs(velocity - recorded).max() < 1e-3 * scale


def test_shipped_weights_fit_the_repository_and_match_the_model_card():
    assert SHIPPED_WEIGHTS.stat().st_size < 25 * 1024**2
    prior = load_prior()
    parameters = sum(p.numel() for p in prior.net.parameters())
    assert parameters <= 20_000_000
    card = SHIPPED_WEIGHTS.with_name("MODEL_CARD.md").read_text()
    steps = re.search(r"steps: (\d+)", card)
    assert steps and int(steps.group(1)) == prior.training["steps"]
    assert f"{parameters:,}" in card


if __name__ == "__main__" and "--record" in sys.argv:
    RECORDED.parent.mkdir(exist_ok=True)
    np.savez_compressed(RECORDED, velocity=guided_velocity())
    print(f"recorded {RECORDED}")
