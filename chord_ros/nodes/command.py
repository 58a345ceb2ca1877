"""`command`: the operator's entry point — text on /chord/command becomes a Choreograph goal.

The goal carries the latest segmented cloud of each object (topics `<cloud_prefix>/<name>`;
`object_names` empty = every object seen). One command at a time: text arriving while a goal
runs is logged and dropped. Progress and the outcome go to the log; the distilled flow reaches
the planner on /chord/flow from the choreographer.

The node never waits forever for a goal: a watchdog gives the goal up (and cancels it) when the
choreographer stops serving the action or sends nothing for `feedback_timeout` s — a choreographer
killed mid-goal is still listed by DDS for ~20 s, and one restarted meanwhile does not know the goal.
Text longer than `max_command_chars` and clouds of more than `max_points_per_cloud` points are
refused with the reason; logs quote only a preview of long text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.node import Node
from std_msgs.msg import String

from chord_core.errors import ChordError
from chord_msgs.action import Choreograph
from chord_ros import names
from chord_ros.command_client import CloudCache, describe_feedback, goal_scans, make_goal
from chord_ros.convert import check_text_length, text_preview
from chord_ros.node_params import declare
from chord_ros.nodes.runner import run_node

#: Seconds between the watchdog's looks at the running goal.
WATCH_PERIOD = 1.0


@dataclass
class SentGoal:
    """The command in flight, shared by the action callbacks and the watchdog (under Command._lock)."""

    text: str
    last_heard: float  # time.monotonic() of the sending, the goal response or the last feedback
    handle: ClientGoalHandle | None = None


class Command(Node):
    def __init__(self) -> None:
        super().__init__("command")
        command_topic = declare(self, "command_topic", names.COMMAND_TOPIC, "std_msgs/String text commands")
        cloud_prefix = declare(self, "cloud_prefix", names.OBJECT_CLOUD_PREFIX,
                               "object clouds are read from <cloud_prefix>/<name>")
        self.action_name = declare(self, "action_name", names.CHOREOGRAPH_ACTION, "Choreograph action to call")
        self.object_names = declare(self, "object_names", [], "objects to animate; empty = every object seen")
        self.preset = declare(self, "preset", "", "preset for the goal; empty = the choreographer's")
        self.frames = declare(self, "frames", 0, "frames for the goal; 0 = the preset's")
        self.iterations = declare(self, "iterations", 0, "iterations for the goal; 0 = the preset's")
        self.seed = declare(self, "seed", 0, "random seed of the distillation")
        self.log_period = declare(self, "log_period", 2.0, "seconds between progress lines in the log")
        self.feedback_timeout = declare(self, "feedback_timeout", 20.0,
                                        "seconds without a goal response or feedback after which the command is "
                                        "given up as lost (the choreographer died or hangs) and cancelled")
        self.max_command_chars = declare(self, "max_command_chars", 500, "longer commands are refused")
        self.max_points_per_cloud = declare(self, "max_points_per_cloud", 500000,
                                            "a larger cloud is refused as it arrives and the object's earlier one "
                                            "forgotten: commands naming it are refused until a valid cloud comes")
        if self.log_period <= 0 or min(self.frames, self.iterations, self.seed) < 0:
            raise ChordError("log_period must be > 0 and frames, iterations, seed >= 0")
        if self.feedback_timeout <= 0 or min(self.max_command_chars, self.max_points_per_cloud) < 1:
            raise ChordError("feedback_timeout must be > 0 and max_command_chars, max_points_per_cloud >= 1")
        self._clouds = CloudCache(self, cloud_prefix, max_points=self.max_points_per_cloud)
        self._client = ActionClient(self, Choreograph, self.action_name)
        self._lock = threading.Lock()
        self._goal: SentGoal | None = None
        self._serving_announced = False
        self._last_log, self._last_key = 0.0, None
        self.create_subscription(String, command_topic, self._on_command, 10)
        self.create_timer(WATCH_PERIOD, self._watch)
        self.get_logger().info(f"listening for commands on {command_topic}; clouds from {cloud_prefix}/<name>")

    def _on_command(self, msg: String) -> None:
        with self._lock:
            running = self._goal
        if running is not None:
            self.get_logger().warning(f"dropping '{text_preview(msg.data)}': '{text_preview(running.text)}' is "
                                      "still running (one command at a time)")
            return
        try:
            check_text_length(msg.data, self.max_command_chars)
            object_names, clouds = self._clouds.clouds(self.object_names)
            goal = make_goal(msg.data, object_names, clouds, preset=self.preset, frames=self.frames,
                             iterations=self.iterations, seed=self.seed)
            goal_scans(goal, self.max_points_per_cloud, self.max_command_chars)  # refused here, not after sending
        except ChordError as error:
            self.get_logger().error(f"command '{text_preview(msg.data)}' not sent: {error}")
            return
        if not self._client.server_is_ready():
            self.get_logger().error(f"command '{goal.prompt}' not sent: no choreographer serves the action")
            return
        sent = SentGoal(goal.prompt, time.monotonic())
        with self._lock:
            self._goal = sent
        self.get_logger().info(f"command '{goal.prompt}' -> choreographer with objects {object_names}")
        self._client.send_goal_async(goal, feedback_callback=partial(self._on_feedback, sent)).add_done_callback(
            partial(self._on_response, sent))

    def _finish(self, sent: SentGoal) -> bool:
        """Free the node from `sent`; False when it was already freed (given up, or answered)."""
        with self._lock:
            if self._goal is not sent:
                return False
            self._goal = None
            return True

    def _on_feedback(self, sent: SentGoal, feedback) -> None:
        """Log progress at most every log_period s, and during a long phase every 5 log periods."""
        fb, now = feedback.feedback, time.monotonic()
        with self._lock:
            sent.last_heard = now
        key = (fb.iteration, fb.phase)
        if now - self._last_log >= (self.log_period if key != self._last_key else 5 * self.log_period):
            self._last_log, self._last_key = now, key
            self.get_logger().info(describe_feedback(fb))

    def _on_response(self, sent: SentGoal, future) -> None:
        handle = future.result()
        if not handle.accepted:
            if self._finish(sent):
                self.get_logger().error("the choreographer rejected the goal (it is busy with another one)")
            return
        with self._lock:
            given_up = self._goal is not sent
            sent.handle, sent.last_heard = handle, time.monotonic()
        if given_up:  # accepted after the watchdog gave it up: it must not occupy the choreographer
            handle.cancel_goal_async()
            return
        handle.get_result_async().add_done_callback(partial(self._on_result, sent))

    def _on_result(self, sent: SentGoal, future) -> None:
        if not self._finish(sent):
            return
        response = future.result()
        result = response.result
        if result.success:
            self.get_logger().info("done: " + result.message)
        else:
            outcome = "cancelled: " if response.status == GoalStatus.STATUS_CANCELED else "failed: "
            self.get_logger().error(outcome + result.message)

    def _watch(self) -> None:
        """Give the goal up when the choreographer stopped serving or has been silent too long (and say
        once when the choreographer is first found: commands sent before are refused)."""
        if not self._serving_announced and self._client.server_is_ready():
            self._serving_announced = True
            self.get_logger().info(f"choreographer serving {self.action_name}: ready for commands")
        with self._lock:
            sent = self._goal
            silent = time.monotonic() - sent.last_heard if sent is not None else 0.0
        if sent is None:
            return
        if not self._client.server_is_ready():
            reason = f"no choreographer serves {self.action_name} any more (it exited or died)"
        elif silent > self.feedback_timeout:
            reason = (f"no response or feedback for {silent:.0f} s (feedback_timeout {self.feedback_timeout:.0f} s): "
                      "the choreographer died, hangs or lost the goal")
        else:
            return
        if not self._finish(sent):
            return
        if sent.handle is not None:  # a choreographer that still runs it stops, so the next command is accepted
            sent.handle.cancel_goal_async()
        self.get_logger().error(f"command '{sent.text}' given up: {reason}; ready for the next command")


def main(argv: list[str] | None = None) -> int:
    return run_node(Command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
