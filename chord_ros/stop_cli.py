"""`chord-ros stop`: stop what the graph does to the world, arm first.

The planner cancels its arm goal (the arm holds its position), withdraws the plan awaiting
confirmation and executes none still being computed; then every goal of the choreographer is
cancelled (it keeps the checkpoint). Exit code 1 when the planner could not stop the arm or
neither node answered.
"""

from __future__ import annotations

import argparse

from chord_ros import names

HELP = "cancel the arm goal (the planner's stop service) and the running distillation"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", type=float, default=5.0, help="seconds to wait for each node's service")
    parser.add_argument("--action", default=names.CHOREOGRAPH_ACTION, help="Choreograph action name")


def run(args: argparse.Namespace) -> int:
    from chord_core.errors import ChordError
    from chord_ros.command_cli import spinning_node, stop_node, stop_planner
    from chord_ros.command_client import PlannerServices, cancel_all_goals

    node, executor, thread = spinning_node("chord_stop_cli")
    try:
        planner = PlannerServices(node)
        arm_stopped = stop_planner(planner, args.wait)  # None: no planner answered
        try:
            print(f"choreographer: {cancel_all_goals(node, args.action, args.wait)}")
            choreographer_answered = True
        except ChordError as error:
            print(f"choreographer: {error}")
            choreographer_answered = False
    finally:
        stop_node(node, executor, thread)
    return 1 if arm_stopped is False or (arm_stopped is None and not choreographer_answered) else 0
