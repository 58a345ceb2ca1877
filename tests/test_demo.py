"""The README's main job (`chord-ros demo`, what scripts/demo.sh runs) with a short distillation:
it runs the whole chain, prints where every output landed, and those files exist."""

import re
import subprocess
import sys
from pathlib import Path

from chord_ros.bag import read_bag


def test_demo_reports_outputs_and_final_error(tmp_path):
    run = subprocess.run([sys.executable, "-m", "chord_ros.cli", "demo", "--out", str(tmp_path), "--iterations", "2",
                          "--real-time-factor", "4"], capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert "teacher: REFERENCE" in out and "not text-driven" in out
    fields = dict(re.findall(r"^(\w[\w ()]*?)\s*: (.+)$", out, flags=re.M))
    assert Path(fields["flow"]).is_file()
    assert all(Path(p).is_file() for p in fields["renders"].split())
    topics = {r.topic for r in read_bag(fields["bag (MCAP)"])}
    assert {"/chord/flow", "/chord/plan", "/chord/object_pose/block", "/joint_states"} <= topics
    position, rotation = map(float, re.match(r"([\d.]+) mm, ([\d.]+) deg", fields["final object error"]).groups())
    assert position <= 10.0 and rotation <= 5.0  # the planner's grasp target
    assert re.match(r"[\d.]+ mm, [\d.]+ deg", fields["vs known target"])
    assert "graph stopped" in out and all(code == "0" for code in re.findall(r"'\w+': (-?\d+)", out.split("graph stopped")[-1]))
