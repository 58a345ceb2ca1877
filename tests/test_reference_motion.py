"""motion.npz contract: application against explicit per-point loops, resampling, bad input."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from chord_core.errors import ChordError
from chord_core.formats.reference_motion import ReferenceMotion, end_point_error


def _motion(frames: int = 5) -> ReferenceMotion:
    tf = np.tile(np.eye(4), (frames, 2, 1, 1))
    angles = np.linspace(0, 60, frames)
    tf[:, 1, :3, :3] = Rotation.from_euler("z", angles[:, None], degrees=True).as_matrix()
    tf[:, 1, :3, 3] = np.linspace(0, 1, frames)[:, None] * [0.1, 0.0, 0.05]
    return ReferenceMotion(labels=np.array([0, 1, 1, 0, 1]), transforms=tf)


def test_apply_matches_per_point_loop():
    motion = _motion()
    points = np.random.default_rng(0).normal(size=(5, 3))
    traj = motion.apply(points)
    for t in range(motion.num_frames):
        for i, p in enumerate(points):
            tf = motion.transforms[t, motion.labels[i]].astype(np.float64)
            np.testing.assert_allclose(traj[t, i], tf[:3, :3] @ p + tf[:3, 3], atol=1e-6)
    np.testing.assert_allclose(traj[0], points, atol=1e-6)


def test_resampled_keeps_endpoints_and_interpolates():
    motion = _motion(frames=5)
    fine = motion.resampled(9)
    np.testing.assert_allclose(fine.transforms[0], motion.transforms[0], atol=1e-6)
    np.testing.assert_allclose(fine.transforms[-1], motion.transforms[-1], atol=1e-6)
    np.testing.assert_allclose(fine.transforms[2], motion.transforms[1], atol=1e-5)  # same time
    angle = Rotation.from_matrix(fine.transforms[1, 1, :3, :3]).as_euler("zyx", degrees=True)[0]
    assert angle == pytest.approx(7.5, abs=1e-3)


def test_save_load_round_trip(tmp_path):
    motion = _motion()
    back = ReferenceMotion.load(motion.save(tmp_path / "motion.npz"), num_points=5)
    np.testing.assert_array_equal(back.labels, motion.labels)
    np.testing.assert_array_equal(back.transforms, motion.transforms)


def test_end_point_error_is_mean_distance():
    a = np.zeros((2, 2, 3))
    b = a.copy()
    b[1, 0] = [3, 4, 0]
    assert end_point_error(a, b) == pytest.approx(5 / 4)


@pytest.mark.parametrize(
    "labels, transforms, message",
    [
        (np.array([0]), np.zeros((2, 1, 4)), "shape"),
        (np.array([2]), np.tile(np.eye(4), (2, 2, 1, 1)), r"lie in \[0, 1\]"),
        (np.array([0]), np.tile(2 * np.eye(4), (2, 1, 1, 1)), "identity"),
        (np.array([0]), np.concatenate([np.eye(4)[None, None], np.full((1, 1, 4, 4), np.nan)]), "NaN"),
        (np.array([0]), np.stack([np.eye(4), np.diag([2.0, 1, 1, 1])])[:, None], "rigid"),
        (np.array([], int), np.tile(np.eye(4), (2, 1, 1, 1)), "non-empty"),
    ],
)
def test_bad_motion_is_rejected(labels, transforms, message):
    with pytest.raises(ChordError, match=message):
        ReferenceMotion(labels, transforms)


def test_load_checks_point_count_and_file(tmp_path):
    path = _motion().save(tmp_path / "motion.npz")
    with pytest.raises(ChordError, match="concatenated points"):
        ReferenceMotion.load(path, num_points=7)
    with pytest.raises(ChordError, match="not found"):
        ReferenceMotion.load(tmp_path / "none.npz")
    np.savez(tmp_path / "bad.npz", labels=np.zeros(3))
    with pytest.raises(ChordError, match="transforms"):
        ReferenceMotion.load(tmp_path / "bad.npz")
