"""Meshes to 3D Gaussians by fitting multi-view renders (paper §3.3: "optimizing directly on
multi-view images rendered from the meshes").

Targets are rendered headless on CPU with open3d's RaycastingScene (the offscreen renderer does
not run here): per pixel the hit triangle and barycentrics give the vertex-colour or texture
colour, unlit, and the hit mask gives the target alpha. Gaussians start on uniform surface
samples with exact surface colours and are refined with Adam through ``chord_core.render.renderer``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from chord_core.errors import ChordError
from chord_core.render.cameras import Cameras, orbit_cameras
from chord_core.render.gaussians import Gaussians
from chord_core.scene.objects import DEFAULT_COLOR, SceneObject, gaussians_from_points

LOG = logging.getLogger(__name__)


def load_mesh(path: str | Path):
    """open3d TriangleMesh from .obj/.ply/.glb/...; refuses files without triangles or finite vertices."""
    import open3d as o3d

    path = Path(path)
    mesh = o3d.io.read_triangle_mesh(str(path), enable_post_processing=True)
    validate_mesh(mesh, str(path))
    return mesh


def validate_mesh(mesh, name: str) -> None:
    verts = np.asarray(mesh.vertices)
    if len(mesh.triangles) == 0:
        raise ChordError(f"mesh '{name}' has no faces ({len(verts)} vertices, 0 triangles were read); "
                         "pass a mesh with faces, or the points as a point-cloud scan (.ply/.pcd)")
    if not np.all(np.isfinite(verts)):
        raise ChordError(f"mesh '{name}' has NaN/inf vertex coordinates; repair it before animating")


def surface_colors(mesh, triangle_ids: np.ndarray, barycentric: np.ndarray) -> np.ndarray:
    """Colours [M, 3] at surface points given hit triangles [M] and open3d barycentrics (u, v) [M, 2].

    Texture (first material image, UV origin bottom-left) if present, else vertex colours, else grey.
    """
    u, v = barycentric[:, 0:1], barycentric[:, 1:2]
    w = np.concatenate((1 - u - v, u, v), 1)  # weights of the triangle's three corners
    tris = np.asarray(mesh.triangles)[triangle_ids]
    if mesh.has_textures() and mesh.has_triangle_uvs():
        uvs = np.asarray(mesh.triangle_uvs).reshape(-1, 3, 2)[triangle_ids]
        uv = (w[:, :, None] * uvs).sum(1)
        image = np.asarray(mesh.textures[0]).astype(np.float32)
        image = image / 255.0 if image.max() > 1.0 else image
        h, wd = image.shape[:2]
        rows = np.clip(((1 - uv[:, 1] % 1.0) * h).astype(int), 0, h - 1)
        cols = np.clip(((uv[:, 0] % 1.0) * wd).astype(int), 0, wd - 1)
        return image[rows, cols, :3] if image.ndim == 3 else np.repeat(image[rows, cols, None], 3, 1)
    if mesh.has_vertex_colors():
        colors = np.asarray(mesh.vertex_colors)[tris]  # [M, 3 corners, 3]
        return np.clip((w[:, :, None] * colors).sum(1), 0, 1).astype(np.float32)
    return np.full((len(triangle_ids), 3), DEFAULT_COLOR, dtype=np.float32)


def _raycaster(mesh):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    return scene


def raycast_render(mesh, cameras: Cameras, background: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Unlit colour [C, H, W, 3] (background where missed) and hit mask [C, H, W, 1] of a mesh."""
    import open3d as o3d

    scene = _raycaster(mesh)
    h, w = cameras.height, cameras.width
    ys, xs = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    pix = np.stack((xs, ys, np.ones_like(xs)), -1).reshape(-1, 3)
    rgbs, masks = [], []
    for view, k in zip(cameras.viewmats.double().numpy(), cameras.Ks.double().numpy()):
        rot, trans = view[:3, :3], view[:3, 3]
        dirs = (pix @ np.linalg.inv(k).T) @ rot  # camera rays to world (Rᵀ d, row form)
        origin = -rot.T @ trans
        rays = np.concatenate((np.broadcast_to(origin, dirs.shape), dirs), 1).astype(np.float32)
        hit = scene.cast_rays(o3d.core.Tensor(rays))
        ids = hit["primitive_ids"].numpy().astype(np.int64)
        found = np.isfinite(hit["t_hit"].numpy())
        rgb = np.full((len(rays), 3), background, dtype=np.float32)
        if found.any():
            rgb[found] = surface_colors(mesh, ids[found], hit["primitive_uvs"].numpy()[found])
        rgbs.append(rgb.reshape(h, w, 3))
        masks.append(found.reshape(h, w, 1).astype(np.float32))
    return torch.as_tensor(np.stack(rgbs)), torch.as_tensor(np.stack(masks))


def initial_gaussians(mesh, count: int, seed: int = 0) -> Gaussians:
    """Gaussians on ``count`` uniform surface samples with the exact surface colour there."""
    import open3d as o3d

    o3d.utility.random.seed(seed)
    cloud = mesh.sample_points_uniformly(number_of_points=count)
    points = np.asarray(cloud.points, dtype=np.float32)
    closest = _raycaster(mesh).compute_closest_points(o3d.core.Tensor(points))
    colors = surface_colors(mesh, closest["primitive_ids"].numpy().astype(np.int64),
                            closest["primitive_uvs"].numpy())
    return gaussians_from_points(points, colors)


def fit_gaussians(mesh, count: int = 5000, iterations: int = 150, views: int = 16, size: int = 96,
                  batch: int = 4, seed: int = 0) -> Gaussians:
    """Fit Gaussians to RaycastingScene renders of the mesh from ``views`` orbit cameras."""
    verts = np.asarray(mesh.vertices)
    centre = 0.5 * (verts.min(0) + verts.max(0))
    radius = float(max(0.5 * np.linalg.norm(verts.max(0) - verts.min(0)), 1e-4))
    cams = orbit_cameras(centre, radius, views, size, size, elevation_deg=(-30, 60), seed=seed)
    target_rgb, target_alpha = raycast_render(mesh, cams)
    init = initial_gaussians(mesh, count, seed)
    if iterations <= 0:
        return init
    from chord_core.render.renderer import render

    params = {
        "means": init.means.clone().requires_grad_(True),
        "log_scales": torch.log(init.scales).requires_grad_(True),
        "quats": init.quats.clone().requires_grad_(True),
        "opacity_logits": torch.logit(init.opacities).requires_grad_(True),
        "color_logits": torch.logit(init.colors.clamp(1e-3, 1 - 1e-3)).requires_grad_(True),
    }
    lr = {"means": 0.02 * radius / 10, "log_scales": 0.005, "quats": 0.001, "opacity_logits": 0.05,
          "color_logits": 0.02}
    opt = torch.optim.Adam([{"params": [v], "lr": lr[k]} for k, v in params.items()])
    gen = torch.Generator().manual_seed(seed)
    for _ in range(iterations):
        pick = torch.randperm(views, generator=gen)[:batch]
        g = init.replace(means=params["means"], scales=torch.exp(params["log_scales"]), quats=params["quats"],
                         opacities=torch.sigmoid(params["opacity_logits"]),
                         colors=torch.sigmoid(params["color_logits"]))
        out = render(g, cams[pick], backend="cpu")
        loss = (out.rgb - target_rgb[pick]).abs().mean() + (out.alpha - target_alpha[pick]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return init.replace(means=params["means"].detach().clone(), scales=torch.exp(params["log_scales"]).detach(),
                            quats=torch.nn.functional.normalize(params["quats"].detach(), dim=1),
                            opacities=torch.sigmoid(params["opacity_logits"]).detach(),
                            colors=torch.sigmoid(params["color_logits"]).detach())


def object_from_mesh(mesh, name: str, budget: int = 5000, iterations: int = 150) -> SceneObject:
    """A mesh object: fitted Gaussians, vertices as source points, SDF if watertight."""
    validate_mesh(mesh, name)
    mesh.remove_duplicated_vertices()
    signed = bool(mesh.is_watertight())
    if not signed:
        LOG.warning("mesh '%s' is not watertight: using unsigned distance; control points come from the "
                    "near-surface band instead of the interior", name)
    gaussians = fit_gaussians(mesh, count=budget, iterations=iterations)
    colors = np.asarray(mesh.vertex_colors, dtype=np.float32) if mesh.has_vertex_colors() else None
    return SceneObject(name=name, gaussians=gaussians, source_points=np.asarray(mesh.vertices, dtype=np.float32),
                       source_colors=colors, mesh=mesh, signed=signed)


def object_from_mesh_file(path: str | Path, budget: int = 5000, iterations: int = 150) -> SceneObject:
    return object_from_mesh(load_mesh(path), Path(path).stem, budget, iterations)
