"""`flow_recorder`: records chord topics into a rosbag2 file (MCAP by default) with `rosbags`.

Subscribes raw (serialized) to each configured topic once it appears on the graph, so messages
go to disk byte-for-byte as they came over DDS; `ros2 bag` and rclpy read the result.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rclpy.node import Node

from chord_core.errors import ChordError
from chord_ros import names
from chord_ros.bag import BagWriter, message_class
from chord_ros.node_params import declare, publishers_qos
from chord_ros.nodes.runner import run_node

DEFAULT_TOPICS = [names.COMMAND_TOPIC, names.FLOW_TOPIC, names.PLAN_TOPIC, names.FLOW_MARKERS_TOPIC,
                  names.GRASP_MARKERS_TOPIC, names.OBJECT_POSE_PREFIX + "/", names.OBJECT_CLOUD_PREFIX + "/",
                  names.JOINT_STATES_TOPIC]


def default_bag_path() -> str:
    return str(Path.home() / ".ros" / "chord_bags" / time.strftime("chord_%Y%m%d_%H%M%S"))


class FlowRecorder(Node):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("flow_recorder", **node_kwargs)
        path = declare(self, "bag_path", "",
                       "directory of the new bag; empty = ~/.ros/chord_bags/chord_<date>_<time>") or default_bag_path()
        storage = declare(self, "storage", "mcap", "rosbag2 storage plugin: mcap or sqlite3")
        self._wanted = set(declare(self, "topics", DEFAULT_TOPICS,
                                   "topics to record, each subscribed once a publisher shows its type; "
                                   "a name ending in '/' records every topic under that prefix"))
        period = float(declare(self, "discovery_period", 0.5,
                               "seconds between looks at the graph for topics not yet subscribed"))
        if period <= 0:
            raise ChordError(f"discovery_period must be > 0 s, got {period}")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._bag: BagWriter | None = BagWriter(path, storage=storage).open()
        # Ctrl-C closes the bag on the main thread while an executor thread may be inside _record;
        # without the lock the writer's last chunk header and its bytes disagree (unreadable bag)
        self._bag_lock = threading.Lock()
        self.bag_path = path
        self._recording: dict[str, object] = {}
        self.messages_written = 0
        self.create_timer(period, self._discover)
        self._discover()
        self.get_logger().info(f"recording {sorted(self._wanted)} to {path} ({storage})")

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if not self._wants(topic) or topic in self._recording or not types:
                continue
            msg_type = types[0]
            qos = publishers_qos(self, topic, depth=100)  # latched topics give their last sample too
            if qos is None:
                continue
            self._recording[topic] = self.create_subscription(
                message_class(msg_type), topic,
                lambda data, t=topic, mt=msg_type: self._record(t, mt, data), qos, raw=True)
            self.get_logger().info(f"recording {topic} [{msg_type}]")

    def _wants(self, topic: str) -> bool:
        return topic in self._wanted or any(w.endswith("/") and topic.startswith(w) for w in self._wanted)

    def _record(self, topic: str, msg_type: str, data: bytes) -> None:
        with self._bag_lock:
            if self._bag is None:  # arrived while the node shuts down: the bag is already finished
                return
            self._bag.write_serialized(topic, msg_type, data, self.get_clock().now().nanoseconds)
            self.messages_written += 1

    def close(self) -> None:
        """Finish the bag file (called on shutdown, possibly while a message is being written)."""
        with self._bag_lock:
            if self._bag is None:
                return
            self._bag.close()
            self._bag = None
            # the ROS context may already be shut down here, so report on stdout
            print(f"[flow_recorder] bag closed: {self.bag_path} ({self.messages_written} messages)",
                  flush=True)


def main(argv: list[str] | None = None) -> int:
    return run_node(FlowRecorder, argv)


if __name__ == "__main__":
    raise SystemExit(main())
