"""Soft objects: a rope simulated as a chain of MuJoCo flex nodes, described beside its scan.

A scan `rope.ply` may have `rope.soft.yaml` beside it; the planner then holds the rope at one
point (the region its flow leads with) instead of carrying it rigidly, and the simulator builds it
as a 1-D MuJoCo flex (nodes joined by length-keeping edges, capsules of `radius` for contact)
instead of a rigid hull. Keys (metres, kilograms)::

    kind: rope            # the only soft kind so far: a chain along the scan's long axis
    radius: 0.015         # the rope's cross-section radius
    mass: 0.1             # the whole rope
    node_spacing: 0.035   # between simulated nodes; more than 2 x radius (MuJoCo's flex needs it)

Nodes sit at the mean of the scanned points of each stretch along the rope's principal axis, so a
gently curved rope keeps its shape; each scanned point rides on its nearest node, its offset turned
as the rope's direction there turns (the smallest rotation between the two directions; no twist).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from chord_core.errors import ChordError
from chord_core.formats.config_files import read_description

SOFT_SUFFIX = ".soft.yaml"
MIN_NODES = 3


@dataclass(frozen=True)
class SoftDescription:
    kind: Literal["rope"]
    radius: float
    mass: float
    node_spacing: float


@dataclass(frozen=True)
class SoftRope:
    """A rope as the simulator builds it: nodes at the scanned pose and where each scanned point
    sits relative to them."""

    nodes: np.ndarray  # [V, 3] at the scanned pose, in order along the rope
    radius: float
    mass: float
    point_nodes: np.ndarray  # [N] nearest node of each scanned point
    offsets: np.ndarray  # [N, 3] scanned point minus its node

    @classmethod
    def from_points(cls, points: np.ndarray, radius: float, mass: float, node_spacing: float) -> SoftRope:
        """Nodes every ~`node_spacing` along the cloud's principal axis (the stretch's mean point)."""
        if radius <= 0 or mass <= 0:
            raise ChordError(f"a rope needs radius > 0 and mass > 0; got radius {radius}, mass {mass}")
        if node_spacing <= 2.0 * radius:
            raise ChordError(f"node_spacing {node_spacing} m must exceed the rope's diameter {2 * radius} m "
                             f"(MuJoCo's flex capsules may not overlap their neighbours' nodes)")
        pts = np.asarray(points, float).reshape(-1, 3)
        centre = pts.mean(axis=0)
        axis = np.linalg.svd(pts - centre, full_matrices=False)[2][0]
        along = (pts - centre) @ axis
        length = float(along.max() - along.min())
        count = int(round(length / node_spacing)) + 1
        if count < MIN_NODES:
            raise ChordError(f"the rope is {length:.3f} m long: at node_spacing {node_spacing} m it has "
                             f"{count} nodes, fewer than {MIN_NODES}")
        stretch = np.minimum(((along - along.min()) / length * (count - 1) + 0.5).astype(int), count - 1)
        if missing := sorted(set(range(count)) - set(stretch.tolist())):
            raise ChordError(f"the rope's scan has a gap: no points near nodes {missing}; lower node_spacing "
                             f"or rescan")
        nodes = np.array([pts[stretch == k].mean(axis=0) for k in range(count)])
        return cls.with_nodes(nodes, radius, mass, pts)

    @classmethod
    def with_nodes(cls, nodes: np.ndarray, radius: float, mass: float, points: np.ndarray) -> SoftRope:
        """A rope with the given nodes, carrying `points` (each by its nearest node)."""
        from scipy.spatial import cKDTree

        pts = np.asarray(points, float).reshape(-1, 3)
        nearest = cKDTree(nodes).query(pts)[1]
        return cls(np.asarray(nodes, float), float(radius), float(mass), nearest, pts - nodes[nearest])

    def carrying(self, points: np.ndarray) -> SoftRope:
        """The same rope carrying other points (a flow's frame-0 points instead of the scan)."""
        return SoftRope.with_nodes(self.nodes, self.radius, self.mass, points)

    def points_at(self, nodes: np.ndarray) -> np.ndarray:
        """[N, 3] the carried points when the nodes are at `nodes` [V, 3]."""
        nodes = np.asarray(nodes, float)
        turns = _aligning_rotations(tangents(self.nodes), tangents(nodes))[self.point_nodes]
        return nodes[self.point_nodes] + np.einsum("nij,nj->ni", turns, self.offsets)

    def flex_xml(self, name: str, friction: float, damping: float) -> str:
        """MJCF of the rope as a 1-D flexcomp: bodies `<name>_<i>` at the nodes."""
        point = " ".join(f"{v:.6f}" for v in self.nodes.ravel())
        element = " ".join(f"{i} {i + 1}" for i in range(len(self.nodes) - 1))
        return (f'<mujoco><worldbody><flexcomp type="direct" dim="1" name="{name}" radius="{self.radius}" '
                f'mass="{self.mass}" point="{point}" element="{element}" rgba="0.9 0.6 0.2 1">'
                f'<contact condim="3" selfcollide="none" friction="{friction} 0.005 0.0001"/>'
                f'<edge equality="true" damping="{damping}"/></flexcomp></worldbody></mujoco>')


def tangents(nodes: np.ndarray) -> np.ndarray:
    """[V, 3] the rope's unit direction at each node (central differences; one-sided at the ends)."""
    ahead = np.gradient(np.asarray(nodes, float), axis=0)
    return ahead / np.maximum(np.linalg.norm(ahead, axis=1, keepdims=True), 1e-12)


def _aligning_rotations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[V, 3, 3] the smallest rotations taking unit vectors a[i] to b[i] (Rodrigues; a half turn
    about an axis normal to a[i] when they are opposite)."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=1)
    cos = np.einsum("ni,ni->n", a, b)
    fallback = np.cross(a, np.where(np.abs(a[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]]))
    axis = np.where(sin[:, None] > 1e-9, axis, fallback)
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = np.arctan2(sin, cos)
    k = np.zeros((len(a), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= k.transpose(0, 2, 1)
    return (np.eye(3) + np.sin(angle)[:, None, None] * k
            + (1.0 - np.cos(angle))[:, None, None] * np.einsum("nij,njk->nik", k, k))


def soft_file(scan_path: str | Path) -> Path:
    """Where a scan's soft-object description lives: `<stem>.soft.yaml` beside the scan."""
    path = Path(scan_path)
    return path.with_name(path.stem + SOFT_SUFFIX)


def load_scan_soft(scan_path: str | Path, points: np.ndarray) -> SoftRope | None:
    """The scan's rope (None when it has no description); a ChordError names the file and the fault."""
    path = soft_file(scan_path)
    description = read_description(path, SoftDescription, "soft-object description")
    if description is None:
        return None
    try:
        return SoftRope.from_points(points, description.radius, description.mass, description.node_spacing)
    except ChordError as error:
        raise ChordError(f"{path}: {error}") from error


def drag_rope(rope: SoftRope, lead: int, path: np.ndarray, fps: float, table_height: float,
              table_friction: float, friction: float, damping: float, settle: float = 0.5,
              timestep: float = 0.002) -> np.ndarray:
    """[T, V, 3] the rope's nodes, in MuJoCo, while node `lead` is carried along `path` [T, 3]
    (world positions, one per frame at `fps`, linear in between) and after `settle` s at the end
    (the last frame): the known motion of a rope case. The table and contact settings are those
    `sim.build_model` uses."""
    import mujoco

    spec = mujoco.MjSpec.from_string(
        f'<mujoco><option timestep="{timestep}" integrator="implicitfast" cone="elliptic"/><worldbody>'
        f'<geom type="plane" size="2 2 0.1" pos="0 0 {table_height}" friction="{table_friction} 0.005 0.0001" '
        f'priority="1"/><body name="carrier" mocap="true" pos="{" ".join(map(str, rope.nodes[lead]))}"/>'
        f'</worldbody><equality><connect body1="carrier" body2="dragged_rope_{lead}" anchor="0 0 0"/>'
        f'</equality></mujoco>')
    spec.attach(mujoco.MjSpec.from_string(rope.flex_xml("rope", friction, damping)),
                frame=spec.worldbody.add_frame(), prefix="dragged_")
    model = spec.compile()
    data = mujoco.MjData(model)
    bodies = np.array([model.body(f"dragged_rope_{k}").id for k in range(len(rope.nodes))])
    path = np.asarray(path, float)
    steps = max(1, int(round(1.0 / (fps * timestep))))
    data.mocap_pos[0] = path[0]
    mujoco.mj_forward(model, data)
    frames = [data.xpos[bodies].copy()]
    for t in range(1, len(path)):
        for k in range(1, steps + 1):
            data.mocap_pos[0] = path[t - 1] + (path[t] - path[t - 1]) * k / steps
            mujoco.mj_step(model, data)
        frames.append(data.xpos[bodies].copy())
    for _ in range(int(round(settle / timestep))):
        mujoco.mj_step(model, data)
    frames[-1] = data.xpos[bodies].copy()
    return np.array(frames)
