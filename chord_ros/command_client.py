"""Operator side of the graph, shared by the `command` node and the `chord-ros` operator commands.

`CloudCache` keeps the latest segmented cloud of every object published under a topic prefix
(`/chord/objects/<name>`; the planner reads it too, to refuse a flow of an object that has moved
since the command); `make_goal` turns a text command plus those clouds into a Choreograph
goal; `describe_feedback` is the one-line progress both print. `PlannerServices` confirms a plan
or stops the planner's arm goal (`chord-ros execute`, `stop`, `command --execute` and its Ctrl-C);
`cancel_all_goals` cancels every goal of an action (`chord-ros stop` on the choreographer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from action_msgs.srv import CancelGoal
from rclpy.client import Client
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2

from chord_core.errors import ChordError
from chord_core.formats.scans import Scan, validate_scan_arrays
from chord_msgs.action import Choreograph
from chord_msgs.srv import ExecutePlan, Stop
from chord_ros import goal_cancel, names
from chord_ros.convert import check_cloud_points, check_text_length, cloud_to_numpy
from chord_ros.frames import FrameTransformer
from chord_ros.memory import release_memory
from chord_ros.node_params import publishers_qos

#: A replaced cloud this large (bytes) has its memory handed back to the system at once.
LARGE_CLOUD_BYTES = 16 * 2**20


class CloudCache:
    """Latest PointCloud2 per object name, subscribing to `<prefix>/<name>` topics as they appear.

    A cloud of more than `max_points` points is refused as it arrives: it replaces (forgets) the
    object's earlier cloud, so a command never runs on a stale one, and a command naming the object
    is refused with the reason; its memory goes back to the system at the next discovery tick (a
    kept 10 M-point cloud held the command node 115 MB larger)."""

    def __init__(self, node: Node, prefix: str = names.OBJECT_CLOUD_PREFIX, discovery_period: float = 0.5,
                 max_points: int | None = None) -> None:
        self._node, self._prefix, self._max_points = node, prefix.rstrip("/") + "/", max_points
        self._lock = threading.Lock()
        self._clouds: dict[str, PointCloud2] = {}
        self._refused: dict[str, str] = {}
        self._release_pending = False
        self._subscriptions_by_name: dict[str, object] = {}
        node.create_timer(discovery_period, self.discover)
        self.discover()

    def discover(self) -> None:
        if self._release_pending:  # a large message refused in a callback is freed only after it returns
            self._release_pending = False
            release_memory()
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
        try:
            if self._max_points is not None:
                check_cloud_points(msg, self._max_points, name)
        except ChordError as error:
            self._node.get_logger().error(f"cloud on {self._prefix}{name} refused: {error}")
            with self._lock:
                previous = self._clouds.pop(name, None)
                self._refused[name] = str(error)
            self._release_pending = len(msg.data) > LARGE_CLOUD_BYTES or self._release_pending
            return
        with self._lock:
            previous = self._clouds.get(name)
            self._clouds[name] = msg
            self._refused.pop(name, None)
        if previous is None:  # the first (or first since a refusal): commands can name it from now on
            self._node.get_logger().info(f"cloud of '{name}' received ({msg.width * msg.height} points)")
        if previous is not None and len(previous.data) > LARGE_CLOUD_BYTES:
            del previous  # the last reference: hand its pages back (a 10 M-point cloud left +115 MB)
            release_memory()

    def known(self) -> list[str]:
        with self._lock:
            return sorted(self._clouds)

    def latest(self, name: str) -> PointCloud2 | None:
        """The object's latest accepted cloud, or None (never received, or its latest was refused)."""
        with self._lock:
            return self._clouds.get(name)

    def complete(self, wanted: list[str] | None = None) -> bool:
        """True once every wanted object (or every object topic seen, at least one) has a cloud."""
        with self._lock:
            have = set(self._clouds)
        return set(wanted).issubset(have) if wanted else bool(have) and have >= set(self._subscriptions_by_name)

    def clouds(self, wanted: list[str] | None = None) -> tuple[list[str], list[PointCloud2]]:
        """(names, clouds) for `wanted` (all received when empty); ChordError names unknown objects."""
        with self._lock:
            available, refused = dict(self._clouds), dict(self._refused)
        for name in wanted or []:
            if name in refused:
                raise ChordError(f"the latest cloud of '{name}' was refused: {refused[name]}")
        if not available:
            raise ChordError(f"no object clouds received on {self._prefix}<name>; is the perception "
                             "(or sim_arm with publish_clouds) running?"
                             + (f" (refused: {'; '.join(refused.values())})" if refused else ""))
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


def goal_scans(goal: Choreograph.Goal, max_points: int, max_chars: int,
               frames: FrameTransformer | None = None) -> list[Scan]:
    """The goal's clouds as validated scans, moved into the planning frame by `frames` (None: left
    in their own frames, the command node's early check); ChordError naming the first problem
    (sizes over the limits included, checked before a cloud is decoded; a frame without transform)."""
    if not goal.prompt.strip():
        raise ChordError("the goal has an empty prompt; say how the objects should move")
    check_text_length(goal.prompt, max_chars)
    if not goal.clouds:
        raise ChordError("the goal has no object clouds")
    if len(goal.object_names) != len(goal.clouds):
        raise ChordError(f"the goal has {len(goal.clouds)} clouds but {len(goal.object_names)} object names")
    if any(not n.strip() for n in goal.object_names) or len(set(goal.object_names)) != len(goal.object_names):
        raise ChordError(f"object names must be non-empty and unique, got {list(goal.object_names)}")
    scans = []
    for name, cloud in zip(goal.object_names, goal.clouds):
        check_cloud_points(cloud, max_points, name)
        try:
            points, colors = cloud_to_numpy(cloud)
        except ChordError as error:
            raise ChordError(f"object '{name}': {error}") from None
        scan = validate_scan_arrays(name, points, colors)
        scans.append(scan if frames is None else frames.scan(scan, cloud.header.frame_id))
    return scans


def describe_feedback(fb: Choreograph.Feedback) -> str:
    """'iteration 12/200 coarse  sds=0.41 temporal=0.002  eta 1m05s'."""
    losses = " ".join(f"{n}={v:.3g}" for n, v in zip(fb.loss_names, fb.loss_values) if n not in ("tau", "cfg"))
    eta = f"{int(fb.eta // 60)}m{int(fb.eta % 60):02d}s"
    return f"iteration {fb.iteration}/{fb.total_iterations} {fb.phase}  {losses}  eta {eta}".rstrip()


def wait_until(condition: Callable[[], bool], timeout: float, period: float = 0.05) -> bool:
    """Poll `condition` (a node spun by another thread fills it in) until true or `timeout` s pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(period)
    return True


def call(client: Client, request, wait: float, timeout: float):
    """The response of one service call from a node spun by another thread; ChordError when no
    server shows up within `wait` s or none answers within `timeout` s."""
    if not client.wait_for_service(timeout_sec=wait):
        raise ChordError(f"no server on {client.srv_name} (waited {wait:g} s)")
    future = client.call_async(request)
    if not wait_until(future.done, timeout):
        raise ChordError(f"no answer on {client.srv_name} within {timeout:g} s")
    return future.result()


class PlannerServices:
    """The planner's execute and stop services. The clients are made up front, so that they are
    matched by the time Ctrl-C needs the stop."""

    def __init__(self, node: Node, execute: str = names.EXECUTE_SERVICE, stop: str = names.STOP_SERVICE) -> None:
        self._execute = node.create_client(ExecutePlan, execute)
        self._stop = node.create_client(Stop, stop)

    def execute(self, plan_id: str, wait: float) -> ExecutePlan.Response:
        """Confirm a plan; the answer comes once the arm has finished, or says why nothing was sent."""
        return call(self._execute, ExecutePlan.Request(plan_id=plan_id), wait, float("inf"))

    def stop(self, wait: float, timeout: float = 60.0) -> Stop.Response:
        """Cancel the planner's arm goal and withdraw its plan awaiting confirmation (the answer
        comes once the arm has answered the cancel)."""
        return call(self._stop, Stop.Request(), wait, timeout)


def cancel_all_goals(node: Node, action: str, wait: float) -> str:
    """Cancel every goal of `action`'s server (whoever sent them); what the server answered."""
    client = node.create_client(CancelGoal, goal_cancel.cancel_service(action))
    return goal_cancel.describe_cancel(call(client, goal_cancel.cancel_request(), wait, wait))
