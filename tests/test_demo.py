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
    assert "graph stopped" in out and all(code == "0"
                                          for code in re.findall(r"'\w+': (-?\d+)", out.split("graph stopped")[-1]))
