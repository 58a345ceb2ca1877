"""`chord-ros command TEXT`: send one text command with the latest object clouds, print progress.

Waits for the object clouds and the choreographer, sends the goal, prints a progress line per
new iteration, then the outcome, and (when a planner runs) the plan it produced. Ctrl-C cancels
the goal; the choreographer keeps its checkpoint.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass

from chord_core.errors import ChordError
from chord_ros import names

HELP = "send a text command to the choreographer and print progress and the outcome"


@dataclass
class CommandOutcome:
    success: bool
    message: str
    flow: object = None          # chord_msgs/ObjectFlow on success
    plan: object = None          # chord_msgs/PlanReport when a planner answered


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="how the objects should move, e.g. 'lower the lamp head'")
    parser.add_argument("--objects", nargs="+", help="object names to animate (default: every object seen)")
    parser.add_argument("--preset", default="", help="preset for this goal (default: the choreographer's)")
    parser.add_argument("--frames", type=int, default=0, help="frames (default: the preset's)")
    parser.add_argument("--iterations", type=int, default=0, help="iterations (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cloud-prefix", default=names.OBJECT_CLOUD_PREFIX, help="clouds come from PREFIX/<name>")
    parser.add_argument("--action", default=names.CHOREOGRAPH_ACTION, help="Choreograph action name")
    parser.add_argument("--wait", type=float, default=15.0,
                        help="seconds to wait for the clouds and the choreographer")
    parser.add_argument("--plan-timeout", type=float, default=120.0,
                        help="seconds to wait for the planner's report after the flow (0: do not wait)")


def wait_until(condition, timeout: float, period: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(period)
    return True


def send_command(node, text: str, *, objects: list[str] | None = None, preset: str = "", frames: int = 0,
                 iterations: int = 0, seed: int = 0, cloud_prefix: str = names.OBJECT_CLOUD_PREFIX,
                 action: str = names.CHOREOGRAPH_ACTION, wait: float = 15.0, plan_timeout: float = 120.0,
                 echo=print) -> CommandOutcome:
    """Run one command end to end on a spinning `node`; ChordError when it cannot be sent."""
    from rclpy.action import ActionClient

    from chord_msgs.action import Choreograph
    from chord_msgs.msg import PlanReport
    from chord_ros.command_client import CloudCache, describe_feedback, make_goal
    from chord_ros.node_params import latched_qos

    cache = CloudCache(node, cloud_prefix)
    if not wait_until(lambda: cache.complete(objects), wait):
        cache.clouds(objects)  # raises with the names that are missing
    object_names, clouds = cache.clouds(objects)
    goal = make_goal(text, object_names, clouds, preset=preset, frames=frames, iterations=iterations, seed=seed)
    client = ActionClient(node, Choreograph, action)
    if not client.wait_for_server(timeout_sec=wait):
        raise ChordError(f"no choreographer serves {action} (waited {wait:.0f} s)")
    reports: list = []
    sent_at = node.get_clock().now()
    node.create_subscription(PlanReport, names.PLAN_TOPIC,
                             lambda msg: reports.append(msg) if _newer(msg, sent_at) else None, latched_qos())
    last = {"iteration": -1}

    def on_feedback(feedback) -> None:
        fb = feedback.feedback
        if fb.iteration != last["iteration"]:
            last["iteration"] = fb.iteration
            echo(describe_feedback(fb))

    echo(f"sending '{goal.prompt}' with objects {object_names}")
    goal_future = client.send_goal_async(goal, feedback_callback=on_feedback)
    wait_until(goal_future.done, float("inf"))
    handle = goal_future.result()
    if not handle.accepted:
        raise ChordError("the choreographer rejected the goal: it runs one goal at a time and is busy")
    result_future = handle.get_result_async()
    try:
        wait_until(result_future.done, float("inf"))
    except KeyboardInterrupt:
        echo("cancelling ...")
        handle.cancel_goal_async()
        wait_until(result_future.done, 10.0)
        message = result_future.result().result.message if result_future.done() else "cancel sent"
        return CommandOutcome(False, message)
    result = result_future.result().result
    echo(("flow ready: " if result.success else "failed: ") + result.message)
    outcome = CommandOutcome(result.success, result.message, result.flow if result.success else None)
    if result.success and plan_timeout > 0:
        if wait_until(lambda: bool(reports), plan_timeout):
            outcome.plan = reports[-1]
            plan = outcome.plan
            echo(f"plan accepted ({plan.mode}, {len(plan.trajectory.points)} points, max tracking error "
                 f"{plan.max_tracking_error * 1000:.1f} mm)" if plan.accepted else
                 f"plan refused at flow frame {plan.offending_frame}: {plan.reason}")
        else:
            echo(f"no plan report on {names.PLAN_TOPIC} within {plan_timeout:.0f} s (is a planner running?)")
    return outcome


def _newer(msg, since) -> bool:
    from rclpy.time import Time

    return Time.from_msg(msg.header.stamp).nanoseconds >= since.nanoseconds


def spinning_node(name: str):
    """(node, executor, thread): a node spun by a background executor; close with `stop_node`."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    if not rclpy.ok():
        rclpy.init()
    node = rclpy.create_node(name)
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    return node, executor, thread


def stop_node(node, executor, thread) -> None:
    import rclpy

    executor.shutdown()
    node.destroy_node()
    thread.join(timeout=2.0)
    if rclpy.ok():
        rclpy.shutdown()


def run(args: argparse.Namespace) -> int:
    node, executor, thread = spinning_node("chord_command_cli")
    try:
        outcome = send_command(node, args.text, objects=args.objects, preset=args.preset, frames=args.frames,
                               iterations=args.iterations, seed=args.seed, cloud_prefix=args.cloud_prefix,
                               action=args.action, wait=args.wait, plan_timeout=args.plan_timeout)
    finally:
        stop_node(node, executor, thread)
    return 0 if outcome.success and (outcome.plan is None or outcome.plan.accepted) else 1
