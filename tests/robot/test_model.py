"""Kinematics: analytic Jacobians against finite differences, IK round trips, grasp frame mapping."""

import numpy as np
import pinocchio as pin
import pytest

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig, load_robot_config
from chord_core.robot.model import RobotModel, ee_to_grasp_rotation, grasp_to_ee_rotation, rotation_error_angle


def random_q(model, rng):
    return rng.uniform(model.lower + 0.1, model.upper - 0.1)


def test_frame_jacobian_matches_finite_differences(panda):
    rng = np.random.default_rng(0)
    eps = 1e-6
    for _ in range(5):
        q = random_q(panda, rng)
        pose, jac = panda.fk_jacobian(q)
        for j in range(panda.n):
            dq = np.zeros(panda.n)
            dq[j] = eps
            plus, minus = panda.fk(q + dq), panda.fk(q - dq)
            lin = (plus[:3, 3] - minus[:3, 3]) / (2 * eps)
            ang = pin.log3(plus[:3, :3] @ minus[:3, :3].T) / (2 * eps)  # world-frame angular velocity
            np.testing.assert_allclose(jac[:3, j], lin, atol=1e-6)
            np.testing.assert_allclose(jac[3:, j], ang, atol=1e-6)


def test_ik_reaches_poses_of_random_configurations(panda):
    rng = np.random.default_rng(1)
    for _ in range(6):
        target = panda.fk(random_q(panda, rng))
        q = panda.ik(target, seeds=[panda.home])
        assert q is not None
        pose = panda.fk(q)
        assert np.linalg.norm(pose[:3, 3] - target[:3, 3]) < 1e-4
        assert rotation_error_angle(pose[:3, :3], target[:3, :3]) < 1e-3
        assert np.all(q >= panda.lower) and np.all(q <= panda.upper)


def test_ik_returns_none_beyond_reach(panda):
    target = np.eye(4)
    target[:3, 3] = [1.5, 0.0, 0.3]
    assert panda.ik(target, seeds=[panda.home]) is None


def test_grasp_rotation_maps_closing_axis_to_finger_axis(panda):
    # The Panda fingers slide along the hand's y axis: after IK to a grasp, the vector between the
    # finger frames must lie along the grasp's closing axis and the hand must point along approach.
    approach = np.array([0.2, 0.0, -1.0]) / np.linalg.norm([0.2, 0.0, -1.0])
    closing = np.array([np.cos(0.4), np.sin(0.4), 0.0])
    closing -= (closing @ approach) * approach
    closing /= np.linalg.norm(closing)
    grasp_rot = np.stack([approach, closing, np.cross(approach, closing)], axis=1)
    target = np.eye(4)
    target[:3, :3] = grasp_to_ee_rotation(grasp_rot)
    target[:3, 3] = [0.5, 0.1, 0.2]
    q = panda.ik(target, seeds=[panda.home])
    assert q is not None
    full = pin.buildModelFromUrdf(panda.config.resolved_urdf())
    data = full.createData()
    qf = np.concatenate([q, [0.03, 0.03]])
    pin.framesForwardKinematics(full, data, qf)
    left = data.oMf[full.getFrameId("panda_leftfinger")].translation
    right = data.oMf[full.getFrameId("panda_rightfinger")].translation
    hand = data.oMf[full.getFrameId("panda_hand")].translation
    finger_axis = (left - right) / np.linalg.norm(left - right)
    assert abs(finger_axis @ grasp_rot[:, 1]) > 0.999
    approach = target[:3, 3] - hand
    assert approach / np.linalg.norm(approach) @ grasp_rot[:, 0] > 0.999
    np.testing.assert_allclose(ee_to_grasp_rotation(grasp_to_ee_rotation(grasp_rot)), grasp_rot, atol=1e-12)


def test_yaml_config_equals_defaults_and_rejects_unknown_keys(tmp_path):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "config" / "robot_panda.yaml"
    assert load_robot_config(path) == RobotConfig()
    bad = tmp_path / "bad.yaml"
    bad.write_text("gripper_width_typo: 0.1\n")
    with pytest.raises(ChordError, match="gripper_width_typo"):
        load_robot_config(bad)


def test_missing_joint_names_raise_chord_error():
    with pytest.raises(ChordError, match="no_such_joint"):
        RobotModel(RobotConfig(arm_joints=("panda_joint1", "no_such_joint")))
