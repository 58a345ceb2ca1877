"""sim_arm node in its own process, as a ros2_control arm: FollowJointTrajectory goals for the arm
joints and GripperCommand goals for the fingers move the simulated arm and object; bad goals are
aborted with a reason; a running goal can be canceled; one goal at a time. (A described joint:
test_sim_arm_articulated.py, in its own module so that two sim_arm processes never overlap.)"""

from contextlib import contextmanager

import numpy as np
import pytest
from node_process import flow_target_centroid, rotation_angle_deg, spin_until, start_node, stop_nodes, wait_future

from chord_core.formats.scans import Scan, save_scan
from chord_core.robot import flow_cases
from chord_core.robot.config import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS
from chord_core.robot.execution import ArmSegment, execution_steps
from chord_core.robot.model import RobotModel
from chord_core.robot.planner import plan_flow
from chord_ros import names
from chord_ros.convert import cloud_to_numpy
from chord_ros.trajectory_conversion import duration_msg, segment_to_trajectory

ALL_JOINTS = PANDA_ARM_JOINTS + PANDA_FINGER_JOINTS  # /joint_states
JOINTS = PANDA_ARM_JOINTS  # what a trajectory goal names


class ArmClient:
    """The test's side: an action client plus the latest joint state, object pose and cloud."""

    def __init__(self, context, proc, object_name: str = "box"):
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import JointState, PointCloud2

        from chord_msgs.action import FollowJointTrajectory, GripperCommand
        from chord_ros.node_params import latched_qos

        self.proc = proc
        self.node = rclpy.create_node("sim_arm_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.action = FollowJointTrajectory
        self.client = ActionClient(self.node, FollowJointTrajectory, names.ARM_ACTION)
        self.gripper_action = GripperCommand
        self.gripper = ActionClient(self.node, GripperCommand, names.GRIPPER_ACTION)
        self.joint_states, self.pose, self.cloud, self.object_joints = [], None, None, None
        self.node.create_subscription(JointState, names.JOINT_STATES_TOPIC, self.joint_states.append, 10)
        self.node.create_subscription(PoseStamped, names.object_pose_topic(object_name),
                                      lambda m: setattr(self, "pose", m), 10)
        self.node.create_subscription(PointCloud2, names.object_cloud_topic(object_name),
                                      lambda m: setattr(self, "cloud", m), latched_qos())
        self.node.create_subscription(JointState, names.OBJECT_JOINTS_TOPIC,
                                      lambda m: setattr(self, "object_joints", m), latched_qos())

    def spin_until(self, done, timeout=60.0, what=""):
        spin_until(self.executor, done, timeout, [self.proc], what)

    def current(self) -> np.ndarray:
        """Positions of the latest joint state, in ALL_JOINTS order (arm, then fingers)."""
        self.joint_states.clear()
        self.spin_until(lambda: self.joint_states, what="/joint_states")
        msg = self.joint_states[-1]
        return np.array([msg.position[list(msg.name).index(j)] for j in ALL_JOINTS])

    def send(self, trajectory, feedback=None):
        goal = self.action.Goal(trajectory=trajectory)
        return wait_future(self.executor, self.client.send_goal_async(goal, feedback_callback=feedback), 30.0,
                           [self.proc], "goal response")

    def grip(self, position: float):
        """Send a GripperCommand (finger joint position, half the opening); its result response."""
        goal = self.gripper_action.Goal()
        goal.command.position, goal.command.max_effort = position, 40.0
        handle = wait_future(self.executor, self.gripper.send_goal_async(goal), 30.0, [self.proc], "gripper response")
        assert handle.accepted
        return self.result(handle)

    def result(self, handle, timeout=90.0):
        return wait_future(self.executor, handle.get_result_async(), timeout, [self.proc], "goal result")

    def execute(self, plan) -> list:
        """Run a plan as the planner sends it (approach, close, carry, open, retreat); the feedback."""
        from action_msgs.msg import GoalStatus

        feedback = []
        for step in execution_steps(plan):
            if isinstance(step, ArmSegment):
                handle = self.send(segment_to_trajectory(step, JOINTS), feedback.append)
                assert handle.accepted
                response = self.result(handle)
                assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.error_string
                assert response.result.error_code == self.action.Result.SUCCESSFUL
            else:
                response = self.grip(step.width / 2.0)
                assert response.status == GoalStatus.STATUS_SUCCEEDED
                if step.phase == "close":  # blocked by the object: it is held
                    assert response.result.stalled and response.result.position > 0.005, response.result
                else:
                    assert response.result.reached_goal
        return feedback


@contextmanager
def sim_arm(tmp, scene: str, object_name: str):
    """A sim_arm process on `scene` (x20 real time, simulated clock) and a client ready to use."""
    import rclpy
    from rclpy.context import Context

    proc = start_node("sim_arm", {"scene_files": f"['{scene}']", "real_time_factor": 20.0, "use_sim_time": True},
                      tmp / "sim_arm.log")
    context = Context()
    rclpy.init(context=context)
    client = None
    try:
        client = ArmClient(context, proc, object_name)
        client.spin_until(lambda: client.client.server_is_ready() and client.gripper.server_is_ready()
                          and client.cloud is not None, 60.0, "the sim_arm action servers and its latched cloud")
        yield client
    finally:
        stop_nodes(proc)
        if client is not None:
            client.node.destroy_node()
        rclpy.shutdown(context=context)
        print((tmp / "sim_arm.log").read_text()[-3000:])


@pytest.fixture(scope="module")
def arm(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sim_arm")
    scene = save_scan(Scan("box", flow_cases.lift_and_move().scene["box"]), tmp / "box.npz")
    with sim_arm(tmp, scene, "box") as client:
        yield client


def _trajectory(names_, points):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    return JointTrajectory(joint_names=list(names_), points=[
        JointTrajectoryPoint(positions=[float(v) for v in q], time_from_start=duration_msg(t)) for t, q in points])


def test_bad_goals_are_aborted_with_a_reason_and_the_server_keeps_serving(arm):
    from action_msgs.msg import GoalStatus

    everything = arm.current()
    q = everything[:7]
    wrong = _trajectory(("joint_a",) + JOINTS[1:], [(1.0, q)])
    response = arm.result(arm.send(wrong))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == arm.action.Result.INVALID_JOINTS
    assert "joint_a" in response.result.error_string
    # the fingers belong to the gripper's action, as with a joint_trajectory_controller
    response = arm.result(arm.send(_trajectory(ALL_JOINTS, [(1.0, everything)])))
    assert response.result.error_code == arm.action.Result.INVALID_JOINTS
    assert "panda_finger_joint1" in response.result.error_string

    outside = q.copy()
    outside[3] = 0.5  # above panda_joint4's upper limit (0 rad)
    response = arm.result(arm.send(_trajectory(JOINTS, [(2.0, outside)])))
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == arm.action.Result.INVALID_GOAL
    assert "panda_joint4" in response.result.error_string and "limits" in response.result.error_string

    nan = q.copy()
    nan[0] = float("nan")
    response = arm.result(arm.send(_trajectory(JOINTS, [(1.0, nan)])))
    assert response.result.error_code == arm.action.Result.INVALID_GOAL and "NaN" in response.result.error_string
    for position in (0.06, -0.01, float("nan")):  # the finger joint ranges over [0, 0.04] m
        response = arm.grip(position)
        assert response.status == GoalStatus.STATUS_ABORTED and not response.result.reached_goal
    np.testing.assert_allclose(arm.current(), everything, atol=1e-6)  # nothing moved


def test_the_gripper_reaches_an_open_command_and_closes_fully_on_nothing(arm):
    from action_msgs.msg import GoalStatus

    closed = arm.grip(0.0)  # nothing between the fingers at home
    assert closed.status == GoalStatus.STATUS_SUCCEEDED
    assert closed.result.reached_goal and not closed.result.stalled and closed.result.position < 0.001
    assert np.all(arm.current()[7:] < 0.001)
    opened = arm.grip(0.04)
    assert opened.status == GoalStatus.STATUS_SUCCEEDED and opened.result.reached_goal
    assert abs(opened.result.position - 0.04) <= 0.001 and np.all(np.abs(arm.current()[7:] - 0.04) < 0.001)


def test_lift_and_move_goal_moves_the_box_to_the_flow_target(arm):
    case = flow_cases.lift_and_move()
    model = RobotModel()
    q = arm.current()
    plan = plan_flow(case.flow, case.scene, model, "grasp", q_start=q[:7])
    arm.joint_states.clear()
    feedback = arm.execute(plan)
    assert feedback and list(feedback[-1].feedback.joint_names) == list(ALL_JOINTS)
    assert len(arm.joint_states) > 3  # /joint_states flowed during execution
    np.testing.assert_allclose(arm.current()[:7], plan.positions[-1], atol=0.02)

    target = flow_target_centroid(case.flow)
    arm.pose = None
    arm.spin_until(lambda: arm.pose is not None, what="the box pose")
    p = arm.pose.pose.position
    assert arm.pose.header.frame_id == names.BASE_FRAME
    assert np.linalg.norm(np.array([p.x, p.y, p.z]) - target) <= 0.01
    assert rotation_angle_deg(arm.pose.pose.orientation) <= 5.0
    # the simulated perception re-published the moved cloud
    arm.spin_until(lambda: np.linalg.norm(cloud_to_numpy(arm.cloud)[0].mean(axis=0) - target) < 0.02,
                   what="the moved cloud")


def test_cancel_holds_the_arm_and_a_second_goal_is_rejected(arm):
    from action_msgs.msg import GoalStatus

    q = arm.current()[:7]
    far = q.copy()
    far[0] += 0.6
    feedback = []
    handle = arm.send(_trajectory(JOINTS, [(0.0, q), (60.0, far)]), feedback.append)  # 3 s wall at x20
    assert handle.accepted
    arm.spin_until(lambda: feedback, what="feedback")
    assert not arm.send(_trajectory(JOINTS, [(1.0, q)])).accepted  # busy: one goal at a time
    wait_future(arm.executor, handle.cancel_goal_async(), 30.0, [arm.proc], "cancel response")
    response = arm.result(handle)
    assert response.status == GoalStatus.STATUS_CANCELED
    held = arm.current()[:7]
    assert 0.0 < held[0] - q[0] < 0.55  # stopped part way
    arm.executor.spin_once(timeout_sec=0.5)
    np.testing.assert_allclose(arm.current()[:7], held, atol=1e-3)
    # and it serves again: back to where it started
    back = arm.result(arm.send(_trajectory(JOINTS, [(0.0, held), (2.0, q)])))
    assert back.status == GoalStatus.STATUS_SUCCEEDED


def test_tf_and_robot_description_show_the_simulated_robot_and_objects(arm):
    """/tf carries every link where pinocchio's kinematics of /joint_states puts it, and the box
    where its pose topic does; /robot_description is the URDF with resolvable meshes."""
    import re
    from pathlib import Path

    from std_msgs.msg import String
    from tf2_msgs.msg import TFMessage

    from chord_ros.node_params import latched_qos

    got = {}
    arm.node.create_subscription(TFMessage, names.TF_TOPIC, lambda m: got.__setitem__("tf", m), 10)
    arm.node.create_subscription(String, names.ROBOT_DESCRIPTION_TOPIC, lambda m: got.__setitem__("urdf", m),
                                 latched_qos())
    arm.spin_until(lambda: "tf" in got and "urdf" in got, what="/tf and /robot_description")
    q = arm.current()
    arm.pose, got["tf"] = None, None
    arm.spin_until(lambda: got["tf"] is not None and arm.pose is not None, what="a /tf and a box pose")
    frames = {t.child_frame_id: t for t in got["tf"].transforms}
    assert {t.header.frame_id for t in got["tf"].transforms} == {names.BASE_FRAME}
    model = RobotModel()
    assert {"panda_link0", "panda_link7", "panda_hand", names.object_frame("box")} <= set(frames)
    import pinocchio as pin
    from scipy.spatial.transform import Rotation

    pin.framesForwardKinematics(model.model, model.data, q[:7])
    for link in ("panda_link3", "panda_link7", "panda_hand"):
        expected = model.data.oMf[model.model.getFrameId(link)]
        t = frames[link].transform
        np.testing.assert_allclose([t.translation.x, t.translation.y, t.translation.z], expected.translation,
                                   atol=1e-3)
        r = Rotation.from_quat([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]).as_matrix()
        assert np.degrees(np.arccos(np.clip((np.trace(r.T @ expected.rotation) - 1) / 2, -1, 1))) < 0.5
    box, p = frames[names.object_frame("box")].transform.translation, arm.pose.pose.position
    np.testing.assert_allclose([box.x, box.y, box.z], [p.x, p.y, p.z], atol=1e-3)
    meshes = re.findall(r'filename="file://([^"]+)"', got["urdf"].data)
    assert "<robot" in got["urdf"].data and meshes and all(Path(m).is_file() for m in meshes)


def test_clock_carries_simulated_time_and_stamps_follow_it(arm):
    """/clock runs at real_time_factor (20) at rest and covers a goal's whole duration; with
    use_sim_time the node's stamps are that simulated time, not the wall clock."""
    import time

    from rclpy.qos import QoSProfile, QoSReliabilityPolicy
    from rosgraph_msgs.msg import Clock

    ticks = []  # (wall s at arrival, simulated s)
    arm.node.create_subscription(Clock, names.CLOCK_TOPIC, lambda m: ticks.append(
        (time.monotonic(), m.clock.sec + m.clock.nanosec * 1e-9)), QoSProfile(
        depth=10, reliability=QoSReliabilityPolicy.BEST_EFFORT))
    arm.spin_until(lambda: len(ticks) > 5, what="/clock")
    first = ticks[-1]
    arm.spin_until(lambda: ticks[-1][0] - first[0] > 2.0, what="2 s of /clock")
    last = ticks[-1]
    rate = (last[1] - first[1]) / (last[0] - first[0])
    assert 10.0 < rate < 30.0, rate  # 20 simulated s per wall s, give or take message delays
    assert all(b[1] >= a[1] for a, b in zip(ticks, ticks[1:]))
    arm.joint_states.clear()
    arm.spin_until(lambda: len(arm.joint_states) >= 3, what="/joint_states")  # past any queued backlog
    stamp, sim_now = arm.joint_states[-1].header.stamp, ticks[-1][1]
    assert abs(stamp.sec + stamp.nanosec * 1e-9 - sim_now) < 10.0  # simulated time, not ~1.8e9 s of wall time

    q = arm.current()[:7]
    before = ticks[-1][1]
    done = arm.result(arm.send(_trajectory(JOINTS, [(0.0, q), (30.0, q + 0.1)])))  # 30 simulated s
    assert done.result.error_code == arm.action.Result.SUCCESSFUL
    arm.spin_until(lambda: ticks[-1][0] > time.monotonic() - 0.2, what="a fresh /clock")
    assert ticks[-1][1] - before >= 30.0

