"""Built-in scenarios: surfaces only, rigid parts, and motion that really happens."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from chord_core.errors import ChordError
from chord_core.formats.reference_motion import ReferenceMotion
from chord_core.formats.scans import load_scan
from chord_core.scene.scenarios import SCENARIOS, box_faces, make_scenario, sample_faces


def test_sampled_points_lie_on_box_faces():
    rng = np.random.default_rng(0)
    pts = sample_faces(box_faces([0, 0, 0], [0.2, 0.1, 0.4]), 3000, rng)
    half = np.array([0.1, 0.05, 0.2])
    # every point sits on one face: one coordinate at +-half, the others inside
    on_face = np.isclose(np.abs(pts), half, atol=1e-9)
    assert np.all(on_face.sum(axis=1) >= 1)
    assert np.all(np.abs(pts) <= half + 1e-9)
    # area weighting: the two big faces (x-z, 0.2x0.4) get about 0.08/(2*0.08+2*0.04+2*0.02)
    big = np.isclose(np.abs(pts[:, 1]), 0.05).mean()
    assert big == pytest.approx(0.16 / 0.28, abs=0.03)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_parts_move_rigidly_and_visibly(name):
    sc = make_scenario(name, frames=7, points=1500)
    points = np.concatenate([s.points for s in sc.scans])
    traj = sc.motion.apply(points)
    np.testing.assert_allclose(traj[0], points, atol=1e-6)
    assert np.linalg.norm(traj[-1] - traj[0], axis=1).max() > 0.02
    for part in range(sc.motion.num_parts):
        idx = np.flatnonzero(sc.motion.labels == part)[:50]
        d0 = np.linalg.norm(points[idx, None] - points[None, idx], axis=-1)
        dt = np.linalg.norm(traj[-1][idx, None] - traj[-1][None, idx], axis=-1)
        np.testing.assert_allclose(dt, d0, atol=1e-5)


def test_hinged_lid_has_no_hidden_faces_between_parts():
    sc = make_scenario("hinged_lid", points=4000)
    points = sc.scans[0].points
    lid = points[sc.motion.labels == 1]
    body = points[sc.motion.labels == 0]
    # nothing of the lid lies on the plane where it rests on the body (its bottom face)
    seam_z = body[:, 2].max()
    assert np.count_nonzero(np.isclose(lid[:, 2], seam_z, atol=1e-6)) == 0
    # the hinge stays put: lid points near the hinge edge barely move
    traj = sc.motion.apply(points)
    near = cKDTree(lid).query_ball_point([lid[:, 0].min(), 0.0, seam_z], r=0.01)
    moved = np.linalg.norm(traj[-1][sc.motion.labels == 1][near] - lid[near], axis=1)
    assert moved.max() < 0.02


def test_scenario_writes_files_that_load_back(tmp_path):
    sc = make_scenario("two_objects", frames=5, points=400)
    scan_paths, motion_path = sc.write(tmp_path)
    loaded = [load_scan(p) for p in scan_paths]
    assert [s.name for s in loaded] == ["red_block", "blue_box"]
    total = sum(len(s.points) for s in loaded)
    motion = ReferenceMotion.load(motion_path, num_points=total)
    assert motion.num_frames == 5 and motion.num_parts == 2


def test_unknown_scenario_is_named():
    with pytest.raises(ChordError, match="unknown scenario"):
        make_scenario("flying_saucer")
