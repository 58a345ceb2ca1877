"""Plans on the part of an articulated object: the part the flow moves is found, grasped and
followed while the rest of the object is an obstacle, and MuJoCo builds the part on its joint."""

import json

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from chord_core.errors import ChordError
from chord_core.robot import flow_cases
from chord_core.robot.articulation import analyse_flow
from chord_core.robot.config import GRASP_POINT_TARGET, PART_JOINT_TARGETS
from chord_core.robot.planner import moving_part, part_of_scan, plan_flow
from chord_core.robot.scene_joints import load_scan_joint
from chord_core.robot.sim import ArmSimulation, SimJoint, simulate_plan


def moved(flow) -> np.ndarray:
    """The ground truth of the synthetic cases: the still part's points never change."""
    return np.linalg.norm(flow.trajectories[-1] - flow.trajectories[0], axis=1) > 1e-6


@pytest.mark.parametrize("make, kind", [(flow_cases.chest_lid, "revolute"), (flow_cases.lamp_head, "revolute"),
                                        (flow_cases.drawer, "prismatic")])
def test_the_part_the_flow_moves_is_found(panda, make, kind):
    case = make()
    traj = case.flow.trajectories.astype(float)
    part = moving_part(case.flow, 0, traj, panda.config.max_tracking_error)
    assert part is not None and part.joint.kind == kind
    assert np.mean(part.mask == moved(case.flow)) > 0.99


def test_a_rigid_object_is_held_whole_and_stored_parts_are_used(panda):
    rigid = flow_cases.lift_and_move(9, 1000).flow
    traj = rigid.trajectories.astype(float)
    assert moving_part(rigid, 0, traj, panda.config.max_tracking_error) is None
    traj[1:, :15] += np.random.default_rng(3).normal(0.0, 0.05, (8, 15, 3))  # 1.5 % of the points stray
    assert moving_part(rigid, 0, traj, panda.config.max_tracking_error) is None
    case = flow_cases.drawer(9, 600)
    truth = moved(case.flow)
    arrays = analyse_flow(case.flow.trajectories, case.flow.object_ids).to_arrays(case.flow.num_frames)
    arrays["part_ids"] = np.where(truth, 7, 3).astype(np.int32)  # the flow's own labels, renumbered
    arrays["part_objects"] = np.array([0, 0, 0, 0, 0, 0, 0, 0], np.int32)
    arrays["joint_parents"], arrays["joint_children"] = np.array([3], np.int32), np.array([7], np.int32)
    case.flow.articulation = arrays
    part = moving_part(case.flow, 0, case.flow.trajectories.astype(float), panda.config.max_tracking_error)
    assert part.part_id == 7 and np.array_equal(part.mask, truth)


def test_scan_points_go_with_their_nearest_flow_point(panda):
    case = flow_cases.chest_lid(5, 400)
    traj = case.flow.trajectories.astype(float)
    part = moving_part(case.flow, 0, traj, panda.config.max_tracking_error)
    scan = case.scene["chest"][::37].astype(float)
    nearest = np.argmin(np.linalg.norm(scan[:, None] - traj[0][None], axis=2), axis=1)
    np.testing.assert_array_equal(part_of_scan(scan, traj[0], part), part.mask[nearest])


def test_a_simulated_hinge_moves_the_part_points_about_its_axis(panda):
    case = flow_cases.chest_lid(5, 400)
    traj = case.flow.trajectories.astype(float)
    part = moving_part(case.flow, 0, traj, panda.config.max_tracking_error)
    cloud = case.scene["chest"].astype(float)
    joint = SimJoint.from_part(part, cloud, traj[0])
    assert joint.limits[0] == 0.0 and joint.limits[1] == pytest.approx(1.5 * np.radians(60.0), abs=1e-3)
    arm = ArmSimulation(panda.config, case.scene, joints={"chest": joint})
    np.testing.assert_allclose(arm.object_cloud("chest"), cloud, atol=1e-5)
    arm.data.qpos[arm.model.jnt_qposadr[arm.model.joint("obj0_joint").id]] = 0.5
    arm._mj.mj_forward(arm.model, arm.data)
    assert arm.joint_value("chest") == pytest.approx(0.5)
    turned = (cloud[joint.mask] - joint.pivot) @ Rotation.from_rotvec(0.5 * joint.axis).as_matrix().T + joint.pivot
    np.testing.assert_allclose(arm.object_cloud("chest")[joint.mask], turned, atol=1e-5)
    np.testing.assert_allclose(arm.object_cloud("chest")[~joint.mask], cloud[~joint.mask], atol=1e-5)
    with pytest.raises(ChordError, match="no moving part"):
        ArmSimulation(panda.config, flow_cases.lift_and_move(5, 200).scene).joint_value("box")


@pytest.mark.slow
@pytest.mark.parametrize("make", [flow_cases.chest_lid, flow_cases.lamp_head, flow_cases.drawer])
def test_a_part_plan_opens_the_simulated_part_as_the_flow_does(panda, make, tmp_path):
    case = make()
    plan = plan_flow(case.flow, case.scene, panda, "grasp")
    part = plan.extra["part"]
    assert plan.accepted and np.mean(part.mask == moved(case.flow)) > 0.99
    nearest = np.argsort(np.linalg.norm(case.flow.trajectories[0] - plan.grasp.translation, axis=1))[:10]
    assert moved(case.flow)[nearest].all()  # the hand is on the part, not on the still body
    assert plan.phases[-1] == "retreat"  # the joint holds the part: the hand lets go
    result = simulate_plan(plan, case.flow, panda.config, case.scene).part
    assert abs(result["final_value_sim"] - result["final_value_flow"]) <= PART_JOINT_TARGETS[part.joint.kind]
    assert max(result["grasp_point_errors_m"]) <= GRASP_POINT_TARGET
    report = json.loads((plan.write_dir(tmp_path) / "grasp.json").read_text())
    assert report["manipulated_part"]["joint"] == part.joint.kind



def _write_chest_joint(tmp_path, **overrides):
    from chord_core.formats.scans import Scan, save_scan

    case = flow_cases.chest_lid(5, 400)
    scan_path = save_scan(Scan("chest", case.scene["chest"], None), tmp_path / "chest.ply")
    description = {"kind": "revolute", "axis": [0.0, -1.0, 0.0], "pivot": [0.58, 0.0, 0.08],
                   "limits": [-1.9, 0.0], "part_min": [0.38, -0.11, 0.0785], "part_max": [0.59, 0.11, 0.12]}
    description.update(overrides)
    (tmp_path / "chest.joint.yaml").write_text(yaml.safe_dump(description))
    return case, scan_path


def test_a_scan_joint_description_is_read_and_checked(tmp_path):
    case, scan_path = _write_chest_joint(tmp_path)
    points = case.scene["chest"].astype(float)
    joint = load_scan_joint(scan_path, points)
    assert joint.kind == "revolute" and joint.limits == (-1.9, 0.0)
    np.testing.assert_allclose(joint.axis, [0.0, -1.0, 0.0])
    np.testing.assert_array_equal(joint.mask, points[:, 2] > 0.0785)  # the lid: everything above the body
    assert load_scan_joint(tmp_path / "block.ply", points) is None  # no description: a rigid body
    for overrides, message in [({"axis": [0, 0, 0]}, "axis must not be zero"),
                               ({"limits": [0.2, 1.0]}, "limits must hold the scanned pose"),
                               ({"part_min": [2.0, 2.0, 2.0]}, "holds 0 of the scan's"),
                               ({"kind": "ball"}, "kind must be one of"),
                               ({"limits": ["0", 1.0]}, "write numbers without quotes")]:
        _write_chest_joint(tmp_path, **overrides)
        with pytest.raises(ChordError, match=message):
            load_scan_joint(scan_path, points)
    (tmp_path / "chest.joint.yaml").write_text("kind: revolute\n")
    with pytest.raises(ChordError, match="lacks"):
        load_scan_joint(scan_path, points)


@pytest.mark.slow
def test_a_described_joint_is_simulated_in_the_flow_s_sense(panda, tmp_path):
    """The description's axis points the other way than the fitted one: the lid still opens as the
    flow does, and the measured value is in the flow's sense."""
    case, scan_path = _write_chest_joint(tmp_path)
    case = flow_cases.chest_lid()
    plan = plan_flow(case.flow, case.scene, panda, "grasp")
    joint = load_scan_joint(scan_path, case.scene["chest"])
    assert joint is not None and plan.extra["part"].joint.axis @ joint.axis < 0
    result = simulate_plan(plan, case.flow, panda.config, case.scene, joints={"chest": joint}).part
    assert result["final_value_sim"] == pytest.approx(result["final_value_flow"], abs=PART_JOINT_TARGETS["revolute"])
    assert max(result["grasp_point_errors_m"]) <= GRASP_POINT_TARGET
