"""Cost terms: the compressed attachment residual equals the brute-force point error, and every
analytic Jacobian matches finite differences of its own residual."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from chord_core.robot import costs
from chord_core.robot.rigid_fit import kabsch


def random_state(panda, t_count, rng):
    q = np.array([rng.uniform(panda.lower + 0.2, panda.upper - 0.2) for _ in range(t_count)])
    return costs.KinematicState.evaluate(panda, q)


def numeric_jacobian(fun, panda, q, eps=1e-6):
    x = q[1:].reshape(-1)
    cols = []
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        rp = fun(costs.KinematicState.evaluate(panda, np.vstack([q[:1], xp.reshape(-1, q.shape[1])])))[0]
        rm = fun(costs.KinematicState.evaluate(panda, np.vstack([q[:1], xm.reshape(-1, q.shape[1])])))[0]
        cols.append((rp - rm) / (2 * eps))
    return np.stack(cols, axis=1)


@pytest.fixture
def flow_points():
    rng = np.random.default_rng(3)
    pts = rng.normal([0.5, 0.0, 0.1], 0.03, size=(50, 3))
    return np.array([pts + rng.normal(0, 0.01, size=pts.shape) for _ in range(4)])


def test_attached_residual_equals_brute_force_mean_squared_error(panda, flow_points):
    rng = np.random.default_rng(4)
    state = random_state(panda, 4, rng)
    target = costs.AttachedFlowTarget.build(state.poses[0], flow_points)
    local = (flow_points[0] - state.poses[0][:3, 3]) @ state.poses[0][:3, :3]
    for t in range(4):
        pose = state.poses[t]
        moved = local @ pose[:3, :3].T + pose[:3, 3]
        brute = np.sqrt(np.mean(np.sum((moved - flow_points[t]) ** 2, axis=1)))
        assert target.rms_error(pose, t) == pytest.approx(brute, rel=1e-9, abs=1e-12)


def test_push_residual_equals_brute_force_mean_squared_error(panda, flow_points):
    rng = np.random.default_rng(5)
    state = random_state(panda, 4, rng)
    target = costs.PushFlowTarget.build(state.poses[0], flow_points)
    for t in range(4):
        moved = flow_points[0] + state.poses[t][:3, 3] - state.poses[0][:3, 3]
        brute = np.sqrt(np.mean(np.sum((moved - flow_points[t]) ** 2, axis=1)))
        assert target.rms_error(state.poses[t], t) == pytest.approx(brute, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("term", ["attached", "push", "orientation", "acceleration", "velocity_limit",
                                  "joint_limit", "posture"])
def test_cost_jacobians_match_finite_differences(panda, flow_points, term):
    rng = np.random.default_rng(6)
    state = random_state(panda, 4, rng)
    pose0 = state.poses[0]
    funs = {
        "attached": lambda s: costs.flow_tracking_cost(s, costs.AttachedFlowTarget.build(pose0, flow_points)),
        "push": lambda s: costs.flow_tracking_cost(s, costs.PushFlowTarget.build(pose0, flow_points)),
        "orientation": lambda s: costs.orientation_hold_cost(s, 0.3),
        "acceleration": lambda s: costs.smoothness_cost(s, 2, 0.5),
        # tight limits so that the hinges are active (and away from their kinks) at this state
        "velocity_limit": lambda s: costs.velocity_limit_cost(s, 0.1, np.full(7, 0.05), 1.0),
        "joint_limit": lambda s: costs.joint_limit_cost(s, panda.lower + 1.5, panda.upper - 1.5, 1.0),
        "posture": lambda s: costs.posture_cost(s, np.zeros((3, 7)), 0.1),
    }
    fun = funs[term]
    r, jac = fun(state)
    assert np.any(r != 0)
    np.testing.assert_allclose(jac, numeric_jacobian(fun, panda, state.q), atol=2e-6)


def test_kabsch_recovers_a_known_rigid_transform():
    rng = np.random.default_rng(7)
    pts = rng.normal(size=(30, 3))
    rot = Rotation.from_rotvec([0.3, -1.2, 0.8]).as_matrix()
    moved = pts @ rot.T + [0.1, -0.2, 0.5]
    fit = kabsch(pts, moved)
    np.testing.assert_allclose(fit[:3, :3], rot, atol=1e-10)
    np.testing.assert_allclose(fit[:3, 3], [0.1, -0.2, 0.5], atol=1e-10)
