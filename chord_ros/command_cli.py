"""`chord-ros command TEXT [--execute]`: send one text command with the latest object clouds, print progress.

Waits for the object clouds and the choreographer, sends the goal, prints a progress line per
new iteration, the outcome, and (when a planner runs) the plan it produced for this command's flow.
A plan awaiting confirmation moves the arm only with `--execute` (or a later `chord-ros execute
PLAN_ID`); then the arm's outcome is printed. Ctrl-C cancels the distillation (the choreographer
keeps its checkpoint) or, once the flow is out, stops the planner's arm goal.
"""

from __future__ import annotations

import argparse
import signal
import threading
from dataclasses import dataclass

from chord_core.errors import ChordError
from chord_ros import names

HELP = "send a text command to the choreographer, print progress and the plan; --execute moves the arm"


@dataclass
class CommandOutcome:
    success: bool
    message: str
    flow: object = None          # chord_msgs/ObjectFlow on success
    plan: object = None          # chord_msgs/PlanReport when a planner answered
    executed: bool | None = None  # whether the arm executed the plan, when this command confirmed it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", help="how the objects should move, e.g. 'lower the lamp head'")
    parser.add_argument("--execute", action="store_true",
                        help="confirm the plan this command produces, so the arm executes it (a planner with "
                             "auto_execute executes it anyway)")
    parser.add_argument("--objects", nargs="+", help="object names to animate (default: every object seen)")
    parser.add_argument("--preset", default="", help="preset for this goal (default: the choreographer's)")
    parser.add_argument("--frames", type=int, default=0, help="frames (default: the preset's)")
    parser.add_argument("--iterations", type=int, default=0, help="iterations (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cloud-prefix", default=names.OBJECT_CLOUD_PREFIX, help="clouds come from PREFIX/<name>")
    parser.add_argument("--action", default=names.CHOREOGRAPH_ACTION, help="Choreograph action name")
    parser.add_argument("--wait", type=float, default=15.0,
                        help="seconds to wait for the clouds, the choreographer and the planner's services")
    parser.add_argument("--plan-timeout", type=float, default=120.0,
                        help="seconds to wait for the planner's report after the flow (0: do not wait)")


def send_command(node, text: str, *, objects: list[str] | None = None, preset: str = "", frames: int = 0,
                 iterations: int = 0, seed: int = 0, cloud_prefix: str = names.OBJECT_CLOUD_PREFIX,
                 action: str = names.CHOREOGRAPH_ACTION, wait: float = 15.0, plan_timeout: float = 120.0,
                 execute: bool = False, echo=print) -> CommandOutcome:
    """Run one command end to end on a spinning `node`; ChordError when it cannot be sent."""
    from chord_msgs.action import Choreograph
    from chord_msgs.msg import PlanReport
    from chord_ros.action_client import ActionClient
    from chord_ros.command_client import CloudCache, PlannerServices, describe_feedback, make_goal, wait_until
    from chord_ros.node_params import latched_qos

    cache = CloudCache(node, cloud_prefix)
    if not wait_until(lambda: cache.complete(objects), wait):
        cache.clouds(objects)  # raises with the names that are missing
    object_names, clouds = cache.clouds(objects)
    goal = make_goal(text, object_names, clouds, preset=preset, frames=frames, iterations=iterations, seed=seed)
    client = ActionClient(node, Choreograph, action)
    if not client.wait_for_server(timeout_sec=wait):
        raise ChordError(f"no choreographer serves {action} (waited {wait:.0f} s)")
    planner = PlannerServices(node)
    reports: list = []
    node.create_subscription(PlanReport, names.PLAN_TOPIC, reports.append, latched_qos(10))
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
        result = result_future.result().result
        echo(("flow ready: " if result.success else "failed: ") + result.message)
        outcome = CommandOutcome(result.success, result.message, result.flow if result.success else None)
        if not result.success or plan_timeout <= 0:
            return outcome
        stamp = result.flow.header.stamp  # the planner's report names the flow it answers by this stamp
        if not wait_until(lambda: any(r.flow_stamp == stamp for r in reports), plan_timeout):
            echo(f"no plan report on {names.PLAN_TOPIC} within {plan_timeout:.0f} s (is a planner running?)")
            return outcome
        outcome.plan = plan = next(r for r in reports if r.flow_stamp == stamp)
        echo(describe_plan(plan))
        if plan.accepted and plan.awaiting_confirmation:
            if execute:
                echo(f"confirming plan {plan.plan_id}; Ctrl-C stops the arm")
                outcome.executed = execute_plan(planner, plan.plan_id, wait, echo)
            else:
                echo(f"the arm waits for a confirmation: chord-ros execute {plan.plan_id} "
                     "(within the planner's plan_max_age)")
        elif plan.accepted:
            echo("the planner executes it now (auto_execute)")
        return outcome
    except KeyboardInterrupt:
        if not result_future.done():
            echo("cancelling the distillation ...")
            handle.cancel_goal_async()
            wait_until(result_future.done, 10.0)
            message = result_future.result().result.message if result_future.done() else "cancel sent"
            echo(f"choreographer: {message}")
            if not result_future.done() or not result_future.result().result.success:
                return CommandOutcome(False, message)
        stop_planner(planner, wait, echo)  # the flow is out: its plan may be running on the arm
        return CommandOutcome(False, "interrupted: the planner was asked to stop")


def describe_plan(plan) -> str:
    """One line about a PlanReport."""
    if not plan.accepted:
        return f"plan {plan.plan_id} refused at flow frame {plan.offending_frame}: {plan.reason}"
    from chord_ros.trajectory_conversion import duration_seconds

    points = plan.trajectory.points
    held = plan.manipulated_part or f"'{plan.grasp.object_name}'"
    return (f"plan {plan.plan_id} accepted: {plan.mode} {held}, {len(points)} points over "
            f"{duration_seconds(points[-1].time_from_start):.1f} s, max tracking error "
            f"{plan.max_tracking_error * 1000:.1f} mm")


def execute_plan(planner, plan_id: str, wait: float, echo=print) -> bool:
    """Confirm a plan and print the arm's outcome; whether the arm executed it."""
    response = planner.execute(plan_id, wait)
    echo(("executed: " if response.success else "not executed: ") + response.message)
    return bool(response.success)


def stop_planner(planner, wait: float, echo=print) -> bool | None:
    """Ask the planner to stop its arm goal; whether it says nothing of its own moves the arm any
    more, None when no planner answered."""
    echo("stopping the planner's arm goal ...")
    try:
        response = planner.stop(wait)
    except ChordError as error:
        echo(f"planner: {error}")
        return None
    echo(f"planner: {response.message}")
    return bool(response.success)


def spinning_node(name: str):
    """(node, executor, thread): a node spun by a background executor; close with `stop_node`.

    Without rclpy's signal handlers: Ctrl-C is only a KeyboardInterrupt in the calling thread, and
    the context stays up (rclpy's handler would shut it down), so whatever the caller does about
    the interrupt (cancel a goal, stop the arm) still reaches the graph and hears the answer. The
    KeyboardInterrupt handler is installed even when the process inherited SIGINT ignored (started
    as a background job of a script): a SIGINT must stop the arm however the client was started.
    """
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    from chord_ros.executors import SubmitOnceExecutor

    signal.signal(signal.SIGINT, signal.default_int_handler)

    if not rclpy.ok():
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node(name)
    executor = SubmitOnceExecutor(num_threads=2)
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
                               action=args.action, wait=args.wait, plan_timeout=args.plan_timeout,
                               execute=args.execute)
    finally:
        stop_node(node, executor, thread)
    return 0 if (outcome.success and (outcome.plan is None or outcome.plan.accepted)
                 and outcome.executed is not False) else 1
