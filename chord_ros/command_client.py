"""Operator side of the Choreograph action, shared by the `command` node and `chord-ros command`.

`CloudCache` keeps the latest segmented cloud of every object published under a topic prefix
(`/chord/objects/<name>`); `make_goal` turns a text command plus those clouds into a goal;
`describe_feedback` is the one-line progress both print.
"""

from __future__ import annotations

import threading

from rclpy.node import Node
from sensor_msgs.msg import PointCloud2

from chord_core.errors import ChordError
from chord_msgs.action import Choreograph
from chord_ros import names
from chord_ros.node_params import publishers_qos


class CloudCache:
    """Latest PointCloud2 per object name, subscribing to `<prefix>/<name>` topics as they appear."""

    def __init__(self, node: Node, prefix: str = names.OBJECT_CLOUD_PREFIX, discovery_period: float = 0.5) -> None:
        self._node, self._prefix = node, prefix.rstrip("/") + "/"
        self._lock = threading.Lock()
        self._clouds: dict[str, PointCloud2] = {}
        self._subscriptions_by_name: dict[str, object] = {}
        node.create_timer(discovery_period, self.discover)
        self.discover()

    def discover(self) -> None:
        for topic, types in self._node.get_topic_names_and_types():
            name = topic[len(self._prefix):]
            if (not topic.startswith(self._prefix) or "/" in name or name in self._subscriptions_by_name
                    or "sensor_msgs/msg/PointCloud2" not in types):
                continue
            qos = publishers_qos(self._node, topic, depth=1)
            if qos is not None:
                self._subscriptions_by_name[name] = self._node.create_subscription(
                    PointCloud2, topic, lambda msg, name=name: self._store(name, msg), qos)

    def _store(self, name: str, msg: PointCloud2) -> None:
        with self._lock:
            self._clouds[name] = msg

    def known(self) -> list[str]:
        with self._lock:
            return sorted(self._clouds)

    def complete(self, wanted: list[str] | None = None) -> bool:
        """True once every wanted object (or every object topic seen, at least one) has a cloud."""
        with self._lock:
            have = set(self._clouds)
        return set(wanted).issubset(have) if wanted else bool(have) and have >= set(self._subscriptions_by_name)

    def clouds(self, wanted: list[str] | None = None) -> tuple[list[str], list[PointCloud2]]:
        """(names, clouds) for `wanted` (all received when empty); ChordError names unknown objects."""
        with self._lock:
            available = dict(self._clouds)
        if not available:
            raise ChordError(f"no object clouds received on {self._prefix}<name>; is the perception "
                             "(or sim_arm with publish_clouds) running?")
        wanted = list(wanted) if wanted else sorted(available)
        unknown = [n for n in wanted if n not in available]
        if unknown:
            raise ChordError(f"unknown object(s) {unknown}: no cloud on {self._prefix}<name>; "
                             f"known objects: {sorted(available)}")
        return wanted, [available[n] for n in wanted]


def make_goal(prompt: str, object_names: list[str], clouds: list[PointCloud2], *, preset: str = "",
              frames: int = 0, iterations: int = 0, seed: int = 0) -> Choreograph.Goal:
    """A Choreograph goal; an empty prompt is refused here, before anything is sent."""
    if not prompt.strip():
        raise ChordError("the command is empty; say how the objects should move")
    if min(frames, iterations, seed) < 0:
        raise ChordError("frames, iterations and seed must be >= 0")
    return Choreograph.Goal(prompt=prompt.strip(), clouds=list(clouds), object_names=list(object_names),
                            preset=preset, frames=frames, iterations=iterations, seed=seed)


def describe_feedback(fb: Choreograph.Feedback) -> str:
    """'iteration 12/200 coarse  sds=0.41 temporal=0.002  eta 1m05s'."""
    losses = " ".join(f"{n}={v:.3g}" for n, v in zip(fb.loss_names, fb.loss_values) if n not in ("tau", "cfg"))
    eta = f"{int(fb.eta // 60)}m{int(fb.eta % 60):02d}s"
    return f"iteration {fb.iteration}/{fb.total_iterations} {fb.phase}  {losses}  eta {eta}".rstrip()
