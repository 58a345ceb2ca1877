"""Collision checking of arm motions with the URDF's collision geometry (pinocchio GeometryModel + coal).

The arm's collision geometry is read from the robot URDF (`pin.buildGeomFromUrdf`, the full
model with its finger joints, so an open gripper is as wide as it is); each mesh is replaced by
its convex hull (conservative, and coal's GJK on convex shapes is ~10x faster than on meshes).
It is checked against

* the table: a coal half-space below ``table_height``;
* obstacles: each scanned cloud that is not the object being moved, as its convex hull (a solid,
  conservative for non-convex objects);
* itself: every pair of links that are not neighbours in the kinematic chain and are apart in
  the home configuration (the meshes of a URDF overlap at their joints).

Geometry fixed to the base (the arm's first link) never moves and is not checked.

The check is continuous (conservative advancement): at a sample with clearance d (the smallest
distance of any checked pair) the next sample is placed where no point of the arm has moved
more than δ = max((d − m) / 2, m / 2), m = ``collision_margin``. Two bodies then come at most 2δ
closer in between, so the clearance stays ≥ m (far from anything) or > 0 (near something) on
the whole path, and every sample keeps m. How far points move is bounded by Σ |Δq_j| r_j, r_j
the largest distance from joint j to a collision vertex it carries (chain offsets plus the link
hull's extent, `_joint_reach`), plus half the change of the gripper opening.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.model import RobotModel

TABLE = "table"


@dataclass(frozen=True)
class Contact:
    """Where a path first comes closer than the margin: waypoint index + fraction, the two bodies,
    their distance there (m; negative = overlapping)."""

    waypoint: int
    fraction: float
    first: str
    second: str
    distance: float

    def describe(self, margin: float) -> str:
        where = "at the waypoint" if self.fraction == 0.0 else f"{self.fraction:.0%} of the way to the next one"
        gap = "overlaps" if self.distance <= 0 else f"comes within {self.distance * 1000:.1f} mm of"
        return f"{self.first} {gap} {self.second} ({where}; the collision margin is {margin * 1000:.1f} mm)"


def convex_hull(points: np.ndarray, name: str):
    """A coal.Convex solid around a cloud (obstacles) or a mesh's vertices (links).

    A cloud too small or flat for a 3D hull is thickened by 1 mm cubes around its points."""
    import coal
    from scipy.spatial import ConvexHull, QhullError

    points = np.asarray(points, float).reshape(-1, 3)
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points) == 0:
        raise ChordError(f"'{name}' has no finite points to build its collision hull from")
    try:
        vertices = points[ConvexHull(points).vertices]
    except (QhullError, ValueError):
        cube = np.array([[x, y, z] for x in (-1e-3, 1e-3) for y in (-1e-3, 1e-3) for z in (-1e-3, 1e-3)])
        thick = (points[:, None] + cube[None]).reshape(-1, 3)
        vertices = thick[ConvexHull(thick).vertices]
    vector = coal.StdVec_Vec3s()
    for vertex in vertices:
        vector.append(vertex)
    return coal.Convex.convexHull(vector, False, None)


@dataclass(frozen=True)
class RobotGeometry:
    """The robot's part of every check, built once per robot (URDF parsing and 13 mesh hulls take
    ~0.1 s, as long as checking a whole plan): the full pinocchio model, its collision geometry
    with hulls, the arm and finger joint indices, the per-joint reach and the self-collision pairs."""

    full: object  # pinocchio Model with the finger joints
    geometry: object  # pinocchio GeometryModel: the moving links' hulls (copied for each checker)
    links: tuple[int, ...]  # geometry indices of the moving links
    arm_index: np.ndarray
    finger_index: np.ndarray
    reach: np.ndarray
    self_pairs: tuple[tuple[int, int], ...]


@functools.lru_cache(maxsize=4)
def robot_geometry(urdf: str, arm_joints: tuple[str, ...], finger_joints: tuple[str, ...], margin: float,
                   home: tuple[float, ...]) -> RobotGeometry:
    """The robot's collision set-up for a URDF, its joints, the margin and the home configuration
    (which decides the self pairs); cached, so a planner builds it once."""
    import coal
    import pinocchio as pin

    full = pin.buildModelFromUrdf(urdf)
    folder = Path(urdf).resolve().parent
    try:
        geometry = pin.buildGeomFromUrdf(full, urdf, pin.COLLISION, package_dirs=[str(folder), str(folder.parent)])
    except Exception as exc:  # pinocchio raises ValueError/RuntimeError on missing meshes
        raise ChordError(f"could not load the collision meshes of {urdf}: {exc}; the URDF's mesh paths "
                         "must resolve next to it or through ROS_PACKAGE_PATH") from exc
    links = tuple(i for i, g in enumerate(geometry.geometryObjects) if g.parentJoint > 0)
    for index in links:
        obj = geometry.geometryObjects[index]
        if isinstance(obj.geometry, coal.BVHModelBase):
            obj.geometry = convex_hull(obj.geometry.vertices(), obj.name)
    if not links:
        raise ChordError(f"the URDF {urdf} has no collision geometry on moving links")
    joints = [full.getJointId(n) for n in arm_joints]
    arm_index = np.array([full.idx_qs[j] for j in joints])
    finger_index = np.array([full.idx_qs[full.getJointId(n)] for n in finger_joints if full.existJointName(n)], int)
    reach = _joint_reach(full, geometry, joints, links, finger_index)
    q_home = pin.neutral(full)
    q_home[arm_index] = home
    return RobotGeometry(full, geometry, links, arm_index, finger_index, reach,
                         _self_pairs(full, geometry, links, q_home, margin))


def _joint_reach(full, geometry, arm_joints: list[int], links: tuple[int, ...], finger_index: np.ndarray) -> np.ndarray:
    """[n] for each arm joint: an upper bound on the distance from its origin to any collision
    vertex it moves (chain offsets to each link plus the link mesh's radius), in metres."""
    radius = {}
    for index in links:
        obj = geometry.geometryObjects[index]
        shape = obj.geometry
        shape.computeLocalAABB()
        corners = np.array([[x, y, z] for x in (shape.aabb_local.min_[0], shape.aabb_local.max_[0])
                            for y in (shape.aabb_local.min_[1], shape.aabb_local.max_[1])
                            for z in (shape.aabb_local.min_[2], shape.aabb_local.max_[2])])
        extent = np.linalg.norm(corners @ obj.placement.rotation.T + obj.placement.translation, axis=1).max()
        radius[obj.parentJoint] = max(radius.get(obj.parentJoint, 0.0), float(extent))
    finger_travel = 0.0 if len(finger_index) == 0 else full.upperPositionLimit[finger_index].max()
    reach = []
    for joint in arm_joints:
        best = 0.0
        for child, extent in radius.items():
            offset, node = 0.0, child
            while node > joint:  # up the chain; joint ids grow away from the base
                offset += float(np.linalg.norm(full.jointPlacements[node].translation))
                node = full.parents[node]
            if node == joint:
                best = max(best, offset + extent + finger_travel)
        reach.append(best)
    return np.array(reach)


def _self_pairs(full, geometry, links: tuple[int, ...], q_home: np.ndarray,
                margin: float) -> tuple[tuple[int, int], ...]:
    """Pairs of link geometries on joints that are neither the same nor parent and child, and that
    are apart (by more than the margin) in the home configuration."""
    import coal
    import pinocchio as pin

    placements = pin.GeometryData(geometry)
    pin.updateGeometryPlacements(full, full.createData(), geometry, placements, q_home)
    objects = geometry.geometryObjects

    def transform(i: int):
        return coal.Transform3s(placements.oMg[i].rotation, placements.oMg[i].translation)

    request = coal.CollisionRequest()
    request.security_margin = margin
    pairs = []
    for i, a in enumerate(links):
        for b in links[i + 1:]:
            ja, jb = objects[a].parentJoint, objects[b].parentJoint
            if ja == jb or full.parents[ja] == jb or full.parents[jb] == ja:
                continue
            if coal.collide(objects[a].geometry, transform(a), objects[b].geometry, transform(b), request,
                            coal.CollisionResult()) == 0:
                pairs.append((a, b))
    return tuple(pairs)


class CollisionChecker:
    """The arm's collision meshes against a table, obstacle hulls and themselves."""

    def __init__(self, model: RobotModel, obstacles: dict[str, np.ndarray] | None = None,
                 margin: float | None = None) -> None:
        import coal
        import pinocchio as pin

        self._pin = pin
        cfg = model.config
        self.margin = cfg.collision_margin if margin is None else float(margin)
        robot = robot_geometry(cfg.resolved_urdf(), tuple(cfg.arm_joints), tuple(cfg.finger_joints), self.margin,
                               tuple(float(v) for v in model.home))
        self.full, self.arm_index, self.finger_index, self.reach = (robot.full, robot.arm_index, robot.finger_index,
                                                                    robot.reach)
        self.geometry = robot.geometry.copy()  # this checker's table and obstacles go into its own copy

        def add(name: str, shape) -> int:
            return self.geometry.addGeometryObject(pin.GeometryObject(name, 0, 0, pin.SE3.Identity(), shape))

        world = [add(TABLE, coal.Halfspace(np.array([0.0, 0.0, 1.0]), float(cfg.table_height)))]
        world += [add(f"obstacle '{name}'", convex_hull(cloud, name)) for name, cloud in (obstacles or {}).items()]
        for index in robot.links:
            for other in world:
                self.geometry.addCollisionPair(pin.CollisionPair(index, other))
        for a, b in robot.self_pairs:
            self.geometry.addCollisionPair(pin.CollisionPair(a, b))
        self.data = self.full.createData()
        self.geometry_data = pin.GeometryData(self.geometry)

    def _full_q(self, q: np.ndarray, width: float) -> np.ndarray:
        full = self._pin.neutral(self.full)
        full[self.arm_index] = q
        full[self.finger_index] = width / 2.0
        return full

    # -- checks ---------------------------------------------------------------------------
    def clearance(self, q: np.ndarray, width: float) -> tuple[float, str, str]:
        """Smallest distance (m) of any checked pair at one configuration, and that pair's names."""
        pin = self._pin
        pin.computeDistances(self.full, self.data, self.geometry, self.geometry_data,
                             self._full_q(np.asarray(q, float), float(width)))
        distances = [result.min_distance for result in self.geometry_data.distanceResults]
        k = int(np.argmin(distances))
        pair = self.geometry.collisionPairs[k]
        objects = self.geometry.geometryObjects
        return float(distances[k]), objects[pair.first].name, objects[pair.second].name

    def travel(self, q_a: np.ndarray, q_b: np.ndarray, width_change: float = 0.0) -> float:
        """Upper bound (m) on how far any collision vertex moves from q_a to q_b (straight in joints)."""
        step = np.abs(np.asarray(q_b, float) - np.asarray(q_a, float))
        return float(step @ self.reach) + abs(width_change) / 2.0

    def first_contact(self, positions: np.ndarray, widths: np.ndarray) -> Contact | None:
        """Check a joint path [K, n] with gripper openings [K] (linear in between) continuously."""
        positions, widths = np.asarray(positions, float), np.asarray(widths, float)
        m = self.margin
        for k in range(len(positions)):
            last = k + 1 == len(positions)
            q_a, q_b = positions[k], positions[k if last else k + 1]
            w_a, w_b = widths[k], widths[k if last else k + 1]
            total = self.travel(q_a, q_b, w_b - w_a)
            t = 0.0
            while True:
                distance, first, second = self.clearance((1 - t) * q_a + t * q_b, (1 - t) * w_a + t * w_b)
                if distance < m:
                    return Contact(k, t, first, second, distance)
                if last or total == 0.0:
                    break
                t += max((distance - m) / 2, m / 2) / total
                if t >= 1.0:
                    break
        return None
