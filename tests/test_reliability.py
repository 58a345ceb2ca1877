"""`chord-ros bench reliability` on a small scale over real DDS: malformed messages on every input
are refused with a reason while every node stays up and a valid command then moves the object;
cancels answer within 2 s. (The full counts are the benchmark's: README "Benchmarks".)"""

import argparse
import json

import pytest

from chord_ros import reliability

pytestmark = pytest.mark.slow  # about 5 min: `bash scripts/test.sh -m slow` (CI runs it)


def test_small_reliability_run_passes_every_row(tmp_path, capsys):
    args = argparse.Namespace(sections="fuzz,cancel", fuzz=10, huge_points=0, cancels=3, soak=0, iterations=0,
                              teacher="mini", seed=0, out=str(tmp_path))
    code = reliability.run(args)
    rows = json.loads((tmp_path / "reliability.json").read_text())
    assert [r["what"] for r in rows][:4] == ["command text", "object clouds (+ a command each)", "flows",
                                             "arm trajectories"]
    assert all(r["count"] >= 10 for r in rows[:4])
    assert code == 0, capsys.readouterr().out
