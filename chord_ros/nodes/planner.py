"""`planner`: ObjectFlow -> grasp -> certified arm trajectory -> the arm (paper §4.2).

Subscribes `flow_topic` (chord_msgs/ObjectFlow; volatile, so a restarted planner never re-plans an
old command), plans with chord_core.robot.planner.plan_report (the flow's other objects are the
collision scene), publishes the chord_msgs/PlanReport (accepted, or the refusal with its reason and
offending flow frame) on `plan_topic` and RViz MarkerArrays of the flow and the grasp. When the
plan is accepted and `execute` is true it sends the trajectory to the arm: a FollowJointTrajectory
goal on `arm_action` (type from `trajectory_interface`), or a JointTrajectory on `arm_topic` when
trajectory_interface is "topic", after checking that the arm's latest /joint_states are within
`start_tolerance` of the plan's start (else it refuses to send and logs why). The outcome is logged.

Policies (README "Nodes"):
* planning and execution run in a worker thread, so the node keeps serving joint states and action
  responses meanwhile;
* one flow at a time: a flow arriving while the previous one is being planned or executed is
  refused (a PlanReport with accepted=false, offending_frame -1 and the reason, plus a log line);
* with `plan_from_joint_states` the plan starts at the arm's latest joint state (fresh within
  `joint_state_timeout`), else at the robot config's home;
* every flow gets a PlanReport: malformed flows (1 frame, 0 points, sizes that disagree, NaN/inf),
  planner input errors and unexpected errors are refusals with the reason, never executed.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import Marker, MarkerArray

from chord_core.errors import ChordError
from chord_core.robot.backends import make_grasp_proposer
from chord_core.robot.config import load_robot_config
from chord_core.robot.model import RobotModel
from chord_core.robot.planner import MODES, Plan, plan_report
from chord_core.robot.safety import PlanRefused
from chord_msgs.msg import ObjectFlow, PlanReport
from chord_ros import names
from chord_ros.arm_interface import TRAJECTORY_INTERFACES, follow_joint_trajectory_type
from chord_ros.convert import make_header, msg_to_flow
from chord_ros.markers import flow_markers, grasp_markers
from chord_ros.node_params import declare, latched_qos
from chord_ros.nodes.runner import run_node
from chord_ros.share import config_path
from chord_ros.trajectory_conversion import plan_to_report, plan_to_trajectory

RESULT_CODES = ("SUCCESSFUL", "INVALID_GOAL", "INVALID_JOINTS", "OLD_HEADER_TIMESTAMP",
                "PATH_TOLERANCE_VIOLATED", "GOAL_TOLERANCE_VIOLATED")
GOAL_STATUS = {GoalStatus.STATUS_SUCCEEDED: "succeeded", GoalStatus.STATUS_CANCELED: "canceled",
               GoalStatus.STATUS_ABORTED: "aborted"}


class Planner(Node):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("planner", **node_kwargs)
        robot_config = declare(self, "robot_config", "",
                               "RobotConfig YAML: URDF, joints, limits, home (chord_core/robot/config.py); "
                               "empty = the package's config/robot_panda.yaml")
        self.mode = declare(self, "mode", "grasp", f"{'|'.join(MODES)}: grasp and carry, or push without grasping")
        self.object_name = declare(self, "object_name", "", "object to move; empty = the one the flow moves most")
        self.execute = bool(declare(self, "execute", True, "send accepted plans to the arm"))
        interface = declare(self, "trajectory_interface", "auto",
                            f"{'|'.join(TRAJECTORY_INTERFACES)}: FollowJointTrajectory action type, or 'topic'")
        arm_action = declare(self, "arm_action", names.ARM_ACTION, "FollowJointTrajectory action of the arm")
        arm_topic = declare(self, "arm_topic", names.ARM_TRAJECTORY_TOPIC,
                            "JointTrajectory topic of the arm (trajectory_interface = topic)")
        self.start_tolerance = float(declare(self, "start_tolerance", 0.05,
                                             "max |q - plan start| (rad) of any arm joint before sending"))
        self.plan_from_joint_states = bool(declare(self, "plan_from_joint_states", True,
                                                   "start plans at the arm's latest joint state (else home)"))
        self.joint_state_timeout = float(declare(self, "joint_state_timeout", 2.0,
                                                 "s: joint states older than this count as missing"))
        self.server_timeout = float(declare(self, "server_timeout", 5.0, "s to wait for the arm's action server"))
        grasp_backend = declare(self, "grasp_backend", "auto", "auto|anygrasp|antipodal grasp proposer")
        self.max_grasp_tries = int(declare(self, "max_grasp_tries", 3, "grasp candidates tried before refusing"))
        flow_topic = declare(self, "flow_topic", names.FLOW_TOPIC, "ObjectFlow input")
        plan_topic = declare(self, "plan_topic", names.PLAN_TOPIC, "PlanReport output (transient local)")
        self.frame_id = declare(self, "frame_id", names.BASE_FRAME, "robot base frame of flows and markers")
        if self.mode not in MODES:
            raise ChordError(f"mode must be one of {MODES}, got '{self.mode}'")
        if interface not in TRAJECTORY_INTERFACES:
            raise ChordError(f"trajectory_interface must be one of {TRAJECTORY_INTERFACES}, got '{interface}'")
        for key, value in (("start_tolerance", self.start_tolerance), ("joint_state_timeout", self.joint_state_timeout),
                           ("server_timeout", self.server_timeout), ("max_grasp_tries", self.max_grasp_tries)):
            if not value > 0:
                raise ChordError(f"{key} must be > 0, got {value}")

        self.model = RobotModel(load_robot_config(robot_config or config_path("robot_panda.yaml")))
        self.config = self.model.config
        self.proposer = make_grasp_proposer(self.config, grasp_backend) if self.mode == "grasp" else None
        self._busy = threading.Lock()
        self._closing = threading.Event()
        self._joint_state: tuple[float, dict[str, float]] | None = None  # (monotonic receive time, positions)
        self.last_outcome = ""

        group = ReentrantCallbackGroup()
        self.plan_pub = self.create_publisher(PlanReport, plan_topic, latched_qos())
        self.flow_marker_pub = self.create_publisher(MarkerArray, names.FLOW_MARKERS_TOPIC, latched_qos())
        self.grasp_marker_pub = self.create_publisher(MarkerArray, names.GRASP_MARKERS_TOPIC, latched_qos())
        flow_qos = QoSProfile(depth=5, reliability=QoSReliabilityPolicy.RELIABLE,
                              durability=QoSDurabilityPolicy.VOLATILE)
        self.create_subscription(ObjectFlow, flow_topic, self._on_flow, flow_qos, callback_group=group)
        self.create_subscription(JointState, names.JOINT_STATES_TOPIC, self._on_joint_state, 10, callback_group=group)
        self.interface = interface
        self.arm_topic = arm_topic
        self.arm_pub = self.arm_client = None
        if interface == "topic":
            self.arm_pub = self.create_publisher(JointTrajectory, arm_topic, 10)
        else:
            self.action_type = follow_joint_trajectory_type(interface)
            self.arm_client = ActionClient(self, self.action_type, arm_action, callback_group=group)
        self.arm_action = arm_action
        self.get_logger().info(f"planner ready: {flow_topic} -> {plan_topic}, mode {self.mode}, "
                               + (f"executing on {arm_topic if interface == 'topic' else arm_action}"
                                  if self.execute else "not executing"))

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
            self._refuse("busy: the previous flow is still being planned or executed; send this flow again afterwards")
            return
        threading.Thread(target=self._handle_flow, args=(msg,), name="planner-worker", daemon=True).start()

    # -- work -----------------------------------------------------------------------------
    def _handle_flow(self, msg: ObjectFlow) -> None:
        try:
            plan = self._answer(msg)
            if plan.accepted and self.execute:
                self.last_outcome = self.send_to_arm(plan)
                self.get_logger().info(f"execution: {self.last_outcome}")
        except Exception as error:  # keep serving: a failure after the report must not kill the worker silently
            self.get_logger().error(f"flow handling failed: {type(error).__name__}: {error}")
        finally:
            self._busy.release()

    def _answer(self, msg: ObjectFlow) -> Plan:
        """Plan the flow and publish its PlanReport. Every flow gets one: a malformed flow, bad
        planner input or an unexpected error becomes a published refusal with the reason, so an
        operator waiting on the report never waits out a timeout, and nothing is executed."""
        try:
            flow = msg_to_flow(msg)
            self.flow_marker_pub.publish(flow_markers(flow, self.frame_id, self.get_clock().now().to_msg()))
            q_start = self.current_arm_positions() if self.plan_from_joint_states else None
            plan = plan_report(flow, {}, self.model, self.mode, self.object_name or None,
                               proposer=self.proposer, q_start=q_start, max_grasp_tries=self.max_grasp_tries)
            self._publish_plan(plan)
        except ChordError as error:
            return self._refuse(str(error))
        except Exception as error:  # a bug in planning still answers the flow
            return self._refuse(f"planning failed: {type(error).__name__}: {error}")
        if plan.accepted:
            self.get_logger().info(f"plan accepted: {len(plan.times)} points over {plan.times[-1]:.2f} s, object "
                                   f"'{plan.object_name}', max tracking error {plan.max_tracking_error * 1000:.2f} mm, "
                                   f"planned in {plan.planning_time:.2f} s")
        else:
            self.get_logger().warning(f"plan refused at flow frame {plan.offending_frame}: {plan.reason}")
        return plan

    def _publish_plan(self, plan: Plan) -> None:
        stamp = self.get_clock().now().to_msg()
        self.plan_pub.publish(plan_to_report(plan, self.config.finger_joints, self.frame_id, stamp))
        if plan.grasp is not None:
            g = plan.grasp
            markers = grasp_markers(g.rotation, g.translation, g.width, g.depth, self.frame_id, stamp)
        else:
            markers = MarkerArray(markers=[Marker(header=make_header(self.frame_id, stamp), ns="grasp",
                                                  action=Marker.DELETEALL)])
        self.grasp_marker_pub.publish(markers)

    def _refuse(self, reason: str) -> Plan:
        """Log and publish a refusal that names no flow frame (busy, malformed flow, planner error); return it."""
        self.get_logger().error(f"flow refused: {reason}")
        refusal = Plan.refused(PlanRefused(-1, reason), self.model.joint_names, self.mode, self.object_name, 0.0)
        self._publish_plan(refusal)
        return refusal

    def send_to_arm(self, plan: Plan) -> str:
        """Check the start state, send the trajectory, wait for the outcome; a sentence for the log."""
        current = self.current_arm_positions()
        if current is None:
            return (f"not sent: no fresh {names.JOINT_STATES_TOPIC} with the arm joints "
                    f"(joint_state_timeout {self.joint_state_timeout} s)")
        gap = np.abs(current - plan.positions[0])
        j = int(np.argmax(gap))
        if gap[j] > self.start_tolerance:
            return (f"not sent: the arm is {gap[j]:.3f} rad from the plan's start at {self.model.joint_names[j]} "
                    f"(start_tolerance {self.start_tolerance})")
        trajectory = plan_to_trajectory(plan, self.config.finger_joints)
        if self.arm_pub is not None:
            self.arm_pub.publish(trajectory)
            self._closing.wait(float(plan.times[-1]))  # one trajectory at a time on the topic too
            return f"sent on {self.arm_topic} (no result on the topic interface)"
        return self._send_goal(trajectory, float(plan.times[-1]))

    def _wait(self, future, timeout: float):
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        deadline = time.monotonic() + timeout
        while not done.wait(0.1):
            if self._closing.is_set() or time.monotonic() > deadline:
                return None
        return future.result()

    def _send_goal(self, trajectory: JointTrajectory, duration: float) -> str:
        if not self.arm_client.wait_for_server(timeout_sec=self.server_timeout):
            return f"not sent: no action server on {self.arm_action} within {self.server_timeout} s"
        goal = self.action_type.Goal(trajectory=trajectory)
        handle = self._wait(self.arm_client.send_goal_async(goal), self.server_timeout)
        if handle is None or not handle.accepted:
            return "the arm rejected the goal (is it executing another one?)"
        # generous: the arm may run slower than real time on a loaded machine
        response = self._wait(handle.get_result_async(), 10.0 * duration + 60.0)
        if response is None:
            return "no result from the arm (timed out or shutting down)"
        result = response.result
        status = GOAL_STATUS.get(response.status, str(response.status))
        code = next((n for n in RESULT_CODES if getattr(type(result), n, None) == result.error_code),
                    str(result.error_code))
        return f"{status} ({code}): {result.error_string}"

    def close(self) -> None:
        self._closing.set()


def main(argv: list[str] | None = None) -> int:
    return run_node(Planner, argv, threads=3)


if __name__ == "__main__":
    raise SystemExit(main())
