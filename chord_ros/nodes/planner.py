"""`planner`: ObjectFlow -> grasp -> certified arm trajectory -> (on confirmation) the arm (paper §4.2).

Subscribes `flow_topic` (chord_msgs/ObjectFlow; volatile, so a restarted planner never re-plans an
old command), plans with chord_core.robot.planner.plan_report (the flow's other objects are the
collision scene), publishes the chord_msgs/PlanReport (accepted, or the refusal with its reason and
offending flow frame; every report has a `plan_id`) on `plan_topic` and RViz MarkerArrays of the
flow and the grasp.

Planning and execution are separate steps. An accepted plan moves the arm only
* when an operator confirms it: an ExecutePlan request on `execute_service` naming its plan_id
  (`chord-ros execute PLAN_ID`, `chord-ros command TEXT --execute`), answered once the arm has
  finished, or
* at once when `auto_execute` is true (the launch file sets it with use_sim:=true).
Before sending, the arm's latest /joint_states must be within `start_tolerance` of the plan's start
(else nothing is sent and the answer says why). A plan is executed as ros2_control expects it
(chord_core.robot.execution): arm segments carrying exactly the arm joints, each a
FollowJointTrajectory goal on `arm_action` (type from `trajectory_interface`; a JointTrajectory on
`arm_topic` when it is "topic"), and between them GripperCommand goals on `gripper_action`:
approach -> close -> carry -> open -> retreat. Each step is sent only when the one before succeeded;
a close that ends with the fingers shut (nothing between them) stops the plan before the carry.

Policies (README "Nodes"):
* a confirmation is refused with the reason unless the plan is the latest report, accepted, awaits
  confirmation, is younger than `plan_max_age` and was not confirmed before (a plan is sent once);
* a Stop request on `stop_service` (`chord-ros stop`, Ctrl-C in `chord-ros command`) cancels the
  arm goal, withdraws the plan awaiting confirmation and keeps a plan still being computed from
  being executed automatically; shutting the node down (Ctrl-C, SIGTERM) cancels its arm goal too;
* planning and execution run outside the executor's callbacks, so the node keeps serving joint
  states, stop requests and action responses meanwhile;
* one flow or execution at a time: a flow arriving while another is being planned or a plan
  executed is refused (a PlanReport with accepted=false, offending_frame -1 and the reason), and so
  is a confirmation arriving meanwhile;
* with `plan_from_joint_states` the plan starts at the arm's latest joint state (fresh within
  `joint_state_timeout`), else at the robot config's home;
* a flow whose object now lies more than `max_start_offset` from where the flow starts it (the
  object's latest cloud on `<cloud_prefix>/<name>`, centroids) is refused: the object moved since
  the command (an earlier plan carried it), and a grasp planned on the flow would close on nothing;
* every flow gets a PlanReport: malformed flows (1 frame, 0 points, sizes that disagree, NaN/inf),
  planner input errors and unexpected errors are refusals with the reason, never executed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from action_msgs.msg import GoalStatus
from action_msgs.srv import CancelGoal
from builtin_interfaces.msg import Time
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory
from unique_identifier_msgs.msg import UUID
from visualization_msgs.msg import Marker, MarkerArray

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan
from chord_core.robot.backends import make_grasp_proposer
from chord_core.robot.config import load_robot_config
from chord_core.robot.execution import ArmSegment, GripperStep, execution_steps
from chord_core.robot.model import RobotModel
from chord_core.robot.planner import MODES, Plan, plan_report, select_object
from chord_core.robot.safety import PlanRefused
from chord_core.robot.scene_match import start_offsets
from chord_core.share import config_path
from chord_msgs.msg import ObjectFlow, PlanReport
from chord_msgs.srv import ExecutePlan, Stop
from chord_ros import goal_cancel, names
from chord_ros.arm_interface import TRAJECTORY_INTERFACES, follow_joint_trajectory_type, gripper_command_type
from chord_ros.command_client import CloudCache
from chord_ros.convert import cloud_to_numpy, make_header, msg_to_flow
from chord_ros.frames import declare_frames
from chord_ros.markers import flow_markers, grasp_markers, plan_path_marker
from chord_ros.memory import release_memory
from chord_ros.node_params import declare, latched_qos
from chord_ros.nodes.runner import run_node
from chord_ros.trajectory_conversion import plan_to_report, segment_to_trajectory

RESULT_CODES = ("SUCCESSFUL", "INVALID_GOAL", "INVALID_JOINTS", "OLD_HEADER_TIMESTAMP",
                "PATH_TOLERANCE_VIOLATED", "GOAL_TOLERANCE_VIOLATED")
GOAL_STATUS = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_CANCELED: "canceled",
               GoalStatus.STATUS_ABORTED: "aborted"}


class PlanUnavailable(ChordError):
    """An execute request names a plan that may not be sent; the message says why."""


@dataclass
class Published:
    plan: Plan
    at: float           # time.monotonic() of publication
    verdict: str = ""   # why it can no longer be confirmed; "" while it awaits confirmation


class PlanLedger:
    """The plans this planner published, by id. Only the latest report can be confirmed, once, while
    younger than the age limit; older ones keep the reason a confirmation of them is refused."""

    def __init__(self, keep: int = 100) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, Published] = OrderedDict()
        self._keep = keep
        self._latest = ""

    def add(self, plan: Plan, awaiting: bool, now: float) -> str:
        """Record a published plan under a new id (random: ids from before a restart never match)."""
        plan_id = uuid.uuid4().hex[:8]
        verdict = ("" if awaiting else f"it was refused: {plan.reason}" if not plan.accepted
                   else "the planner executed it at once (auto_execute)")
        with self._lock:
            self._close_pending(f"it was superseded by plan '{plan_id}'")
            self._entries[plan_id] = Published(plan, now, verdict)
            self._latest = plan_id
            while len(self._entries) > self._keep:
                self._entries.popitem(last=False)
        return plan_id

    def take(self, plan_id: str, max_age: float, now: float) -> Plan:
        """The plan a confirmation of `plan_id` may send (only once), else PlanUnavailable."""
        with self._lock:
            entry = self._entries.get(plan_id)
            if entry is None:
                latest = f"the latest is '{self._latest}'" if self._latest else "none was published yet"
                raise PlanUnavailable(f"unknown plan '{plan_id}' ({latest})")
            if not entry.verdict and now - entry.at > max_age:
                entry.verdict = (f"it is stale: planned {now - entry.at:.0f} s ago, plan_max_age is {max_age:g} s "
                                 "(the scene may have changed); send the command again")
            if entry.verdict:
                raise PlanUnavailable(f"plan '{plan_id}' cannot be executed: {entry.verdict}")
            entry.verdict = "it was confirmed already (a plan is sent once)"
            return entry.plan

    def withdraw(self, why: str) -> str:
        """Close the plan awaiting confirmation, if any; its id or ''."""
        with self._lock:
            return self._close_pending(why)

    def _close_pending(self, why: str) -> str:
        entry = self._entries.get(self._latest)
        if entry is None or entry.verdict:
            return ""
        entry.verdict = why
        return self._latest


@dataclass
class ActionLink:
    """An action the planner sends goals to (the arm's or the gripper's) and its CancelGoal service."""

    name: str
    action_type: type
    client: ActionClient
    cancel: object  # rclpy Client of action_msgs/srv/CancelGoal

    @classmethod
    def create(cls, node: Node, action_type: type, name: str, group) -> ActionLink:
        return cls(name, action_type, ActionClient(node, action_type, name, callback_group=group),
                   node.create_client(CancelGoal, goal_cancel.cancel_service(name), callback_group=group))


class Planner(Node):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("planner", **node_kwargs)
        robot_config = declare(self, "robot_config", "",
                               "RobotConfig YAML: URDF, joints, limits, home (chord_core/robot/config.py); "
                               "empty = the package's config/robot_panda.yaml")
        self.mode = declare(self, "mode", "grasp", f"{'|'.join(MODES)}: grasp and carry, or push without grasping")
        self.object_name = declare(self, "object_name", "", "object to move; empty = the one the flow moves most")
        self.auto_execute = bool(declare(self, "auto_execute", False,
                                         "send accepted plans to the arm at once; false = only when an "
                                         "ExecutePlan request on execute_service names the plan"))
        self.plan_max_age = float(declare(self, "plan_max_age", 120.0,
                                          "s: a confirmation of an older plan is refused (the scene may have changed)"))
        execute_service = declare(self, "execute_service", names.EXECUTE_SERVICE,
                                  "chord_msgs/srv/ExecutePlan: an operator confirms a plan by its id")
        stop_service = declare(self, "stop_service", names.STOP_SERVICE,
                               "chord_msgs/srv/Stop: cancel the arm goal, withdraw the plan awaiting confirmation")
        interface = declare(self, "trajectory_interface", "auto",
                            f"{'|'.join(TRAJECTORY_INTERFACES)}: FollowJointTrajectory action type, or 'topic'")
        arm_action = declare(self, "arm_action", names.ARM_ACTION, "FollowJointTrajectory action of the arm")
        arm_topic = declare(self, "arm_topic", names.ARM_TRAJECTORY_TOPIC,
                            "JointTrajectory topic of the arm (trajectory_interface = topic)")
        gripper_action = declare(self, "gripper_action", names.GRIPPER_ACTION,
                                 "GripperCommand action of the gripper (ros2_control GripperActionController, "
                                 "franka_gripper); its position is the finger joint: half the opening")
        self.gripper_max_effort = float(declare(self, "gripper_max_effort", 40.0,
                                                "N: max_effort of every gripper command"))
        self.gripper_tolerance = float(declare(self, "gripper_tolerance", 0.002,
                                               "m of finger joint: an opening gripper must end this close to the "
                                               "command; a closing one must stop farther than this from closed "
                                               "(else it closed on nothing and the carry is not sent)"))
        self.start_tolerance = float(declare(self, "start_tolerance", 0.05,
                                             "max |q - plan start| (rad) of any arm joint before sending"))
        self.plan_from_joint_states = bool(declare(self, "plan_from_joint_states", True,
                                                   "start plans at the arm's latest joint state (else home)"))
        self.joint_state_timeout = float(declare(self, "joint_state_timeout", 2.0,
                                                 "s: joint states older than this count as missing"))
        self.server_timeout = float(declare(self, "server_timeout", 5.0,
                                            "s to wait for the arm's action server and its answers"))
        grasp_backend = declare(self, "grasp_backend", "auto", "auto|anygrasp|antipodal grasp proposer")
        self.max_grasp_tries = int(declare(self, "max_grasp_tries", 3, "grasp candidates tried before refusing"))
        flow_topic = declare(self, "flow_topic", names.FLOW_TOPIC, "ObjectFlow input")
        plan_topic = declare(self, "plan_topic", names.PLAN_TOPIC, "PlanReport output (transient local)")
        plan_dir = declare(self, "plan_dir", "", "write each reported plan to plan_dir/<plan_id>/ (plan.npz, "
                           "grasp.json: what `chord view --plan` shows); empty = none")
        self.plan_dir = Path(plan_dir).expanduser() if plan_dir else None
        self.max_start_offset = float(declare(
            self, "max_start_offset", 0.02, "m: a flow whose object starts farther than this from the object's latest "
            "cloud on <cloud_prefix>/<name> (centroids) is refused: the object moved since the command; 0 = no check"))
        cloud_prefix = declare(self, "cloud_prefix", names.OBJECT_CLOUD_PREFIX,
                               "the objects' latest clouds are read from <cloud_prefix>/<name> (max_start_offset)")
        max_points = int(declare(self, "max_points_per_cloud", 500000, "a larger object cloud is refused as it "
                                 "arrives (and the object's start is not checked until a smaller one comes)"))
        self.frames = declare_frames(self, "flows are moved into it; plans and markers are in it", "flows")
        self.frame_id = self.frames.planning_frame
        if self.mode not in MODES:
            raise ChordError(f"mode must be one of {MODES}, got '{self.mode}'")
        if interface not in TRAJECTORY_INTERFACES:
            raise ChordError(f"trajectory_interface must be one of {TRAJECTORY_INTERFACES}, got '{interface}'")
        for key, value in (("start_tolerance", self.start_tolerance), ("joint_state_timeout", self.joint_state_timeout),
                           ("server_timeout", self.server_timeout), ("max_grasp_tries", self.max_grasp_tries),
                           ("plan_max_age", self.plan_max_age), ("gripper_tolerance", self.gripper_tolerance),
                           ("gripper_max_effort", self.gripper_max_effort), ("max_points_per_cloud", max_points)):
            if not value > 0:
                raise ChordError(f"{key} must be > 0, got {value}")
        if self.max_start_offset < 0:
            raise ChordError(f"max_start_offset must be >= 0 (0: no check), got {self.max_start_offset}")

        self.model = RobotModel(load_robot_config(robot_config or config_path("robot_panda.yaml")))
        self.config = self.model.config
        self.proposer = make_grasp_proposer(self.config, grasp_backend) if self.mode == "grasp" else None
        self.ledger = PlanLedger()
        self._busy = threading.Lock()  # one flow being planned or one plan being executed
        self._closing = threading.Event()
        # _stops counts stop requests: work that began before one never sends; _goal is the goal (arm or
        # gripper) in flight with its action. Both change under _goal_lock, so a stop or close() either
        # sees the goal or keeps it unsent.
        self._goal_lock = threading.Lock()
        self._stops = 0
        self._goal: tuple[bytes, ActionLink] | None = None
        self._joint_state: tuple[float, dict[str, float]] | None = None  # (monotonic receive time, positions)

        group = ReentrantCallbackGroup()
        self.plan_pub = self.create_publisher(PlanReport, plan_topic, latched_qos())
        self.flow_marker_pub = self.create_publisher(MarkerArray, names.FLOW_MARKERS_TOPIC, latched_qos())
        self.grasp_marker_pub = self.create_publisher(MarkerArray, names.GRASP_MARKERS_TOPIC, latched_qos())
        flow_qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE,
                              durability=QoSDurabilityPolicy.VOLATILE)
        self.create_subscription(ObjectFlow, flow_topic, self._on_flow, flow_qos, callback_group=group)
        self.create_subscription(JointState, names.JOINT_STATES_TOPIC, self._on_joint_state, 10, callback_group=group)
        self.create_service(ExecutePlan, execute_service, self._on_execute, callback_group=group)
        self.create_service(Stop, stop_service, self._on_stop, callback_group=group)
        self.clouds = CloudCache(self, cloud_prefix, max_points=max_points) if self.max_start_offset > 0 else None
        self.interface = interface
        self.arm_topic = arm_topic
        self.arm_pub = self.arm = None
        if interface == "topic":
            self.arm_pub = self.create_publisher(JointTrajectory, arm_topic, 10)
        else:
            self.arm = ActionLink.create(self, follow_joint_trajectory_type(interface), arm_action, group)
        self.gripper = ActionLink.create(self, gripper_command_type(interface), gripper_action, group)
        self.arm_action = arm_action
        arm = arm_topic if interface == "topic" else arm_action
        self.get_logger().info(f"planner ready: {flow_topic} -> {plan_topic}, mode {self.mode}, arm on {arm}, "
                               f"gripper on {gripper_action}, "
                               + ("executing accepted plans at once (auto_execute)" if self.auto_execute else
                                  f"executing a plan when {execute_service} confirms it") + f"; stop: {stop_service}")

    # -- inputs ---------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        self._joint_state = (time.monotonic(), dict(zip(msg.name, msg.position)))

    def current_arm_positions(self) -> np.ndarray | None:
        """The arm joints from a fresh /joint_states message, or None."""
        state = self._joint_state
        if state is None or time.monotonic() - state[0] > self.joint_state_timeout:
            return None
        positions = state[1]
        if any(j not in positions for j in self.model.joint_names):
            return None
        return np.array([positions[j] for j in self.model.joint_names])

    def _on_flow(self, msg: ObjectFlow) -> None:
        if not self._busy.acquire(blocking=False):
            self._report(self._refusal("busy: the previous flow is still being planned or a plan executed; send "
                                       "this flow again afterwards"), msg.header.stamp)
            return
        threading.Thread(target=self._handle_flow, args=(msg, self._stops), name="planner-worker", daemon=True).start()

    def _on_execute(self, request: ExecutePlan.Request, response: ExecutePlan.Response) -> ExecutePlan.Response:
        response.success, response.message = self.confirm(request.plan_id)
        line = f"execute request for plan '{request.plan_id}': {response.message}"
        if response.success:  # one severity per logging call site (rclpy refuses a change)
            self.get_logger().info(line)
        else:
            self.get_logger().warning(line)
        return response

    def _on_stop(self, _request: Stop.Request, response: Stop.Response) -> Stop.Response:
        response.success, response.message = self.stop()
        self.get_logger().warning(f"stop request: {response.message}")
        return response

    # -- work -----------------------------------------------------------------------------
    def _handle_flow(self, msg: ObjectFlow, stops: int) -> None:
        try:
            plan = self._answer(msg)
            auto = plan.accepted and self.auto_execute
            if auto:  # reported before the arm moves, so the operator sees what it does
                self._report(plan, msg.header.stamp)
                success, outcome = self.execute(plan, stops)
                if success:
                    self.get_logger().info(f"execution: {outcome}")
                else:
                    self.get_logger().error(f"execution: {outcome}")
        except Exception as error:  # keep serving: a failure must not kill the worker silently
            self.get_logger().error(f"flow handling failed: {type(error).__name__}: {error}")
            return
        finally:
            release_memory()  # planning's solver and collision-model memory (a soak grew the node 20 MB/command)
            self._busy.release()
        if not auto:  # reported once the planner is free, so a confirmation right after the report is served
            self._report(plan, msg.header.stamp)

    def _answer(self, msg: ObjectFlow) -> Plan:
        """Plan the flow. Every flow gets an answer: a malformed flow, bad planner input or an
        unexpected error becomes a refusal with the reason, so an operator waiting on the report
        never waits out a timeout, and nothing is executed."""
        try:
            flow = self.frames.flow(msg_to_flow(msg), msg.header.frame_id)
            self.flow_marker_pub.publish(flow_markers(flow, self.frame_id, self.get_clock().now().to_msg()))
            moved = self.moved_since_command(flow)
            if moved:
                return Plan.refused(PlanRefused(0, moved), self.model.joint_names, self.mode,
                                    flow.name_of(select_object(flow, self.object_name or None)), 0.0)
            q_start = self.current_arm_positions() if self.plan_from_joint_states else None
            return plan_report(flow, {}, self.model, self.mode, self.object_name or None,
                               proposer=self.proposer, q_start=q_start, max_grasp_tries=self.max_grasp_tries)
        except ChordError as error:
            return self._refusal(str(error))
        except Exception as error:  # a bug in planning still answers the flow
            return self._refusal(f"planning failed: {type(error).__name__}: {error}")

    def moved_since_command(self, flow: Flow) -> str:
        """Why the flow is stale, or "": an object it moves lies more than max_start_offset from
        where the flow starts it (its latest cloud, in the planning frame). A flow distilled before
        an earlier plan carried the object would otherwise be planned where the object was."""
        if self.clouds is None:
            return ""
        clouds = {}
        for name in flow.object_names or []:
            msg = self.clouds.latest(name)
            if msg is not None:
                clouds[name] = self.frames.scan(Scan(name, cloud_to_numpy(msg)[0]), msg.header.frame_id).points
        far = {name: d for name, d in start_offsets(flow, clouds).items() if d > self.max_start_offset}
        return "; ".join(f"the flow starts '{name}' {100 * d:.1f} cm from where it is now (its latest cloud; limit "
                         f"{100 * self.max_start_offset:.1f} cm, max_start_offset): it moved since the command, "
                         "send the command again" for name, d in far.items())

    def _refusal(self, reason: str) -> Plan:
        """A refusal that names no flow frame (busy, malformed flow, planner error)."""
        return Plan.refused(PlanRefused(-1, reason), self.model.joint_names, self.mode, self.object_name, 0.0)

    def _report(self, plan: Plan, flow_stamp: Time) -> str:
        """Record the plan under a new id, publish its PlanReport and grasp markers, log it; the id."""
        awaiting = plan.accepted and not self.auto_execute
        plan_id = self.ledger.add(plan, awaiting, time.monotonic())
        stamp = self.get_clock().now().to_msg()
        report = plan_to_report(plan, self.frame_id, stamp)
        report.plan_id, report.awaiting_confirmation, report.flow_stamp = plan_id, awaiting, flow_stamp
        if self.plan_dir is not None:  # on disk before the report, so whoever reads the report finds it
            try:
                plan.write_dir(self.plan_dir / plan_id)
            except OSError as error:  # a full disk must not stop the planner from answering
                self.get_logger().error(f"could not write plan '{plan_id}' to {self.plan_dir}: {error}")
        self.plan_pub.publish(report)
        if plan.grasp is not None:
            g = plan.grasp
            markers = grasp_markers(g.rotation, g.translation, g.width, g.depth, self.frame_id, stamp)
            if plan.accepted:
                hand = [self.model.fk(q)[:3, 3] for q in plan.positions]
                markers.markers.append(plan_path_marker(np.array(hand), self.frame_id, stamp))
        else:
            markers = MarkerArray(markers=[Marker(header=make_header(self.frame_id, stamp), ns="grasp",
                                                  action=Marker.DELETEALL)])
        self.grasp_marker_pub.publish(markers)
        if plan.accepted:
            part = plan.extra.get("part")
            held = part.describe(plan.object_name) if part is not None else f"object '{plan.object_name}'"
            then = (f"awaiting confirmation: chord-ros execute {plan_id}" if awaiting
                    else "executing it now (auto_execute)")
            self.get_logger().info(f"plan '{plan_id}' accepted: {len(plan.times)} points over {plan.times[-1]:.2f} s, "
                                   f"{held}, max tracking error "
                                   f"{plan.max_tracking_error * 1000:.2f} mm, planned in {plan.planning_time:.2f} s; "
                                   + then)
        else:
            frame = f" at flow frame {plan.offending_frame}" if plan.offending_frame >= 0 else ""
            self.get_logger().warning(f"plan '{plan_id}' refused{frame}: {plan.reason}")
        return plan_id

    def confirm(self, plan_id: str) -> tuple[bool, str]:
        """An operator's confirmation: send the plan if it still may be sent; (success, sentence)."""
        if not self._busy.acquire(blocking=False):
            return False, "not sent: the planner is busy planning a flow or executing a plan"
        try:
            stops = self._stops
            try:
                plan = self.ledger.take(plan_id, self.plan_max_age, time.monotonic())
            except PlanUnavailable as error:
                return False, f"not sent: {error}"
            return self.execute(plan, stops)
        finally:
            self._busy.release()

    def execute(self, plan: Plan, stops: int) -> tuple[bool, str]:
        """Check the start state, then run the plan's steps (arm segments, gripper commands) one after
        the other, each only if no stop request came after `stops` was read and the step before
        succeeded; (the arm executed the whole plan, a sentence for the log and the operator)."""
        current = self.current_arm_positions()
        if current is None:
            return False, (f"not sent: no fresh {names.JOINT_STATES_TOPIC} with the arm joints "
                           f"(joint_state_timeout {self.joint_state_timeout} s)")
        gap = np.abs(current - plan.positions[0])
        j = int(np.argmax(gap))
        if gap[j] > self.start_tolerance:
            return False, (f"not sent: the arm is {gap[j]:.3f} rad from the plan's start at "
                           f"{self.model.joint_names[j]} (start_tolerance {self.start_tolerance})")
        steps = execution_steps(plan)
        done: list[str] = []
        for number, step in enumerate(steps, 1):
            if isinstance(step, GripperStep):
                what = ("gripper close" if step.phase == "close" else f"gripper open to {step.width * 1000:.0f} mm")
                success, outcome = self._grip(step, stops)
            else:
                what = f"arm {'+'.join(step.phases)} ({len(step.times)} points, {step.times[-1]:.2f} s)"
                success, outcome = self._move(step, stops)
            if not success:
                before = f"; done before: {', '.join(done)}" if done else ""
                return False, f"step {number}/{len(steps)}, {what}: {outcome}{before}"
            done.append(what)
        return True, f"executed all {len(steps)} steps: {', '.join(done)}"

    def _move(self, segment: ArmSegment, stops: int) -> tuple[bool, str]:
        """One arm segment: a FollowJointTrajectory goal, or a JointTrajectory on the arm topic."""
        trajectory = segment_to_trajectory(segment, self.model.joint_names)
        duration = float(segment.times[-1])
        if self.arm is None:
            with self._goal_lock:
                if self._closing.is_set() or self._stops != stops:
                    return False, "not sent: a stop request or shutdown came first"
                self.arm_pub.publish(trajectory)
            if self._closing.wait(duration):  # one trajectory at a time on the topic too
                return False, "the planner is shutting down"
            return True, f"sent on {self.arm_topic} (no result on the topic interface)"
        # generous: the arm may run slower than real time on a loaded machine
        response = self._send_goal(self.arm, self.arm.action_type.Goal(trajectory=trajectory), 10.0 * duration + 60.0,
                                   stops)
        if isinstance(response, str):
            return False, response
        result = response.result
        status = GOAL_STATUS.get(response.status, str(response.status))
        code = next((n for n in RESULT_CODES if getattr(type(result), n, None) == result.error_code),
                    str(result.error_code))
        success = response.status == GoalStatus.STATUS_SUCCEEDED and code == "SUCCESSFUL"
        return success, f"{status} ({code}): {result.error_string}"

    def _grip(self, step: GripperStep, stops: int) -> tuple[bool, str]:
        """One gripper command; closing must stop on something (the object), opening must arrive."""
        goal = self.gripper.action_type.Goal()
        goal.command.position = step.width / 2.0  # the finger joint: half the opening
        goal.command.max_effort = self.gripper_max_effort
        response = self._send_goal(self.gripper, goal, 60.0, stops)
        if isinstance(response, str):
            return False, response
        result = response.result
        status = GOAL_STATUS.get(response.status, str(response.status))
        at = f"fingers at {result.position * 1000:.1f} mm (commanded {goal.command.position * 1000:.1f} mm)"
        if response.status != GoalStatus.STATUS_SUCCEEDED:
            return False, f"{status}: {at}"
        if step.phase == "close" and result.position <= goal.command.position + self.gripper_tolerance:
            return False, f"the gripper closed on nothing: {at}; the object is not between the fingers"
        if step.phase != "close" and abs(result.position - goal.command.position) > self.gripper_tolerance:
            return False, f"the gripper did not open: {at} (gripper_tolerance {self.gripper_tolerance * 1000:g} mm)"
        return True, f"{status}: {at}"

    def _wait(self, future, timeout: float):
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        deadline = time.monotonic() + timeout
        while not done.wait(0.1):
            if self._closing.is_set() or time.monotonic() > deadline:
                return None
        return future.result()

    def _send_goal(self, link: ActionLink, goal, limit: float, stops: int):
        """Send one goal and wait for its result: the result response, or a sentence why there is none."""
        if not link.client.wait_for_server(timeout_sec=self.server_timeout):
            return f"not sent: no action server on {link.name} within {self.server_timeout} s"
        goal_id = uuid.uuid4().bytes
        with self._goal_lock:
            if self._closing.is_set() or self._stops != stops:
                return "not sent: a stop request or shutdown came first"
            self._goal = (goal_id, link)
            future = link.client.send_goal_async(goal, goal_uuid=UUID(uuid=list(goal_id)))
        try:
            handle = self._wait(future, self.server_timeout)
            if handle is None:
                return self._give_up(goal_id, link, f"no answer from {link.name} to the goal", self.server_timeout)
            if not handle.accepted:
                return f"{link.name} rejected the goal (is it executing another one?)"
            if self._stops != stops:  # a stop request raced the goal to the server: its cancel may have come first
                outcome = self._cancel(goal_id, link)[1]
                self.get_logger().warning(f"a stop request came while the goal was sent: {outcome}")
            response = self._wait(handle.get_result_async(), limit)
            if response is None:
                return self._give_up(goal_id, link, f"no result from {link.name}", limit)
            return response
        finally:
            with self._goal_lock:
                self._goal = None

    def _give_up(self, goal_id: bytes, link: ActionLink, what: str, waited: float) -> str:
        """The server did not answer within `waited` s, or the planner is closing: the goal is cancelled
        rather than left running unwatched."""
        if self._closing.is_set():
            return f"{what}: the planner is shutting down (it cancels the goal)"
        return f"{what} within {waited:.0f} s; the goal: {self._cancel(goal_id, link)[1]}"

    def _cancel(self, goal_id: bytes, link: ActionLink) -> tuple[bool, str]:
        """Cancel one goal and wait for the server's answer; (it took effect, a sentence)."""
        if not link.cancel.wait_for_service(timeout_sec=self.server_timeout):
            return False, f"no cancel service on {link.name}"
        response = self._wait(link.cancel.call_async(goal_cancel.cancel_request(goal_id)), self.server_timeout)
        if response is None:
            return False, "cancel sent, no answer"
        return goal_cancel.cancel_took_effect(response), goal_cancel.describe_cancel(response)

    def stop(self) -> tuple[bool, str]:
        """Cancel the goal in flight (arm or gripper), withdraw the plan awaiting confirmation, and keep
        the plan's remaining steps and a plan being computed from being sent; (nothing of ours moves
        the robot any more, a sentence)."""
        with self._goal_lock:
            self._stops += 1
            goal = self._goal
        withdrawn = self.ledger.withdraw("it was withdrawn by a stop request")
        parts = [f"plan '{withdrawn}' withdrawn"] if withdrawn else []
        if goal is not None:
            success, outcome = self._cancel(*goal)
            parts.append(f"the goal on {goal[1].name}: {outcome}")
        elif self.arm_pub is not None and self._busy.locked():
            parts.append(f"a trajectory sent on {self.arm_topic} cannot be cancelled from here; stop the controller")
            success = False
        else:
            parts.append("no arm goal was running")
            success = True
        return success, "; ".join(parts)

    def close(self) -> None:
        """Shutdown (Ctrl-C, SIGTERM): stop the worker and cancel the goal it runs, so the arm never
        keeps executing for a planner that is gone."""
        with self._goal_lock:
            self._closing.set()
            goal = self._goal
        if goal is None:
            return
        # rclpy's signal handler shuts every context down, also one made before it has run: the
        # cancel's own context is made once this node's is down (or, shut down otherwise, soon)
        deadline = time.monotonic() + self.server_timeout
        while self.context.ok() and time.monotonic() < deadline:
            time.sleep(0.05)
        outcome = goal_cancel.cancel_in_own_context(goal[1].name, goal[0], self.server_timeout)
        print(f"planner shutting down during a goal on {goal[1].name}: {outcome}", flush=True)


def main(argv: list[str] | None = None) -> int:
    return run_node(Planner, argv, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
