"""The command node in its own process: it frees itself when the choreographer dies mid-goal, and
refuses over-long text and over-sized clouds with the reason. The choreographers run the reference
teacher (no weights to load)."""

import signal
import time
from pathlib import Path

import pytest
from node_process import start_node, stop_nodes

from chord_core.formats.scans import load_scan
from chord_ros import graph
from chord_ros.convert import numpy_to_cloud

SCANS, MOTION = graph.demo_scene()


@pytest.fixture
def peer(rclpy_context):
    """The test's node and executor, which publish the commands and the object's cloud."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node = rclpy.create_node("command_node_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    yield node, executor
    executor.shutdown()
    node.destroy_node()


def publish_cloud(node, prefix: str) -> None:
    """The demo block's scan (1500 points) on `<prefix>/<name>`, latched as perception publishes it."""
    from sensor_msgs.msg import PointCloud2

    from chord_ros.node_params import latched_qos

    scan = load_scan(SCANS[0])
    node.create_publisher(PointCloud2, f"{prefix}/{scan.name}", latched_qos()).publish(
        numpy_to_cloud(scan.points, scan.colors))


def has(log: Path, text: str, count: int = 1) -> bool:
    return log.read_text().count(text) >= count


def publish_until(executor, publisher, text: str, done, timeout: float, procs, what: str) -> None:
    """Publish `text` every 2 s until done() (the node may not have the cloud or a server yet);
    fails after `timeout` s or when a node process exits."""
    from std_msgs.msg import String

    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        publisher.publish(String(data=text))
        resend = time.monotonic() + 2.0
        while time.monotonic() < resend and not done():
            for proc in procs:
                assert proc.poll() is None, f"node process {proc.args[2]} exited with {proc.returncode}"
            executor.spin_once(timeout_sec=0.05)


def wait_log(executor, log: Path, text: str, timeout: float, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while not has(log, text):
        for proc in procs:
            assert proc.poll() is None, f"node process {proc.args[2]} exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"'{text}' not in {log.name} after {timeout} s:\n{log.read_text()}"
        executor.spin_once(timeout_sec=0.1)


def start_choreographer(tmp_path: Path, log_name: str, action: str):
    return start_node("choreographer", {
        "teacher": "reference", "reference_motion": MOTION, "action_name": action, "flow_topic": f"{action}_flow",
        "work_dir": tmp_path / "runs", "write_views": False}, tmp_path / log_name)


def test_a_killed_choreographer_frees_the_node_for_the_next_command(tmp_path, peer):
    """kill -9 mid-goal, a new choreographer serving within seconds: the node gives the lost goal up
    with the reason and sends the next command to the new choreographer."""
    from std_msgs.msg import String

    node, executor = peer
    action = "/test_kill/choreograph"
    publish_cloud(node, "/test_kill/objects")
    command = node.create_publisher(String, "/test_kill/command", 10)
    first = start_choreographer(tmp_path, "first.log", action)
    second = None
    commander = start_node("command", {
        "command_topic": "/test_kill/command", "cloud_prefix": "/test_kill/objects", "action_name": action,
        "iterations": 5000, "feedback_timeout": 10.0}, tmp_path / "command.log")
    log = tmp_path / "command.log"
    try:
        publish_until(executor, command, "slide the block", lambda: has(log, "-> choreographer"), 300,
                      (first, commander), "the first command to be sent")
        wait_log(executor, tmp_path / "first.log", "goal 'slide the block'", 120, (first,))
        assert "given up" not in log.read_text(), "the goal was given up before the choreographer died"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = start_choreographer(tmp_path, "second.log", action)
        wait_log(executor, tmp_path / "second.log", f"serving {action}", 300, (second,))
        publish_until(executor, command, "lift the block", lambda: has(log, "command 'lift the block' ->"), 180,
                      (second, commander), "the node to send the next command to the new choreographer")
        text = log.read_text()
        assert "command 'slide the block' given up:" in text and "ready for the next command" in text, text
        # what it says once at start: the object's cloud arrived, and the choreographer serves (a script can wait)
        assert text.count("cloud of 'block' received (") == 1 and text.count("ready for commands") == 1, text
        wait_log(executor, tmp_path / "second.log", "goal 'lift the block'", 120, (second,))
    finally:
        stop_nodes(*[p for p in (commander, second, first) if p is not None])
    assert commander.returncode == 0, log.read_text()


def test_over_long_text_and_over_sized_clouds_are_refused_with_the_reason(tmp_path, peer):
    from std_msgs.msg import String

    node, executor = peer
    publish_cloud(node, "/test_size/objects")
    command = node.create_publisher(String, "/test_size/command", 10)
    commander = start_node("command", {
        "command_topic": "/test_size/command", "cloud_prefix": "/test_size/objects", "action_name": "/test_size/none",
        "max_command_chars": 100, "max_points_per_cloud": 1000}, tmp_path / "command.log")
    log = tmp_path / "command.log"
    long_text = "slide the block " + "very " * 200 + "slowly"
    try:
        publish_until(executor, command, long_text, lambda: has(log, "not sent:"), 180, (commander,),
                      "the long command's refusal")
        publish_until(executor, command, "slide the block", lambda: has(log, "'slide the block' not sent"), 120,
                      (commander,), "the refusal of the 1500-point cloud")
    finally:
        stop_nodes(commander)
    text = log.read_text()
    assert "the command has 1022 characters, more than max_command_chars (100)" in text, text
    assert long_text not in text and "very " * 30 not in text, "a long command is logged as a preview only"
    refusal = "object 'block': the cloud has 1500 points, more than max_points_per_cloud (1000)"
    assert f"cloud on /test_size/objects/block refused: {refusal}" in text, text  # as it arrives
    assert "command 'slide the block' not sent: no object clouds" in text and f"(refused: {refusal}" in text, text
    assert "-> choreographer" not in text
