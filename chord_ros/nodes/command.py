"""`command`: the operator's entry point — text on /chord/command becomes a Choreograph goal.

The goal carries the latest segmented cloud of each object (topics `<cloud_prefix>/<name>`;
`object_names` empty = every object seen). One command at a time: text arriving while a goal
runs is logged and dropped. Progress and the outcome go to the log; the distilled flow reaches
the planner on /chord/flow from the choreographer.
"""

from __future__ import annotations

import threading
import time

from rclpy.action import ActionClient
from rclpy.node import Node
from std_msgs.msg import String

from chord_core.errors import ChordError
from chord_msgs.action import Choreograph
from chord_ros import names
from chord_ros.command_client import CloudCache, describe_feedback, make_goal
from chord_ros.node_params import declare
from chord_ros.nodes.runner import run_node


class Command(Node):
    def __init__(self) -> None:
        super().__init__("command")
        command_topic = declare(self, "command_topic", names.COMMAND_TOPIC, "std_msgs/String text commands")
        cloud_prefix = declare(self, "cloud_prefix", names.OBJECT_CLOUD_PREFIX,
                               "object clouds are read from <cloud_prefix>/<name>")
        action_name = declare(self, "action_name", names.CHOREOGRAPH_ACTION, "Choreograph action to call")
        self.object_names = declare(self, "object_names", [], "objects to animate; empty = every object seen")
        self.preset = declare(self, "preset", "", "preset for the goal; empty = the choreographer's")
        self.frames = declare(self, "frames", 0, "frames for the goal; 0 = the preset's")
        self.iterations = declare(self, "iterations", 0, "iterations for the goal; 0 = the preset's")
        self.seed = declare(self, "seed", 0, "random seed of the distillation")
        self.log_period = declare(self, "log_period", 2.0, "seconds between progress lines in the log")
        if self.log_period <= 0 or min(self.frames, self.iterations, self.seed) < 0:
            raise ChordError("log_period must be > 0 and frames, iterations, seed >= 0")
        self._clouds = CloudCache(self, cloud_prefix)
        self._client = ActionClient(self, Choreograph, action_name)
        self._active = threading.Event()
        self._last_log, self._last_key = 0.0, None
        self.create_subscription(String, command_topic, self._on_command, 10)
        self.get_logger().info(f"listening for commands on {command_topic}; clouds from {cloud_prefix}/<name>")

    def _on_command(self, msg: String) -> None:
        if self._active.is_set():
            self.get_logger().warning(f"dropping '{msg.data}': a command is still running (one at a time)")
            return
        try:
            object_names, clouds = self._clouds.clouds(self.object_names)
            goal = make_goal(msg.data, object_names, clouds, preset=self.preset, frames=self.frames,
                             iterations=self.iterations, seed=self.seed)
        except ChordError as error:
            self.get_logger().error(f"command '{msg.data}' not sent: {error}")
            return
        if not self._client.server_is_ready():
            self.get_logger().error(f"command '{msg.data}' not sent: no choreographer serves the action")
            return
        self._active.set()
        self.get_logger().info(f"command '{goal.prompt}' -> choreographer with objects {object_names}")
        self._client.send_goal_async(goal, feedback_callback=self._on_feedback).add_done_callback(self._on_response)

    def _on_feedback(self, feedback) -> None:
        """Log progress at most every log_period s, and during a long phase every 5 log periods."""
        fb, now = feedback.feedback, time.monotonic()
        key = (fb.iteration, fb.phase)
        if now - self._last_log >= (self.log_period if key != self._last_key else 5 * self.log_period):
            self._last_log, self._last_key = now, key
            self.get_logger().info(describe_feedback(fb))

    def _on_response(self, future) -> None:
        handle = future.result()
        if not handle.accepted:
            self._active.clear()
            self.get_logger().error("the choreographer rejected the goal (it is busy with another one)")
            return
        handle.get_result_async().add_done_callback(self._on_result)

    def _on_result(self, future) -> None:
        self._active.clear()
        result = future.result().result
        log = self.get_logger().info if result.success else self.get_logger().error
        log(("done: " if result.success else "failed: ") + result.message)


def main(argv: list[str] | None = None) -> int:
    return run_node(Command, argv)


if __name__ == "__main__":
    raise SystemExit(main())
