"""The viewer's content: plan replay in step with the flow, traces, bad plan files; and the arm the
page draws (viser's URDF helper, through yourdfpy) against pinocchio's forward kinematics."""

import json
import socket

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.robot.config import PANDA_ARM_JOINTS
from chord_core.view.content import build_content, load_plan_dir, sample_plan, trace_indices

HOME = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def slide_flow(frames: int = 5, points: int = 40) -> Flow:
    """Two objects: object 0 slides 10 cm along +y, object 1 stays."""
    rng = np.random.default_rng(0)
    base = rng.uniform([0.45, -0.05, 0.0], [0.55, 0.05, 0.05], size=(points, 3))
    steps = np.linspace(0, 0.1, frames)
    moving = np.stack([base[: points // 2] + [0, s, 0] for s in steps])
    still = np.repeat(base[None, points // 2:] + [0.1, 0, 0], frames, axis=0)
    ids = np.r_[np.zeros(points // 2), np.ones(points - points // 2)].astype(np.int32)
    return Flow(np.concatenate([moving, still], axis=1), ids, 4.0, "slide the block to the left", ["block", "cup"])


def toy_plan(frames: int = 5) -> dict[str, np.ndarray]:
    """Waypoints at 0, 1, 2, 3 s: approach (frame 0), follow (frames 2 and 4), retreat (last frame)."""
    positions = np.stack([HOME + k * np.array([0.1, 0.05, 0.0, 0.1, 0.0, -0.1, 0.0]) for k in range(4)])
    return {"joint_names": np.array(PANDA_ARM_JOINTS), "times": np.array([0.0, 1.0, 2.0, 3.0]),
            "positions": positions, "gripper": np.array([0.08, 0.04, 0.04, 0.08]),
            "flow_frames": np.array([0, 2, frames - 1, frames - 1]),
            "phases": np.array(["approach", "follow", "follow", "retreat"]), "accepted": np.bool_(True),
            "reason": np.str_("")}


def test_plan_ticks_interpolate_joints_and_show_the_frame_reached():
    ticks, frames, track = sample_plan(toy_plan(), 5, rate=4.0)
    assert np.allclose(ticks, np.arange(13) / 4.0)
    plan = toy_plan()
    # on a waypoint: exactly that waypoint; half way between two: their mean
    assert np.allclose(track.positions[4], plan["positions"][1])
    assert np.allclose(track.positions[6], 0.5 * (plan["positions"][1] + plan["positions"][2]))
    assert np.allclose(track.gripper[2], 0.06)
    # the object waits at frame 0 until the follow starts, then shows the frame of the waypoint reached
    assert list(frames) == [0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 4]
    assert track.phases[3] == "approach" and track.phases[12] == "retreat"


def test_without_a_plan_the_ticks_are_the_flow_frames():
    content = build_content(slide_flow())
    assert list(content.tick_frames) == [0, 1, 2, 3, 4]
    assert np.allclose(content.tick_times, np.arange(5) / 4.0)
    assert np.allclose(content.positions(4), content.flow.trajectories[4])
    # points coloured by object: the two objects get different colours, each one colour
    assert len({tuple(c) for c in content.colors[:20]}) == 1
    assert tuple(content.colors[0]) != tuple(content.colors[-1])


def test_traces_keep_the_point_that_moves_most_of_every_object():
    flow = slide_flow(points=400)
    traj = flow.trajectories.copy()
    traj[1:, 7, 2] += 0.2  # one point of object 0 moves far more than the rest
    flow = Flow(traj, flow.object_ids, flow.fps)
    chosen = trace_indices(flow, per_object=10)
    assert 7 in chosen
    assert np.sum(flow.object_ids[chosen] == 0) == 10 and np.sum(flow.object_ids[chosen] == 1) == 10


def test_a_refused_plan_shows_its_reason_and_the_flow_alone():
    plan = toy_plan()
    plan.update(accepted=np.bool_(False), reason=np.str_("no collision-free grasp"),
                times=np.zeros(0), positions=np.zeros((0, 7)))
    content = build_content(slide_flow(), plan)
    assert not content.plan.accepted and content.plan.reason == "no collision-free grasp"
    assert content.ticks == 5


def test_bad_plan_files_are_refused_with_the_reason(tmp_path):
    with pytest.raises(ChordError, match="plan file not found"):
        load_plan_dir(tmp_path)
    (tmp_path / "plan.npz").write_bytes(b"not a zip")
    with pytest.raises(ChordError, match="not a readable plan.npz"):
        load_plan_dir(tmp_path)
    np.savez(tmp_path / "plan.npz", times=np.zeros(2))
    with pytest.raises(ChordError, match="lacks the plan keys"):
        load_plan_dir(tmp_path)
    plan = toy_plan(frames=9)
    np.savez(tmp_path / "plan.npz", **plan)
    (tmp_path / "grasp.json").write_text(json.dumps({"mode": "grasp", "grasp": None}))
    loaded, grasp = load_plan_dir(tmp_path / "plan.npz")
    assert grasp == {"mode": "grasp", "grasp": None}
    with pytest.raises(ChordError, match="flow frame 8 but the flow has 5 frames"):
        build_content(slide_flow(), loaded)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_drawn_arm_matches_pinocchio_at_every_tick():
    from chord_core.robot.model import RobotModel
    from chord_core.view.server import FlowViewer

    panda_model = RobotModel()
    content = build_content(slide_flow(), toy_plan(), rate=2.0)
    viewer = FlowViewer(content, port=free_port())
    try:
        urdf = viewer._urdf._urdf  # the yourdfpy model the page's link poses come from
        for tick in range(content.ticks):
            viewer.go_to(tick)
            drawn = urdf.get_transform(panda_model.config.ee_frame, urdf.base_link)
            expected = panda_model.fk(content.plan.positions[tick])
            assert np.allclose(drawn, expected, atol=1e-6), tick
            fingers = urdf.cfg[viewer._finger_columns]
            assert np.allclose(fingers, content.plan.gripper[tick] / 2)
            assert np.allclose(viewer.points.points, content.flow.trajectories[content.tick_frames[tick]], atol=1e-3)
    finally:
        viewer.stop()
