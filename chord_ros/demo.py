"""`chord-ros demo`: the whole chain on a bundled scene, then where everything landed.

Starts the manipulate graph (choreographer, command, planner, sim_arm, flow_recorder) through
the same launcher as `chord-ros launch`, sends the scene's command, waits for the flow and the
plan, confirms the plan as an operator would (`chord-ros command TEXT --execute`; the planner runs
with auto_execute:=false, as on a real arm), waits for the simulated execution, and prints the
output locations and the final object error (against where the plan leaves the object: the
flow's end, after the planner's table corrections).
By default the choreographer uses the mini teacher on CPU: the shipped text-driven prior, which
understands a fixed motion vocabulary, so `--prompt` changes how the block moves ("push the block
forward", "lift the block", ...). `--teacher wan --model-dir DIR --device cuda --preset gpu-5b`
runs Wan 2.2 (open vocabulary, GPU); `--teacher reference` follows the bundled scene's KNOWN target
motion and ignores the words: the measurable instrument, which also reports the error against it.
`--scene chest` runs an articulated object instead of the block ("open the lid"): the planner
grasps the lid, sim_arm simulates it on its hinge, and the report compares the lid's simulated
angle with the flow's.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import FINAL_ERROR_TARGETS, PART_JOINT_TARGETS
from chord_ros import graph, names

HELP = "run command -> flow -> plan -> simulated arm on the bundled scene and report the outputs"
# the planner's grasp target, the one `chord bench planner` judges by
POSITION_TARGET_MM = 1000.0 * FINAL_ERROR_TARGETS["grasp"][0]
ROTATION_TARGET_DEG = FINAL_ERROR_TARGETS["grasp"][1]


@dataclass
class ObjectError:
    position_mm: float
    rotation_deg: float


def final_object_error(start: np.ndarray, end: np.ndarray, target: np.ndarray) -> ObjectError:
    """Error of a rigidly moved object against a target transform.

    start, end: [4, 4] poses of the object's body frame before and after execution (world);
    target: [4, 4] world transform the object should have undergone (the plan's object motion
    or the known motion). The body moved by end @ inv(start); compare it with target at the frame-0
    body origin (the object's centroid) and in rotation.
    """
    from chord_core.robot.model import rotation_error_angle

    moved = end @ np.linalg.inv(start)
    origin = start[:3, 3]
    position = np.linalg.norm((moved[:3, :3] @ origin + moved[:3, 3]) - (target[:3, :3] @ origin + target[:3, 3]))
    return ObjectError(1000 * float(position), float(np.degrees(rotation_error_angle(moved[:3, :3], target[:3, :3]))))


def plan_target_note(grasp_json: Path) -> str:
    """How the plan's target differs from the flow's end (grasp.json's table corrections), for the
    report: the arm is judged against where the plan leaves the object."""
    report = json.loads(grasp_json.read_text()) if grasp_json.is_file() else {}
    notes = []
    if report.get("support_lift_m"):
        notes.append(f"raised {1000 * report['support_lift_m']:.1f} mm out of the table")
    if report.get("set_down_m"):
        notes.append(f"set down {1000 * report['set_down_m']:.1f} mm onto the table")
    if report.get("set_down_tilt_deg"):
        notes.append(f"levelled by {report['set_down_tilt_deg']:.1f} deg")
    return "the plan's target" + (f": the flow's, {' and '.join(notes)}" if notes else ", the flow's end")


class PoseWatch:
    """Latest pose of each named object from sim_arm's pose topics."""

    def __init__(self, node, object_names: list[str]) -> None:
        from geometry_msgs.msg import PoseStamped

        self._lock = threading.Lock()
        self.latest: dict[str, np.ndarray] = {}
        for name in object_names:
            node.create_subscription(PoseStamped, names.object_pose_topic(name),
                                     lambda msg, name=name: self._store(name, msg), 10)

    def _store(self, name: str, msg) -> None:
        from chord_ros.convert import pose_msg_to_matrix

        pose = pose_msg_to_matrix(msg.pose)
        with self._lock:
            self.latest[name] = pose

    def get(self, name: str) -> np.ndarray | None:
        with self._lock:
            pose = self.latest.get(name)
            return None if pose is None else pose.copy()


class ObjectJointWatch:
    """Latest value of each articulated object's joint from sim_arm (names.OBJECT_JOINTS_TOPIC)."""

    def __init__(self, node) -> None:
        from sensor_msgs.msg import JointState

        from chord_ros.node_params import latched_qos

        self._lock = threading.Lock()
        self.latest: dict[str, float] = {}
        node.create_subscription(JointState, names.OBJECT_JOINTS_TOPIC, self._store, latched_qos())

    def _store(self, msg) -> None:
        with self._lock:
            self.latest.update(zip(msg.name, msg.position))

    def get(self, object_name: str) -> float | None:
        with self._lock:
            return self.latest.get(names.object_joint_name(object_name))


@dataclass
class PartOutcome:
    """An articulated object's moved part: its joint's final value in simulation and in the flow."""

    kind: str
    simulated: float
    flow: float

    def error(self) -> float:
        return abs(self.simulated - self.flow)

    def within(self) -> bool:
        return self.error() <= PART_JOINT_TARGETS[self.kind]

    def line(self, against: str = "in the flow") -> str:
        to_unit, unit = (np.degrees, "deg") if self.kind == "revolute" else ((lambda v: 100 * v), "cm")
        target = to_unit(PART_JOINT_TARGETS[self.kind])
        return (f"{to_unit(self.simulated):.1f} {unit} in simulation vs {to_unit(self.flow):.1f} {unit} {against} "
                f"({self.kind} joint; error {to_unit(self.error()):.1f} {unit}, target {target:.0f} {unit})")


def part_outcome(grasp_json: Path, scan_path: str, simulated: float | None) -> PartOutcome | None:
    """The plan's moved part (grasp.json `manipulated_part`) against sim_arm's joint value, in the
    fitted joint's sense (a described axis may point the other way); None for a rigid plan."""
    from chord_core.formats.scans import load_scan
    from chord_core.robot.scene_joints import load_scan_joint

    part = json.loads(grasp_json.read_text()).get("manipulated_part") if grasp_json.is_file() else None
    if part is None:
        return None
    described = load_scan_joint(scan_path, load_scan(scan_path).points)
    if described is None or simulated is None:
        raise ChordError(f"the plan moves {part['joint']} part {part['part_id']} but sim_arm simulates no joint "
                         f"for {scan_path}: add a joint description beside the scan (docs/formats.md)")
    sense = 1.0 if np.dot(described.axis, part["axis"]) >= 0 else -1.0
    return PartOutcome(part["joint"], sense * simulated, float(part["final_value"]))


def known_part_value(final_transforms: np.ndarray, kind: str) -> float:
    """The joint value a reference motion gives its part that moves most: [P, 4, 4] final transforms
    of the parts (each relative to its rest pose); rotation angle (rad) or travel (m)."""
    from scipy.spatial.transform import Rotation

    if kind == "revolute":
        return float(np.max(Rotation.from_matrix(final_transforms[:, :3, :3].astype(float)).magnitude()))
    return float(np.max(np.linalg.norm(final_transforms[:, :3, 3], axis=1)))


class ArmGoalWatch:
    """Status of every goal the arm's FollowJointTrajectory server has seen (its status topic)."""

    def __init__(self, node, action: str = names.ARM_ACTION) -> None:
        from action_msgs.msg import GoalStatus, GoalStatusArray

        from chord_ros.node_params import latched_qos

        # the states a goal ends in, by the names the demo prints
        self.terminal = {GoalStatus.STATUS_SUCCEEDED: "SUCCEEDED", GoalStatus.STATUS_CANCELED: "CANCELED",
                         GoalStatus.STATUS_ABORTED: "ABORTED"}
        self._lock = threading.Lock()
        self.status: dict[bytes, int] = {}
        node.create_subscription(GoalStatusArray, f"{action}/_action/status", self._store, latched_qos(10))

    def _store(self, msg) -> None:
        with self._lock:
            for s in msg.status_list:
                self.status[bytes(s.goal_info.goal_id.uuid)] = s.status

    def goals(self) -> set[bytes]:
        with self._lock:
            return set(self.status)

    def wait_finished(self, known: set[bytes], timeout: float) -> str:
        """Once every goal not in `known` has ended (a plan is several arm goals: approach, carry,
        retreat): SUCCEEDED if all did, else the first other end; 'TIMEOUT' when they do not end in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                new = [s for g, s in self.status.items() if g not in known]
            if new and all(s in self.terminal for s in new):
                failed = [s for s in new if self.terminal[s] != "SUCCEEDED"]
                return self.terminal[failed[0]] if failed else "SUCCEEDED"
            time.sleep(0.1)
        return "TIMEOUT"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="chord_demo_output", help="output directory (a timestamped run inside)")
    parser.add_argument("--scene", default="demo",
                        help=f"bundled scene {list(graph.SCENES)} (demo: a block; chest: a chest whose lid opens) or "
                             "a directory with .ply scans, motion.npz (teacher reference) and scene.yaml (prompt)")
    parser.add_argument("--prompt", help="the command (default: the scene's); with the mini teacher "
                                         f"it must use the prior's motion words: {graph.MINI_VOCABULARY}")
    parser.add_argument("--teacher", choices=graph.TEACHERS, default="mini",
                        help="mini: the shipped text-driven prior on CPU (a fixed motion vocabulary); wan: Wan 2.2 "
                             "from --model-dir (open vocabulary, GPU); reference: the bundled scene's known target "
                             "motion, the measurable instrument that ignores the words")
    parser.add_argument("--model-dir", default="", help="wan: local Wan 2.2 directory; mini: a mini_prior.pt "
                                                        "(default: the shipped weights)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--preset", help="distillation preset (default: the teacher's own: mini for mini, "
                                         "cpu-test for wan and reference)")
    parser.add_argument("--iterations", type=int, default=0, help="override the preset's iterations")
    parser.add_argument("--real-time-factor", type=float, default=2.0, help="simulation speed vs real time")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")


def teacher_line(teacher: str, motion_path: str) -> str:
    """What the demo says first about the teacher that drives the flow."""
    if teacher == "mini":
        return (f"teacher: mini (text-driven on CPU; understands {graph.MINI_VOCABULARY}). "
                "Other words: --teacher wan on a GPU")
    if teacher == "reference":
        return ("teacher: REFERENCE - the flow follows the bundled scene's known target motion "
                f"({motion_path}); the prompt does not drive it. For the text-driven path: the default "
                "--teacher mini, or --teacher wan --model-dir DIR --device cuda --preset gpu-5b")
    return "teacher: wan (Wan 2.2 from --model-dir: text-driven, open vocabulary)"


def scene_prompt(scene: str) -> str:
    """The command a scene comes with (`prompt` in its scene.yaml)."""
    import yaml

    path = graph.scene_directory(scene) / "scene.yaml"
    prompt = yaml.safe_load(path.read_text()).get("prompt") if path.is_file() else None
    if not prompt:
        raise ChordError(f"{path} gives no prompt; say what should happen with --prompt")
    return str(prompt)


def run(args: argparse.Namespace) -> int:
    from chord_core.distill.pipeline import DEFAULT_PRESETS
    from chord_core.robot.planner import select_object
    from chord_ros.command_cli import send_command, spinning_node, stop_node
    from chord_ros.convert import msg_to_flow, pose_msg_to_matrix
    from chord_ros.launcher import Graph
    from chord_ros.trajectory_conversion import duration_seconds

    t0 = time.monotonic()
    out = Path(args.out).resolve() / time.strftime("%Y%m%d_%H%M%S")
    prompt = args.prompt or scene_prompt(args.scene)
    if args.teacher == "mini":  # refuse at once what the prior cannot run, before the graph starts
        from chord_core.prior.vocabulary import check_command, tokenize
        from chord_core.prior.weights import SHIPPED_WEIGHTS

        check_command(prompt)
        tokenize(prompt)
        weights = Path(args.model_dir) if args.model_dir else SHIPPED_WEIGHTS
        if not weights.is_file():
            raise ChordError(f"no mini prior weights at {weights}; rebuild them with `chord prior train --out DIR` "
                             "and pass --model-dir DIR/mini_prior.pt")
    scans, motion_path = graph.demo_scene(args.scene)
    object_names = [Path(s).stem for s in scans]
    values = {"use_sim": "true", "scene": ",".join(scans), "teacher": args.teacher,
              "reference_motion": motion_path if args.teacher == "reference" else "",
              "model_dir": args.model_dir, "device": args.device,
              "preset": args.preset or DEFAULT_PRESETS[args.teacher], "auto_execute": "false", "record_bag": "true",
              "bag_path": str(out / "bag"), "work_dir": str(out / "runs"), "video_dir": str(out / "sim"),
              "plan_dir": str(out / "plans"),
              "real_time_factor": str(args.real_time_factor)}
    print(teacher_line(args.teacher, motion_path))
    print(f"outputs: {out}")
    running = Graph(values, log_dir=out / "logs").start()
    node, executor, thread = spinning_node("chord_demo")
    try:
        poses, arm, joints = PoseWatch(node, object_names), ArmGoalWatch(node), ObjectJointWatch(node)
        starts = {n: _wait_pose(poses, n, 120.0) for n in object_names}  # before anything moves
        known_goals = arm.goals()
        outcome = send_command(node, prompt, iterations=args.iterations, wait=120.0, plan_timeout=300.0,
                               execute=True)
        crashed = running.exited()
        if crashed:
            raise ChordError(f"node(s) exited early: {crashed}; see {out / 'logs'}")
        if not outcome.executed:
            print(f"the chain stopped before the arm finished the plan; logs in {out / 'logs'}")
            return 1
        flow = msg_to_flow(outcome.flow)
        index = select_object(flow, None)  # the planner's default too: the object the flow moves most
        name = flow.object_names[index] if flow.object_names else object_names[index]
        expected = duration_seconds(outcome.plan.trajectory.points[-1].time_from_start) / args.real_time_factor
        arm_status = arm.wait_finished(known_goals, expected + 120.0)
        print(f"arm: {arm_status}")
        time.sleep(0.5)  # a pose published after the settle
        start, end = starts[name], _wait_pose(poses, name, 5.0)
        part = part_outcome(out / "plans" / outcome.plan.plan_id / "grasp.json", scans[object_names.index(name)],
                            joints.get(name))
        error = final_object_error(start, end, pose_msg_to_matrix(outcome.plan.object_motion))
        target = plan_target_note(out / "plans" / outcome.plan.plan_id / "grasp.json")
        _report(out, prompt=prompt, args=args, error=error, target=target, part=part, motion_path=motion_path,
                start=start, end=end, name=name, scans=scans, t0=t0)
        if part is not None:
            within = part.within()
            print(f"result             : the part's joint is {'within' if within else 'OUTSIDE'} its target")
        else:
            within = error.position_mm <= POSITION_TARGET_MM and error.rotation_deg <= ROTATION_TARGET_DEG
            print(f"result             : {'within' if within else 'OUTSIDE'} the planner's target "
                  f"({POSITION_TARGET_MM:.0f} mm, {ROTATION_TARGET_DEG:.0f} deg)")
        return 0 if arm_status == "SUCCEEDED" and within else 1
    finally:
        stop_node(node, executor, thread)
        codes = running.stop()
        print(f"graph stopped: {codes}")


def _wait_pose(poses: PoseWatch, name: str, timeout: float) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while (pose := poses.get(name)) is None:
        if time.monotonic() > deadline:
            raise ChordError(f"no pose of '{name}' on {names.object_pose_topic(name)} from sim_arm")
        time.sleep(0.1)
    return pose


def _report(out: Path, *, prompt: str, args, error: ObjectError, target: str, part: PartOutcome | None,
            motion_path: str, start, end, name: str, scans: list[str], t0: float) -> None:
    runs = sorted((out / "runs").glob("*/"))
    run_dir = runs[-1] if runs else out / "runs"
    print("\n=== chord_ros demo ===")
    print(f"command            : {prompt}")
    notes = {"reference": " (known target motion, not text-driven)",
             "mini": " (text-driven, fixed motion vocabulary)", "wan": " (text-driven, open vocabulary)"}
    print(f"teacher            : {args.teacher}{notes.get(args.teacher, '')}")
    print(f"flow               : {run_dir / 'flow.npz'}")
    print(f"renders            : {run_dir / 'views.mp4'}  {run_dir / 'losses.png'}  {run_dir / 'summary.json'}")
    plans = sorted((out / "plans").glob("*/"), key=lambda p: p.stat().st_mtime)
    plan_dir = plans[-1] if plans else out / "plans"
    print(f"plan               : {plan_dir / 'plan.npz'}  {plan_dir / 'grasp.json'}")
    print(f"bag (MCAP)         : {out / 'bag'}")
    videos = sorted((out / "sim").glob("*.mp4"))
    print(f"simulation video   : {videos[-1] if videos else 'none (no GL backend; see logs)'}")
    print(f"logs               : {out / 'logs'}")
    print(f"see it in 3D       : .venv/bin/chord view {run_dir} --plan {plan_dir} --scene {' '.join(scans)}")
    if part is not None:
        print(f"moved part ('{name}'): {part.line()}")
    else:
        print(f"final object error : {error.position_mm:.1f} mm, {error.rotation_deg:.1f} deg "
              f"('{name}' in simulation vs {target})")
    if args.teacher == "reference":
        from chord_core.formats.reference_motion import ReferenceMotion

        motion = ReferenceMotion.load(motion_path)
        if part is not None:
            known = PartOutcome(part.kind, part.simulated, known_part_value(motion.transforms[-1], part.kind))
            print(f"vs known target    : {known.line('in the reference motion itself')}")
        else:
            truth = final_object_error(start, end, motion.transforms[-1, 0].astype(float))  # one part: the block
            print(f"vs known target    : {truth.position_mm:.1f} mm, {truth.rotation_deg:.1f} deg "
                  "(simulation vs the reference motion itself)")
    print(f"wall time          : {time.monotonic() - t0:.0f} s")
