"""MuJoCo execution: the lift-and-move plan moves the real (simulated) object as the flow says;
a refused plan cannot be executed; `chord plan` writes its files."""

import json

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.robot import flow_cases
from chord_core.robot.planner import Plan, plan_flow
from chord_core.robot.safety import PlanRefused
from chord_core.robot.sim import ArmSimulation, plan_joint_targets, simulate_plan


def test_simulated_lift_and_move_meets_its_target(panda):
    case = flow_cases.lift_and_move()
    plan = plan_flow(case.flow, case.scene, panda, "grasp")
    result = simulate_plan(plan, case.flow, panda.config, case.scene)
    assert result.final_position_error <= 0.01
    assert result.final_rotation_error_deg <= 5.0
    # the object really travelled: its final centroid is 15 cm from where it started
    assert np.linalg.norm(result.object_positions[-1] - result.object_positions[0]) > 0.14
    assert result.frame_point_errors.max() < 0.02


def test_stepwise_simulation_tracks_commands_holds_and_moves_clouds(panda):
    case = flow_cases.lift_and_move(9, 300)
    arm = ArmSimulation(panda.config, case.scene)
    assert arm.joint_names == panda.joint_names + panda.config.finger_joints
    home = np.array(panda.config.home)
    np.testing.assert_allclose(arm.positions[:7], home, atol=1e-9)
    np.testing.assert_allclose(arm.positions[7:], panda.config.gripper_max_width / 2)
    position, rotation = arm.object_pose("box")
    np.testing.assert_allclose(position, case.scene["box"].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(arm.object_cloud("box"), case.scene["box"], atol=1e-5)

    target = arm.targets
    target[0] += 0.3
    arm.command(target)
    arm.step(1.0)
    assert arm.time == pytest.approx(1.0)
    assert abs(arm.positions[0] - target[0]) < 0.01

    duration = arm.follow(np.array([2.0]), (target + np.r_[0.4, np.zeros(8)])[None])  # from the current targets
    assert duration == pytest.approx(2.0) and arm.following
    arm.step(1.0)
    assert arm.following
    arm.hold()  # stops part way; the arm stays put from then on
    assert not arm.following
    held = arm.positions[0]
    assert target[0] + 0.1 < held < target[0] + 0.3
    arm.step(1.0)
    assert abs(arm.positions[0] - held) < 0.01
    np.testing.assert_allclose(arm.object_pose("box")[0], position, atol=1e-3)  # untouched box stays
    arm.reset()
    assert arm.time == 0.0
    np.testing.assert_allclose(arm.positions[:7], home, atol=1e-9)
    with pytest.raises(ChordError, match="no simulated object"):
        arm.object_pose("mug")


def test_plan_joint_targets_put_each_finger_at_half_the_opening(panda):
    case = flow_cases.lift_and_move(9, 200)
    plan = plan_flow(case.flow, case.scene, panda, "grasp")
    targets = plan_joint_targets(plan)
    assert targets.shape == (len(plan.times), 9)
    np.testing.assert_allclose(targets[:, :7], plan.positions)
    np.testing.assert_allclose(targets[:, 7], plan.gripper / 2)
    np.testing.assert_allclose(targets[:, 8], plan.gripper / 2)


def test_refused_plan_cannot_be_simulated(panda):
    case = flow_cases.lift_and_move(9, 100)
    refused = Plan.refused(PlanRefused(3, "test"), panda.joint_names, "grasp", "box", 0.0)
    with pytest.raises(ChordError, match="refused"):
        simulate_plan(refused, case.flow, panda.config, case.scene)


def test_plan_cli_writes_plan_grasp_and_sim(tmp_path):
    from chord_core.cli import main
    from chord_core.formats.scans import Scan, save_scan

    case = flow_cases.lift_and_move(21, 500)
    flow_path = case.flow.save(tmp_path / "flow.npz")
    scan_path = save_scan(Scan("box", case.scene["box"]), tmp_path / "box.npz")
    out = tmp_path / "out"
    code = main(["plan", str(flow_path), "--scene", str(scan_path), "--simulate", "--video-fps", "0",
                 "--grasp-backend", "antipodal", "--out", str(out)])
    assert code == 0
    with np.load(out / "plan.npz") as plan:
        assert list(plan["joint_names"]) == [f"panda_joint{i}" for i in range(1, 8)]
        assert plan["positions"].shape == plan["velocities"].shape == (len(plan["times"]), 7)
        assert bool(plan["accepted"])
    grasp = json.loads((out / "grasp.json").read_text())
    assert grasp["accepted"] and grasp["grasp"]["width"] <= 0.08
    sim = json.loads((out / "sim.json").read_text())
    assert sim["final_position_error_m"] <= 0.01 and sim["final_rotation_error_deg"] <= 5.0


def test_plan_cli_reports_a_refusal(tmp_path, capsys):
    from chord_core.cli import main
    from chord_core.formats.flow import Flow
    from chord_core.formats.scans import Scan, save_scan

    pts = flow_cases.box_cloud((0.05, 0.05, 0.06), (0.5, 0.0), 300)
    s = np.linspace(0, 1, 9)
    flow = Flow(flow_cases.rigid_flow(pts, np.stack([0.9 * s, 0 * s, 0.1 * s], 1), np.zeros((9, 3))),
                np.zeros(300, np.int32), 5.0, "", ["box"])
    code = main(["plan", str(flow.save(tmp_path / "f.npz")), "--scene",
                 str(save_scan(Scan("box", pts), tmp_path / "box.npz")), "--out", str(tmp_path / "o")])
    assert code == 1
    report = json.loads((tmp_path / "o" / "grasp.json").read_text())
    assert not report["accepted"] and report["offending_frame"] >= 1 and report["reason"]
    with np.load(tmp_path / "o" / "plan.npz") as plan:
        assert plan["positions"].shape[0] == 0
