"""rosbag2 MCAP files written with rosbags read back into equal rclpy messages."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_ros.bag import BagWriter, chord_typestore, read_bag
from chord_ros.convert import flow_to_msg, msg_to_flow, numpy_to_cloud


def _flow() -> Flow:
    rng = np.random.default_rng(5)
    return Flow(trajectories=rng.normal(size=(9, 300, 3)), object_ids=rng.integers(0, 2, 300),
                fps=10.0, prompt="open the lid", object_names=["box", "lid"])


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_object_flow_bag_round_trip(tmp_path, storage):
    msg = flow_to_msg(_flow(), frame_id="panda_link0")
    cloud = numpy_to_cloud(np.ones((10, 3)), np.zeros((10, 3)))
    with BagWriter(tmp_path / "bag", storage=storage) as bag:
        bag.write("/chord/flow", msg, 1_000)
        bag.write("/chord/cloud", cloud, 2_000)
    records = list(read_bag(tmp_path / "bag"))
    assert [(r.topic, r.type_name, r.stamp_ns) for r in records] == [
        ("/chord/flow", "chord_msgs/msg/ObjectFlow", 1_000),
        ("/chord/cloud", "sensor_msgs/msg/PointCloud2", 2_000),
    ]
    assert records[0].deserialize() == msg
    assert records[1].deserialize() == cloud


def test_bag_message_definition_matches_rclpy_wire_format(tmp_path):
    """The msgdef stored in the bag decodes rclpy's bytes: a reader without rclpy sees the same flow."""
    flow = _flow()
    with BagWriter(tmp_path / "bag") as bag:
        bag.write("/chord/flow", flow_to_msg(flow), 5)
    record = next(iter(read_bag(tmp_path / "bag")))
    decoded = chord_typestore().deserialize_cdr(record.data, record.type_name)
    np.testing.assert_array_equal(
        np.asarray(decoded.trajectories).reshape(flow.trajectories.shape), flow.trajectories)
    assert decoded.prompt == flow.prompt and list(decoded.object_names) == flow.object_names
    assert msg_to_flow(record.deserialize()).num_points == 300


def test_bag_writer_refuses_existing_directory(tmp_path):
    (tmp_path / "bag").mkdir()
    with pytest.raises(ChordError, match="already exists"):
        BagWriter(tmp_path / "bag")


def test_read_bag_names_missing_directory(tmp_path):
    with pytest.raises(ChordError, match="not found"):
        list(read_bag(tmp_path / "missing"))


def test_a_killed_recorders_bag_is_read_up_to_its_last_complete_chunk(tmp_path):
    """kill -9 leaves no metadata.yaml and an MCAP file cut inside a chunk: the messages before the
    cut come back in order, byte for byte; the cut one and later do not."""
    import shutil

    from std_msgs.msg import String

    with BagWriter(tmp_path / "whole") as writer:
        for k in range(3000):
            writer.write("/chord/command", String(data=f"{k:05d} " + "x" * 900), 1_000 + k)
    original = list(read_bag(tmp_path / "whole"))
    (mcap_file,) = (tmp_path / "whole").glob("*.mcap")
    killed = tmp_path / "killed"
    killed.mkdir()
    data = mcap_file.read_bytes()
    (killed / mcap_file.name).write_bytes(data[: len(data) * 2 // 3])
    recovered = list(read_bag(killed))
    assert 0 < len(recovered) < len(original)
    assert [(m.topic, m.type_name, m.stamp_ns, m.data) for m in recovered] == [
        (m.topic, m.type_name, m.stamp_ns, m.data) for m in original[: len(recovered)]]
    assert recovered[-1].deserialize().data.startswith(f"{len(recovered) - 1:05d}")
    shutil.copy(mcap_file, killed / mcap_file.name)  # the whole file without its metadata.yaml
    assert len(list(read_bag(killed))) == len(original)
