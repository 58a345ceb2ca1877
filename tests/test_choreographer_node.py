"""choreographer in its own process: goals, feedback, bad goals, one-at-a-time, cancel.

The goal tests run the reference teacher (teacher:=reference, named explicitly: the default is
mini), whose flow is known; the mini node's own test needs no weights (its refusals come first)."""

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chord_core.formats.scans import load_scan
from chord_ros import graph
from chord_ros.convert import msg_to_flow, numpy_to_cloud
from chord_ros.nodes.choreographer import WAITING

SCANS, MOTION = graph.demo_scene()
# a camera 0.5 m ahead of the base and 0.6 m up, its optical axis (z) along the base's x
CAMERA = "camera_link 0.5 0.0 0.6 0.0 0.7071068 0.0 0.7071068"


def wait_for(future, timeout: float):
    deadline = time.monotonic() + timeout
    while not future.done():
        assert time.monotonic() < deadline, "timed out waiting for the choreographer"
        time.sleep(0.05)
    return future.result()


def stop_cleanly(process: subprocess.Popen, timeout: float = 90.0) -> int | None:
    """SIGINT, then the exit code (a loaded CI machine can take tens of seconds); a process still
    running after `timeout` is killed, so it cannot serve later tests' goals, and None is returned."""
    process.send_signal(signal.SIGINT)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None


@pytest.fixture(scope="module")
def choreographer(tmp_path_factory):
    work = tmp_path_factory.mktemp("runs")
    process = subprocess.Popen([
        sys.executable, "-m", "chord_ros.nodes.choreographer", "--ros-args",
        "-p", "teacher:=reference", "-p", f"reference_motion:={MOTION}", "-p", f"work_dir:={work}",
        "-p", "feedback_rate:=4.0", "-p", "max_points_per_cloud:=5000", "-p", "stop_wait:=60.0",
        "-p", f"static_transforms:=['{CAMERA}']", "-p", f"view_port:={VIEW_PORT}", "-p", "view_every:=1"])
    yield process, work
    assert stop_cleanly(process) == 0


@pytest.fixture
def client(choreographer, rclpy_context):
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor

    from chord_msgs.action import Choreograph
    from chord_msgs.msg import ObjectFlow
    from chord_ros.node_params import latched_qos

    node = rclpy.create_node("choreographer_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    import threading

    action = ActionClient(node, Choreograph, "/chord/choreograph")  # before the spin: ros2/rclpy#1589
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    flows = []
    node.create_subscription(ObjectFlow, "/chord/flow", flows.append, latched_qos())
    assert action.wait_for_server(timeout_sec=60), "choreographer never served the action"
    yield action, flows
    executor.shutdown()
    node.destroy_node()


def block_goal(prompt="slide the block", iterations=3, points=None, frame_id="world"):
    from chord_msgs.action import Choreograph

    scan = load_scan(SCANS[0])
    pts = scan.points if points is None else points
    colors = scan.colors if len(pts) == len(scan.points) else None  # the scan's colours where they fit
    cloud = numpy_to_cloud(pts, colors, frame_id=frame_id)
    return Choreograph.Goal(prompt=prompt, clouds=[cloud], object_names=[scan.name], iterations=iterations, seed=1)


def run_goal(action, goal, timeout=240.0):
    feedback = []
    handle = wait_for(action.send_goal_async(goal, feedback_callback=lambda f: feedback.append(
        (time.monotonic(), f.feedback))), 30)
    assert handle.accepted
    return wait_for(handle.get_result_async(), timeout), feedback


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


VIEW_PORT = _free_port()


def block_in_camera_frame() -> np.ndarray:
    """The block's scan as the CAMERA sees it: base (x, y, z) -> camera (0.6 - z, y, x - 0.5)."""
    points = load_scan(SCANS[0]).points
    return np.stack([0.6 - points[:, 2], points[:, 1], points[:, 0] - 0.5], axis=1).astype(np.float32)


def test_goal_gives_flow_feedback_and_published_flow(client):
    """The block's cloud is sent as a camera sees it: the flow starts at its base-frame points (and
    the reference motion, given in the base frame, moves it as it should)."""
    action, flows = client
    response, feedback = run_goal(action, block_goal(iterations=3, points=block_in_camera_frame(),
                                                     frame_id="camera_link"))
    result = response.result
    assert result.success, result.message
    assert "reference teacher" in result.message
    flow = msg_to_flow(result.flow)
    scan = load_scan(SCANS[0])
    assert flow.trajectories.shape == (9, len(scan.points), 3)
    assert result.flow.header.frame_id == "world"
    np.testing.assert_allclose(flow.trajectories[0], scan.points, atol=1e-5)
    assert flow.prompt == "slide the block" and flow.object_names == [scan.name]
    iterations = [f.iteration for _, f in feedback]
    assert iterations == sorted(iterations) and iterations[-1] == 3
    assert {f.phase for _, f in feedback} >= {"setup"}
    assert all(f.total_iterations == 3 for _, f in feedback)
    gaps = np.diff([t for t, _ in feedback])
    assert gaps.max() < 2.0, f"feedback gap {gaps.max():.2f} s (rate >= 1 Hz wanted)"
    deadline = time.monotonic() + 10
    while not flows:
        assert time.monotonic() < deadline, "the flow was not published on /chord/flow"
        time.sleep(0.05)
    np.testing.assert_array_equal(msg_to_flow(flows[-1]).trajectories, flow.trajectories)
    # view_port: the run's flow is served by the live viewer (viser's page) while and after it forms
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{VIEW_PORT}/", timeout=10) as page:
        assert page.status == 200 and b"<html" in page.read(2000).lower()


@pytest.mark.parametrize("case, expected", [
    ("empty prompt", "empty prompt"),
    ("empty cloud", "no points"),
    ("nan points", "NaN"),
    ("names mismatch", "object names"),
    ("wrong point count", "labels"),
    ("too many points", "6000 points, more than max_points_per_cloud (5000)"),
    ("long prompt", "more than max_command_chars (500)"),
    ("cloud in an unknown frame", "in frame 'kinect_rgb', which has no transform to the planning frame 'world'"),
    ("cloud without a frame", "has no header.frame_id"),
    ("unknown run to resume", "holds no checkpoint"),
    ("run to resume outside work_dir", "must be the name of a run directory"),
])
def test_bad_goal_is_aborted_with_reason_and_node_keeps_serving(client, case, expected):
    action, _ = client
    goal = block_goal()
    if case == "empty prompt":
        goal.prompt = "  "
    elif case == "empty cloud":
        goal.clouds = [numpy_to_cloud(np.zeros((0, 3), np.float32))]
    elif case == "nan points":  # a driver's cloud with invalid returns (numpy_to_cloud itself refuses NaN)
        goal = block_goal(points=load_scan(SCANS[0]).points)
        cloud = goal.clouds[0]
        values = np.frombuffer(bytes(cloud.data), dtype=np.float32).copy().reshape(-1, cloud.point_step // 4)
        values[5, 1] = np.nan
        cloud.data = values.tobytes()
    elif case == "names mismatch":
        goal.object_names = ["block", "lamp"]
    elif case == "too many points":  # over the fixture's max_points_per_cloud: refused before decoding
        goal = block_goal(points=np.random.default_rng(0).normal(size=(6000, 3)).astype(np.float32))
    elif case == "long prompt":
        goal.prompt = "slide the block " + "far " * 200
    elif case == "cloud in an unknown frame":
        goal = block_goal(frame_id="kinect_rgb")
    elif case == "cloud without a frame":
        goal = block_goal(frame_id="")
    elif case == "unknown run to resume":
        goal.resume_run = "20260101_000000_deadbeef"
    elif case == "run to resume outside work_dir":
        goal.resume_run = "../elsewhere"
    else:  # the reference motion labels 1500 points; a 100-point cloud cannot follow it
        goal = block_goal(points=load_scan(SCANS[0]).points[:100])
    response, _ = run_goal(action, goal)
    assert not response.result.success
    assert expected.lower() in response.result.message.lower(), response.result.message
    assert len(response.result.message) < 400, "the reason does not repeat the whole input"


def goal_past(action, iterations: int, reached: int):
    """Send a block goal and wait until its feedback reports iteration ``reached``: (handle, feedback)."""
    feedback = []
    handle = wait_for(action.send_goal_async(block_goal(iterations=iterations),
                                             feedback_callback=lambda f: feedback.append(f.feedback)), 30)
    assert handle.accepted
    deadline = time.monotonic() + 120
    while not any(f.iteration >= reached for f in feedback):
        assert time.monotonic() < deadline, "no iteration finished"
        time.sleep(0.05)
    return handle, feedback


def test_second_goal_rejected_then_cancel_keeps_checkpoint(client, choreographer):
    from action_msgs.msg import GoalStatus

    action, _ = client
    _, work = choreographer
    before = set(Path(work).iterdir())
    handle, _ = goal_past(action, 500, 1)
    second = wait_for(action.send_goal_async(block_goal()), 30)
    assert not second.accepted, "a second goal must be rejected while one runs"
    t0 = time.monotonic()
    wait_for(handle.cancel_goal_async(), 10)
    response = wait_for(handle.get_result_async(), 30)
    cancel_time = time.monotonic() - t0
    print(f"cancel answered in {cancel_time:.2f} s")
    assert response.status == GoalStatus.STATUS_CANCELED
    assert cancel_time < 4.0  # answered at once (p95 0.1 s measured); margin for a loaded machine
    assert "writes its checkpoint" in response.result.message, response.result.message
    (run_dir,) = set(Path(work).iterdir()) - before
    # a goal sent right after the cancel is accepted and waits for the cancelled run to stop (stop_wait);
    # once it runs, the stopped run has written its checkpoint
    retry_feedback = []
    retry = wait_for(action.send_goal_async(block_goal(iterations=1),
                                            feedback_callback=lambda f: retry_feedback.append(f.feedback)), 30)
    assert retry.accepted, "the goal sent right after a cancel was rejected"
    deadline = time.monotonic() + 120
    while not any(f.phase != WAITING for f in retry_feedback):
        assert time.monotonic() < deadline, "the waiting goal never started"
        time.sleep(0.05)
    assert (run_dir / "checkpoint.pt").is_file(), "cancel lost the checkpoint"
    assert not (run_dir / "views.mp4").exists(), "a cancelled run renders no views"
    assert wait_for(retry.get_result_async(), 240).result.success


@pytest.mark.slow  # about 2 min: three runs
def test_a_cancelled_run_resumed_by_goal_ends_equal_to_an_uninterrupted_goal(client, choreographer):
    """resume_run continues the run directory from its checkpoint (what a restarted choreographer
    does after a crash); on CPU the flow equals the uninterrupted run's bit for bit."""
    action, _ = client
    _, work = choreographer
    before = set(Path(work).iterdir())
    handle, _ = goal_past(action, 8, 3)
    wait_for(handle.cancel_goal_async(), 10)
    wait_for(handle.get_result_async(), 60)
    (run_dir,) = set(Path(work).iterdir()) - before
    goal = block_goal(iterations=8)
    goal.resume_run = run_dir.name
    deadline = time.monotonic() + 60  # the cancelled run writes its checkpoint as it stops
    while not (run_dir / "checkpoint.pt").is_file():
        assert time.monotonic() < deadline, "the cancelled run wrote no checkpoint"
        time.sleep(0.1)
    resumed, resumed_feedback = run_goal(action, goal)
    assert resumed.result.success, resumed.result.message
    assert min(f.iteration for _, f in resumed_feedback if f.iteration > 0) >= 3, "the resumed run started over"
    whole, _ = run_goal(action, block_goal(iterations=8))
    np.testing.assert_array_equal(msg_to_flow(resumed.result.flow).trajectories,
                                  msg_to_flow(whole.result.flow).trajectories)


@contextlib.contextmanager
def served_choreographer(tmp_path: Path, rclpy_context, name: str, *params: str):
    """A choreographer process serving /test/<name>_choreograph (extra ``-p`` params given), and an
    action client for it: yields (action client, log path); the process must exit cleanly."""
    import threading

    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor

    from chord_msgs.action import Choreograph

    log = tmp_path / "choreographer.log"
    with open(log, "w") as out:
        process = subprocess.Popen([
            sys.executable, "-m", "chord_ros.nodes.choreographer", "--ros-args", "-r", f"__node:={name}_choreographer",
            *params, "-p", f"work_dir:={tmp_path / 'runs'}", "-p", f"action_name:=/test/{name}_choreograph",
            "-p", f"flow_topic:=/test/{name}_flow", "-p", "write_views:=false"],
            stdout=out, stderr=subprocess.STDOUT)
    node = rclpy.create_node(f"{name}_choreographer_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    action = ActionClient(node, Choreograph, f"/test/{name}_choreograph")  # before the spin: ros2/rclpy#1589
    threading.Thread(target=executor.spin, daemon=True).start()
    try:
        assert action.wait_for_server(timeout_sec=60), log.read_text()
        yield action, log
    finally:
        executor.shutdown()
        node.destroy_node()
        assert stop_cleanly(process) == 0


@pytest.mark.slow  # a tiny-Wan choreographer of its own, two goals (~20 s)
def test_wan_teacher_is_loaded_once_for_successive_goals(tmp_path, rclpy_context):
    """teacher:=wan with a tiny random-weight Wan saved like a real checkpoint directory."""
    from chord_core.teachers.tiny import build_tiny_wan

    model_dir = build_tiny_wan(tmp_path / "wan", "i2v-a14b")
    with served_choreographer(tmp_path, rclpy_context, "wan", "-p", "teacher:=wan",
                              "-p", f"model_dir:={model_dir}") as (action, log):
        for prompt in ("slide the block", "lift the block"):
            response, _ = run_goal(action, block_goal(prompt, iterations=1))
            assert response.result.success, response.result.message
            assert "reference" not in response.result.message
            assert msg_to_flow(response.result.flow).prompt == prompt
    assert log.read_text().count("loading the Wan teacher") == 1
    assert not list((tmp_path / "runs").glob("*/views.mp4")) and len(list((tmp_path / "runs").glob("*/flow.npz"))) == 2


def test_mini_teacher_refuses_a_command_outside_its_vocabulary(tmp_path, rclpy_context):
    """The default teacher is mini: a goal with none of its motion words is aborted at once with the
    vocabulary in the message, before any teacher is loaded (so no weights are needed), and the node
    keeps serving."""
    from chord_core.prior.vocabulary import MOTION_WORDS

    with served_choreographer(tmp_path, rclpy_context, "mini") as (action, log):
        for prompt in ("make the block dance", "levitate it gracefully"):  # twice: the node keeps serving
            t0 = time.monotonic()
            response, _ = run_goal(action, block_goal(prompt, iterations=1), timeout=30)
            assert not response.result.success
            message = response.result.message
            assert "does not understand" in message and repr(prompt) in message, message
            assert all(word in message for word in MOTION_WORDS), message
            assert "--teacher wan" in message
            assert time.monotonic() - t0 < 20.0, "the refusal must come before any work"
    text = log.read_text()
    assert "teacher mini (text-driven on CPU with a fixed vocabulary" in text and "preset mini" in text, text
    assert "loading the mini teacher" not in text and not list((tmp_path / "runs").glob("*"))


def tiny_mini_prior(directory: Path) -> Path:
    """A random-weight mini_prior.pt in the shipped format, for the mini preset's renders."""
    from chord_core.distill.presets import load_preset
    from chord_core.prior.clips import ClipSettings
    from chord_core.prior.model import PriorConfig
    from chord_core.prior.training import PriorTrainer, TrainConfig

    preset = load_preset("mini")
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object)
    tiny = PriorConfig(channels=(16, 32), blocks_per_level=1, text_width=32, text_layers=1, embedding=64)
    directory.mkdir(parents=True, exist_ok=True)
    trainer = PriorTrainer(directory, settings, TrainConfig(steps=1, model=tiny))
    trainer.history = [{}]  # untrained: the node only needs a file it can load
    return trainer.save_weights()


def test_mini_teacher_is_loaded_once_and_checked_against_each_goals_preset(tmp_path, rclpy_context):
    """teacher mini (the default) with model_dir = a mini_prior.pt: loaded at the first goal, reused for
    the next; a goal naming a preset the prior was not trained for is aborted with the reason."""
    weights = tiny_mini_prior(tmp_path / "prior")
    with served_choreographer(tmp_path, rclpy_context, "mini2", "-p", f"model_dir:={weights}") as (action, log):
        for prompt in ("slide the block to the left", "lift the block"):
            response, _ = run_goal(action, block_goal(prompt, iterations=1))
            assert response.result.success, response.result.message
            assert "mini teacher" in response.result.message and "reference" not in response.result.message
            assert msg_to_flow(response.result.flow).prompt == prompt
        goal = block_goal("push the block forward", iterations=1)
        goal.preset = "cpu-test"
        response, _ = run_goal(action, goal)
        assert not response.result.success and "trained on other renders" in response.result.message, \
            response.result.message
    assert log.read_text().count("loading the mini teacher") == 1
    assert len(list((tmp_path / "runs").glob("*/flow.npz"))) == 2


def test_ctrl_c_during_a_goal_stops_the_run_keeps_a_checkpoint_and_exits_cleanly(tmp_path, rclpy_context):
    """Shutting the node down cancels the running goal (its loop stops at the next iteration and
    writes a checkpoint) instead of waiting out the run; served_choreographer asserts exit code 0."""
    weights = tiny_mini_prior(tmp_path / "prior")
    with served_choreographer(tmp_path, rclpy_context, "mini3", "-p", f"model_dir:={weights}") as (action, _):
        feedback = []
        handle = wait_for(action.send_goal_async(block_goal("lift the block", iterations=5000),
                                                 feedback_callback=lambda f: feedback.append(f.feedback)), 30)
        assert handle.accepted
        deadline = time.monotonic() + 120
        while not any(f.iteration >= 1 for f in feedback):
            assert time.monotonic() < deadline, "no iteration finished"
            time.sleep(0.05)
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "checkpoint.pt").is_file(), "the run was not cancelled (no checkpoint before iteration 50)"


def test_bad_parameter_ends_the_node_with_one_clear_line_and_code_2():
    # ChordError is a ValueError: the runner must report it before its generic exception clause
    done = subprocess.run([sys.executable, "-m", "chord_ros.nodes.choreographer", "--ros-args",
                           "-p", "teacher:=magic"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error: teacher must be one of" in done.stderr and "Traceback" not in done.stderr
