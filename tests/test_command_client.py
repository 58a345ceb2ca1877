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


def _until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_cloud_over_the_limit_is_refused_on_arrival_and_forgets_the_earlier_one(spinning):
    """A command never runs on a stale cloud: an oversized cloud replaces the object's earlier one
    by a refusal naming the size, and the next valid cloud is taken again."""
    from sensor_msgs.msg import PointCloud2

    from chord_ros.command_client import CloudCache
    from chord_ros.node_params import latched_qos

    publisher = spinning.create_publisher(PointCloud2, "/limit_objects/lamp", latched_qos())
    cache = CloudCache(spinning, "/limit_objects", discovery_period=0.1, max_points=100)
    publisher.publish(numpy_to_cloud(np.zeros((50, 3), np.float32)))
    _until(lambda: cache.complete(["lamp"]), "first cloud not received")
    publisher.publish(numpy_to_cloud(np.zeros((101, 3), np.float32)))
    _until(lambda: not cache.complete(["lamp"]), "oversized cloud not refused")
    with pytest.raises(ChordError, match=r"latest cloud of 'lamp' was refused.*101 points.*\(100\)"):
        cache.clouds(["lamp"])
    with pytest.raises(ChordError, match="no object clouds.*refused"):
        cache.clouds()
    publisher.publish(numpy_to_cloud(np.zeros((60, 3), np.float32)))
    _until(lambda: cache.complete(["lamp"]), "valid cloud after the refusal not taken")
    assert [c.width for c in cache.clouds(["lamp"])[1]] == [60]


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


def test_plan_line_names_the_plan_its_motion_or_its_refusal():
    from trajectory_msgs.msg import JointTrajectoryPoint

    from chord_msgs.msg import PlanReport
    from chord_ros.command_cli import describe_plan
    from chord_ros.trajectory_conversion import duration_msg

    plan = PlanReport(plan_id="3f9a2c1b", accepted=True, mode="grasp", max_tracking_error=0.0012)
    plan.grasp.object_name = "block"
    plan.trajectory.points = [JointTrajectoryPoint(time_from_start=duration_msg(t)) for t in (0.0, 2.5, 5.25)]
    assert describe_plan(plan) == ("plan 3f9a2c1b accepted: grasp 'block', 3 points over 5.2 s, "
                                   "max tracking error 1.2 mm")
    refused = PlanReport(plan_id="77aa", accepted=False, offending_frame=4, reason="unreachable")
    assert describe_plan(refused) == "plan 77aa refused at flow frame 4: unreachable"


def test_cancel_answers_read_as_what_happened():
    from action_msgs.msg import GoalInfo
    from action_msgs.srv import CancelGoal

    from chord_ros.goal_cancel import cancel_request, cancel_took_effect, describe_cancel

    running = CancelGoal.Response(goals_canceling=[GoalInfo(), GoalInfo()])
    assert describe_cancel(running) == "cancelling 2 goal(s)" and cancel_took_effect(running)
    nothing = CancelGoal.Response(return_code=CancelGoal.Response.ERROR_REJECTED)
    assert describe_cancel(nothing).startswith("nothing to cancel") and not cancel_took_effect(nothing)
    finished = CancelGoal.Response(return_code=CancelGoal.Response.ERROR_GOAL_TERMINATED)
    assert describe_cancel(finished) == "the goal had already finished" and cancel_took_effect(finished)
    assert bytes(cancel_request(bytes(range(16))).goal_info.goal_id.uuid) == bytes(range(16))
    assert not any(cancel_request().goal_info.goal_id.uuid), "all goals: a zero id"
