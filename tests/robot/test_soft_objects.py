"""Ropes (issue 17 item 4): built from a scan, carried points that turn with the rope, a plan that
holds the end the flow leads with, and a MuJoCo rope that ends where the flow's does."""

import dataclasses

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from chord_core.errors import ChordError
from chord_core.robot import flow_cases
from chord_core.robot.config import SOFT_POINT_TARGET
from chord_core.robot.planner import ROPE_HOLD_RADIUS, plan_flow, rope_hold
from chord_core.robot.sim import simulate_plan
from chord_core.robot.soft_objects import SoftRope, _aligning_rotations, load_scan_soft, tangents

RADIUS = 0.015


def _straight_rope(n: int = 4000, seed: int = 1) -> np.ndarray:
    return flow_cases._rope_cloud(np.array([0.4, 0.0, RADIUS]), np.array([0.7, 0.0, RADIUS]), RADIUS, n, seed)


def test_a_straight_rope_gets_evenly_spaced_nodes_on_its_axis():
    rope = SoftRope.from_points(_straight_rope(), RADIUS, 0.1, 0.035)
    assert len(rope.nodes) == round(0.30 / 0.035) + 1
    np.testing.assert_allclose(rope.nodes[:, 1:], [[0.0, RADIUS]] * len(rope.nodes), atol=2e-3)  # on the axis
    gaps = np.linalg.norm(np.diff(rope.nodes, axis=0), axis=1)
    inner = gaps[1:-1]  # the end stretches hold half a stretch each, and a cap
    assert np.ptp(inner) < 4e-3 and abs(inner.mean() - 0.30 / (len(rope.nodes) - 1)) < 2e-3
    # every point rides on its nearest node, and at the scanned pose nothing moves
    brute = np.argmin(np.linalg.norm(rope.offsets[:, None] + rope.nodes[rope.point_nodes][:, None] - rope.nodes[None],
                                     axis=2), axis=1)
    np.testing.assert_array_equal(rope.point_nodes, brute)
    np.testing.assert_allclose(rope.points_at(rope.nodes), _straight_rope(), atol=1e-6)


def test_a_rope_turned_about_the_vertical_carries_its_points_rigidly():
    nodes = np.stack([np.linspace(0.4, 0.7, 10), np.zeros(10), np.full(10, RADIUS)], axis=1)  # exactly on the axis
    rope = SoftRope.with_nodes(nodes, RADIUS, 0.1, _straight_rope())
    turn = Rotation.from_euler("z", 70, degrees=True).as_matrix()
    pivot = np.array([0.55, 0.0, 0.0])
    moved = rope.points_at((rope.nodes - pivot) @ turn.T + pivot)
    np.testing.assert_allclose(moved, (_straight_rope() - pivot) @ turn.T + pivot, atol=1e-6)


def test_aligning_rotations_agree_with_scipy():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(200, 3))
    b = rng.normal(size=(200, 3))
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    b[0] = -a[0]  # opposite: any half turn about a normal axis
    mats = _aligning_rotations(a, b)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", mats, a), b, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-9)
    for k in range(1, 200):  # the smallest such rotation: scipy's for a single pair
        expected = Rotation.align_vectors(b[k][None], a[k][None])[0].as_matrix()
        np.testing.assert_allclose(mats[k], expected, atol=1e-7)
    np.testing.assert_allclose(tangents(np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]])),
                               [[1, 0, 0], [np.sqrt(0.5), np.sqrt(0.5), 0], [0, 1, 0]], atol=1e-12)


def test_rope_construction_refuses_what_mujoco_cannot_build():
    points = _straight_rope()
    with pytest.raises(ChordError, match="must exceed the rope's diameter"):
        SoftRope.from_points(points, RADIUS, 0.1, 0.03)
    with pytest.raises(ChordError, match="fewer than 3"):
        SoftRope.from_points(points[points[:, 0] < 0.45], RADIUS, 0.1, 0.035)
    with pytest.raises(ChordError, match="gap"):
        SoftRope.from_points(points[np.abs(points[:, 0] - 0.55) > 0.04], RADIUS, 0.1, 0.035)
    with pytest.raises(ChordError, match="radius > 0"):
        SoftRope.from_points(points, 0.0, 0.1, 0.035)


def test_a_soft_description_is_read_and_checked(tmp_path):
    points = _straight_rope()
    scan_path = tmp_path / "rope.ply"
    assert load_scan_soft(scan_path, points) is None  # no description: a rigid body
    description = {"kind": "rope", "radius": RADIUS, "mass": 0.1, "node_spacing": 0.035}
    (tmp_path / "rope.soft.yaml").write_text(yaml.safe_dump(description))
    rope = load_scan_soft(scan_path, points)
    assert len(rope.nodes) == 10 and rope.radius == RADIUS
    for overrides, message in [({"kind": "towel"}, "kind must be one of"),
                               ({"node_spacing": 0.02}, "rope.soft.yaml: node_spacing"),
                               ({"mass": "0.1"}, "write numbers without quotes")]:
        (tmp_path / "rope.soft.yaml").write_text(yaml.safe_dump({**description, **overrides}))
        with pytest.raises(ChordError, match=message):
            load_scan_soft(scan_path, points)
    (tmp_path / "rope.soft.yaml").write_text("kind: rope\n")
    with pytest.raises(ChordError, match="lacks"):
        load_scan_soft(scan_path, points)


@pytest.fixture(scope="module")
def rope_case():
    return flow_cases.rope_drag()


def test_the_rope_is_held_at_the_end_its_flow_leads_with(rope_case):
    traj = rope_case.flow.trajectories.astype(float)
    held = rope_hold(traj, ROPE_HOLD_RADIUS)
    travel = np.linalg.norm(traj[-1] - traj[0], axis=1)
    lead = traj[0, np.argmax(travel)]
    for k in range(0, len(held), 37):  # brute force: within the radius of the farthest-carried point
        assert held[k] == (np.linalg.norm(traj[0, k] - lead) <= ROPE_HOLD_RADIUS)
    assert traj[0, held, 0].min() > 0.65  # the far end (x 0.40 .. 0.70), the one the case drags


def test_a_rope_plan_drags_the_simulated_rope_to_the_flow_s_last_frame(panda, rope_case):
    plan = plan_flow(rope_case.flow, rope_case.scene, panda, "grasp", soft_objects=rope_case.soft)
    held_centre = rope_case.flow.trajectories[0, rope_hold(rope_case.flow.trajectories, ROPE_HOLD_RADIUS)].mean(axis=0)
    assert np.linalg.norm(plan.grasp.translation - held_centre) <= ROPE_HOLD_RADIUS
    assert "release" in plan.phases  # the rope ends on the table: the hand lets go
    result = simulate_plan(plan, rope_case.flow, panda.config, rope_case.scene, soft=rope_case.soft)
    assert result.soft["final_mean_point_distance_m"] <= SOFT_POINT_TARGET
    assert result.to_json()["soft"]["kind"] == "rope"
    # the same motion with fingers that never close leaves the rope where it lay: far from the flow
    loose = simulate_plan(dataclasses.replace(plan, gripper=np.full_like(plan.gripper, plan.gripper.max())),
                          rope_case.flow, panda.config, rope_case.scene, soft=rope_case.soft)
    assert loose.soft["final_mean_point_distance_m"] > 3 * SOFT_POINT_TARGET


def test_a_rope_is_not_pushed(panda, rope_case):
    with pytest.raises(ChordError, match="soft"):
        plan_flow(rope_case.flow, rope_case.scene, panda, "push", soft_objects=rope_case.soft)


def test_chord_plan_reads_a_rope_description_beside_its_scan(rope_case, tmp_path):
    import json

    from chord_core.cli import main
    from chord_core.formats.scans import Scan, save_scan

    flow_path = rope_case.flow.save(tmp_path / "flow.npz")
    scan_path = save_scan(Scan("rope", rope_case.scene["rope"]), tmp_path / "rope.npz")
    (tmp_path / "rope.soft.yaml").write_text(yaml.safe_dump({"kind": "rope", "radius": RADIUS, "mass": 0.1,
                                                             "node_spacing": 0.035}))
    out = tmp_path / "out"
    assert main(["plan", str(flow_path), "--scene", str(scan_path), "--simulate", "--video-fps", "0",
                 "--out", str(out)]) == 0
    sim = json.loads((out / "sim.json").read_text())
    assert sim["soft"]["nodes"] == len(rope_case.soft["rope"].nodes)
    assert sim["soft"]["final_mean_point_distance_m"] <= SOFT_POINT_TARGET
