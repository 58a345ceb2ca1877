"""`chord-ros execute PLAN_ID`: confirm a plan the planner published, so the arm executes it.

The planner sends the plan only when it is still its latest, awaits confirmation, is younger than
its `plan_max_age` and the arm is at the plan's start; otherwise it answers why not. The answer
comes when the arm has finished. Ctrl-C meanwhile stops the arm (the planner's stop service).
"""

from __future__ import annotations

import argparse

HELP = "confirm a plan by its id (printed by `chord-ros command`, PlanReport.plan_id): the arm executes it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan_id", help="the id of the plan to execute")
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the planner's services")


def run(args: argparse.Namespace) -> int:
    from chord_ros.command_cli import execute_plan, spinning_node, stop_node, stop_planner
    from chord_ros.command_client import PlannerServices

    node, executor, thread = spinning_node("chord_execute_cli")
    try:
        planner = PlannerServices(node)
        try:
            return 0 if execute_plan(planner, args.plan_id, args.wait) else 1
        except KeyboardInterrupt:
            stop_planner(planner, args.wait)
            raise
    finally:
        stop_node(node, executor, thread)
