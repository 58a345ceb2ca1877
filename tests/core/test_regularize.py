"""ARAP (Eq. 13), temporal (Eq. 12), TV-3D, support and the near-surface voxel-size search."""

import numpy as np
import open3d as o3d
import pytest
import torch
from scipy.spatial.transform import Rotation

from chord_core.distill.regularize import arap_loss, arap_neighbours, support_loss, temporal_loss, tv3d_loss
from chord_core.errors import ChordError
from chord_core.scene.voxels import near_surface_voxels


def _samples(n=300, seed=0):
    return torch.tensor(np.random.default_rng(seed).uniform(-0.5, 0.5, (n, 3)))


def test_arap_is_zero_for_rigid_motions():
    rest = _samples()
    nbrs = arap_neighbours(rest)
    rots = torch.tensor(Rotation.random(4, random_state=1).as_matrix())
    moved = torch.einsum("fij,sj->fsi", rots, rest) + torch.randn(4, 1, 3, dtype=torch.float64)
    assert arap_loss(rest, moved, nbrs, reduction="sum").item() < 1e-20


def test_arap_is_positive_for_a_shear():
    rest = _samples()
    nbrs = arap_neighbours(rest)
    shear = torch.tensor([[1.0, 0.4, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    loss = arap_loss(rest, (rest @ shear.T)[None], nbrs)
    assert loss.item() > 1e-4


def test_arap_matches_per_point_scipy_alignment():
    rest = _samples(60, seed=2)
    nbrs = arap_neighbours(rest, k=10)
    deformed = (rest + 0.1 * torch.sin(3 * rest))[None]
    got = arap_loss(rest, deformed, nbrs, reduction="sum").item()
    total = 0.0
    r, d = rest.numpy(), deformed[0].numpy()
    for x in range(len(r)):
        e0 = r[x] - r[nbrs[x].numpy()]
        et = d[x] - d[nbrs[x].numpy()]
        rot, _ = Rotation.align_vectors(e0, et)  # argmin_R sum |e0 - R et|^2
        total += float(np.sum((e0 - rot.apply(et)) ** 2))
    assert got == pytest.approx(total, rel=1e-8)


def test_arap_gradient_flows_to_deformed_points_only():
    rest = _samples(50)
    nbrs = arap_neighbours(rest)
    deformed = (rest * torch.tensor([1.2, 1.0, 0.9], dtype=torch.float64))[None].requires_grad_(True)
    arap_loss(rest, deformed, nbrs).backward()
    assert deformed.grad.abs().max() > 0


def test_temporal_loss_is_eq12_sum_of_squared_flow():
    flow = torch.randn(3, 5, 4, 3, dtype=torch.float64)
    assert temporal_loss(flow, reduction="sum").item() == pytest.approx(sum(float(v @ v) for v in flow.reshape(-1, 3)))
    assert temporal_loss(flow).item() == pytest.approx(float((flow**2).sum()) / 60)


def test_tv3d_matches_loop():
    traj = torch.randn(5, 7, 3, dtype=torch.float64)
    expected = sum(float(np.abs(traj[t, i] - traj[t - 1, i]).sum()) for t in range(1, 5) for i in range(7)) / (7 * 4)
    assert tv3d_loss(traj).item() == pytest.approx(expected)
    assert tv3d_loss(traj[:1]).item() == 0.0


def test_support_loss_matches_loop():
    traj = torch.randn(4, 9, 3, dtype=torch.float64)
    floor = 0.1
    expected = sum(max(0.0, floor - float(traj[t, i, 2])) ** 2 for t in range(4) for i in range(9)) / 36
    assert support_loss(traj, floor).item() == pytest.approx(expected)
    assert expected > 0
    assert support_loss(traj, float(traj[..., 2].min())).item() == 0.0


def _distance(mesh):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    return lambda x: scene.compute_distance(o3d.core.Tensor(x.astype(np.float32))).numpy()


@pytest.mark.parametrize("name,mesh", [
    ("thin", o3d.geometry.TriangleMesh.create_box(0.4, 0.3, 0.003)),
    ("big", o3d.geometry.TriangleMesh.create_sphere(1.5, resolution=40)),
    ("tiny", o3d.geometry.TriangleMesh.create_box(0.01, 0.01, 0.01)),
])
def test_near_surface_search_lands_in_range(name, mesh):
    verts = np.asarray(mesh.vertices)
    dist = _distance(mesh)
    points, size = near_surface_voxels(dist, verts.min(0), verts.max(0))
    assert 6750 <= len(points) <= 8250, (name, len(points))
    assert np.all(dist(points) <= size + 1e-6)  # every sample lies in the band


def test_arap_single_sample_is_refused():
    with pytest.raises(ChordError, match="single point"):
        arap_neighbours(np.zeros((1, 3)))


def test_voxels_around_points_hold_every_band_voxel():
    """Brute force over the whole grid with the same origin: nothing within one voxel is missed."""
    from chord_core.scene.voxels import voxels_around_points

    rng = np.random.default_rng(0)
    points = rng.uniform(0, 0.1, size=(200, 3))
    size, pad = 0.013, 0.02
    lo = points.min(0)
    cand = voxels_around_points(points, lo, size, pad).astype(np.float64)
    origin = lo - pad
    counts = np.ceil((points.max(0) + pad - origin) / size).astype(int) + 1
    axes = [origin[d] + size * (np.arange(counts[d]) + 0.5) for d in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    near = grid[np.linalg.norm(grid[:, None] - points[None], axis=-1).min(1) <= size]
    key = lambda a: set(map(tuple, np.round(a / size, 3)))  # noqa: E731
    assert key(near) <= key(cand)


def test_scan_near_surface_samples_land_in_range():
    from chord_core.formats.scans import Scan
    from chord_core.scene.objects import object_from_scan

    rng = np.random.default_rng(1)
    pts = rng.normal(size=(600, 3))
    pts = 0.05 * pts / np.linalg.norm(pts, axis=1, keepdims=True)  # a sparse 5 cm sphere scan
    obj = object_from_scan(Scan("ball", pts.astype(np.float32)))
    samples, size = obj.near_surface_samples(1500)
    assert 1350 <= len(samples) <= 1650
    assert np.all(obj.distance(samples) <= size + 1e-6)
