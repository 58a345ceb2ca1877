"""`sim_arm`: the MuJoCo arm (chord_core.robot.sim.ArmSimulation) behind the arm's ROS interfaces.

* FollowJointTrajectory action server on `arm_action` for the arm joints (type from
  `trajectory_interface`: control_msgs when importable under "auto", else chord_msgs), and with
  `trajectory_interface:=topic` also a trajectory_msgs/JointTrajectory subscriber on `arm_topic`;
  GripperCommand action server on `gripper_action` for the fingers: what a ros2_control arm with a
  joint_trajectory_controller and a GripperActionController offers.
* Publishes sensor_msgs/JointState (arm + finger joints) and, per object, geometry_msgs/PoseStamped
  of its frame-0 centroid at `joint_state_rate` Hz (reliable, transient local); with `publish_tf`
  the same instant on /tf (frame_id -> every robot link as simulated, frame_id -> object_<name>) and
  the URDF on /robot_description (transient local, mesh paths as file:// URIs), so RViz shows the
  robot and the objects live (config/chord.rviz); with `publish_clouds`
  it is also the simulated segmented perception: each object's scan moved by its simulated pose on
  object_cloud_topic(name) (transient local), re-published after every executed trajectory.
* An object whose scan has a joint description beside it (`<stem>.joint.yaml`,
  `chord_core/robot/scene_joints.py`: a lid on its hinge, a drawer on its slide) is simulated as
  its still part plus that part on the joint; its pose is the still part's, its cloud moves both;
  the part's pose goes on /tf (frame_id -> object_<name>_part) and its joint value (rad or m from
  the scanned pose) as `<name>_joint` in a sensor_msgs/JointState on /chord/object_joints.

Policies (README "Nodes"):
* every trajectory is re-checked: joint names (exactly the arm joints, like a
  joint_trajectory_controller; the fingers keep the gripper's command), finite values, strictly increasing times, URDF
  position limits, velocity limits of the robot config between points, and a first point at t = 0
  within `start_tolerance` of the current state (a later first point is reached from the current
  state). A bad goal is accepted and aborted at once with INVALID_JOINTS / INVALID_GOAL and the
  reason in error_string (an action rejection cannot carry a reason);
* a gripper goal's position is the finger joint (half the opening), within the joint's limits; the
  fingers move until they stop (on an object: `stalled`) or reach it (`reached_goal`, within 1 mm),
  at most `gripper_timeout` simulated seconds; max_effort is not simulated (the fingers push with
  the simulation's finger force);
* one goal at a time, arm or gripper: a goal (or topic trajectory) arriving while one executes is
  rejected and logged; cancel the running goal first;
* cancel: the arm stops and holds its position (the gripper keeps its command, so a held object
  stays held); the goal ends CANCELED;
* a goal succeeds (SUCCESSFUL) after its last point plus `settle_time`, when every arm joint is
  within `goal_tolerance` of the last point (else GOAL_TOLERANCE_VIOLATED). goal_time_tolerance is
  not used: the simulated arm is always on time;
* the physics advances only while a goal executes (and settles); between goals the scene is at rest
  and frozen. real_time_factor > 1 runs faster than real time (as fast as the CPU allows);
* with `publish_clock`, simulated time goes out on /clock (`chord_ros/sim_clock.py`: the physics'
  time while it steps, wall time x real_time_factor at rest). With `use_sim_time` every stamp of
  this node is that time (the other nodes follow /clock through rclpy); its own timers run on the
  wall clock, since it is the clock's source;
* with `video_dir`, one mp4 per execution: goals that follow each other within a second (the steps
  of one plan) go into the same video.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile, QoSReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import JointState, PointCloud2
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chord_core.errors import ChordError
from chord_core.formats.scans import load_scan
from chord_core.formats.video import write_video
from chord_core.robot.config import load_robot_config
from chord_core.robot.model import RobotModel
from chord_core.robot.scene_joints import joint_file, load_scan_joint
from chord_core.robot.sim import ArmSimulation, SimConfig, urdf_with_absolute_meshes
from chord_core.share import config_path
from chord_ros import names
from chord_ros.arm_interface import TRAJECTORY_INTERFACES, follow_joint_trajectory_type, gripper_command_type
from chord_ros.convert import make_header, numpy_to_cloud, pose_to_msg, transforms_msgs
from chord_ros.node_params import declare, latched_qos
from chord_ros.nodes.runner import run_node
from chord_ros.sim_clock import SimClock
from chord_ros.trajectory_conversion import (
    JointNamesError,
    TrajectoryArrays,
    duration_msg,
    gripper_target,
    trajectory_to_arrays,
)

STEP_CHUNK = 0.01  # simulated seconds advanced between real-time pacing checks
GRIPPER_REACHED = 0.001  # m of finger joint: a gripper goal within this has reached_goal
VIDEO_GAP = 1.0  # s without a goal that ends an execution's video


@dataclass
class Snapshot:
    """What the publishers read: written whole by the stepping thread, so readers need no lock."""

    positions: np.ndarray
    velocities: np.ndarray
    targets: np.ndarray
    poses: dict[str, tuple[np.ndarray, np.ndarray]]
    link_positions: np.ndarray  # [L, 3], links in ArmSimulation.link_names order
    link_rotations: np.ndarray  # [L, 3, 3]
    parts: dict[str, tuple[np.ndarray, np.ndarray, float]]  # articulated objects: part pose, joint value


class GoalRejected(ChordError):
    """A trajectory the arm refuses; `code` is the FollowJointTrajectory result code."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(message)


class SimArm(Node):
    def __init__(self) -> None:
        super().__init__("sim_arm")
        robot_config = declare(self, "robot_config", "",
                               "RobotConfig YAML: URDF, arm and finger joints, velocity limits, home; "
                               "empty = the package's config/robot_panda.yaml")
        scene_files = declare(self, "scene_files", [],
                              "scan files (.ply/.pcd/.xyz/.pts/.npz) of the objects; object name = file stem")
        self.rtf = float(declare(self, "real_time_factor", 1.0,
                                 "simulated seconds per wall-clock second; > 1 runs faster (CPU permitting)"))
        rate = float(declare(self, "joint_state_rate", 50.0, "Hz of /joint_states and object poses"))
        self.publish_clouds = bool(declare(self, "publish_clouds", True,
                                           "publish each object's moved scan as its segmented cloud"))
        self.video_dir = declare(self, "video_dir", "", "directory for one mp4 per execution (goals less than "
                                 "a second apart share one); empty = none")
        self.video_fps = float(declare(self, "video_fps", 25.0, "frame rate of the goal videos"))
        interface = declare(self, "trajectory_interface", "auto",
                            f"{'|'.join(TRAJECTORY_INTERFACES)}: action type; 'topic' adds a JointTrajectory "
                            "subscriber (the action server stays, with the 'auto' type)")
        arm_action = declare(self, "arm_action", names.ARM_ACTION, "FollowJointTrajectory action name")
        arm_topic = declare(self, "arm_topic", names.ARM_TRAJECTORY_TOPIC,
                            "JointTrajectory topic (trajectory_interface = topic)")
        gripper_action = declare(self, "gripper_action", names.GRIPPER_ACTION, "GripperCommand action name")
        self.gripper_timeout = float(declare(self, "gripper_timeout", 3.0,
                                             "simulated seconds a gripper goal may take before it ends where "
                                             "the fingers are"))
        self.start_tolerance = float(declare(self, "start_tolerance", 0.05,
                                             "max |q - current| (rad or m) of a first point at t = 0"))
        self.goal_tolerance = float(declare(self, "goal_tolerance", 0.05,
                                            "max arm joint error (rad) at the end for SUCCESSFUL"))
        self.settle_time = float(declare(self, "settle_time", 0.5,
                                         "simulated seconds after the last point before the result"))
        self.frame_id = declare(self, "frame_id", names.BASE_FRAME, "frame of object poses and clouds")
        publish_tf = bool(declare(self, "publish_tf", True, "publish /tf (links, objects) and /robot_description"))
        publish_clock = bool(declare(self, "publish_clock", True, "publish simulated time on /clock (for nodes "
                                     "with use_sim_time)"))
        clock_rate = float(declare(self, "clock_rate", 100.0, "Hz (wall clock) of /clock"))
        if interface not in TRAJECTORY_INTERFACES:
            raise ChordError(f"trajectory_interface must be one of {TRAJECTORY_INTERFACES}, got '{interface}'")
        for key, value in (("real_time_factor", self.rtf), ("joint_state_rate", rate),
                           ("start_tolerance", self.start_tolerance), ("goal_tolerance", self.goal_tolerance),
                           ("video_fps", self.video_fps), ("gripper_timeout", self.gripper_timeout),
                           ("clock_rate", clock_rate)):
            if not value > 0:
                raise ChordError(f"{key} must be > 0, got {value}")
        if not self.settle_time >= 0:
            raise ChordError(f"settle_time must be >= 0 s, got {self.settle_time}")
        scans = [load_scan(path) for path in scene_files]
        object_names = [scan.name for scan in scans]
        if len(set(object_names)) != len(object_names):
            raise ChordError(f"scene_files must have distinct file stems (object names), got {object_names}")
        if self.video_dir:
            Path(self.video_dir).mkdir(parents=True, exist_ok=True)

        config = load_robot_config(robot_config or config_path("robot_panda.yaml"))
        self.velocity_limits = RobotModel(config).velocity_limits
        joints = {scan.name: joint for path, scan in zip(scene_files, scans)
                  if (joint := load_scan_joint(path, scan.points)) is not None}
        for name, joint in joints.items():
            self.get_logger().info(f"'{name}' has a {joint.kind} part ({int(joint.mask.sum())} of its points) "
                                   f"from {joint_file(scene_files[object_names.index(name)])}")
        self.sim = ArmSimulation(config, {s.name: s.points for s in scans}, SimConfig(settle=self.settle_time), joints)
        self.colors = {s.name: s.colors for s in scans}
        self.n_arm = self.sim.n_arm
        self.action_type = follow_joint_trajectory_type("auto" if interface == "topic" else interface)
        self.gripper_type = gripper_command_type(interface)
        self._busy = threading.Lock()
        self._videos = 0
        self._recording = False
        self._warned_video = False
        self._video_idle_since: float | None = None  # set while a video waits for a next goal
        self._snapshot = self._take_snapshot()
        self.sim_clock = SimClock(self.rtf, lambda: self.sim.time)
        self._sim_stamps = bool(self.get_parameter("use_sim_time").value)
        wall = Clock(clock_type=ClockType.STEADY_TIME)  # this node is the clock's source: its timers run on the wall

        group = ReentrantCallbackGroup()
        # transient local: matches volatile subscribers and those asking for the best available
        # durability alike, and a late subscriber gets the current state of a scene at rest at once
        self.joint_pub = self.create_publisher(JointState, names.JOINT_STATES_TOPIC, latched_qos())
        self.object_joints_pub = (self.create_publisher(JointState, names.OBJECT_JOINTS_TOPIC, latched_qos())
                                  if joints else None)
        self.pose_pubs = {n: self.create_publisher(PoseStamped, names.object_pose_topic(n), latched_qos())
                          for n in object_names}
        self.cloud_pubs = ({n: self.create_publisher(PointCloud2, names.object_cloud_topic(n), latched_qos())
                            for n in object_names} if self.publish_clouds else {})
        self.tf_pub = self._tf_publisher(config) if publish_tf else None
        self.create_timer(1.0 / rate, self._publish_state, callback_group=group, clock=wall)
        if publish_clock:
            self.clock_pub = self.create_publisher(ClockMsg, names.CLOCK_TOPIC, QoSProfile(
                depth=1, reliability=QoSReliabilityPolicy.BEST_EFFORT))  # as rclpy's time source subscribes
            self.create_timer(1.0 / clock_rate, self._publish_clock, callback_group=group, clock=wall)
        self.feedback_period = 1.0 / rate
        self.server = ActionServer(self, self.action_type, arm_action, self._execute_goal,
                                   goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
                                   callback_group=group)
        self.gripper_server = ActionServer(self, self.gripper_type, gripper_action, self._execute_gripper_goal,
                                           goal_callback=self._on_goal,
                                           cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=group)
        if interface == "topic":
            self.create_subscription(JointTrajectory, arm_topic, self._on_topic_trajectory, 10,
                                     callback_group=group)
        if self.video_dir:
            self.create_timer(0.25, self._finish_video, callback_group=group, clock=wall)
        self._publish_clouds()
        self.get_logger().info(
            f"simulated arm ready: {len(self.sim.joint_names)} joints, objects {object_names}, action "
            f"{arm_action} [{self.action_type.__module__.split('.')[0]}]"
            + (f", topic {arm_topic}" if interface == "topic" else "") + f", gripper {gripper_action}"
            f", real_time_factor {self.rtf}")

    # -- state publishing -----------------------------------------------------------------
    def _publish_clock(self) -> None:
        self.clock_pub.publish(ClockMsg(clock=self.sim_clock.now_msg()))

    def _stamp(self):
        """Now, as the stamps of this node's messages: simulated time with use_sim_time."""
        return self.sim_clock.now_msg() if self._sim_stamps else self.get_clock().now().to_msg()

    def _take_snapshot(self) -> Snapshot:
        sim = self.sim
        return Snapshot(sim.positions, sim.velocities, sim.targets,
                        {n: sim.object_pose(n) for n in sim.object_names}, *sim.link_poses(),
                        {n: (*sim.part_pose(n), sim.joint_value(n)) for n in sim.articulated})

    def _tf_publisher(self, config):
        """/tf publisher (None without tf2_msgs), after publishing the URDF on /robot_description."""
        from std_msgs.msg import String

        self.description_pub = self.create_publisher(String, names.ROBOT_DESCRIPTION_TOPIC, latched_qos())
        self.description_pub.publish(String(data=urdf_with_absolute_meshes(config.resolved_urdf(), "file://")))
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError:
            self.get_logger().warning("tf2_msgs is not installed: no /tf (scripts/setup.sh builds it)")
            return None
        self._tf_message = TFMessage
        return self.create_publisher(TFMessage, names.TF_TOPIC, 100)

    def _publish_state(self) -> None:
        snap = self._snapshot
        stamp = self._stamp()
        if self.tf_pub is not None:
            objects, parts = list(snap.poses), list(snap.parts)
            positions = np.vstack([snap.link_positions, *(snap.poses[n][0][None] for n in objects),
                                   *(snap.parts[n][0][None] for n in parts)])
            rotations = np.concatenate([snap.link_rotations, *(snap.poses[n][1][None] for n in objects),
                                        *(snap.parts[n][1][None] for n in parts)])
            children = (list(self.sim.link_names) + [names.object_frame(n) for n in objects]
                        + [names.object_part_frame(n) for n in parts])
            self.tf_pub.publish(self._tf_message(
                transforms=transforms_msgs(self.frame_id, children, positions, rotations, stamp)))
        self.joint_pub.publish(JointState(header=make_header("", stamp), name=list(self.sim.joint_names),
                                          position=snap.positions.tolist(), velocity=snap.velocities.tolist()))
        for name, pub in self.pose_pubs.items():
            position, rotation = snap.poses[name]
            pub.publish(PoseStamped(header=make_header(self.frame_id, stamp), pose=pose_to_msg(rotation, position)))
        if self.object_joints_pub is not None:
            self.object_joints_pub.publish(JointState(
                header=make_header("", stamp), name=[names.object_joint_name(n) for n in snap.parts],
                position=[value for _, _, value in snap.parts.values()]))

    def _publish_clouds(self) -> None:
        stamp = self._stamp()
        for name, pub in self.cloud_pubs.items():
            pub.publish(numpy_to_cloud(self.sim.object_cloud(name), self.colors[name], self.frame_id, stamp))

    # -- goal checks ----------------------------------------------------------------------
    def check_trajectory(self, msg: JointTrajectory) -> tuple[np.ndarray, np.ndarray]:
        """Times [K] and full joint targets [K, n] of a trajectory the arm can run, else GoalRejected."""
        Result = self.action_type.Result
        try:
            arrays: TrajectoryArrays = trajectory_to_arrays(msg, self.sim.joint_names[: self.n_arm])
        except JointNamesError as error:
            raise GoalRejected(Result.INVALID_JOINTS, str(error)) from None
        except ChordError as error:
            raise GoalRejected(Result.INVALID_GOAL, str(error)) from None
        current = self._snapshot.targets
        targets = np.repeat(current[None], len(arrays.times), axis=0)
        columns = [self.sim.joint_names.index(n) for n in arrays.joint_names]
        targets[:, columns] = arrays.positions
        names_all = self.sim.joint_names
        outside = (targets < self.sim.lower - 1e-6) | (targets > self.sim.upper + 1e-6)
        if outside.any():
            k, j = map(int, np.argwhere(outside)[0])
            raise GoalRejected(Result.INVALID_GOAL, f"point {k}: {names_all[j]} = {targets[k, j]:.4f} is outside "
                                                    f"its limits [{self.sim.lower[j]:.4f}, {self.sim.upper[j]:.4f}]")
        times = arrays.times
        if times[0] <= 1e-9:
            gap = np.abs(targets[0] - self._snapshot.positions)
            j = int(np.argmax(gap))
            if gap[j] > self.start_tolerance:
                raise GoalRejected(Result.INVALID_GOAL, f"the first point is {gap[j]:.3f} from the current "
                                                        f"{names_all[j]} (start_tolerance {self.start_tolerance})")
            path_t, path_q = times, targets
        else:  # the arm moves from where it is to the first point
            path_t, path_q = np.concatenate([[0.0], times]), np.vstack([current[None], targets])
        speed = np.abs(np.diff(path_q[:, : self.n_arm], axis=0)) / np.diff(path_t)[:, None]
        over = speed > self.velocity_limits * (1 + 1e-6)
        if over.any():
            k, j = map(int, np.argwhere(over)[0])
            raise GoalRejected(Result.INVALID_GOAL, f"segment {k}->{k + 1}: {names_all[j]} would move at "
                                                    f"{speed[k, j]:.3f} rad/s, above its limit "
                                                    f"{self.velocity_limits[j]:.3f}")
        return times, targets

    # -- execution ------------------------------------------------------------------------
    def _on_goal(self, _request) -> GoalResponse:
        if not self._busy.acquire(blocking=False):
            self.get_logger().warning("goal rejected: the arm is executing another trajectory (cancel it first)")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute_goal(self, goal_handle):
        result = self.action_type.Result()
        try:
            times, targets = self.check_trajectory(goal_handle.request.trajectory)
        except GoalRejected as rejected:
            self.get_logger().error(f"goal aborted: {rejected}")
            result.error_code, result.error_string = rejected.code, str(rejected)
            goal_handle.abort()
            self._busy.release()
            return result
        try:
            outcome, message = self.run_trajectory(times, targets, goal_handle)
        finally:
            self._busy.release()
        result.error_code, result.error_string = outcome, message
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif outcome == result.SUCCESSFUL:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"goal finished: {message}")
        return result

    def _on_topic_trajectory(self, msg: JointTrajectory) -> None:
        if not self._busy.acquire(blocking=False):
            self.get_logger().warning("topic trajectory ignored: the arm is executing another trajectory")
            return
        try:
            times, targets = self.check_trajectory(msg)
            _, message = self.run_trajectory(times, targets, None)
            self.get_logger().info(f"topic trajectory finished: {message}")
        except GoalRejected as rejected:
            self.get_logger().error(f"topic trajectory rejected: {rejected}")
        finally:
            self._busy.release()

    def run_trajectory(self, times: np.ndarray, targets: np.ndarray, goal_handle) -> tuple[int, str]:
        """Step the simulation through the trajectory in (scaled) real time; (result code, message)."""
        sim, codes = self.sim, self.action_type.Result
        end = [sim.follow(times, targets) + self.settle_time]

        def on_cancel(elapsed: float) -> None:
            sim.hold()
            end[0] = elapsed + self.settle_time

        canceled, elapsed, wall = self._step_until(lambda t: t >= end[0] - 1e-9, goal_handle, on_cancel,
                                                   self._feedback)
        if canceled:
            return codes.SUCCESSFUL, f"canceled after {elapsed:.2f} s; the arm holds its position"
        error = np.abs(sim.positions - targets[-1])[: self.n_arm]
        if error.max() > self.goal_tolerance:
            j = int(np.argmax(error))
            return codes.GOAL_TOLERANCE_VIOLATED, (f"{sim.joint_names[j]} ended {error[j]:.3f} rad from the "
                                                   f"last point (goal_tolerance {self.goal_tolerance})")
        return codes.SUCCESSFUL, (f"executed {len(times)} points over {times[-1]:.2f} s (+{self.settle_time:.2f} s "
                                  f"settle) in {wall:.2f} s wall time")

    def _step_until(self, done, goal_handle, on_cancel, make_feedback) -> tuple[bool, float, float]:
        """Advance the physics in (scaled) real time until done(elapsed simulated s); a cancel request
        calls on_cancel(elapsed) once. Publishes state and feedback meanwhile; (canceled, elapsed, wall s)."""
        sim = self.sim
        self._start_video()
        start, wall0 = sim.time, time.monotonic()
        next_feedback = 0.0
        canceled = False
        self.sim_clock.begin_stepping()
        try:
            while not done(sim.time - start):
                if goal_handle is not None and goal_handle.is_cancel_requested and not canceled:
                    canceled = True
                    on_cancel(sim.time - start)
                sim.step(STEP_CHUNK)
                self._snapshot = self._take_snapshot()
                now = time.monotonic()
                if goal_handle is not None and now >= next_feedback:
                    next_feedback = now + self.feedback_period
                    goal_handle.publish_feedback(make_feedback(sim.time - start))
                ahead = wall0 + (sim.time - start) / self.rtf - now
                time.sleep(max(ahead, 0.0))  # also yields to the publishers when running flat out
        finally:
            self.sim_clock.end_stepping()
        self._publish_clouds()
        self._video_idle_since = time.monotonic()
        return canceled, sim.time - start, time.monotonic() - wall0

    # -- gripper --------------------------------------------------------------------------
    def _execute_gripper_goal(self, goal_handle):
        result = self.gripper_type.Result()
        try:
            target = gripper_target(goal_handle.request.command, self.sim.lower[self.n_arm],
                                    self.sim.upper[self.n_arm])
        except ChordError as error:
            self.get_logger().error(f"gripper goal aborted: {error}")
            self._fill_gripper(result, np.nan)
            goal_handle.abort()
            self._busy.release()
            return result
        try:
            canceled = self.run_gripper(target, goal_handle)
        finally:
            self._busy.release()
        self._fill_gripper(result, target)
        if canceled:
            goal_handle.canceled()
        else:
            goal_handle.succeed()
        self.get_logger().info(f"gripper goal finished: fingers at {result.position * 1000:.1f} mm (commanded "
                               f"{target * 1000:.1f} mm), {'reached' if result.reached_goal else 'stalled'}")
        return result

    def run_gripper(self, target: float, goal_handle) -> bool:
        """Drive the fingers toward `target` until they stop (>= 0.1 s still) or gripper_timeout; a
        cancel holds them where they are. Whether the goal was canceled."""
        sim = self.sim
        targets = sim.targets
        targets[self.n_arm:] = target
        sim.command(targets)
        still = [0.0]

        def settled(elapsed: float) -> bool:
            moving = np.abs(sim.velocities[self.n_arm:]).max() > 1e-3
            still[0] = 0.0 if moving else still[0] + STEP_CHUNK
            return (elapsed >= 0.1 and still[0] >= 0.1) or elapsed >= self.gripper_timeout

        def on_cancel(_elapsed: float) -> None:
            held = sim.targets
            held[self.n_arm:] = sim.positions[self.n_arm:]
            sim.command(held)

        def feedback(_elapsed: float):
            message = self.gripper_type.Feedback()
            self._fill_gripper(message, target)
            return message

        canceled, _, _ = self._step_until(settled, goal_handle, on_cancel, feedback)
        return canceled

    def _fill_gripper(self, message, target: float) -> None:
        """position / effort / stalled / reached_goal of the first finger joint into a result or feedback."""
        position = float(self._snapshot.positions[self.n_arm])
        message.position = position
        message.effort = float(abs(self.sim.forces[self.n_arm]))
        message.reached_goal = bool(np.isfinite(target) and abs(position - target) <= GRIPPER_REACHED)
        still = np.abs(self._snapshot.velocities[self.n_arm:]).max() <= 1e-3
        message.stalled = bool(not message.reached_goal and still)

    # -- video ----------------------------------------------------------------------------
    def _start_video(self) -> None:
        """Start recording at the first goal of an execution (a video already open continues)."""
        self._video_idle_since = None
        if not self.video_dir or self._recording or self._warned_video:
            return
        self._recording = self.sim.start_video(self.video_fps)
        if not self._recording:
            self._warned_video = True
            self.get_logger().warning("no GL context for MuJoCo rendering: no goal videos (try MUJOCO_GL=egl)")

    def _finish_video(self, force: bool = False) -> None:
        """Write the open video once no goal came for VIDEO_GAP s (timer), or at once on shutdown."""
        idle = self._video_idle_since
        if not self._recording or idle is None or (not force and time.monotonic() - idle < VIDEO_GAP):
            return
        if not self._busy.acquire(blocking=False):
            return
        try:
            self._videos += 1
            path = write_video(self.sim.stop_video(), Path(self.video_dir) / f"goal_{self._videos:03d}.mp4",
                               self.video_fps)
            self._recording, self._video_idle_since = False, None
        finally:
            self._busy.release()
        # on shutdown the ROS context may be gone: report on stdout
        print(f"[sim_arm] video: {path}", flush=True)

    def close(self) -> None:
        """Shutdown: the video of the last execution is written."""
        self._finish_video(force=True)

    def _feedback(self, elapsed: float):
        snap = self._snapshot
        at = duration_msg(elapsed)
        feedback = self.action_type.Feedback()
        feedback.header = make_header(self.frame_id, self._stamp())
        feedback.joint_names = list(self.sim.joint_names)
        feedback.desired = JointTrajectoryPoint(positions=snap.targets.tolist(), time_from_start=at)
        feedback.actual = JointTrajectoryPoint(positions=snap.positions.tolist(),
                                               velocities=snap.velocities.tolist(), time_from_start=at)
        feedback.error = JointTrajectoryPoint(positions=(snap.targets - snap.positions).tolist(), time_from_start=at)
        return feedback


def main(argv: list[str] | None = None) -> int:
    return run_node(SimArm, argv, threads=4)


if __name__ == "__main__":
    raise SystemExit(main())
