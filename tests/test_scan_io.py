"""Scan files: round trips through open3d formats and .npz, and every bad-input case."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.scans import Scan, load_scan, save_scan


@pytest.mark.parametrize("suffix", [".ply", ".pcd", ".npz"])
def test_scan_round_trip(tmp_path, suffix):
    rng = np.random.default_rng(0)
    scan = Scan("mug", rng.normal(size=(200, 3)).astype(np.float32),
                rng.uniform(size=(200, 3)).astype(np.float32))
    back = load_scan(save_scan(scan, tmp_path / f"mug{suffix}"))
    assert back.name == "mug"
    np.testing.assert_allclose(back.points, scan.points, atol=1e-6)
    # .ply/.pcd store 8-bit colour
    np.testing.assert_allclose(back.colors, scan.colors, atol=1 / 255 + 1e-6)


def test_scan_without_colour_has_none(tmp_path):
    back = load_scan(save_scan(Scan("box", np.ones((5, 3), np.float32)), tmp_path / "box.ply"))
    assert back.colors is None


def test_scan_errors_name_the_problem(tmp_path):
    with pytest.raises(ChordError, match="not found"):
        load_scan(tmp_path / "missing.ply")
    (tmp_path / "x.stl").write_text("solid")
    with pytest.raises(ChordError, match="unknown format"):
        load_scan(tmp_path / "x.stl")
    np.savez(tmp_path / "empty.npz", points=np.zeros((0, 3)))
    with pytest.raises(ChordError, match="no points"):
        load_scan(tmp_path / "empty.npz")
    pts = np.zeros((4, 3))
    pts[1, 2] = np.nan
    np.savez(tmp_path / "nan.npz", points=pts)
    with pytest.raises(ChordError, match="1 points with NaN"):
        load_scan(tmp_path / "nan.npz")
    np.savez(tmp_path / "flat.npz", points=np.zeros((4, 2)))
    with pytest.raises(ChordError, match="shape"):
        load_scan(tmp_path / "flat.npz")
    np.savez(tmp_path / "nokey.npz", xyz=np.zeros((4, 3)))
    with pytest.raises(ChordError, match="'points'"):
        load_scan(tmp_path / "nokey.npz")
    np.savez(tmp_path / "col.npz", points=np.zeros((4, 3)), colors=np.full((4, 3), 2.0))
    with pytest.raises(ChordError, match="colours"):
        load_scan(tmp_path / "col.npz")
