"""Training clips for the mini prior: procedural scanned objects moved by captioned motions.

Every clip is made the way a distillation run sees the world: the object cloud becomes Gaussians
through `scene.objects.scene_from_scans` with the preset's budget, its motion is applied per part
by `scene.part_motion.PartMotionVideo` (the reference teacher's renderer) and it is rendered from
cameras drawn by the preset's `CameraArc` around the scene's bounding sphere, at the preset's
size and frame count. Objects stand on the table (z = 0) in the arm's workspace in the robot base
frame; directions in captions are REP 103 (x forward, y left, z up).
"""

from __future__ import annotations

import colorsys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from chord_core.errors import ChordError
from chord_core.formats.reference_motion import ReferenceMotion
from chord_core.formats.scans import Scan
from chord_core.prior.vocabulary import (
    LID,
    TRAINING_OBJECT_NAMES,
    TRANSLATE,
    TURN,
    Primitive,
    caption,
    sample_motion,
    tokenize,
)
from chord_core.render.cameras import CameraArc
from chord_core.scene.objects import scene_from_scans
from chord_core.scene.part_motion import PartMotionVideo
from chord_core.scene.procedural import SHAPES, shape_cloud, texture
from chord_core.scene.scenarios import rigid_track

WORKSPACE_X = (0.35, 0.65)   # metres in front of the robot base
WORKSPACE_Y = (-0.25, 0.25)
SIZE_RANGE = (0.04, 0.20)    # object extent, metres
HELD_OUT_HUES = (0.42, 0.58)  # cyan-ish colours never appear in training (the benchmark uses them)
MARKED_FRACTION = 0.5        # objects with a one-sided marker (the rest keep plain textures)
MARKER_SHARE = 0.2           # of an object's points, on the marked side
MARKER_GREY = 0.08           # near black: stands out on every training colour and on the white background
#: A turning object's footprint must be at least this elongated (longer side / shorter side, shape
#: frame), be an L or carry the marker: a round or square outline turned looks the same at 32 px.
TURN_OUTLINE_ASPECT = 1.5
#: Bumped whenever clips are made differently, so cached shards of an older recipe are remade.
CLIP_RECIPE = 6


@dataclass(frozen=True)
class ClipSettings:
    """How clips are made; must equal the distillation preset's (checked by the mini teacher)."""

    arc: CameraArc
    frames: int
    gaussians_per_object: int
    scan_points: int = 3000

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ClipSettings:
        arc = dict(data["arc"])
        arc["elevation_deg"], arc["azimuth_deg"] = tuple(arc["elevation_deg"]), tuple(arc["azimuth_deg"])
        return cls(CameraArc(**arc), int(data["frames"]), int(data["gaussians_per_object"]), int(data["scan_points"]))


@dataclass
class PlacedObject:
    """A procedural scan in the world: points, colours, part labels and its lid hinge (world)."""

    name: str
    points: np.ndarray
    colors: np.ndarray
    labels: np.ndarray
    yaw: float
    hinge: np.ndarray | None
    lid_open: float
    marked: bool = False


def random_color(rng: np.random.Generator) -> tuple[float, float, float]:
    """A saturated colour whose hue avoids the held-out band."""
    width = HELD_OUT_HUES[1] - HELD_OUT_HUES[0]
    hue = rng.uniform(0.0, 1.0 - width)
    hue = hue if hue < HELD_OUT_HUES[0] else hue + width
    return colorsys.hsv_to_rgb(hue, rng.uniform(0.5, 0.95), rng.uniform(0.45, 0.95))


def paint_marker(points: np.ndarray, colors: np.ndarray, heading: float) -> np.ndarray:
    """Colours with the side of the object towards ``heading`` (radians, shape frame; a vertical
    cut) painted near black.

    Why: a turn's sign changes few pixels of a plain, nearly symmetric object at 32 px (the first
    prior never learnt it: its loss was the same for "turn left" and "turn right"); a marker on the
    side the cameras see moves one way for counterclockwise and the other for clockwise, as clearly
    as a slide.
    """
    along = (points[:, :2] - points[:, :2].mean(0)) @ np.array([np.cos(heading), np.sin(heading)])
    marked = colors.copy()
    marked[along >= np.quantile(along, 1.0 - MARKER_SHARE)] = MARKER_GREY
    return marked


def place_object(points: np.ndarray, labels: np.ndarray, colors: np.ndarray, name: str, yaw: float,
                 position: tuple[float, float], hinge: np.ndarray | None = None, lid_open: float = 0.0,
                 marked: bool = False) -> PlacedObject:
    """Turn a shape about z by yaw and put its base centre at (x, y) on the table."""
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    offset = np.array([position[0], position[1], 0.0])
    world_hinge = None if hinge is None else rot @ hinge + offset
    return PlacedObject(name, (points @ rot.T + offset).astype(np.float32), colors.astype(np.float32),
                        labels.astype(np.int32), yaw, world_hinge, lid_open, marked)


def random_object(rng: np.random.Generator, scan_points: int, marked_fraction: float = MARKED_FRACTION,
                  viewer_azimuth_deg: float = 180.0) -> PlacedObject:
    """A random training object: shape, size, colours, texture, pose in the workspace; on
    ``marked_fraction`` of them a marker on a side within 75° of the cameras' azimuth."""
    kind = str(rng.choice(SHAPES))
    size = np.exp(rng.uniform(*np.log(SIZE_RANGE), size=3))  # log-uniform: as many small as large
    if kind == "slab":
        size[2] = rng.uniform(0.01, 0.03)
    elif kind in ("cylinder", "box", "chest"):
        size[2] = rng.uniform(0.04, min(0.2, 2.5 * max(size[:2])))
    lid_open = float(rng.uniform(np.radians(30), np.radians(90))) if kind == "chest" and rng.uniform() < 0.4 else 0.0
    shape = shape_cloud(kind, size, scan_points, rng, lid_angle=lid_open)
    period = rng.uniform(0.02, 0.06)
    colors = texture(shape.points, random_color(rng), period)
    if kind == "chest" and rng.uniform() < 0.6:
        lid = shape.labels == 1
        colors[lid] = texture(shape.points[lid], random_color(rng), period)
    yaw = float(rng.uniform(0, 2 * np.pi))
    marked = bool(rng.uniform() < marked_fraction)
    if marked:
        facing = np.radians(viewer_azimuth_deg + rng.uniform(-75.0, 75.0))
        colors = paint_marker(shape.points, colors, facing - yaw)
    position = (rng.uniform(*WORKSPACE_X), rng.uniform(*WORKSPACE_Y))
    return place_object(shape.points, shape.labels, colors, kind, yaw, position, shape.hinge, lid_open, marked)


def shows_turn(obj: PlacedObject) -> bool:
    """Whether turning the object about z changes what a camera sees at 32 px.

    Why: in recipe 5 a quarter of the turn clips showed a plain cylinder or a square box, whose
    turned outline is the one it started with; those clips teach that "turn" leaves the picture
    unchanged, and the prior's turns came out short (median 25 deg in its samples for 30-90 deg
    in training).
    """
    if obj.marked or obj.name == "l_shape":
        return True
    c, s = np.cos(obj.yaw), np.sin(obj.yaw)
    in_shape_frame = obj.points[:, :2] @ np.array([[c, -s], [s, c]])  # rows times R(yaw): R(-yaw) applied
    extent = np.ptp(in_shape_frame, axis=0)
    return bool(extent.max() >= TURN_OUTLINE_ASPECT * extent.min())


def motion_transforms(obj: PlacedObject, primitives: list[Primitive], frames: int) -> ReferenceMotion:
    """Per-part world transforms [F, P, 4, 4]: body = translations then turns about the object's
    vertical centre line; a lid follows the body and also turns about its hinge."""
    centre = 0.5 * (obj.points.min(0) + obj.points.max(0))
    body = np.tile(np.eye(4), (frames, 1, 1))
    lid = np.tile(np.eye(4), (frames, 1, 1))
    for p in primitives:
        if p.kind == TRANSLATE:
            step = np.zeros(3)
            step[p.axis] = p.amount
            body = np.einsum("tij,tjk->tik", rigid_track(frames, [0, 0, 0], step, centre), body)
        elif p.kind == TURN:
            body = np.einsum("tij,tjk->tik", rigid_track(frames, [0, 0, p.amount], [0, 0, 0], centre), body)
        elif p.kind == LID:
            if obj.hinge is None:
                raise ChordError(f"a {obj.name} has no lid to {'open' if p.amount > 0 else 'close'}")
            axis = np.array([np.sin(obj.yaw), -np.cos(obj.yaw), 0.0])  # the shape's -y turned by yaw
            lid = rigid_track(frames, axis * p.amount, [0, 0, 0], obj.hinge)
    parts = [body] if obj.hinge is None else [body, np.einsum("tij,tjk->tik", body, lid)]
    return ReferenceMotion(obj.labels if obj.hinge is not None else np.zeros(len(obj.labels), np.int32),
                           np.stack(parts, axis=1).astype(np.float32))


def render_clips(obj: PlacedObject, motion: ReferenceMotion, settings: ClipSettings, cameras: int,
                 seed: int) -> torch.Tensor:
    """Videos [cameras, 3, F, H, W] in [0, 1] of the moving object, as the distillation renders."""
    scene = scene_from_scans([Scan(obj.name, obj.points, obj.colors)], settings.gaussians_per_object)
    centre, radius = scene.bounding_sphere()
    cams = settings.arc.sample(centre, radius, cameras, seed)
    return PartMotionVideo(scene, motion, settings.frames).render(cams)


def lid_aware_motion(obj: PlacedObject, rng: np.random.Generator) -> list[Primitive]:
    primitives = sample_motion(rng, has_lid=obj.hinge is not None, lid_open=obj.lid_open > 0)
    if primitives[0].kind == LID and obj.lid_open > 0:
        return [Primitive(LID, 0, -obj.lid_open)]  # close it fully
    return primitives


def make_clips(settings: ClipSettings, motions: int, cameras_per_motion: int, seed: int,
               progress: Callable[[int, int], None] | None = None,
               marked_fraction: float = MARKED_FRACTION) -> dict[str, np.ndarray]:
    """``motions`` random (object, motion, caption) triples, each rendered from several cameras.
    A motion with a turn is given an object that `shows_turn` (redrawn until one does).

    Returns arrays: videos uint8 [N, F, H, W, 3], tokens int64 [N, T], captions str [N].
    """
    rng = np.random.default_rng(seed)
    draw_object = partial(random_object, rng, settings.scan_points, marked_fraction,
                          float(np.mean(settings.arc.azimuth_deg)))
    videos, tokens, captions = [], [], []
    for index in range(motions):
        obj = draw_object()
        primitives = lid_aware_motion(obj, rng)
        while any(p.kind == TURN for p in primitives) and not shows_turn(obj):
            obj = draw_object()
        motion = motion_transforms(obj, primitives, settings.frames)
        video = render_clips(obj, motion, settings, cameras_per_motion, int(rng.integers(2**31)))
        text = caption(primitives, str(rng.choice(TRAINING_OBJECT_NAMES)), rng)
        videos.append((video.permute(0, 2, 3, 4, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy())
        tokens += [tokenize(text)] * cameras_per_motion
        captions += [text] * cameras_per_motion
        if progress is not None:
            progress(index + 1, motions)
    return {"videos": np.concatenate(videos), "tokens": np.stack(tokens), "captions": np.array(captions)}


def load_or_make_shard(path: Path, settings: ClipSettings, motions: int, cameras_per_motion: int, seed: int,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
    """A shard of clips cached at ``path`` (regenerated if missing or made with other settings)."""
    key = repr((settings.to_dict(), motions, cameras_per_motion, seed, CLIP_RECIPE))
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == key:
                return {name: data[name] for name in ("videos", "tokens", "captions")}
    start = time.perf_counter()
    shard = make_clips(settings, motions, cameras_per_motion, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, key=np.array(key), seconds=np.array(time.perf_counter() - start), **shard)
    tmp.replace(path)
    return shard
