"""Frames at the inputs: static transforms parsed strictly, clouds and flows moved into the
planning frame to known places, unknown frames refused by name."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan
from chord_ros.frames import FrameTransformer, parse_static_transforms

# 0.5 m ahead, 0.6 m up, turned +90 deg about y: the camera's z (optical axis) is the base's x
CAMERA = "camera_link 0.5 0.0 0.6 0.0 0.7071068 0.0 0.7071068"
# 1 m to the left, turned +90 deg about z: its x is the base's y
SIDE = "side_cam 0.0 1.0 0.0 0.0 0.0 0.7071068 0.7071068"


def test_points_in_other_frames_land_where_the_extrinsics_put_them():
    frames = FrameTransformer("world", [CAMERA, SIDE])
    one_metre_ahead_of_camera = Scan("block", np.array([[0.0, 0.0, 1.0], [0.1, 0.0, 0.0]], np.float32), None)
    moved = frames.scan(one_metre_ahead_of_camera, "camera_link")
    # camera z -> base x; camera x -> base -z
    np.testing.assert_allclose(moved.points, [[1.5, 0.0, 0.6], [0.5, 0.0, 0.5]], atol=1e-6)
    assert moved.points.dtype == np.float32 and moved.name == "block"
    side = frames.scan(Scan("cup", np.array([[0.2, 0.0, 0.3]], np.float32), None), "side_cam")
    np.testing.assert_allclose(side.points, [[0.0, 1.2, 0.3]], atol=1e-6)


def test_planning_frame_input_is_passed_through_unchanged():
    frames = FrameTransformer("world", [CAMERA])
    scan = Scan("block", np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32), None)
    assert frames.scan(scan, "world") is scan


def test_a_flow_is_moved_at_every_frame_and_keeps_its_metadata():
    frames = FrameTransformer("world", [SIDE])
    rng = np.random.default_rng(1)
    trajectories = rng.normal(size=(4, 10, 3)).astype(np.float32)
    flow = Flow(trajectories, np.zeros(10, np.int32), 8.0, prompt="lift it", object_names=["cup"])
    moved = frames.flow(flow, "side_cam")
    expected = np.stack([-trajectories[..., 1], trajectories[..., 0] + 1.0, trajectories[..., 2]], axis=-1)
    np.testing.assert_allclose(moved.trajectories, expected, atol=1e-5)
    assert (moved.prompt, moved.object_names, moved.fps) == ("lift it", ["cup"], 8.0)
    # displacements keep their length under a rigid change of frame
    np.testing.assert_allclose(np.linalg.norm(np.diff(moved.trajectories, axis=0), axis=-1),
                               np.linalg.norm(np.diff(trajectories, axis=0), axis=-1), atol=1e-5)


def test_a_flow_with_rotations_is_only_taken_in_the_planning_frame():
    frames = FrameTransformer("world", [SIDE])
    flow = Flow(np.zeros((2, 3, 3), np.float32), np.zeros(3, np.int32), 8.0,
                rotations=np.tile(np.array([1, 0, 0, 0], np.float32), (2, 3, 1)))
    assert frames.flow(flow, "world") is flow
    with pytest.raises(ChordError, match="carries rotations"):
        frames.flow(flow, "side_cam")


@pytest.mark.parametrize("frame, message", [
    ("kinect_rgb", "in frame 'kinect_rgb', which has no transform to the planning frame 'world'"),
    ("", "has no header.frame_id"),
])
def test_unknown_or_missing_frames_are_refused_by_name(frame, message):
    frames = FrameTransformer("world", [CAMERA])
    with pytest.raises(ChordError, match=message) as info:
        frames.scan(Scan("block", np.zeros((3, 3), np.float32), None), frame)
    assert "'block'" in str(info.value)


@pytest.mark.parametrize("entry, message", [
    ("camera_link 0.5 0 0.6 0 0 0", "8 fields"),
    ("camera_link 0.5 0 0.6 0 0 0 x", "must be numbers"),
    ("camera_link 0.5 0 nan 0 0 0 1", "NaN"),
    ("camera_link 0.5 0 0.6 0 0 0 2", "norm 2.0000"),
    ("world 0 0 0 0 0 0 1", "planning frame itself"),
])
def test_malformed_static_transforms_are_refused(entry, message):
    with pytest.raises(ChordError, match=message):
        parse_static_transforms([entry], "world")


def test_a_frame_given_twice_is_refused():
    with pytest.raises(ChordError, match="twice"):
        parse_static_transforms([CAMERA, CAMERA], "world")
