"""Scans matched to flow objects by geometry (issue 15): an unnamed flow plans exactly like a named
one, a scan elsewhere is an obstacle the planner avoids, names that contradict geometry are errors."""

import json

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan, save_scan
from chord_core.robot import flow_cases
from chord_core.robot.planner import plan_report
from chord_core.robot.scene_match import match_scans, start_offsets
from chord_core.scene.procedural import box_cloud, cylinder_cloud


def two_object_flow(names: list[str]) -> tuple[Flow, np.ndarray, np.ndarray]:
    """A box (id 0) that moves and a mug (id 1) that stays, 30 cm apart; returns the flow and both clouds."""
    box = box_cloud((0.05, 0.05, 0.07), (0.5, -0.05), 400, seed=1)
    mug = cylinder_cloud(0.03, 0.09, (0.5, 0.25), 400, seed=2)
    s = np.linspace(0.0, 1.0, 5)
    moved = flow_cases.rigid_flow(box, np.stack([0 * s, 0.1 * s, 0 * s], 1), np.zeros((5, 3)))
    still = np.repeat(mug[None], 5, axis=0)
    flow = Flow(np.concatenate([moved, still], axis=1), np.repeat([0, 1], 400), 10.0, "", names)
    return flow, box, mug


def test_scans_pair_with_the_objects_they_lie_on_whatever_their_names_or_order():
    flow, box, mug = two_object_flow([])
    rescan = box_cloud((0.05, 0.05, 0.07), (0.5, -0.05), 400, seed=7)  # other points on the same box
    match = match_scans(flow, [Scan("mug_scan", mug), Scan("block", rescan)])
    assert match.objects == {"mug_scan": "object_1", "block": "object_0"} and match.obstacles == []
    np.testing.assert_array_equal(match.scene["object_0"], rescan)
    np.testing.assert_array_equal(match.scene["object_1"], mug)
    named, _, _ = two_object_flow(["box", "mug"])
    assert match_scans(named, [Scan("mug_scan", mug), Scan("block", box)]).objects == {"mug_scan": "mug",
                                                                                        "block": "box"}


def test_scan_of_another_object_elsewhere_is_an_obstacle_the_planner_avoids(panda):
    case = flow_cases.lift_and_move(t_count=9, n=400)
    # a cage 1.5 cm around the box's sides and 2 cm above it: no point within 1 cm of the box's sides or top
    cage = box_cloud((0.08, 0.08, 0.09), (0.5, -0.05), 3000, seed=5)
    cage = cage[cage[:, 2] > 0.005]  # its floor would lie on the box's own bottom face
    match = match_scans(case.flow, [Scan("box", case.scene["box"]), Scan("cage", cage)])
    assert match.objects == {"box": "box"} and match.obstacles == ["cage"]
    np.testing.assert_array_equal(match.scene["cage"], cage)
    report = plan_report(case.flow, match.scene, panda, "grasp")
    assert not report.accepted and "no collision-free grasp on 'box'" in report.reason


@pytest.mark.parametrize("scans, message", [
    (lambda box, mug: [Scan("box", mug), Scan("mug", box)], "scan 'box' lies on the flow's object 'mug'"),
    (lambda box, mug: [Scan("mug", box + np.float32([0.0, 0.0, 0.3]))], "scan 'mug' is named like the flow's object "
                                                                         "but lies elsewhere"),
    (lambda box, mug: [Scan("a", box), Scan("b", box[::2])], "scans '.' and '.' both lie on the flow's object 'box'"),
    (lambda box, mug: [Scan("a", box), Scan("a", mug)], "scan names must be unique"),
])
def test_names_that_contradict_the_geometry_are_errors(scans, message):
    flow, box, mug = two_object_flow(["box", "mug"])
    with pytest.raises(ChordError, match=message):
        match_scans(flow, scans(box, mug))


def test_unnamed_flow_and_its_scan_plan_exactly_like_the_named_flow(tmp_path, capsys):
    """Issue 15: `chord plan` on a one-object flow without names took the block's own scan for an
    obstacle and refused; now both plan, with the same grasp and trajectory."""
    from chord_core.cli import main

    case = flow_cases.lift_and_move(t_count=15, n=400)
    scan = save_scan(Scan("block", case.scene["box"]), tmp_path / "block.npz")
    results = {}
    for names in ([], ["block"]):
        flow = Flow(case.flow.trajectories, case.flow.object_ids, case.flow.fps, "", names)
        out = tmp_path / f"out{len(names)}"
        code = main(["plan", str(flow.save(tmp_path / f"flow{len(names)}.npz")), "--scene", str(scan),
                     "--grasp-backend", "antipodal", "--out", str(out)])
        assert code == 0, capsys.readouterr().out
        with np.load(out / "plan.npz") as plan:
            results[len(names)] = (json.loads((out / "grasp.json").read_text()), dict(plan))
    (unnamed, unnamed_plan), (named, named_plan) = results[0], results[1]
    assert (unnamed["object_name"], named["object_name"]) == ("object_0", "block")
    assert "'block' is object 'object_0'" in capsys.readouterr().out
    for key in ("score", "width", "rotation", "translation"):
        assert unnamed["grasp"][key] == named["grasp"][key]
    for key in ("times", "positions", "gripper", "phases"):
        np.testing.assert_array_equal(unnamed_plan[key], named_plan[key])


def test_start_offsets_measure_how_far_each_named_object_has_moved_since_the_flow_began():
    """The flow starts the box at its scan; the box now lies 6 cm further left (an earlier plan
    carried it) and the can where it was; an object without a cloud is not measured."""
    box = box_cloud((0.05, 0.05, 0.06), (0.5, 0.0), 400, seed=1)
    can = cylinder_cloud(0.03, 0.1, (0.4, 0.2), 300, seed=2)
    points = np.vstack([box, can]).astype(np.float32)
    ids = np.repeat([0, 1], [len(box), len(can)]).astype(np.int32)
    flow = Flow(np.stack([points, points + [0.0, 0.05, 0.0]]).astype(np.float32), ids, 4.0, "", ["box", "can"])
    resampled_box = box_cloud((0.05, 0.05, 0.06), (0.5, 0.06), 900, seed=3)  # another scan of it, moved
    offsets = start_offsets(flow, {"box": resampled_box, "can": can, "mug": can + 1.0})
    assert set(offsets) == {"box", "can"}
    assert offsets["box"] == pytest.approx(0.06, abs=0.004)  # re-sampling moves a centroid by millimetres
    assert offsets["can"] == pytest.approx(0.0, abs=1e-6)
    assert start_offsets(flow, {}) == {}
