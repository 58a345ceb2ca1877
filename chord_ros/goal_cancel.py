"""Cancel action goals through the action's CancelGoal service, by goal id or all at once.

For callers that hold no goal handle: `chord-ros stop` cancels every Choreograph goal (the
CancelGoal convention: a zero goal id and stamp mean all goals); the planner's stop request and its
shutdown cancel its own arm goal by the id it chose when sending it. A node that is closing after
Ctrl-C cannot use its own context any more (rclpy's signal handler has shut it down before
`close()` runs), so `cancel_in_own_context` sends the request from a short-lived context.
"""

from __future__ import annotations

import time

from action_msgs.srv import CancelGoal

CANCEL_REFUSALS = {
    CancelGoal.Response.ERROR_REJECTED: "nothing to cancel (no goal running, or the server refused)",
    CancelGoal.Response.ERROR_UNKNOWN_GOAL_ID: "the server does not know the goal",
    CancelGoal.Response.ERROR_GOAL_TERMINATED: "the goal had already finished",
}


def cancel_service(action: str) -> str:
    """The CancelGoal service every action server of `action` offers."""
    return f"{action.rstrip('/')}/_action/cancel_goal"


def cancel_request(goal_id: bytes | None = None) -> CancelGoal.Request:
    """A request for one goal (its 16-byte id), or for every goal of the server when None."""
    request = CancelGoal.Request()
    if goal_id is not None:
        request.goal_info.goal_id.uuid = list(goal_id)
    return request


def cancel_took_effect(response: CancelGoal.Response) -> bool:
    """The goal is being cancelled or no longer runs there (finished, or unknown to the server)."""
    return bool(response.goals_canceling) or response.return_code in (CancelGoal.Response.ERROR_GOAL_TERMINATED,
                                                                      CancelGoal.Response.ERROR_UNKNOWN_GOAL_ID)


def describe_cancel(response: CancelGoal.Response) -> str:
    """One sentence for the log or the terminal."""
    if response.goals_canceling:
        return f"cancelling {len(response.goals_canceling)} goal(s)"
    return CANCEL_REFUSALS.get(response.return_code, f"cancel answered with code {response.return_code}")


def cancel_in_own_context(action: str, goal_id: bytes | None, timeout: float) -> str:
    """Cancel from a context of its own (the caller's is shut down) and wait for the answer."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node("chord_goal_cancel", context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        client = node.create_client(CancelGoal, cancel_service(action))
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            return f"no cancel service on {action} within {timeout:g} s"
        future = client.call_async(cancel_request(goal_id))
        executor.spin_until_future_complete(future, timeout_sec=max(deadline - time.monotonic(), 0.1))
        return describe_cancel(future.result()) if future.done() else f"no answer to the cancel within {timeout:g} s"
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
