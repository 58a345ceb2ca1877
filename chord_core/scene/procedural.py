"""Procedural scanned objects: what a depth scanner sees of simple shapes on a table.

Points are sampled uniformly (area-weighted) on the outer faces of a shape, faces hidden by the
table or by a touching part left out; colours come from a smooth 3D texture so motion is visible
to a photometric teacher. Shared by the known-motion scenarios (`scene.scenarios`) and the
robot's synthetic flows (`robot.flow_cases`) and the mini prior's training objects
(`shape_cloud`: boxes, cylinders, L-shapes, slabs, chests with hinged lids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chord_core.errors import ChordError

# A face: (centre, u half-axis, v half-axis). Points are centre + a*u + b*v, a, b in [-1, 1].
Face = tuple[np.ndarray, np.ndarray, np.ndarray]


def box_faces(centre, size, skip: tuple[str, ...] = ()) -> list[Face]:
    """The faces of an axis-aligned box, named +x -x +y -y +z -z; `skip` drops hidden ones."""
    c, h = np.asarray(centre, float), np.asarray(size, float) / 2
    ex, ey, ez = np.eye(3)
    faces = {
        "+x": (c + h[0] * ex, h[1] * ey, h[2] * ez), "-x": (c - h[0] * ex, h[1] * ey, h[2] * ez),
        "+y": (c + h[1] * ey, h[0] * ex, h[2] * ez), "-y": (c - h[1] * ey, h[0] * ex, h[2] * ez),
        "+z": (c + h[2] * ez, h[0] * ex, h[1] * ey), "-z": (c - h[2] * ez, h[0] * ex, h[1] * ey),
    }
    return [face for name, face in faces.items() if name not in skip]


def sample_faces(faces: list[Face], count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` points uniformly over the union of faces (area-weighted)."""
    areas = np.array([4 * np.linalg.norm(np.cross(u, v)) for _, u, v in faces])
    which = rng.choice(len(faces), size=count, p=areas / areas.sum())
    ab = rng.uniform(-1, 1, size=(count, 2))
    centres, us, vs = (np.stack([f[k] for f in faces])[which] for k in range(3))
    return centres + ab[:, :1] * us + ab[:, 1:] * vs


def texture(points: np.ndarray, base: tuple[float, float, float], period: float = 0.03) -> np.ndarray:
    """A smooth procedural texture around a base colour: stripes in 3D with a period in metres."""
    phase = 2 * np.pi * points / period
    pattern = 0.5 + 0.25 * np.sin(phase[:, 0] + 0.7 * phase[:, 2]) + 0.25 * np.cos(phase[:, 1] - 0.4 * phase[:, 2])
    colours = np.asarray(base)[None, :] * (0.55 + 0.45 * pattern[:, None])
    return np.clip(colours, 0.0, 1.0).astype(np.float32)


def box_cloud(size: tuple[float, float, float], center_xy: tuple[float, float], n: int,
              seed: int = 0, table_height: float = 0.0) -> np.ndarray:
    """[n, 3] points uniform on all six faces of an axis-aligned box standing on the table."""
    centre = (center_xy[0], center_xy[1], table_height + size[2] / 2)
    by_name = dict(zip(("+x", "-x", "+y", "-y", "+z", "-z"), box_faces(centre, size)))
    # the face order the synthetic test cases were generated in
    faces = [by_name[name] for name in ("-x", "+x", "-y", "+y", "-z", "+z")]
    return sample_faces(faces, n, np.random.default_rng(seed)).astype(np.float32)


def cylinder_cloud(radius: float, height: float, center_xy: tuple[float, float], n: int,
                   seed: int = 0, table_height: float = 0.0) -> np.ndarray:
    """[n, 3] points on the outer wall and the top rim disc of an upright cylinder (a mug body)."""
    rng = np.random.default_rng(seed)
    wall = 2 * np.pi * radius * height
    cap = np.pi * radius**2
    on_wall = rng.uniform(size=n) < wall / (wall + 2 * cap)
    theta = rng.uniform(0, 2 * np.pi, n)
    r = np.where(on_wall, radius, radius * np.sqrt(rng.uniform(size=n)))
    z = np.where(on_wall, rng.uniform(0, height, n), np.where(rng.uniform(size=n) < 0.5, 0.0, height))
    pts = np.stack([center_xy[0] + r * np.cos(theta), center_xy[1] + r * np.sin(theta),
                    table_height + z], axis=1)
    return pts.astype(np.float32)


SHAPES = ("box", "cylinder", "l_shape", "slab", "chest")


@dataclass
class ShapeCloud:
    """A scanned shape in its own frame (standing on z = 0, centred on the z axis).

    labels: part per point (0 = body; 1 = a chest's lid). hinge: for a chest, a point on the lid's
    hinge axis (the back top edge, along y) -- the lid opens by a rotation about -y through it.
    """

    points: np.ndarray
    labels: np.ndarray
    hinge: np.ndarray | None = None


def shape_cloud(kind: str, size: np.ndarray, count: int, rng: np.random.Generator,
                lid_angle: float = 0.0) -> ShapeCloud:
    """`count` points on the visible surface of a box, cylinder, L-shape, slab or lidded chest.

    size (x, y, z) in metres is the bounding box; lid_angle (radians) opens a chest's lid.
    """
    lx, ly, lz = (float(v) for v in size)
    if kind in ("box", "slab"):
        points = sample_faces(box_faces((0, 0, lz / 2), size, skip=("-z",)), count, rng)
        return ShapeCloud(points, np.zeros(count, np.int32))
    if kind == "cylinder":
        radius = 0.25 * (lx + ly)
        return ShapeCloud(cylinder_cloud(radius, lz, (0.0, 0.0), count, seed=int(rng.integers(2**31))).astype(float),
                          np.zeros(count, np.int32))
    if kind == "l_shape":  # a foot plate along x and an upright wall at its -x end
        foot, wall = 0.3 * lz, 0.3 * lx
        faces = (box_faces((0, 0, foot / 2), (lx, ly, foot), skip=("-z",))
                 + box_faces((-lx / 2 + wall / 2, 0, lz / 2), (wall, ly, lz), skip=("-z",)))
        points = sample_faces(faces, count, rng)
        return ShapeCloud(points, np.zeros(count, np.int32))
    if kind == "chest":
        lid_h = 0.3 * lz
        body_h = lz - lid_h
        n_body = count * 3 // 5
        body = sample_faces(box_faces((0, 0, body_h / 2), (lx, ly, body_h), skip=("-z", "+z")), n_body, rng)
        lid = sample_faces(box_faces((0, 0, body_h + lid_h / 2), (lx, ly, lid_h), skip=("-z",)), count - n_body, rng)
        hinge = np.array([-lx / 2, 0.0, body_h])
        if lid_angle:
            c, s = np.cos(lid_angle), np.sin(lid_angle)
            rot = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])  # about -y: the front edge rises
            lid = (lid - hinge) @ rot.T + hinge
        labels = np.r_[np.zeros(n_body), np.ones(count - n_body)].astype(np.int32)
        return ShapeCloud(np.concatenate([body, lid]), labels, hinge)
    raise ChordError(f"unknown procedural shape {kind!r}; use one of {SHAPES}")
