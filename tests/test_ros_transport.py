"""Messages cross a real process boundary through rclpy and Fast DDS, arrays intact."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from chord_core.formats.flow import Flow
from chord_ros.convert import cloud_to_numpy, msg_to_flow

PEER = Path(__file__).with_name("ros_peer.py")


def receive_from_peer(context, kind: str, npz: Path, topic: str, msg_type: type, timeout: float = 60.0):
    """Start the peer publisher in its own process and return the first message received here."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    peer = subprocess.Popen([sys.executable, str(PEER), kind, str(npz), topic])
    node = rclpy.create_node("chord_test_listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    received = []
    node.create_subscription(msg_type, topic, received.append, 1)
    try:
        deadline = time.monotonic() + timeout
        while not received and time.monotonic() < deadline:
            assert peer.poll() is None, f"peer process exited with {peer.returncode}"
            executor.spin_once(timeout_sec=0.2)
    finally:
        peer.terminate()
        peer.wait(timeout=10)
        executor.shutdown()
        node.destroy_node()
    assert received, f"no message on {topic} within {timeout} s"
    return received[0]


def test_object_flow_crosses_processes(tmp_path, rclpy_context):
    from chord_msgs.msg import ObjectFlow

    rng = np.random.default_rng(3)
    flow = Flow(trajectories=rng.normal(size=(41, 2000, 3)), object_ids=rng.integers(0, 2, 2000),
                fps=10.0, prompt="lower the lamp head", object_names=["lamp", "table"],
                rotations=rng.normal(size=(41, 2000, 4)))
    msg = receive_from_peer(rclpy_context, "flow", flow.save(tmp_path / "flow.npz"),
                            "/chord/test_flow", ObjectFlow)
    assert msg.header.frame_id == "panda_link0"
    back = msg_to_flow(msg)
    np.testing.assert_array_equal(back.trajectories, flow.trajectories)
    np.testing.assert_array_equal(back.rotations, flow.rotations)
    np.testing.assert_array_equal(back.object_ids, flow.object_ids)
    assert (back.prompt, back.object_names, back.fps) == (flow.prompt, flow.object_names, 10.0)


def test_100k_point_cloud_crosses_processes(tmp_path, rclpy_context):
    from sensor_msgs.msg import PointCloud2

    rng = np.random.default_rng(4)
    xyz = rng.normal(size=(100_000, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(100_000, 3)) / 255.0
    np.savez(tmp_path / "cloud.npz", xyz=xyz, rgb=rgb)
    msg = receive_from_peer(rclpy_context, "cloud", tmp_path / "cloud.npz", "/chord/test_cloud", PointCloud2)
    assert msg.width * msg.height == 100_000
    xyz_back, rgb_back = cloud_to_numpy(msg)
    np.testing.assert_array_equal(xyz_back, xyz)
    np.testing.assert_allclose(rgb_back, rgb, atol=1e-6)
