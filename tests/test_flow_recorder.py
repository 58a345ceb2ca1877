"""flow_recorder node in its own process: what is published is what the bag holds."""

import signal
import subprocess
import sys
import time

import numpy as np

from chord_core.formats.flow import Flow
from chord_ros.bag import read_bag
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
