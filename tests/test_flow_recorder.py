"""flow_recorder node in its own process: what is published is what the bag holds."""

import signal
import subprocess
import sys
import threading
import time

import numpy as np

from chord_core.formats.flow import Flow
from chord_ros.bag import BagWriter, read_bag
from chord_ros.convert import flow_to_msg, msg_to_flow


def test_recorder_writes_published_flows_to_mcap(tmp_path, rclpy_context):
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from std_msgs.msg import String

    from chord_msgs.msg import ObjectFlow

    bag = tmp_path / "bag"
    recorder = subprocess.Popen([
        sys.executable, "-m", "chord_ros.nodes.flow_recorder", "--ros-args",
        "-p", f"bag_path:={bag}", "-p", "topics:=['/chord/flow', '/chord/command', '/chord/object_pose/']",
        "-p", "discovery_period:=0.1"])
    node = rclpy.create_node("recorder_test_pub", context=rclpy_context)
    flow_pub = node.create_publisher(ObjectFlow, "/chord/flow", 10)
    text_pub = node.create_publisher(String, "/chord/command", 10)
    pose_pub = node.create_publisher(PoseStamped, "/chord/object_pose/block", 10)  # recorded by prefix
    other_pub = node.create_publisher(PoseStamped, "/chord/object_posex", 10)  # not under the prefix
    rng = np.random.default_rng(0)
    flows = [Flow(rng.normal(size=(5, 40, 3)), np.zeros(40), 10.0, prompt=f"move {i}",
                  object_names=["cube"]) for i in range(3)]
    try:
        deadline = time.monotonic() + 60
        while (flow_pub.get_subscription_count() == 0 or text_pub.get_subscription_count() == 0
               or pose_pub.get_subscription_count() == 0):
            assert time.monotonic() < deadline, "recorder never subscribed"
            assert recorder.poll() is None, "recorder exited early"
            time.sleep(0.1)
        for flow in flows:
            flow_pub.publish(flow_to_msg(flow))
            time.sleep(0.05)
        text_pub.publish(String(data="lower the lamp"))
        pose = PoseStamped()
        pose.pose.position.x = 0.25
        pose_pub.publish(pose)
        other_pub.publish(pose)
        time.sleep(1.0)
    finally:
        recorder.send_signal(signal.SIGINT)
        assert recorder.wait(timeout=20) == 0
        node.destroy_node()
    records = list(read_bag(bag))
    flows_back = [msg_to_flow(r.deserialize()) for r in records if r.topic == "/chord/flow"]
    assert [f.prompt for f in flows_back] == ["move 0", "move 1", "move 2"]
    for sent, got in zip(flows, flows_back):
        np.testing.assert_array_equal(got.trajectories, sent.trajectories)
    commands = [r.deserialize().data for r in records if r.topic == "/chord/command"]
    assert commands == ["lower the lamp"]
    assert {r.topic for r in records} == {"/chord/flow", "/chord/command", "/chord/object_pose/block"}
    assert [r.deserialize().pose.position.x for r in records if r.topic == "/chord/object_pose/block"] == [0.25]
    stamps = [r.stamp_ns for r in records]
    assert stamps == sorted(stamps)


class HeldWriter(BagWriter):
    """A bag writer whose next write stops half way until released: an executor thread inside
    `_record` at the moment Ctrl-C closes the bag."""

    def __init__(self, path) -> None:
        super().__init__(path)
        self.inside, self.release = threading.Event(), threading.Event()

    def write_serialized(self, topic: str, msg_type: str, data: bytes, stamp_ns: int) -> None:
        self.inside.set()
        self.release.wait(timeout=30)
        super().write_serialized(topic, msg_type, data, stamp_ns)


def test_closing_waits_for_a_message_being_written_and_the_bag_stays_readable(tmp_path, rclpy_context):
    from rclpy.parameter import Parameter
    from rclpy.serialization import serialize_message
    from std_msgs.msg import String

    from chord_ros.nodes.flow_recorder import FlowRecorder

    recorder = FlowRecorder(context=rclpy_context, parameter_overrides=[
        Parameter("bag_path", value=str(tmp_path / "unused")), Parameter("topics", value=["/none"])])
    recorder.close()
    recorder._bag = held = HeldWriter(tmp_path / "bag").open()
    data = serialize_message(String(data="last words"))
    writing = threading.Thread(target=recorder._record, args=("/chord/command", "std_msgs/msg/String", data))
    writing.start()
    assert held.inside.wait(timeout=30)
    closing = threading.Thread(target=recorder.close)
    closing.start()
    closing.join(timeout=0.5)
    assert closing.is_alive(), "the bag was closed under a message still being written"
    held.release.set()
    writing.join(timeout=30)
    closing.join(timeout=30)
    recorder._record("/chord/command", "std_msgs/msg/String", data)  # after close: dropped, no error
    recorder.destroy_node()
    assert [r.deserialize().data for r in read_bag(tmp_path / "bag")] == ["last words"]
    assert recorder.messages_written == 1
