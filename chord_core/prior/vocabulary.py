"""What the mini prior can be told: the motion vocabulary, caption templates and the tokenizer.

Direction words follow the operator view, the robot base frame of REP 103: x forward (away from
the robot base), y left, z up; "turn left" is counterclockwise seen from above. A motion is a
list of primitives applied together over the clip; captions are drawn from templates with
synonyms. The tokenizer only turns words into ids: which motion a word means is learned by the
model from the captions, never looked up here. Words outside the vocabulary (object names,
colours) all become one "unknown" token, so an object may be called anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from chord_core.errors import ChordError

# Primitive kinds and their parameters: translate (axis 0 x, 1 y, 2 z; signed metres),
# turn (signed radians about z, + = counterclockwise from above), lid (signed radians, + = open).
TRANSLATE, TURN, LID = "translate", "turn", "lid"
TRANSLATION_RANGE_M = (0.04, 0.12)
TURN_RANGE_RAD = (np.radians(30.0), np.radians(90.0))
LID_RANGE_RAD = (np.radians(30.0), np.radians(90.0))


@dataclass(frozen=True)
class Primitive:
    kind: str      # translate | turn | lid
    axis: int      # translate: 0 x, 1 y, 2 z; unused otherwise
    amount: float  # signed metres (translate) or radians (turn, lid)


# (verb phrases, direction phrases) per translation direction; "{o}" is the object.
_TRANSLATIONS: dict[tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]] = {
    (1, +1): (("slide {o}", "push {o}", "move {o}", "shift {o}"), ("to the left", "left", "leftward")),
    (1, -1): (("slide {o}", "push {o}", "move {o}", "shift {o}"), ("to the right", "right", "rightward")),
    (0, +1): (("push {o}", "move {o}", "slide {o}", "shift {o}"), ("forward", "away", "away from the robot",
                                                                    "forwards")),
    (0, -1): (("pull {o}", "move {o}", "slide {o}", "bring {o}"), ("back", "backward", "closer",
                                                                   "toward the robot", "backwards")),
}
_LIFTS = ("lift {o}", "raise {o}", "pick up {o}", "pick {o} up", "lift {o} up", "raise {o} up")
_TURN_VERBS = ("turn {o}", "rotate {o}", "spin {o}")
#: A turn names its sense by side or by the clock, half the time each, so that "clockwise" is as
#: common a word as "right" (as one synonym of three it was the rarest direction word).
_TURN_SENSES = {+1: (("left", "to the left"), ("counterclockwise", "anticlockwise")),
                -1: (("right", "to the right"), ("clockwise",))}
_LIDS = {+1: ("open the lid of {o}", "open {o}", "open the lid", "lift the lid of {o}"),
         -1: ("close the lid of {o}", "close {o}", "close the lid", "shut the lid", "shut {o}")}
_ARTICLES = ("the", "the", "this", "that")
#: Object words used in training captions; none is in the vocabulary (they become unknown tokens).
TRAINING_OBJECT_NAMES = ("block", "box", "cube", "brick", "can", "cylinder", "mug", "cup", "chest", "case",
                         "slab", "tray", "plate", "book", "bracket", "part", "object", "thing", "toy", "crate",
                         "red block", "blue box", "wooden chest", "small box", "green can", "tea tin", "lamp base")

#: Words whose meaning the prior learned from captions (a prompt needs at least one).
MOTION_WORDS = tuple(sorted({
    "slide", "push", "move", "shift", "pull", "bring", "left", "right", "leftward", "rightward", "forward",
    "forwards", "away", "back", "backward", "backwards", "closer", "toward", "lift", "raise", "pick", "up",
    "turn", "rotate", "spin", "clockwise", "counterclockwise", "anticlockwise", "counter", "anti", "open",
    "close", "shut", "lid"}))
FUNCTION_WORDS = ("the", "this", "that", "it", "to", "of", "from", "and", "robot", "a")
PAD, CLS, UNKNOWN = 0, 1, 2
VOCABULARY = ("<pad>", "<cls>", "<unknown>", *FUNCTION_WORDS, *MOTION_WORDS)
MAX_TOKENS = 24  # including <cls>


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def tokenize(text: str) -> np.ndarray:
    """Token ids [MAX_TOKENS]: <cls>, then one id per word (unknown words share one), padded.

    An empty text gives <cls> alone: the unconditional branch of classifier-free guidance.
    """
    index = {word: i for i, word in enumerate(VOCABULARY)}
    ids = [CLS] + [index.get(w, UNKNOWN) for w in words(text)]
    if len(ids) > MAX_TOKENS:
        raise ChordError(f"the command has {len(ids) - 1} words; the mini prior reads at most {MAX_TOKENS - 1}. "
                         "Say it shorter, e.g. 'slide the block to the left and turn it'")
    return np.array(ids + [PAD] * (MAX_TOKENS - len(ids)), dtype=np.int64)


def check_command(text: str) -> None:
    """Refuse a command in which the prior knows no motion word, listing the words it knows."""
    if not set(words(text)) & set(MOTION_WORDS):
        raise ChordError(f"the mini prior does not understand {text!r}: it contains none of the motion words "
                         f"it was trained on ({', '.join(MOTION_WORDS)}). Try e.g. 'push the block forward', "
                         "'slide it to the left', 'lift the box', 'turn it clockwise', 'open the lid'; "
                         "open-vocabulary commands need the Wan 2.2 teacher (--teacher wan) on a GPU")


IT_SHARE = 0.15  # first clauses that call the object "it", as operators do ("slide it to the left")


def _object_phrase(name: str, rng: np.random.Generator) -> str:
    if rng.uniform() < IT_SHARE:
        return "it"
    return f"{rng.choice(_ARTICLES)} {name}"


def _pick(options, rng: np.random.Generator) -> str:
    return str(options[rng.integers(len(options))])


def describe(primitive: Primitive, obj: str, rng: np.random.Generator) -> str:
    """One caption clause for a primitive, synonyms drawn at random."""
    sign = 1 if primitive.amount > 0 else -1
    if primitive.kind == TRANSLATE and primitive.axis == 2:
        return _pick(_LIFTS, rng).format(o=obj)
    if primitive.kind == TRANSLATE:
        verbs, directions = _TRANSLATIONS[(primitive.axis, sign)]
    elif primitive.kind == TURN:
        by_side, by_clock = _TURN_SENSES[sign]
        verbs, directions = _TURN_VERBS, by_side if rng.uniform() < 0.5 else by_clock
    else:
        return _pick(_LIDS[sign], rng).format(o=obj)
    return f"{_pick(verbs, rng).format(o=obj)} {_pick(directions, rng)}"


def caption(primitives: list[Primitive], object_name: str, rng: np.random.Generator) -> str:
    """The command for a motion: one clause, or two joined by "and" (the second says "it")."""
    first = describe(primitives[0], _object_phrase(object_name, rng), rng)
    if len(primitives) == 1:
        return first
    return f"{first} and {describe(primitives[1], 'it', rng)}"


def sample_motion(rng: np.random.Generator, has_lid: bool, lid_open: bool) -> list[Primitive]:
    """One or two primitives a table-top arm can execute (magnitudes in the ranges above)."""

    def translation(axes: tuple[int, ...]) -> Primitive:
        axis = int(rng.choice(axes))
        sign = 1.0 if axis == 2 else float(rng.choice((-1.0, 1.0)))
        return Primitive(TRANSLATE, axis, sign * rng.uniform(*TRANSLATION_RANGE_M))

    def turn() -> Primitive:
        return Primitive(TURN, 2, float(rng.choice((-1.0, 1.0))) * rng.uniform(*TURN_RANGE_RAD))

    if has_lid and rng.uniform() < 0.5:
        return [Primitive(LID, 0, (-1.0 if lid_open else 1.0) * rng.uniform(*LID_RANGE_RAD))]
    roll = rng.uniform()
    if roll < 0.55:
        return [translation((0, 0, 1, 1, 2))]
    if roll < 0.8:
        return [turn()]
    if roll < 0.92:
        return [translation((0, 1)), turn()]
    return [Primitive(TRANSLATE, 2, rng.uniform(*TRANSLATION_RANGE_M)), translation((0, 1))]
