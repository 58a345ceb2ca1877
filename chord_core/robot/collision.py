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


class CollisionChecker:
    """The arm's collision meshes against a table, obstacle hulls and themselves."""

    def __init__(self, model: RobotModel, obstacles: dict[str, np.ndarray] | None = None,
                 margin: float | None = None) -> None:
        import coal
        import pinocchio as pin

        self._pin = pin
        cfg = model.config
        self.margin = cfg.collision_margin if margin is None else float(margin)
        urdf = cfg.resolved_urdf()
        self.full = pin.buildModelFromUrdf(urdf)
        folder = Path(urdf).resolve().parent
        try:
            self.geometry = pin.buildGeomFromUrdf(self.full, urdf, pin.COLLISION,
                                                  package_dirs=[str(folder), str(folder.parent)])
        except Exception as exc:  # pinocchio raises ValueError/RuntimeError on missing meshes
            raise ChordError(f"could not load the collision meshes of {urdf}: {exc}; the URDF's mesh paths "
                             "must resolve next to it or through ROS_PACKAGE_PATH") from exc
        robot_geometries = [i for i, g in enumerate(self.geometry.geometryObjects) if g.parentJoint > 0]
        for index in robot_geometries:
            obj = self.geometry.geometryObjects[index]
            if isinstance(obj.geometry, coal.BVHModelBase):
                obj.geometry = convex_hull(obj.geometry.vertices(), obj.name)
        if not robot_geometries:
            raise ChordError(f"the URDF {urdf} has no collision geometry on moving links")
        arm_joints = [self.full.getJointId(n) for n in cfg.arm_joints]
        self.arm_index = np.array([self.full.idx_qs[j] for j in arm_joints])
        self.finger_index = np.array([self.full.idx_qs[self.full.getJointId(n)] for n in cfg.finger_joints
                                      if self.full.existJointName(n)], int)
        self.reach = self._joint_reach(arm_joints, robot_geometries)

        def add(name: str, shape) -> int:
            return self.geometry.addGeometryObject(pin.GeometryObject(name, 0, 0, pin.SE3.Identity(), shape))

        world = [add(TABLE, coal.Halfspace(np.array([0.0, 0.0, 1.0]), float(cfg.table_height)))]
        world += [add(f"obstacle '{name}'", convex_hull(cloud, name)) for name, cloud in (obstacles or {}).items()]
        self.data = self.full.createData()
        q_home = self._full_q(model.home, 0.0)
        for index in robot_geometries:
            for other in world:
                self.geometry.addCollisionPair(pin.CollisionPair(index, other))
        self.self_pairs = self._self_pairs(robot_geometries, q_home)
        for a, b in self.self_pairs:
            self.geometry.addCollisionPair(pin.CollisionPair(a, b))
        self.geometry_data = pin.GeometryData(self.geometry)

    # -- set-up ---------------------------------------------------------------------------
    def _full_q(self, q: np.ndarray, width: float) -> np.ndarray:
        full = self._pin.neutral(self.full)
        full[self.arm_index] = q
        full[self.finger_index] = width / 2.0
        return full

    def _joint_reach(self, arm_joints: list[int], geometries: list[int]) -> np.ndarray:
        """[n] for each arm joint: an upper bound on the distance from its origin to any collision
        vertex it moves (chain offsets to each link plus the link mesh's radius), in metres."""
        model, geometry = self.full, self.geometry
        radius = {}
        for index in geometries:
            obj = geometry.geometryObjects[index]
            shape = obj.geometry
            shape.computeLocalAABB()
            corners = np.array([[x, y, z] for x in (shape.aabb_local.min_[0], shape.aabb_local.max_[0])
                                for y in (shape.aabb_local.min_[1], shape.aabb_local.max_[1])
                                for z in (shape.aabb_local.min_[2], shape.aabb_local.max_[2])])
            extent = np.linalg.norm(corners @ obj.placement.rotation.T + obj.placement.translation, axis=1).max()
            radius[obj.parentJoint] = max(radius.get(obj.parentJoint, 0.0), float(extent))
        finger_travel = 0.0 if len(self.finger_index) == 0 else self.full.upperPositionLimit[self.finger_index].max()
        reach = []
        for joint in arm_joints:
            best = 0.0
            for child, extent in radius.items():
                offset, node = 0.0, child
                while node > joint:  # up the chain; joint ids grow away from the base
                    offset += float(np.linalg.norm(model.jointPlacements[node].translation))
                    node = model.parents[node]
                if node == joint:
                    best = max(best, offset + extent + finger_travel)
            reach.append(best)
        return np.array(reach)

    def _self_pairs(self, geometries: list[int], q_home: np.ndarray) -> list[tuple[int, int]]:
        """Pairs of robot geometries on joints that are neither the same nor parent and child, and
        that are apart in the home configuration."""
        pin, model, geometry = self._pin, self.full, self.geometry
        placements = pin.GeometryData(geometry)
        pin.updateGeometryPlacements(model, model.createData(), geometry, placements, q_home)
        pairs = []
        for i, a in enumerate(geometries):
            for b in geometries[i + 1:]:
                ja, jb = geometry.geometryObjects[a].parentJoint, geometry.geometryObjects[b].parentJoint
                if ja == jb or model.parents[ja] == jb or model.parents[jb] == ja:
                    continue
                if not self._within_margin(a, b, placements):
                    pairs.append((a, b))
        return pairs

    def _within_margin(self, a: int, b: int, placements) -> bool:
        import coal

        request = coal.CollisionRequest()
        request.security_margin = self.margin
        result = coal.CollisionResult()
        objects = self.geometry.geometryObjects

        def transform(i: int):
            return coal.Transform3s(placements.oMg[i].rotation, placements.oMg[i].translation)

        return coal.collide(objects[a].geometry, transform(a), objects[b].geometry, transform(b), request, result) > 0

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
