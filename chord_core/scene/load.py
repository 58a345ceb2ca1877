"""Scene files to a :class:`Scene`: each file is a scan or a mesh, decided by its suffix.

Scans become Gaussians directly (``chord_core.scene.objects``); meshes (.obj/.glb/.gltf/.off/.stl,
or .ply with faces) get Gaussians fitted to multi-view renders (``chord_core.scene.mesh_fit``),
as the paper converts meshes to 3D-GS (§3.3).
"""

from __future__ import annotations

from pathlib import Path

from chord_core.errors import ChordError
from chord_core.formats.scans import load_scan
from chord_core.scene.mesh_fit import object_from_mesh_file
from chord_core.scene.objects import DEFAULT_GAUSSIANS_PER_OBJECT, Scene, object_from_scan

MESH_SUFFIXES = (".obj", ".glb", ".gltf", ".off", ".stl")


def _ply_has_faces(path: Path) -> bool:
    with open(path, "rb") as handle:
        header = handle.read(4096).split(b"end_header")[0]
    for line in header.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == b"element" and parts[1] == b"face":
            return int(parts[2]) > 0
    return False


def load_scene(paths: list[str], budget: int = DEFAULT_GAUSSIANS_PER_OBJECT, mesh_fit_iterations: int = 150) -> Scene:
    """Load objects: the suffix decides (a .ply with a face element is a mesh, else a scan)."""
    if not paths:
        raise ChordError("load_scene: give at least one scan or mesh file")
    objects = []
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise ChordError(f"scene file not found: {path}")
        suffix = path.suffix.lower()
        is_mesh = suffix in MESH_SUFFIXES or (suffix == ".ply" and _ply_has_faces(path))
        if is_mesh:
            objects.append(object_from_mesh_file(path, budget=budget, iterations=mesh_fit_iterations))
        else:
            objects.append(object_from_scan(load_scan(path), budget))
    return Scene(objects)
