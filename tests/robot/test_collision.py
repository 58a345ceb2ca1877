"""The continuous collision check: against brute-force dense sampling, independent mesh geometry and
known contacts (a folded arm, an obstacle on the path, a carry through a tower)."""

from pathlib import Path

import coal
import numpy as np
import pinocchio as pin
import pytest

from chord_core.robot import flow_cases
from chord_core.robot.collision import CollisionChecker
from chord_core.robot.planner import plan_flow
from chord_core.robot.safety import PlanRefused
from chord_core.scene.procedural import box_cloud


@pytest.fixture(scope="module")
def meshes(panda):
    """The URDF's collision meshes as loaded (BVH), with their model: an independent reference."""
    urdf = panda.config.resolved_urdf()
    model = pin.buildModelFromUrdf(urdf)
    geometry = pin.buildGeomFromUrdf(model, urdf, pin.COLLISION, package_dirs=[str(Path(urdf).parent)])
    return model, geometry


def _full_q(model, q, width):
    return np.concatenate([q, [width / 2, width / 2]])


def test_travel_bound_covers_the_motion_of_every_mesh_vertex(panda, meshes):
    model, geometry = meshes
    data = model.createData()
    checker = CollisionChecker(panda)
    moving = [(g.parentJoint, np.asarray(g.geometry.vertices()) @ g.placement.rotation.T + g.placement.translation)
              for g in geometry.geometryObjects if g.parentJoint > 0]

    def vertices(q, width):
        pin.forwardKinematics(model, data, _full_q(model, q, width))
        return np.vstack([v @ data.oMi[j].rotation.T + data.oMi[j].translation for j, v in moving])

    rng = np.random.default_rng(3)
    for _ in range(20):
        q_a = rng.uniform(panda.lower, panda.upper)
        q_b = q_a + rng.normal(0, 0.3, panda.n)
        w_a, w_b = rng.uniform(0, 0.08, 2)
        bound = checker.travel(q_a, q_b, w_b - w_a)
        start = vertices(q_a, w_a)
        for t in np.linspace(0.1, 1.0, 10):
            moved = np.linalg.norm(vertices((1 - t) * q_a + t * q_b, (1 - t) * w_a + t * w_b) - start, axis=1).max()
            assert moved <= t * bound + 1e-9


def test_continuous_check_misses_no_contact_that_dense_sampling_finds(panda):
    obstacle = box_cloud((0.1, 0.1, 0.3), (0.45, 0.0), 300, seed=4)
    checker = CollisionChecker(panda, {"tower": obstacle})
    rng = np.random.default_rng(5)
    found = 0
    for _ in range(12):
        q_b = np.clip(panda.home + rng.normal(0, 0.8, panda.n), panda.lower, panda.upper)
        path, widths = np.array([panda.home, q_b]), np.array([0.08, 0.04])
        contact = checker.first_contact(path, widths)
        ts = np.linspace(0, 1, 2001)
        dense = np.array([checker.clearance((1 - t) * panda.home + t * q_b, 0.08 - 0.04 * t)[0] for t in ts])
        touching = np.flatnonzero(dense <= 0.0)
        if touching.size:
            found += 1
            assert contact is not None and contact.fraction <= ts[touching[0]]
        if contact is None:
            assert dense.min() > 0.0
        else:
            assert contact.distance < checker.margin
    assert found >= 3  # the mix must contain real contacts


def test_a_folded_arm_is_a_self_collision(panda, meshes):
    """Find configurations where link 5 and link 7 meshes intersect (coal on the URDF meshes
    directly); the checker must report those links there."""
    model, geometry = meshes
    names = [g.name for g in geometry.geometryObjects]
    a, b = names.index("panda_link5_0"), names.index("panda_link7_0")
    data, placements = model.createData(), pin.GeometryData(geometry)
    checker = CollisionChecker(panda)
    rng = np.random.default_rng(6)
    hits = 0
    for q in rng.uniform(panda.lower, panda.upper, (400, panda.n)):
        pin.updateGeometryPlacements(model, data, geometry, placements, _full_q(model, q, 0.04))
        transforms = [coal.Transform3s(placements.oMg[i].rotation, placements.oMg[i].translation) for i in (a, b)]
        result = coal.CollisionResult()
        if coal.collide(geometry.geometryObjects[a].geometry, transforms[0], geometry.geometryObjects[b].geometry,
                        transforms[1], coal.CollisionRequest(), result):
            hits += 1
            assert checker.clearance(q, 0.04)[0] <= 0.0
            assert checker.first_contact(q[None], np.array([0.04])) is not None
    assert hits >= 5


def test_an_obstacle_across_the_path_is_named_and_the_free_path_passes(panda):
    q_goal = panda.home.copy()
    q_goal[0] += 1.2  # swing the arm about its base
    path, widths = np.array([panda.home, q_goal]), np.array([0.08, 0.08])
    assert CollisionChecker(panda).first_contact(path, widths) is None
    middle = panda.fk(0.5 * (panda.home + q_goal))[:3, 3]
    wall = box_cloud((0.06, 0.06, middle[2] + 0.1), (middle[0], middle[1]), 300, seed=7)
    contact = CollisionChecker(panda, {"wall": wall}).first_contact(path, widths)
    assert contact is not None and "obstacle 'wall'" in (contact.first, contact.second)
    assert 0.0 < contact.fraction < 0.5


def test_a_tower_where_the_box_is_carried_refuses_the_plan_naming_it(panda):
    case = flow_cases.lift_and_move(9, 300)
    plan = plan_flow(case.flow, case.scene, panda, case.mode)
    assert plan.accepted
    tower = box_cloud((0.05, 0.05, 0.4), (0.5, 0.08), 300, seed=8)  # where the box is carried
    with pytest.raises(PlanRefused, match="collision: .*obstacle 'tower'"):
        plan_flow(case.flow, {**case.scene, "tower": tower}, panda, case.mode)
