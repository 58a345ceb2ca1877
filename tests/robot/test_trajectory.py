"""Flow following: an exactly rigid, reachable flow is tracked to < 1 mm over all points; flows the
arm cannot follow are refused with the first failing frame and the reason."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.robot import flow_cases
from chord_core.robot.grasp import AntipodalSampler
from chord_core.robot.planner import attached_points, plan_flow, plan_report
from chord_core.robot.safety import PlanRefused


def test_exactly_rigid_flow_is_tracked_below_one_millimetre(panda):
    case = flow_cases.lift_and_move(t_count=15, n=300)
    plan = plan_flow(case.flow, case.scene, panda, "grasp")
    follow = [i for i, p in enumerate(plan.phases) if p in ("close", "follow")]
    frame_q = {}
    for i in follow:
        frame_q.setdefault(int(plan.flow_frames[i]), plan.positions[i])
    q = np.array([frame_q[t] for t in range(case.flow.num_frames)])
    moved = attached_points(panda, q, q[0], case.flow.points.astype(float), push=False)
    err = np.linalg.norm(moved - case.flow.trajectories, axis=2)  # brute force, every point
    assert err.max() < 1e-3
    assert plan.max_tracking_error < 1e-3


def test_flow_leaving_reach_is_refused_at_the_first_unreachable_frame(panda):
    pts = flow_cases.box_cloud((0.05, 0.05, 0.06), (0.5, 0.0), 300)
    s = np.linspace(0, 1, 11)
    trans = np.stack([0.8 * s, np.zeros_like(s), 0.1 * s], axis=1)  # carried to x = 1.3 m
    flow = Flow(flow_cases.rigid_flow(pts, trans, np.zeros((11, 3))), np.zeros(300, np.int32), 5.0,
                "carry it away", ["box"])
    with pytest.raises(PlanRefused) as info:
        plan_flow(flow, {"box": pts}, panda, "grasp")
    assert 1 <= info.value.frame <= 10
    assert "unreachable" in info.value.reason or "workspace" in info.value.reason
    report = plan_report(flow, {"box": pts}, panda, "grasp")
    assert not report.accepted and report.positions.size == 0 and report.offending_frame >= 1


def test_too_fast_flow_is_refused_with_the_fastest_frame(panda):
    case = flow_cases.lift_and_move(t_count=11, n=200, fps=200.0)  # 15 cm in 50 ms
    with pytest.raises(PlanRefused, match="too fast") as info:
        plan_flow(case.flow, case.scene, panda, "grasp", proposer=AntipodalSampler(panda.config, num_samples=60))
    assert 1 <= info.value.frame <= 10


@pytest.mark.parametrize("frames, names, object_name, message", [
    (1, ["box"], None, r"flow has 1 frame\(s\) but at least 2 are needed"),  # was an IndexError in _draft
    (9, ["box", "lid"], "lid", r"object 'lid' has no points in the flow; pick one of \['box'\]"),
])
def test_flows_the_planner_cannot_use_are_refused_up_front_with_the_reason(panda, frames, names, object_name,
                                                                           message):
    case = flow_cases.lift_and_move(t_count=9, n=200)
    flow = Flow(case.flow.trajectories[:frames], case.flow.object_ids, case.flow.fps, "", names)
    with pytest.raises(ChordError, match=message):
        plan_report(flow, case.scene, panda, "grasp", object_name)


def test_a_flow_that_sinks_the_object_a_little_is_raised_onto_the_table_and_a_deep_one_refused(panda):
    """The mini prior's flows dip a resting block by millimetres; the planner follows the flow lifted
    back onto the table (and says by how much), and refuses a flow that sinks it centimetres."""
    from chord_core.robot.flow_cases import lift_and_move, rigid_flow
    from chord_core.robot.planner import onto_support

    case = lift_and_move(9, 300)
    points = case.flow.trajectories[0].astype(float)
    slide = np.stack([np.zeros(9), np.linspace(0, 0.1, 9), -0.006 * np.sin(np.linspace(0, np.pi, 9))], axis=1)
    sinking = Flow(rigid_flow(points, slide, np.zeros((9, 3))), case.flow.object_ids, 10.0, "slide", ["box"])
    lifted, lift = onto_support(sinking.trajectories.astype(float), 0.0, 0.02)
    assert lift == pytest.approx(0.006, abs=1e-4)
    assert lifted[:, :, 2].min() >= points[:, 2].min() - 1e-9
    np.testing.assert_allclose(lifted[:, :, :2], sinking.trajectories[:, :, :2], atol=1e-6)
    plan = plan_flow(sinking, case.scene, panda, "grasp")
    assert plan.extra["support_lift_m"] == pytest.approx(0.006, abs=1e-4)
    deep = Flow(rigid_flow(points, slide * [1, 1, 5], np.zeros((9, 3))), case.flow.object_ids, 10.0, "sink", ["box"])
    with pytest.raises(PlanRefused, match="into the table"):
        plan_flow(deep, case.scene, panda, "grasp")


def test_a_slid_object_that_ends_hovering_is_set_down_and_let_go_and_a_lifted_one_is_held(panda):
    """The mini prior ends a slid block 1-2 cm above the table: the planner lowers the flow's second
    half onto the table (never below it) and lets go; a flow that lifts the block 8 cm keeps it."""
    from chord_core.robot.flow_cases import lift_and_move, rigid_flow
    from chord_core.robot.planner import RELEASE_HEIGHT, set_down
    from chord_core.robot.rigid_fit import kabsch

    case = lift_and_move(9, 300)
    points = case.flow.trajectories[0].astype(float)
    s = np.linspace(0, 1, 9)
    slide = np.stack([np.zeros(9), 0.1 * s, 0.016 * s], axis=1)  # ends 1.6 cm up
    hovering = rigid_flow(points, slide, np.zeros((9, 3))).astype(float)
    lowered, drop, levelled = set_down(hovering, 0.0, 0.02)
    assert drop == pytest.approx(0.016, abs=1e-6) and levelled == pytest.approx(0.0, abs=1e-3)
    lowest = lowered[:, :, 2].min(axis=1)
    assert lowest[-1] == pytest.approx(0.0, abs=1e-9) and lowest.min() >= -1e-9
    np.testing.assert_allclose(lowered[:5], hovering[:5])  # the first half is the flow's
    np.testing.assert_allclose(lowered[:, :, :2], hovering[:, :, :2], rtol=0, atol=1e-7)  # float32 levelled
    plan = plan_flow(Flow(hovering.astype(np.float32), case.flow.object_ids, 10.0, "slide", ["box"]), case.scene,
                     panda, "grasp")
    assert plan.extra["set_down_m"] == pytest.approx(0.016, abs=1e-4) and "release" in plan.phases
    # the plan's target (PlanReport object_motion) is the flow's end 1.6 cm lower, nothing else
    expected = kabsch(hovering[0], hovering[-1])
    expected[2, 3] -= 0.016
    np.testing.assert_allclose(plan.extra["object_motion"], expected, atol=2e-5)
    lifted = rigid_flow(points, slide * [1, 1, 5], np.zeros((9, 3))).astype(float)
    assert set_down(lifted, 0.0, 0.02)[1:] == (0.0, 0.0)
    plan = plan_flow(Flow(lifted.astype(np.float32), case.flow.object_ids, 10.0, "lift", ["box"]), case.scene,
                     panda, "grasp")
    assert plan.extra["set_down_m"] == 0.0 and "release" not in plan.phases
    assert lifted[-1, :, 2].min() > RELEASE_HEIGHT


def turned_and_tipped(points: np.ndarray, heading_deg: float, tilt_deg: float, end_lowest: float) -> np.ndarray:
    """A rigid flow of ``points`` (resting on z=0) slid 10 cm left while it turns to ``heading_deg``
    and tips ``tilt_deg`` about its own x axis (R = Rz Rx), its lowest point ending at ``end_lowest``."""
    from scipy.spatial.transform import Rotation

    from chord_core.robot.flow_cases import rigid_flow

    s = np.linspace(0, 1, 9)
    rotvecs = Rotation.from_euler("ZX", np.stack([heading_deg * s, tilt_deg * s], axis=1), degrees=True).as_rotvec()
    flat = rigid_flow(points, np.stack([np.zeros(9), 0.1 * s, np.zeros(9)], axis=1), rotvecs).astype(float)
    return rigid_flow(points, np.stack([np.zeros(9), 0.1 * s, (end_lowest - flat[-1, :, 2].min()) * s], axis=1),
                      rotvecs).astype(float)


def test_a_slid_object_that_ends_tipped_is_set_down_flat_keeping_its_heading_and_one_tipped_over_is_not(panda):
    """The mini prior tips a block it slides by up to 30 deg. Held, the block would start the next
    command in the air (the soak's next plan was refused); set down flat, it keeps the flow's
    heading (the yaw nearest the end's rotation) and centroid, and the hand lets go. A flow that tips
    it over (60 deg) is left as it is."""
    from scipy.spatial.transform import Rotation

    from chord_core.robot.flow_cases import lift_and_move
    from chord_core.robot.planner import RELEASE_HEIGHT, TIP_OVER_TILT, set_down
    from chord_core.robot.rigid_fit import kabsch, tilt_deg

    case = lift_and_move(9, 300)
    points = case.flow.trajectories[0].astype(float)
    tipped = turned_and_tipped(points, 30.0, 10.0, 0.015)
    assert RELEASE_HEIGHT < tipped[-1, :, 2].min() <= 0.02
    settled, drop, levelled = set_down(tipped, 0.0, 0.02)
    assert levelled == pytest.approx(10.0, abs=1e-3)
    heading = Rotation.from_euler("Z", 30.0, degrees=True).as_matrix()
    np.testing.assert_allclose(kabsch(settled[0], settled[-1])[:3, :3], heading, atol=1e-5)
    assert settled[-1, :, 2].min() == pytest.approx(0.0, abs=1e-6) and settled[:, :, 2].min() >= -1e-6
    # the end: the resting cloud turned 30 deg about its centroid, centroid where the flow's ends, on the table
    flat = (points - points.mean(axis=0)) @ heading.T + tipped[-1].mean(axis=0)
    assert drop == pytest.approx(flat[:, 2].min(), abs=1e-6)
    np.testing.assert_allclose(settled[-1], flat - [0.0, 0.0, drop], atol=1e-5)
    np.testing.assert_allclose(settled[:5], tipped[:5])  # the first half is the flow's
    plan = plan_flow(Flow(tipped.astype(np.float32), case.flow.object_ids, 10.0, "slide", ["box"]), case.scene,
                     panda, "grasp")
    assert "release" in plan.phases and plan.extra["set_down_tilt_deg"] == pytest.approx(10.0, abs=1e-2)
    np.testing.assert_allclose(plan.extra["object_motion"][:3, :3], heading, atol=1e-4)

    over = turned_and_tipped(points, 0.0, 60.0, 0.015)
    assert tilt_deg(kabsch(over[0], over[-1])) > TIP_OVER_TILT and RELEASE_HEIGHT < over[-1, :, 2].min() <= 0.02
    assert set_down(over, 0.0, 0.02)[1:] == (0.0, 0.0)


def test_closest_yaw_is_the_rotation_about_z_nearest_in_frobenius_norm():
    """Brute force over headings (0.01 deg grid) for random rotations."""
    from scipy.spatial.transform import Rotation

    from chord_core.robot.planner import closest_yaw

    headings = np.radians(np.arange(-180.0, 180.0, 0.01))
    about_z = Rotation.from_euler("z", headings[:, None]).as_matrix()
    for rotation in Rotation.random(20, random_state=3).as_matrix():
        best = about_z[np.argmin(np.linalg.norm(about_z - rotation, axis=(1, 2)))]
        np.testing.assert_allclose(closest_yaw(rotation), best, atol=2e-4)
