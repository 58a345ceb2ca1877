"""The operator side: clouds from topics, unknown objects and empty commands refused before sending."""

import threading
import time

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_ros.command_client import describe_feedback, make_goal
from chord_ros.convert import numpy_to_cloud


@pytest.fixture
def spinning(rclpy_context):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    node = rclpy.create_node("command_client_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()


def test_cloud_cache_discovers_objects_and_names_unknown_ones(spinning):
    from sensor_msgs.msg import PointCloud2

    from chord_ros.command_client import CloudCache
    from chord_ros.node_params import latched_qos

    rng = np.random.default_rng(0)
    published = {name: rng.normal(size=(50 + i, 3)).astype(np.float32) for i, name in enumerate(["lamp", "block"])}
    for name, points in published.items():  # latched, as perception publishes segmented clouds
        spinning.create_publisher(PointCloud2, f"/test_objects/{name}", latched_qos()).publish(numpy_to_cloud(points))
    cache = CloudCache(spinning, "/test_objects", discovery_period=0.1)
    deadline = time.monotonic() + 20
    while not cache.complete(["lamp", "block"]):
        assert time.monotonic() < deadline, f"clouds not received, have {cache.known()}"
        time.sleep(0.05)
    names, clouds = cache.clouds()
    assert names == ["block", "lamp"] and [c.width for c in clouds] == [51, 50]
    assert cache.clouds(["lamp"])[0] == ["lamp"]
    with pytest.raises(ChordError, match=r"unknown object\(s\) \['mug'\].*known objects: \['block', 'lamp'\]"):
        cache.clouds(["lamp", "mug"])


def test_no_clouds_at_all_is_explained(spinning):
    from chord_ros.command_client import CloudCache

    cache = CloudCache(spinning, "/nothing_here", discovery_period=0.1)
    assert not cache.complete()
    with pytest.raises(ChordError, match="no object clouds"):
        cache.clouds()


def test_goal_building_refuses_empty_text_and_negative_counts():
    cloud = numpy_to_cloud(np.zeros((3, 3), np.float32))
    goal = make_goal("  lower the lamp ", ["lamp"], [cloud], iterations=5)
    assert goal.prompt == "lower the lamp" and goal.iterations == 5 and list(goal.object_names) == ["lamp"]
    with pytest.raises(ChordError, match="empty"):
        make_goal(" ", ["lamp"], [cloud])
    with pytest.raises(ChordError, match=">= 0"):
        make_goal("lower", ["lamp"], [cloud], frames=-1)


def test_feedback_line():
    from chord_msgs.action import Choreograph

    fb = Choreograph.Feedback(iteration=12, total_iterations=200, phase="coarse",
                              loss_names=["sds", "tau", "arap"], loss_values=[0.4125, 0.9, 0.002], eta=65.0)
    assert describe_feedback(fb) == "iteration 12/200 coarse  sds=0.412 arap=0.002  eta 1m05s"
