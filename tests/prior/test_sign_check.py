"""The direction-word check: the swap table is an involution on the sign words, families are read
from captions, and on the shipped weights sideways commands clearly depend on their word."""

import pytest

from chord_core.prior.sign_check import family, sign_check, swapped
from chord_core.prior.weights import load_prior


def test_swapping_twice_restores_every_caption_family():
    for caption in ("slide the box to the left", "push this cube rightward", "turn the can clockwise",
                    "rotate the crate counterclockwise", "move the block away", "open the lid"):
        once = swapped(caption)
        assert once != caption and family(once) == family(caption)
    assert swapped(swapped("slide the box to the left")) == "slide the box to the left"
    assert family("lift the box") is None and family("slide it left and turn it") is None
    assert family("spin the tray left") == "turn" and family("pull the mug toward the robot") == "forward/back"


@pytest.mark.slow  # renders 30 fresh clips (~25 s)
def test_shipped_prior_reads_left_and_right():
    scores = {s.family: s for s in sign_check(load_prior(), motions=30, seed=9001)}
    side = scores["sideways"]
    assert side.clips >= 3
    assert side.wins >= 0.8 * side.trials and side.gap > 0.02, side.line()
