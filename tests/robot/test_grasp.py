"""Antipodal grasps: openings within the gripper, contacts on opposite faces, no collisions."""

import numpy as np
import pytest

from chord_core.robot import anygrasp_backend, flow_cases
from chord_core.robot.backends import make_grasp_proposer
from chord_core.robot.config import RobotConfig
from chord_core.robot.grasp import AntipodalSampler, Grasp, grasp_collides


@pytest.mark.parametrize("seed", range(8))
def test_grasp_widths_never_exceed_the_gripper(seed):
    rng = np.random.default_rng(seed)
    size = tuple(rng.uniform(0.02, 0.12, 3))
    pts = flow_cases.box_cloud(size, (0.5, 0.0), 800, seed=seed)
    cfg = RobotConfig()
    grasps = AntipodalSampler(cfg, num_samples=120).propose(pts, np.zeros((0, 3)))
    for g in grasps:
        assert 0 < g.width <= cfg.gripper_max_width
    if min(size[0], size[1]) + 0.01 < cfg.gripper_max_width:
        assert grasps, f"a {size} box has a graspable pair of faces"
    if min(size) > cfg.gripper_max_width:
        assert not grasps


def test_box_grasps_close_across_opposite_faces_with_matching_width():
    size = (0.04, 0.06, 0.07)
    pts = flow_cases.box_cloud(size, (0.5, 0.0), 1500, seed=1)
    grasps = AntipodalSampler(RobotConfig(), num_samples=150).propose(pts, np.zeros((0, 3)))
    assert grasps
    for g in grasps:
        axis = int(np.argmax(np.abs(g.closing)))
        assert abs(g.closing[axis]) > np.cos(np.radians(20))
        assert g.width == pytest.approx(size[axis] + 0.01, abs=0.006)
        assert np.all(np.abs(g.rotation.T @ g.rotation - np.eye(3)) < 1e-9)
    # the best grasp comes from above (approach pointing down)
    assert grasps[0].approach[2] < -0.8


def test_no_grasp_puts_a_neighbouring_object_between_the_fingers_or_hits_it():
    cfg = RobotConfig()
    target = flow_cases.box_cloud((0.04, 0.04, 0.06), (0.5, 0.0), 800, seed=2)
    neighbour = flow_cases.box_cloud((0.04, 0.04, 0.10), (0.5, 0.05), 800, seed=3)
    grasps = AntipodalSampler(cfg, num_samples=150).propose(target, neighbour)
    assert grasps
    for g in grasps:
        assert not grasp_collides(cfg, g.rotation, g.translation, g.width, target, neighbour)
        local = (neighbour - g.translation) @ g.rotation  # brute force: fingers' closing slab
        between = (np.abs(local[:, 1]) < g.width / 2) & (local[:, 0] > -cfg.finger_length) & \
                  (local[:, 0] < 0.008) & (np.abs(local[:, 2]) < cfg.finger_breadth / 2)
        assert not between.any()


def test_grasps_keep_the_gripper_above_the_table():
    cfg = RobotConfig()
    pts = flow_cases.box_cloud((0.05, 0.05, 0.02), (0.5, 0.0), 800, seed=4)  # flat: side grasps hit the table
    for g in AntipodalSampler(cfg, num_samples=150).propose(pts, np.zeros((0, 3))):
        assert g.approach[2] < -0.5


def test_graspnet_array_layout_round_trips():
    g = Grasp(0.9, 0.05, 0.02, 0.01, np.eye(3), np.array([0.1, 0.2, 0.3]), 2)
    row = g.to_array()
    assert row.shape == (17,) and row[0] == 0.9 and row[1] == 0.05 and list(row[13:16]) == [0.1, 0.2, 0.3]
    back = Grasp.from_array(row)
    assert back.object_id == 2 and np.array_equal(back.rotation, np.eye(3))


def test_auto_backend_uses_antipodal_without_anygrasp(monkeypatch):
    monkeypatch.delenv("CHORD_ANYGRASP_CHECKPOINT", raising=False)
    assert not anygrasp_backend.available()
    assert isinstance(make_grasp_proposer(RobotConfig(), "auto"), AntipodalSampler)


def test_anygrasp_backend_when_installed():
    if not anygrasp_backend.available():
        pytest.skip("AnyGrasp SDK (gsnet) with CHORD_ANYGRASP_CHECKPOINT is not installed here")
    pts = flow_cases.box_cloud((0.04, 0.05, 0.06), (0.5, 0.0), 2000)
    grasps = anygrasp_backend.AnyGraspProposer(RobotConfig()).propose(pts, np.zeros((0, 3)))
    assert grasps and all(g.width <= RobotConfig().gripper_max_width for g in grasps)
