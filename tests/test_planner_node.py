"""planner + sim_arm processes: a published ObjectFlow becomes a PlanReport with a plan id; with
auto_execute off (the default) no trajectory reaches the arm until an execute request names that
plan, after which the simulated arm executes it so the box ends where the flow says; execute
requests for unknown, superseded or already confirmed plans are refused with the reason; an
unreachable flow is refused with its frame and reason and the arm never gets a goal. The plan
ledger's rules (stale, withdrawn, ...) are checked without ROS."""

import contextlib
import subprocess
import sys
import time

import numpy as np
import pytest
from node_process import flow_target_centroid, spin_until, start_node, stop_nodes
from sensor_msgs.msg import JointState

from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan, save_scan
from chord_core.robot import flow_cases
from chord_core.robot.config import PANDA_ARM_JOINTS
from chord_core.robot.planner import Plan
from chord_core.robot.safety import PlanRefused
from chord_core.view.content import load_plan_dir
from chord_ros import names
from chord_ros.convert import flow_to_msg

PLANNING_TIMEOUT = 600.0  # s: planning one flow takes seconds on an idle CPU, minutes on a loaded one


class Observer:
    """The test's node: publishes flows, records plan reports, goal statuses and the box pose."""

    def __init__(self, context, procs):
        import rclpy
        from action_msgs.msg import GoalStatusArray
        from geometry_msgs.msg import PoseStamped
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

        from chord_msgs.msg import ObjectFlow, PlanReport
        from chord_ros.node_params import latched_qos

        self.procs = procs
        self.node = rclpy.create_node("planner_test", context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.flow_pub = self.node.create_publisher(ObjectFlow, names.FLOW_TOPIC, latched_qos())
        self.reports, self.goals, self.pose = [], {}, None
        self.node.create_subscription(PlanReport, names.PLAN_TOPIC, self.reports.append, latched_qos(10))
        self.node.create_subscription(PoseStamped, names.object_pose_topic("box"),
                                      lambda m: setattr(self, "pose", m), 10)
        status_qos = QoSProfile(depth=10, reliability=QoSReliabilityPolicy.RELIABLE,
                                durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(GoalStatusArray, f"{names.ARM_ACTION}/_action/status", self._on_status,
                                      status_qos)

    def _on_status(self, msg) -> None:
        for status in msg.status_list:
            self.goals[bytes(status.goal_info.goal_id.uuid)] = status.status

    def spin_until(self, done, timeout=PLANNING_TIMEOUT, what=""):
        spin_until(self.executor, done, timeout, self.procs, what)

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        self.spin_until(lambda: time.monotonic() > end)

    def plan(self, flow):
        """Publish the flow (a Flow, or an ObjectFlow message as is) and return the PlanReport it
        produced (re-sent while the planner is still finishing a previous flow and refuses as busy)."""
        msg = flow_to_msg(flow) if isinstance(flow, Flow) else flow
        for _ in range(20):
            count = len(self.reports)
            self.flow_pub.publish(msg)
            self.spin_until(lambda count=count: len(self.reports) > count, what="the PlanReport")
            if not self.reports[-1].reason.startswith("busy"):
                return self.reports[-1]
            self.spin_for(0.5)
        raise AssertionError("the planner stayed busy")

    def call(self, srv_type, name: str, request):
        """A service call to the planner, answered (an execute request: once the arm has finished)."""
        client = self.node.create_client(srv_type, name)
        self.spin_until(client.service_is_ready, what=f"the service {name}")
        future = client.call_async(request)
        self.spin_until(future.done, what=f"the answer on {name}")
        return future.result()

    def execute(self, plan_id: str):
        from chord_msgs.srv import ExecutePlan

        return self.call(ExecutePlan, names.EXECUTE_SERVICE, ExecutePlan.Request(plan_id=plan_id))


@contextlib.contextmanager
def planner_graph(tmp, sim_arm_params: dict, planner_params: dict, box_shift=(0.0, 0.0, 0.0)):
    """sim_arm holding the lift-and-move box (moved by `box_shift` from where the flow has it) and a
    planner as processes, and an Observer on them (``observer.log``: the planner's log); the logs'
    tails are printed on the way out."""
    import rclpy
    from rclpy.context import Context

    box = flow_cases.lift_and_move().scene["box"] + np.asarray(box_shift, np.float32)
    scene = save_scan(Scan("box", box), tmp / "box.npz")
    procs = [start_node("sim_arm", {"scene_files": f"['{scene}']", **sim_arm_params}, tmp / "sim_arm.log"),
             start_node("planner", planner_params, tmp / "planner.log")]
    context = Context()
    rclpy.init(context=context)
    observer = None
    try:
        observer = Observer(context, procs)
        observer.log = tmp / "planner.log"
        observer.spin_until(lambda: observer.flow_pub.get_subscription_count() > 0 and observer.pose is not None,
                            what="the planner's flow subscription and the simulated box")
        yield observer
    finally:
        stop_nodes(*procs)
        if observer is not None:
            observer.node.destroy_node()
        rclpy.shutdown(context=context)
        for log in ("sim_arm.log", "planner.log"):
            print((tmp / log).read_text()[-3000:])


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planner")
    # one simulated box serves every test, and each plans a flow from where the box first stood although
    # an earlier test carried it: the start check (max_start_offset) is off; test_planner_stale_flow.py has it
    with planner_graph(tmp, {"real_time_factor": 20.0},
                       {"grasp_backend": "antipodal", "auto_execute": False, "plan_dir": str(tmp / "plans"),
                        "static_transforms": f"['{SIDE_CAMERA}']", "max_start_offset": 0.0}) as observer:
        observer.plan_dir = tmp / "plans"
        yield observer


def test_a_plan_moves_the_arm_only_once_its_execute_request_arrives(graph):
    from action_msgs.msg import GoalStatus
    from builtin_interfaces.msg import Time

    case = flow_cases.lift_and_move()
    before = set(graph.goals)
    msg = flow_to_msg(case.flow, stamp=Time(sec=1234, nanosec=5))
    first = graph.plan(msg)
    assert first.accepted, first.reason
    assert first.awaiting_confirmation and first.plan_id and first.flow_stamp == msg.header.stamp
    assert first.offending_frame == -1 and first.mode == "grasp" and first.grasp.object_name == "box"
    assert len(first.trajectory.points) > 10 and len(first.trajectory.joint_names) == 7  # the arm; the gripper beside
    assert len(first.gripper_openings) == len(first.trajectory.points)
    assert len(first.tracking_errors) == case.flow.num_frames
    saved, grasp = load_plan_dir(graph.plan_dir / first.plan_id)  # what `chord view --plan` replays
    assert bool(saved["accepted"]) and grasp["object_name"] == "box"
    np.testing.assert_array_equal(saved["positions"], [p.positions for p in first.trajectory.points])
    graph.spin_for(3.0)
    assert set(graph.goals) == before, "a plan reached the arm without an execute request"

    unknown = graph.execute("no-such-plan")
    assert not unknown.success and f"unknown plan 'no-such-plan' (the latest is '{first.plan_id}')" in unknown.message

    second = graph.plan(case.flow)  # the same command again: a new plan supersedes the first
    assert second.accepted and second.plan_id != first.plan_id, second.reason
    cli = subprocess.run([sys.executable, "-m", "chord_ros.cli", "execute", first.plan_id],
                         capture_output=True, text=True, timeout=PLANNING_TIMEOUT)
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert f"superseded by plan '{second.plan_id}'" in cli.stdout and "not executed" in cli.stdout
    graph.spin_for(1.0)
    assert set(graph.goals) == before

    executed = graph.execute(second.plan_id)
    assert executed.success and executed.message.startswith("executed all 6 steps: gripper open to "), executed.message
    graph.spin_until(lambda: any(s == GoalStatus.STATUS_SUCCEEDED for g, s in graph.goals.items() if g not in before),
                     what="the arm's status of the goal")
    assert len(set(graph.goals) - before) == 3  # approach, carry, retreat; the gripper has its own action
    graph.pose = None
    graph.spin_until(lambda: graph.pose is not None, what="the box pose")
    p = graph.pose.pose.position
    assert np.linalg.norm(np.array([p.x, p.y, p.z]) - flow_target_centroid(case.flow)) <= 0.01

    again = graph.execute(second.plan_id)
    assert not again.success and "confirmed already" in again.message
    assert len(set(graph.goals) - before) == 3


def test_unreachable_flow_is_refused_and_never_sent(graph):
    pts = flow_cases.box_cloud((0.05, 0.05, 0.06), (0.5, 0.0), 300)
    s = np.linspace(0, 1, 9)
    flow = Flow(flow_cases.rigid_flow(pts, np.stack([0.9 * s, 0 * s, 0.1 * s], 1), np.zeros((9, 3))),
                np.zeros(300, np.int32), 5.0, "throw the box far away", ["box"])
    before = set(graph.goals)
    report = graph.plan(flow)
    assert not report.accepted
    assert report.offending_frame >= 1 and "unreachable" in report.reason
    assert len(report.trajectory.points) == 0
    graph.spin_for(2.0)
    assert set(graph.goals) == before  # the arm's action server never saw a new goal


def one_frame_flow():
    case = flow_cases.lift_and_move()
    return flow_to_msg(Flow(case.flow.trajectories[:1], case.flow.object_ids, case.flow.fps, "", ["box"]))


# 1 m to the base's left, turned +90 deg about z: its x is the base's y
SIDE_CAMERA = "side_cam 0.0 1.0 0.0 0.0 0.0 0.7071068 0.7071068"


def flow_in_frame(frame_id: str, flow: Flow | None = None):
    """The lift-and-move flow expressed in `frame_id` (side_cam: base (x, y, z) -> (y - 1, -x, z))."""
    flow = flow or flow_cases.lift_and_move().flow
    if frame_id == "side_cam":
        t = flow.trajectories
        flow = Flow(np.stack([t[..., 1] - 1.0, -t[..., 0], t[..., 2]], -1).astype(np.float32), flow.object_ids,
                    flow.fps, flow.prompt, flow.object_names)
    return flow_to_msg(flow, frame_id=frame_id)


def test_a_flow_in_another_frame_is_planned_where_it_is_in_the_base_frame(graph):
    in_base = graph.plan(flow_in_frame("world"))
    in_side = graph.plan(flow_in_frame("side_cam"))
    assert in_base.accepted and in_side.accepted, (in_base.reason, in_side.reason)
    assert in_side.header.frame_id == "world"
    # the same box in the base frame: both grasps on it (in side_cam coordinates it would sit at
    # x = -1 m, behind the robot, out of reach)
    box = flow_cases.lift_and_move().flow.trajectories[0]
    for report in (in_base, in_side):
        p = report.grasp.pose.position
        assert np.all(np.array([p.x, p.y, p.z]) > box.min(0) - 0.01), report.grasp
        assert np.all(np.array([p.x, p.y, p.z]) < box.max(0) + 0.01), report.grasp


def zero_point_flow():
    msg = flow_to_msg(flow_cases.lift_and_move().flow)
    msg.num_points, msg.object_ids, msg.points, msg.trajectories = 0, [], [], []
    return msg


@pytest.mark.parametrize("make, reason", [
    (one_frame_flow, "flow has 1 frame(s) but at least 2 are needed"),
    (zero_point_flow, "flow must have at least one frame and one point, got (41, 0, 3)"),
    (lambda: flow_in_frame("kinect_rgb"), "the flow is in frame 'kinect_rgb', which has no transform to the planning"),
    (lambda: flow_in_frame(""), "the flow has no header.frame_id"),
])
def test_every_malformed_flow_gets_a_refused_report_with_the_reason(graph, make, reason):
    """Issue 15: these flows used to end in a logged IndexError and no report, so `chord-ros
    command` waited out its plan timeout."""
    before = set(graph.goals)
    report = graph.plan(make())
    assert not report.accepted and reason in report.reason and report.offending_frame == -1
    assert len(report.trajectory.points) == 0
    graph.spin_for(1.0)
    assert set(graph.goals) == before


def held_plan(q: np.ndarray, k: int = 3) -> Plan:
    """A certified-looking plan that holds the arm at q."""
    return Plan(joint_names=PANDA_ARM_JOINTS, times=np.arange(k, dtype=float), positions=np.repeat(q[None], k, 0),
                velocities=np.zeros((k, 7)), gripper=np.full(k, 0.04), flow_frames=np.zeros(k, int),
                phases=["approach"] * k, mode="grasp", object_name="box", grasp=None, tracking_errors=np.zeros(1),
                planning_time=0.1)


def test_plans_are_not_sent_without_a_fresh_start_state_near_their_start(rclpy_context):
    from chord_ros.nodes.planner import Planner

    node = Planner(context=rclpy_context)
    try:
        home = np.array(node.config.home)
        plan = held_plan(home)
        sent, outcome = node.execute(plan, stops=0)
        assert not sent and "no fresh /joint_states" in outcome
        moved = home.copy()
        moved[1] += 0.2
        node._on_joint_state(JointState(name=list(PANDA_ARM_JOINTS), position=moved.tolist()))
        sent, outcome = node.execute(plan, stops=0)
        assert not sent and outcome.startswith("not sent") and "0.200 rad" in outcome and "panda_joint2" in outcome
    finally:
        node.destroy_node()


def test_the_plan_ledger_lets_only_the_latest_fresh_unconfirmed_plan_through():
    from chord_ros.nodes.planner import PlanLedger, PlanUnavailable

    ledger = PlanLedger(keep=3)
    plan = held_plan(np.zeros(7))
    refused = Plan.refused(PlanRefused(4, "unreachable at frame 4"), PANDA_ARM_JOINTS, "grasp", "box", 0.0)
    first = ledger.add(plan, awaiting=True, now=0.0)
    second = ledger.add(plan, awaiting=True, now=1.0)
    with pytest.raises(PlanUnavailable, match=f"'{first}' cannot be executed: it was superseded by plan '{second}'"):
        ledger.take(first, max_age=60.0, now=2.0)
    assert ledger.take(second, max_age=60.0, now=2.0) is plan
    with pytest.raises(PlanUnavailable, match="confirmed already"):
        ledger.take(second, max_age=60.0, now=2.0)

    stale = ledger.add(plan, awaiting=True, now=10.0)
    with pytest.raises(PlanUnavailable, match=r"it is stale: planned 61 s ago, plan_max_age is 60 s"):
        ledger.take(stale, max_age=60.0, now=71.0)
    fresh = ledger.add(plan, awaiting=True, now=80.0)
    assert ledger.withdraw("it was withdrawn by a stop request") == fresh
    assert ledger.withdraw("again") == ""
    with pytest.raises(PlanUnavailable, match="withdrawn by a stop request"):
        ledger.take(fresh, max_age=60.0, now=81.0)

    no = ledger.add(refused, awaiting=False, now=90.0)
    with pytest.raises(PlanUnavailable, match="it was refused: unreachable at frame 4"):
        ledger.take(no, max_age=60.0, now=91.0)
    auto = ledger.add(plan, awaiting=False, now=92.0)
    with pytest.raises(PlanUnavailable, match="executed it at once"):
        ledger.take(auto, max_age=60.0, now=93.0)
    with pytest.raises(PlanUnavailable, match=f"unknown plan '{first}' \\(the latest is '{auto}'\\)"):
        ledger.take(first, max_age=60.0, now=93.0)  # only the last `keep` plans are remembered


def test_an_unexpected_planning_error_still_answers_the_flow_with_a_refusal(rclpy_context, monkeypatch):
    """Fault injection: whatever planning raises, the flow gets a refused report naming the error."""
    import chord_ros.nodes.planner as planner_node

    def broken_planner(*args, **kwargs):
        raise IndexError("index -1 is out of bounds for axis 0 with size 0")

    monkeypatch.setattr(planner_node, "plan_report", broken_planner)
    node = planner_node.Planner(context=rclpy_context)
    try:
        report = node._answer(flow_to_msg(flow_cases.lift_and_move(9, 200).flow))
        assert not report.accepted and report.positions.size == 0 and report.offending_frame == -1
        assert report.reason == "planning failed: IndexError: index -1 is out of bounds for axis 0 with size 0"
    finally:
        node.destroy_node()
