"""The prior's words: tokens, refusals, and captions that say what the motion does (REP 103)."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.prior.vocabulary import (
    CLS,
    MAX_TOKENS,
    MOTION_WORDS,
    PAD,
    TRANSLATE,
    TURN,
    UNKNOWN,
    VOCABULARY,
    Primitive,
    caption,
    check_command,
    describe,
    sample_motion,
    tokenize,
)


def test_object_names_are_free_words():
    # any object name becomes the one unknown token, so "lamp head" and "gizmo" read alike
    a, b = tokenize("slide the lamp head to the left"), tokenize("slide the gizmo thing to the left")
    assert (a == b).all()
    assert (a == UNKNOWN).sum() == 2
    assert a[0] == CLS and len(a) == MAX_TOKENS


def test_empty_text_is_cls_alone():
    ids = tokenize("")
    assert ids[0] == CLS and (ids[1:] == PAD).all()


def test_synonyms_keep_their_own_tokens():
    # no synonym table: "slide" and "push" are different inputs the model learned to treat alike
    assert tokenize("slide it left")[1] != tokenize("push it left")[1]


@pytest.mark.parametrize("text", ["make it dance", "do a backflip with the cup", ""])
def test_unknown_commands_are_refused_with_the_known_words(text):
    with pytest.raises(ChordError) as err:
        check_command(text)
    for word in ("slide", "lift", "clockwise", "lid"):
        assert word in str(err.value)


def test_long_commands_are_refused():
    with pytest.raises(ChordError, match="at most"):
        tokenize(" ".join(["left"] * MAX_TOKENS))


def test_every_vocabulary_word_is_unique():
    assert len(set(VOCABULARY)) == len(VOCABULARY)


@pytest.mark.parametrize("primitive,must,must_not", [
    (Primitive(TRANSLATE, 1, +0.05), {"left", "leftward"}, {"right", "rightward", "forward", "back"}),
    (Primitive(TRANSLATE, 1, -0.05), {"right", "rightward"}, {"left", "leftward", "forward"}),
    (Primitive(TRANSLATE, 0, +0.05), {"forward", "forwards", "away"}, {"back", "backward", "closer", "left"}),
    (Primitive(TRANSLATE, 0, -0.05), {"back", "backward", "backwards", "closer", "toward"}, {"forward", "away"}),
    (Primitive(TRANSLATE, 2, +0.05), {"lift", "raise", "pick"}, {"left", "right", "forward"}),
    (Primitive(TURN, 2, +0.7), {"left", "counterclockwise", "anticlockwise"}, {"right", "clockwise"}),
    (Primitive(TURN, 2, -0.7), {"right", "clockwise"}, {"left", "counterclockwise", "anticlockwise"}),
])
def test_captions_name_the_direction_of_the_motion(primitive, must, must_not):
    rng = np.random.default_rng(0)
    for _ in range(60):
        words = set(describe(primitive, "the block", rng).split())
        assert words & must, words
        assert not words & must_not, words


def test_sampled_motions_stay_in_executable_ranges_and_are_understood():
    rng = np.random.default_rng(1)
    kinds = set()
    for _ in range(400):
        lid_open = bool(rng.uniform() < 0.5)
        motion = sample_motion(rng, has_lid=True, lid_open=lid_open)
        text = caption(motion, "chest", rng)
        check_command(text)
        assert set(text.split()) & set(MOTION_WORDS)
        assert (" and " in text) == (len(motion) == 2)
        for p in motion:
            kinds.add((p.kind, p.axis if p.kind == TRANSLATE else 0, np.sign(p.amount)))
            limit = 0.12 if p.kind == TRANSLATE else np.radians(90)
            low = 0.04 if p.kind == TRANSLATE else np.radians(30)
            assert low - 1e-9 <= abs(p.amount) <= limit + 1e-9
    assert len(kinds) == 9  # 5 translation directions (lift only up), 2 turns, open and close


def test_some_first_clauses_call_the_object_it():
    """Operators say "slide it to the left": training captions must too (weights trained only on
    "the <name>" first clauses slid "it" the wrong way)."""
    from chord_core.prior.vocabulary import IT_SHARE, caption

    rng = np.random.default_rng(0)
    firsts = [caption([Primitive(TRANSLATE, 1, 0.08)], "block", rng).split()[1] for _ in range(2000)]
    share = firsts.count("it") / len(firsts)
    assert abs(share - IT_SHARE) < 0.03 and set(firsts) == {"it", "the", "this", "that"}
