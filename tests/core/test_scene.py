"""Scenes from scans and meshes; bad-input handling (clear errors or documented fallbacks)."""

import logging

import numpy as np
import open3d as o3d
import pytest
import torch

from chord_core.errors import ChordError
from chord_core.formats.scans import Scan, save_scan
from chord_core.motion.model import MotionConfig, SceneMotion
from chord_core.render.cameras import orbit_cameras
from chord_core.render.renderer import render
from chord_core.scene.load import load_scene
from chord_core.scene.mesh_fit import fit_gaussians, initial_gaussians, object_from_mesh, raycast_render
from chord_core.scene.objects import SINGLE_POINT_SCALE, object_from_scan, scene_from_scans


def _box_scan(n=4000, seed=0) -> Scan:
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0, 1, (n, 3)) * np.array([0.2, 0.1, 0.05])
    colors = np.where(pts[:, :1] > 0.1, [1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    return Scan("box", pts.astype(np.float32), colors.astype(np.float32))


def test_scan_gaussians_respect_budget_colour_and_spacing():
    scan = _box_scan()
    obj = object_from_scan(scan, budget=1000)
    g = obj.gaussians
    assert 500 <= len(g) <= 1000
    # Colours are averages of scan colours in the voxel: sharp halves stay red/blue away from x=0.1.
    means = g.means.numpy()
    far = np.abs(means[:, 0] - 0.1) > 0.03
    expected = np.where(means[far, :1] > 0.1, [1.0, 0, 0], [0, 0, 1.0])
    assert np.allclose(g.colors.numpy()[far], expected, atol=1e-6)
    # Scale = mean distance to the 3 nearest other Gaussians (brute force reference).
    d = np.linalg.norm(means[:, None] - means[None], axis=2)
    np.fill_diagonal(d, np.inf)
    ref = np.sort(d, axis=1)[:, :3].mean(1)
    assert np.allclose(g.scales.numpy()[:, 0], ref, rtol=1e-4)
    assert torch.equal(g.quats, torch.tensor([[1.0, 0, 0, 0]]).expand(len(g), 4))


def test_scan_distance_is_nearest_point_distance():
    obj = object_from_scan(_box_scan(500), budget=500)
    q = np.random.default_rng(1).uniform(-0.1, 0.3, (50, 3)).astype(np.float32)
    brute = np.linalg.norm(q[:, None] - obj.source_points[None], axis=2).min(1)
    assert np.allclose(obj.distance(q), brute, atol=1e-6)
    assert not obj.signed


def test_load_scene_from_files_routes_scans_and_meshes(tmp_path):
    scan_path = save_scan(_box_scan(800), tmp_path / "block.ply")
    mesh = o3d.geometry.TriangleMesh.create_box(0.1, 0.1, 0.1)
    mesh.paint_uniform_color([0.2, 0.8, 0.3])
    mesh_path = tmp_path / "cube.obj"
    o3d.io.write_triangle_mesh(str(mesh_path), mesh)
    scene = load_scene([str(scan_path), str(mesh_path)], budget=300, mesh_fit_iterations=0)
    assert [o.name for o in scene.objects] == ["block", "cube"]
    assert scene.objects[0].mesh is None and scene.objects[1].mesh is not None and scene.objects[1].signed
    g = scene.gaussians
    assert set(g.object_ids.tolist()) == {0, 1}
    assert np.allclose(scene.objects[1].gaussians.colors.numpy(), [0.2, 0.8, 0.3], atol=1e-3)
    # The cube's SDF is negative at its centre, positive outside (open3d signed distance).
    assert scene.objects[1].distance(np.array([[0.05, 0.05, 0.05], [0.3, 0.3, 0.3]])).tolist()[0] < 0


def test_mesh_fit_reproduces_raycast_renders_on_held_out_views():
    mesh = o3d.geometry.TriangleMesh.create_sphere(0.1, resolution=20)
    verts = np.asarray(mesh.vertices)
    mesh.vertex_colors = o3d.utility.Vector3dVector(np.where(verts[:, 2:] > 0, [0.9, 0.1, 0.1], [0.1, 0.1, 0.9]))
    fitted = fit_gaussians(mesh, count=800, iterations=40, views=8, size=40)
    test_cams = orbit_cameras((0, 0, 0), 0.1, 3, 40, 40, elevation_deg=(-10, 20), seed=99)
    rgb, mask = raycast_render(mesh, test_cams)
    out = render(fitted, test_cams, backend="cpu")
    init = render(initial_gaussians(mesh, 800), test_cams, backend="cpu")
    err, err_init = (out.rgb - rgb).abs().mean().item(), (init.rgb - rgb).abs().mean().item()
    assert err < 0.06 and err <= err_init
    inter = ((out.alpha > 0.5) & (mask > 0.5)).sum().item()
    union = ((out.alpha > 0.5) | (mask > 0.5)).sum().item()
    assert inter / union > 0.9


def test_empty_and_nan_objects_raise():
    with pytest.raises(ChordError, match="no points"):
        scene_from_scans([Scan("empty", np.zeros((0, 3), np.float32))])
    pts = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float32)
    pts[3, 1] = np.nan
    with pytest.raises(ChordError, match="NaN"):
        scene_from_scans([Scan("nan", pts)])
    with pytest.raises(ChordError, match="at least one"):
        scene_from_scans([])


def test_mesh_without_faces_raises(tmp_path):
    path = tmp_path / "verts.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    with pytest.raises(ChordError, match="no faces"):
        load_scene([str(path)])
    empty = o3d.geometry.TriangleMesh()
    with pytest.raises(ChordError, match="no faces"):
        object_from_mesh(empty, "empty")


def test_open_mesh_falls_back_to_unsigned_distance(caplog):
    mesh = o3d.geometry.TriangleMesh.create_box(0.2, 0.2, 0.2)
    mesh.triangles = o3d.utility.Vector3iVector(np.asarray(mesh.triangles)[:-2])  # remove one face: open box
    with caplog.at_level(logging.WARNING):
        obj = object_from_mesh(mesh, "open_box", budget=200, iterations=0)
    assert not obj.signed and "not watertight" in caplog.text
    assert np.all(obj.distance(np.array([[0.1, 0.1, 0.1]])) > 0)  # unsigned: no "inside"
    cands = obj.control_point_candidates()
    assert len(cands) > 100 and np.all(obj.unsigned_distance(cands) <= 0.05)
    motion = SceneMotion.from_scene(type("S", (), {"objects": [obj]})(), MotionConfig(num_frames=3, num_coarse=8,
                                                                                      num_fine=16))
    pos, _ = motion.deform(obj.gaussians.means, 0, [0, 2])
    assert torch.isfinite(pos).all()


def test_single_point_object_is_a_documented_fallback():
    scene = scene_from_scans([Scan("dot", np.array([[0.1, 0.2, 0.3]], np.float32), np.array([[1, 0, 0]], np.float32))])
    obj = scene.objects[0]
    assert len(obj.gaussians) == 1 and torch.allclose(obj.gaussians.scales, torch.full((1, 3), SINGLE_POINT_SCALE))
    samples, _ = obj.near_surface_samples()
    assert np.allclose(samples, [[0.1, 0.2, 0.3]])
    motion = SceneMotion.from_scene(scene, MotionConfig(num_frames=4))
    assert len(motion.objects[0].coarse.control_points) == 1
    with torch.no_grad():
        motion.objects[0].coarse.deformation.translation_nodes.fill_(0.1)
    pos, _ = motion.deform(obj.gaussians.means, 0, [0, 1, 3])
    assert torch.isfinite(pos).all() and torch.allclose(pos[0], obj.gaussians.means)
    out = render(scene.gaussians, orbit_cameras((0.1, 0.2, 0.3), 0.05, 1, 16, 16, seed=0))
    assert torch.isfinite(out.rgb).all() and out.alpha.max() > 0.5
