"""The README's main job (`chord-ros demo`, what scripts/demo.sh runs) with a short distillation:
it runs the whole chain, prints where every output landed, and those files exist. 60 iterations:
enough for the flow to carry the block most of the way (fewer leave early-iteration noise that the
planner rightly refuses, e.g. points pushed into the table)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chord_ros.bag import read_bag

pytestmark = pytest.mark.slow  # about 2 min: `bash scripts/test.sh -m slow` (CI runs it)


def test_demo_reports_outputs_and_final_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "chord_ros.cli", "demo", "--out", str(tmp_path), "--iterations", "60",
                          "--real-time-factor", "4"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "teacher: REFERENCE" in out and "not text-driven" in out
    assert "arm: SUCCEEDED" in out and "within the planner's target" in out
    fields = dict(re.findall(r"^(\w[\w ()]*?)\s*: (.+)$", out, flags=re.M))
    assert Path(fields["flow"]).is_file()
    assert all(Path(p).is_file() for p in fields["renders"].split())
    topics = {r.topic for r in read_bag(fields["bag (MCAP)"])}
    assert {"/chord/flow", "/chord/plan", "/chord/object_pose/block", "/joint_states"} <= topics
    position, rotation = map(float, re.match(r"([\d.]+) mm, ([\d.]+) deg", fields["final object error"]).groups())
    assert position <= 10.0 and rotation <= 5.0  # the planner's grasp target
    truth = re.match(r"([\d.]+) mm, ([\d.]+) deg", fields["vs known target"])
    assert float(truth.group(1)) < 60.0, "the block did not move toward the known target (8 cm, 35 deg)"
    assert "graph stopped" in out and all(code == "0"
                                          for code in re.findall(r"'\w+': (-?\d+)", out.split("graph stopped")[-1]))
