"""The README's main job (`chord-ros demo`, what scripts/demo.sh runs).

Fast: its options (the mini teacher and its own preset by default) and that a command the mini
prior cannot understand is refused before the graph starts. Slow: the whole chain with the
reference teacher (named explicitly; it is the measurable one) and a short distillation: it prints
where every output landed, and those files exist. 60 iterations: enough for the flow to carry the
block most of the way (fewer leave early-iteration noise that the planner rightly refuses, e.g.
points pushed into the table)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.view.content import build_content, load_plan_dir, load_summary
from chord_ros import demo, graph
from chord_ros.bag import read_bag


def node_logs(out: Path) -> str:
    """The end of every node's log under a demo's output (a node slow to close dumps its stacks there)."""
    return "\n".join(f"--- {log.name}\n" + log.read_text()[-3000:] for log in sorted(out.glob("*/logs/*.log")))


def demo_args(*argv: str):
    import argparse

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_demo_defaults_to_the_text_driven_mini_teacher_with_its_own_preset():
    args = demo_args()
    assert args.teacher == "mini" and args.preset is None and args.prompt is None
    assert demo_args("--teacher", "reference").teacher == "reference"
    line = demo.teacher_line("mini", "motion.npz")
    assert line.startswith("teacher: mini (text-driven on CPU; understands ") and graph.MINI_VOCABULARY in line
    assert "REFERENCE" in demo.teacher_line("reference", "m.npz") and "does not drive" in demo.teacher_line(
        "reference", "m.npz")


def test_mini_demo_refuses_an_unknown_command_or_missing_weights_before_starting_the_graph(tmp_path):
    args = demo_args("--out", str(tmp_path), "--prompt", "make the block dance")
    with pytest.raises(ChordError, match="does not understand 'make the block dance'"):
        demo.run(args)
    assert not list(tmp_path.iterdir()), "nothing may start for a command the prior cannot read"
    args = demo_args("--out", str(tmp_path), "--model-dir", str(tmp_path / "missing.pt"))
    with pytest.raises(ChordError, match="no mini prior weights"):
        demo.run(args)
    assert not list(tmp_path.iterdir())


def test_bundled_chest_scene_describes_the_lid_its_motion_opens():
    """`--scene chest`: the joint description beside the scan holds exactly the points the known
    motion moves, its prompt is one the mini prior reads, and the motion opens the lid 60 deg."""
    import numpy as np

    from chord_core.formats.reference_motion import ReferenceMotion
    from chord_core.formats.scans import load_scan
    from chord_core.prior.vocabulary import check_command
    from chord_core.robot.scene_joints import load_scan_joint

    scans, motion_path = graph.demo_scene("chest")
    assert [Path(s).name for s in scans] == ["chest.ply"]
    motion = ReferenceMotion.load(motion_path)
    joint = load_scan_joint(scans[0], load_scan(scans[0]).points)
    assert joint.kind == "revolute" and np.array_equal(joint.mask, motion.labels == 1)
    assert demo.known_part_value(motion.transforms[-1], "revolute") == pytest.approx(np.radians(60.0), abs=1e-5)
    assert demo.scene_prompt("chest") == "open the lid"
    check_command(demo.scene_prompt("chest"))
    with pytest.raises(ChordError, match=r"neither a bundled scene \['demo', 'chest'\]"):
        graph.demo_scene("no_such_scene")


def test_part_outcome_compares_the_simulated_joint_in_the_flow_joint_sense(tmp_path):
    import json

    import numpy as np

    scan = graph.demo_scene("chest")[0][0]  # its hinge axis is described as +y
    grasp = tmp_path / "grasp.json"
    grasp.write_text(json.dumps({"manipulated_part": None}))
    assert demo.part_outcome(grasp, scan, 0.5) is None  # a rigid plan
    part = {"part_id": 1, "joint": "revolute", "axis": [0.0, 1.0, 0.0], "final_value": 1.0}
    grasp.write_text(json.dumps({"manipulated_part": part}))
    same = demo.part_outcome(grasp, scan, 0.97)
    assert same.simulated == pytest.approx(0.97) and same.within()  # 1.7 deg off
    assert "55.6 deg in simulation vs 57.3 deg in the flow" in same.line()
    grasp.write_text(json.dumps({"manipulated_part": dict(part, axis=[0.0, -1.0, 0.0], final_value=-1.0)}))
    flipped = demo.part_outcome(grasp, scan, 0.97)  # the fitted axis points the other way: so do its angles
    assert flipped.simulated == pytest.approx(-0.97) and flipped.within()
    grasp.write_text(json.dumps({"manipulated_part": dict(part, final_value=1.0 + np.radians(6.0))}))
    assert not demo.part_outcome(grasp, scan, 0.97).within()
    with pytest.raises(ChordError, match="simulates no joint"):
        demo.part_outcome(grasp, scan, None)


def test_the_report_says_how_the_plan_target_differs_from_the_flow(tmp_path):
    import json

    grasp = tmp_path / "grasp.json"
    assert demo.plan_target_note(grasp) == "the plan's target, the flow's end"
    grasp.write_text(json.dumps({"support_lift_m": 0.0, "set_down_m": 0.0123}))
    assert demo.plan_target_note(grasp) == "the plan's target: the flow's, set down 12.3 mm onto the table"
    grasp.write_text(json.dumps({"support_lift_m": 0.004, "set_down_m": 0.0}))
    assert demo.plan_target_note(grasp) == "the plan's target: the flow's, raised 4.0 mm out of the table"
    grasp.write_text(json.dumps({"support_lift_m": 0.0, "set_down_m": 0.0135, "set_down_tilt_deg": 24.34}))
    assert demo.plan_target_note(grasp) == ("the plan's target: the flow's, set down 13.5 mm onto the table "
                                            "and levelled by 24.3 deg")


@pytest.mark.slow  # about 2 min: `bash scripts/test.sh -m slow` (CI runs it)
def test_demo_reports_outputs_and_final_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "chord_ros.cli", "demo", "--teacher", "reference", "--out",
                          str(tmp_path), "--iterations", "60", "--real-time-factor", "4"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "teacher: REFERENCE" in out and "not text-driven" in out
    assert "arm: SUCCEEDED" in out and "within the planner's target" in out
    fields = dict(re.findall(r"^(\w[\w ()]*?)\s*: (.+)$", out, flags=re.M))
    assert Path(fields["flow"]).is_file()
    assert all(Path(p).is_file() for p in fields["renders"].split())
    topics = {r.topic for r in read_bag(fields["bag (MCAP)"])}
    assert {"/chord/flow", "/chord/plan", "/chord/object_pose/block", "/joint_states", "/tf",
            "/robot_description"} <= topics  # what Foxglove needs to draw the arm from the bag alone
    # the executed plan is on disk, and the printed `chord view` line replays it with the flow
    plan_dir = Path(fields["plan"].split()[0]).parent
    plan, grasp = load_plan_dir(plan_dir)
    assert bool(plan["accepted"]) and grasp["object_name"] == "block" and grasp["grasp"] is not None
    view = fields["see it in 3D"].split()
    assert view[1:3] == ["view", str(Path(fields["flow"]).parent)] and view[3:5] == ["--plan", str(plan_dir)]
    content = build_content(Flow.load(fields["flow"]), plan, grasp, [], load_summary(view[2]))
    assert content.plan is not None and content.grasp is not None
    assert content.tick_frames.max() == len(content.flow.trajectories) - 1  # the arm carries it to the end
    position, rotation = map(float, re.match(r"([\d.]+) mm, ([\d.]+) deg", fields["final object error"]).groups())
    assert position <= 10.0 and rotation <= 5.0  # the planner's grasp target
    truth = re.match(r"([\d.]+) mm, ([\d.]+) deg", fields["vs known target"])
    assert float(truth.group(1)) < 60.0, "the block did not move toward the known target (8 cm, 35 deg)"
    assert "graph stopped" in out and all(code == "0" for code in re.findall(
        r"'\w+': (-?\d+)", out.split("graph stopped")[-1])), node_logs(tmp_path)


@pytest.mark.slow  # about 4 min: a 200-iteration distillation of an 8000-point chest
def test_chest_demo_opens_the_lid_on_its_hinge(tmp_path):
    """`--scene chest`: the planner takes the lid, sim_arm turns it on its described hinge, and the
    report compares the simulated angle with the flow's and the known motion's (60 deg)."""
    run = subprocess.run([sys.executable, "-m", "chord_ros.cli", "demo", "--scene", "chest", "--teacher", "reference",
                          "--out", str(tmp_path), "--real-time-factor", "4"], capture_output=True, text=True,
                         timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert re.search(r"plan \w+ accepted: grasp part \d+ of 'chest' \(revolute joint", out), out[-3000:]
    assert "arm: SUCCEEDED" in out and "the part's joint is within its target" in out
    fields = dict(re.findall(r"^(\w[\w ()']*?)\s*: (.+)$", out, flags=re.M))
    simulated, flow = map(float, re.match(r"([\d.]+) deg in simulation vs ([\d.]+) deg in the flow",
                                          fields["moved part ('chest')"]).groups())
    assert abs(simulated - flow) <= 5.0
    known = float(re.search(r"vs ([\d.]+) deg in the reference motion", fields["vs known target"]).group(1))
    assert known == pytest.approx(60.0, abs=0.05) and simulated > 40.0, "the lid did not open toward 60 deg"
