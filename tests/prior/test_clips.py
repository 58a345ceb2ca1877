"""Training clips: motions move parts as captioned, rendered like the distillation renders."""

import numpy as np
import torch

from chord_core.distill.presets import load_preset
from chord_core.prior import clips
from chord_core.prior.clips import (
    ClipSettings,
    make_clips,
    motion_transforms,
    place_object,
    random_object,
    render_clips,
    shows_turn,
)
from chord_core.prior.vocabulary import LID, TRANSLATE, TURN, Primitive
from chord_core.scene.procedural import shape_cloud, texture


def _chest(lid_open=0.0, yaw=0.4):
    rng = np.random.default_rng(0)
    shape = shape_cloud("chest", np.array([0.12, 0.08, 0.08]), 800, rng, lid_angle=lid_open)
    return place_object(shape.points, shape.labels, texture(shape.points, (0.6, 0.3, 0.2)), "chest", yaw,
                        (0.5, 0.1), shape.hinge, lid_open)


def test_translation_moves_every_point_by_the_amount():
    obj = _chest()
    motion = motion_transforms(obj, [Primitive(TRANSLATE, 1, 0.07)], 9)
    moved = motion.apply(obj.points)
    np.testing.assert_allclose(moved[-1] - obj.points, np.tile([0, 0.07, 0], (len(obj.points), 1)), atol=1e-6)


def test_positive_turn_is_counterclockwise_from_above():
    obj = _chest(yaw=0.0)
    motion = motion_transforms(obj, [Primitive(TURN, 2, np.pi / 2)], 5)
    centre = 0.5 * (obj.points.min(0) + obj.points.max(0))
    ahead = obj.points[np.argmax(obj.points[:, 0])]  # a point on the +x side
    end = motion.apply(ahead[None], labels=np.zeros(1, int))[-1, 0]
    # +x side ends on the +y side: counterclockwise seen from above (REP 103 "turn left")
    assert end[1] - centre[1] > 0.8 * (ahead[0] - centre[0])
    assert abs(end[2] - ahead[2]) < 1e-6


def test_lid_opens_about_its_hinge_and_the_body_stays():
    obj = _chest(yaw=0.7)
    motion = motion_transforms(obj, [Primitive(LID, 0, np.radians(60))], 9)
    moved = motion.apply(obj.points)
    body, lid = obj.labels == 0, obj.labels == 1
    np.testing.assert_allclose(moved[-1][body], obj.points[body], atol=1e-6)
    assert moved[-1][lid][:, 2].max() > obj.points[lid][:, 2].max() + 0.05  # the front edge rose
    hinge_point = motion.transforms[-1, 1, :3, :3] @ obj.hinge + motion.transforms[-1, 1, :3, 3]
    np.testing.assert_allclose(hinge_point, obj.hinge, atol=1e-6)


def test_closing_returns_an_open_lid_to_the_closed_pose():
    closed, opened = _chest(0.0), _chest(np.radians(50))
    motion = motion_transforms(opened, [Primitive(LID, 0, -np.radians(50))], 9)
    np.testing.assert_allclose(motion.apply(opened.points)[-1], closed.points, atol=1e-5)


def test_clips_render_with_the_preset_cameras_and_show_the_motion():
    preset = load_preset("mini")
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object)
    obj = random_object(np.random.default_rng(3), 1500)
    still = motion_transforms(obj, [Primitive(TRANSLATE, 1, 1e-9)], preset.frames)
    lifted = motion_transforms(obj, [Primitive(TRANSLATE, 2, 0.1)], preset.frames)
    a = render_clips(obj, still, settings, 2, seed=5)
    b = render_clips(obj, lifted, settings, 2, seed=5)
    assert a.shape == (2, 3, preset.frames, preset.height, preset.width)
    torch.testing.assert_close(a[:, :, 0], b[:, :, 0])  # same cameras, same first frame
    assert (a[:, :, -1] - a[:, :, 0]).abs().max() < 1e-4
    assert (b[:, :, -1] - b[:, :, 0]).abs().mean() > 0.01


def _placed(kind, size, yaw, marked=False):
    shape = shape_cloud(kind, np.array(size), 600, np.random.default_rng(1))
    return place_object(shape.points, shape.labels, texture(shape.points, (0.6, 0.3, 0.2)), kind, yaw, (0.5, 0.0),
                        shape.hinge, marked=marked)


def test_a_turn_shows_on_an_elongated_outline_an_l_or_a_marker_not_on_a_plain_round_or_square_one():
    assert not shows_turn(_placed("cylinder", (0.08, 0.08, 0.1), 0.3))
    assert shows_turn(_placed("cylinder", (0.08, 0.08, 0.1), 0.3, marked=True))
    assert not shows_turn(_placed("box", (0.06, 0.06, 0.05), 0.0))
    assert shows_turn(_placed("l_shape", (0.06, 0.06, 0.05), 0.0))
    for yaw in (0.0, np.pi / 4, 2.0):  # measured in the shape's frame: at 45 deg its world extents are equal
        assert shows_turn(_placed("box", (0.12, 0.04, 0.05), yaw))
        assert not shows_turn(_placed("box", (0.07, 0.06, 0.05), yaw))


def test_every_turn_clip_moves_an_object_that_shows_the_turn(monkeypatch):
    preset = load_preset("mini")
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object, scan_points=300)
    rendered = []

    def record(obj, motion, settings, cameras, seed):
        rendered.append(obj)
        return torch.zeros(cameras, 3, settings.frames, 2, 2)

    monkeypatch.setattr(clips, "render_clips", record)
    captions = make_clips(settings, 80, 1, seed=7)["captions"]
    turning = [obj for obj, text in zip(rendered, captions) if {"turn", "rotate", "spin"} & set(str(text).split())]
    assert len(turning) >= 15
    assert all(shows_turn(obj) for obj in turning)
    assert not all(shows_turn(obj) for obj in rendered)  # other motions still see round and square objects
