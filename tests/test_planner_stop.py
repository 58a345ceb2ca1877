"""Stopping the arm (its own module: a graph with a slow arm). `chord-ros stop` cancels the planner's
arm goal in progress and the execute request answers that it was cancelled; so does Ctrl-C in
`chord-ros execute`; a planner shut down (SIGINT) during an arm goal cancels it. sim_arm runs at a
tenth of real time, so a goal of the lift-and-move plan (about 9 s) lasts well over a minute: long
past the stop."""

import signal
import subprocess
import sys

import pytest
from test_planner_node import PLANNING_TIMEOUT, planner_graph

from chord_core.robot import flow_cases
from chord_ros import names


@pytest.fixture(scope="module")
def slow(tmp_path_factory):
    with planner_graph(tmp_path_factory.mktemp("planner_stop"), {"real_time_factor": 0.1, "settle_time": 0.1},
                       {"grasp_backend": "antipodal", "server_timeout": 60.0}) as observer:
        yield observer


def start_execution(slow, confirm=None):
    """Plan the lift-and-move flow, confirm it (an ExecutePlan request, or `confirm(plan_id)`), and
    return (the pending answer or what confirm returned, the arm goal's id) once the arm executes it."""
    from action_msgs.msg import GoalStatus

    from chord_msgs.srv import ExecutePlan

    report = slow.plan(flow_cases.lift_and_move().flow)
    assert report.accepted and report.awaiting_confirmation, report.reason
    before = set(slow.goals)
    if confirm is None:
        client = slow.node.create_client(ExecutePlan, names.EXECUTE_SERVICE)
        slow.spin_until(client.service_is_ready, what="the execute service")
        answer = client.call_async(ExecutePlan.Request(plan_id=report.plan_id))
    else:
        answer = confirm(report.plan_id)
    slow.spin_until(lambda: any(s == GoalStatus.STATUS_EXECUTING for g, s in slow.goals.items() if g not in before),
                    what="the arm executing the confirmed plan")
    (goal,) = set(slow.goals) - before
    return answer, goal


def test_chord_ros_stop_cancels_the_arm_goal_in_progress(slow):
    from action_msgs.msg import GoalStatus

    answer, goal = start_execution(slow)
    cli = subprocess.run([sys.executable, "-m", "chord_ros.cli", "stop"], capture_output=True, text=True,
                         timeout=PLANNING_TIMEOUT)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "planner: the goal on /arm_controller/follow_joint_trajectory: cancelling 1 goal(s)" in cli.stdout
    assert "choreographer: no server on /chord/choreograph/_action/cancel_goal" in cli.stdout  # none runs here
    slow.spin_until(answer.done, what="the execute request's answer")
    message = answer.result().message
    assert not answer.result().success and message.startswith("step 2/6, arm approach") and "canceled" in message
    slow.spin_until(lambda: slow.goals[goal] == GoalStatus.STATUS_CANCELED, what="the arm's goal to end cancelled")
    goals = set(slow.goals)
    slow.spin_for(1.0)
    assert set(slow.goals) == goals  # the plan's later steps were never sent


def test_ctrl_c_in_chord_ros_execute_stops_the_arm(slow):
    """Also when the client inherited SIGINT ignored, as a background job of a script does (a CI
    run started with `&` executed the whole plan through the Ctrl-C)."""
    from action_msgs.msg import GoalStatus

    def confirm(plan_id: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "chord_ros.cli", "execute", plan_id], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))

    cli, goal = start_execution(slow, confirm)
    cli.send_signal(signal.SIGINT)
    out, _ = cli.communicate(timeout=PLANNING_TIMEOUT)
    assert cli.returncode == 130, out
    assert "planner: the goal on /arm_controller/follow_joint_trajectory: cancelling 1 goal(s)" in out
    slow.spin_until(lambda: slow.goals[goal] == GoalStatus.STATUS_CANCELED, what="the arm's goal to end cancelled")


def test_shutting_the_planner_down_cancels_its_arm_goal(slow):
    from action_msgs.msg import GoalStatus

    _, goal = start_execution(slow)
    planner = slow.procs.pop()
    planner.send_signal(signal.SIGINT)
    assert planner.wait(timeout=PLANNING_TIMEOUT) == 0
    slow.spin_until(lambda: slow.goals[goal] == GoalStatus.STATUS_CANCELED, what="the arm's goal to end cancelled")
    assert ("planner shutting down during a goal on /arm_controller/follow_joint_trajectory: cancelling 1 goal(s)"
            in slow.log.read_text())
