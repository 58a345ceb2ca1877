"""PointCloud2 and ObjectFlow conversions: round trips, independent decoding, malformed input."""

import numpy as np
import pytest
from sensor_msgs.msg import PointCloud2, PointField

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_ros.convert import (
    check_cloud_points,
    check_text_length,
    cloud_to_numpy,
    flow_to_msg,
    msg_to_flow,
    numpy_to_cloud,
    text_preview,
)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_cloud_round_trip_xyz_only(rng):
    xyz = rng.normal(size=(500, 3)).astype(np.float32)
    back, rgb = cloud_to_numpy(numpy_to_cloud(xyz))
    np.testing.assert_array_equal(back, xyz)
    assert rgb is None


def test_cloud_round_trip_with_colour(rng):
    xyz = rng.normal(size=(500, 3)).astype(np.float32)
    rgb = rng.uniform(size=(500, 3)).astype(np.float32)
    back, rgb_back = cloud_to_numpy(numpy_to_cloud(xyz, rgb, frame_id="panda_link0"))
    np.testing.assert_array_equal(back, xyz)
    np.testing.assert_allclose(rgb_back, np.round(rgb * 255) / 255, atol=1e-7)


def test_cloud_packed_rgb_uses_pcl_layout():
    msg = numpy_to_cloud(np.zeros((1, 3)), np.array([[1.0, 0.5, 0.0]]))
    packed = int(np.frombuffer(bytes(msg.data)[12:16], dtype="<u4")[0])
    assert packed == (255 << 16) | (128 << 8) | 0


def _manual_cloud(records: np.ndarray, fields: list[PointField], height: int, bigendian: bool) -> PointCloud2:
    msg = PointCloud2()
    msg.height, msg.width = height, len(records) // height
    msg.fields = fields
    msg.is_bigendian = bigendian
    msg.point_step = records.dtype.itemsize
    msg.row_step = msg.point_step * msg.width
    msg.data = records.tobytes()
    return msg


def test_cloud_decodes_organised_bigendian_float64_with_padding(rng):
    """A layout numpy_to_cloud never writes: float64 big-endian fields, an intensity and padding."""
    dtype = np.dtype({"names": ["x", "y", "z", "intensity"], "formats": [">f8", ">f8", ">f8", ">f4"],
                      "offsets": [0, 8, 16, 28], "itemsize": 40})
    records = np.zeros(12, dtype=dtype)
    xyz = rng.normal(size=(12, 3))
    records["x"], records["y"], records["z"] = xyz.T
    fields = [PointField(name=n, offset=o, datatype=PointField.FLOAT64, count=1)
              for n, o in zip("xyz", (0, 8, 16))]
    fields.append(PointField(name="intensity", offset=28, datatype=PointField.FLOAT32, count=1))
    back, rgb = cloud_to_numpy(_manual_cloud(records, fields, height=3, bigendian=True))
    np.testing.assert_allclose(back, xyz.astype(np.float32))
    assert rgb is None


def _valid_cloud() -> PointCloud2:
    return numpy_to_cloud(np.zeros((4, 3), np.float32), np.zeros((4, 3)))


def test_cloud_missing_field_is_named():
    msg = _valid_cloud()
    msg.fields = [f for f in msg.fields if f.name != "z"]
    with pytest.raises(ChordError, match=r"lacks the fields \['z'\]"):
        cloud_to_numpy(msg)


def test_cloud_wrong_point_step_is_named():
    msg = _valid_cloud()
    msg.point_step = 12  # rgb at offset 12 no longer fits
    msg.row_step = 12 * msg.width
    msg.data = bytes(msg.data)[: msg.row_step]
    with pytest.raises(ChordError, match="point_step"):
        cloud_to_numpy(msg)


def test_cloud_row_step_mismatch_is_named():
    msg = _valid_cloud()
    msg.row_step += 1
    with pytest.raises(ChordError, match="row_step"):
        cloud_to_numpy(msg)


def test_cloud_truncated_data_is_named():
    msg = _valid_cloud()
    msg.data = bytes(msg.data)[:-3]
    with pytest.raises(ChordError, match="data has"):
        cloud_to_numpy(msg)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_cloud_non_finite_points_are_rejected(bad):
    xyz = np.zeros((4, 3), np.float32)
    records = np.zeros(4, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4")])
    records["y"][2] = bad
    msg = numpy_to_cloud(xyz)
    msg.data = records.tobytes()
    with pytest.raises(ChordError, match="1 of 4 points with NaN/inf"):
        cloud_to_numpy(msg)


def test_cloud_unknown_datatype_is_named():
    msg = _valid_cloud()
    msg.fields[0].datatype = 42
    with pytest.raises(ChordError, match="unknown datatype 42"):
        cloud_to_numpy(msg)


def test_numpy_to_cloud_rejects_bad_shapes_and_values():
    with pytest.raises(ChordError, match=r"shape \(N, 3\)"):
        numpy_to_cloud(np.zeros((4, 2)))
    with pytest.raises(ChordError, match="colours"):
        numpy_to_cloud(np.zeros((4, 3)), np.zeros((3, 3)))
    with pytest.raises(ChordError, match="NaN"):
        numpy_to_cloud(np.full((4, 3), np.nan))


def test_cloud_size_limit_counts_organised_clouds_and_names_the_parameter():
    msg = numpy_to_cloud(np.zeros((12, 3), np.float32))
    msg.height, msg.width, msg.row_step = 3, 4, 4 * msg.point_step  # organised 3 x 4
    check_cloud_points(msg, 12, "lamp")
    with pytest.raises(ChordError, match=r"'lamp': the cloud has 12 points, more than max_points_per_cloud \(11\)"):
        check_cloud_points(msg, 11, "lamp")


def test_long_text_is_refused_and_quoted_only_as_a_preview():
    check_text_length("x" * 20, 20)
    text = "slide the block " + "very " * 2000
    with pytest.raises(ChordError, match=r"10016 characters, more than max_command_chars \(500\)") as info:
        check_text_length(text, 500)
    assert "very" not in str(info.value)
    assert text_preview("lift the lamp") == "lift the lamp"
    assert text_preview(text, 10) == "slide the ... (10016 characters)"


def _flow(rng: np.random.Generator, rotations: bool) -> Flow:
    return Flow(
        trajectories=rng.normal(size=(6, 50, 3)),
        object_ids=rng.integers(0, 3, size=50),
        fps=8.0,
        prompt="push the block to the left",
        object_names=["block", "lamp", "mug"],
        rotations=rng.normal(size=(6, 50, 4)) if rotations else None,
    )


@pytest.mark.parametrize("rotations", [False, True])
def test_flow_message_round_trip(rng, rotations):
    flow = _flow(rng, rotations)
    msg = flow_to_msg(flow, frame_id="panda_link0")
    assert (msg.num_frames, msg.num_points, msg.header.frame_id) == (6, 50, "panda_link0")
    back = msg_to_flow(msg)
    np.testing.assert_array_equal(back.trajectories, flow.trajectories)
    np.testing.assert_array_equal(back.object_ids, flow.object_ids)
    assert (back.fps, back.prompt, back.object_names) == (8.0, flow.prompt, flow.object_names)
    if rotations:
        np.testing.assert_array_equal(back.rotations, flow.rotations)
    else:
        assert back.rotations is None


@pytest.mark.parametrize(
    "field, message",
    [("trajectories", "trajectories has"), ("points", "points has"), ("object_ids", "object_ids has"),
     ("rotations", "rotations has")],
)
def test_flow_message_size_mismatch_is_named(rng, field, message):
    msg = flow_to_msg(_flow(rng, rotations=True))
    values = getattr(msg, field)
    setattr(msg, field, values[:-1])
    with pytest.raises(ChordError, match=message):
        msg_to_flow(msg)


def test_flow_message_points_must_equal_first_frame(rng):
    msg = flow_to_msg(_flow(rng, rotations=False))
    msg.points[0] += 1.0
    with pytest.raises(ChordError, match="first frame"):
        msg_to_flow(msg)


def test_flow_message_with_nan_is_rejected(rng):
    msg = flow_to_msg(_flow(rng, rotations=False))
    msg.trajectories[-1] = float("nan")
    with pytest.raises(ChordError, match="NaN"):
        msg_to_flow(msg)
