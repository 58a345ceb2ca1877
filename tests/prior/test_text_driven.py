"""End to end with the shipped mini prior: the words decide the motion of a distilled flow.

Slow (three distillations of an object the prior never saw in training); CI runs them with
``-m slow``.
"""

import numpy as np
import pytest

from chord_core.bench.text import rigid_motion_of_flow, unseen_objects
from chord_core.distill.pipeline import animate
from chord_core.distill.presets import load_preset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def motions(tmp_path_factory):
    preset = load_preset("mini")
    _, scan = unseen_objects()[1]  # the step block: a shape, colour and place not in training
    out = {}
    for key, prompt in (("left", "slide it to the left"), ("right", "slide it to the right"),
                        ("lift", "lift it")):
        result = animate(prompt, tmp_path_factory.mktemp(key), preset, scans=[scan], teacher_kind="mini",
                         write_views=False)
        assert result.summary["teacher"] == "mini"
        out[key] = rigid_motion_of_flow(result.flow)[0]
    return out


def test_left_and_right_distil_opposite_motions(motions):
    left, right = motions["left"][1], motions["right"][1]
    assert left > 0.01 and right < -0.01, (motions["left"], motions["right"])  # REP 103: +y is left


def test_lift_raises_the_object(motions):
    moved = motions["lift"]
    assert moved[2] > 0.01 and moved[2] > np.abs(moved[:2]).max(), moved
