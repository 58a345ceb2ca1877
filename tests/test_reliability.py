"""`chord-ros bench reliability` on a small scale over real DDS: malformed messages on every input
are refused with a reason while every node stays up and a valid command then moves the object;
cancels answer within 2 s; two soak commands chosen from where the object is both move it. (The
full counts are the benchmark's: README "Benchmarks".)"""

import argparse
import json

import pytest

from chord_ros import reliability


@pytest.mark.slow  # about 7 min: `bash scripts/test.sh -m slow` (CI runs it)
def test_small_reliability_run_passes_every_row(tmp_path, capsys):
    args = argparse.Namespace(sections="fuzz,cancel,soak", fuzz=10, huge_points=0, cancels=3, soak=2, iterations=0,
                              teacher="mini", seed=0, out=str(tmp_path))
    code = reliability.run(args)
    rows = json.loads((tmp_path / "reliability.json").read_text())
    assert [r["what"] for r in rows][:4] == ["command text", "object clouds (+ a command each)", "flows",
                                             "arm trajectories"]
    assert all(r["count"] >= 10 for r in rows[:4])
    out = capsys.readouterr().out
    assert "soak 1/2 'slide the block to the left': ok" in out and "soak 2/2 'slide the block to the right': ok" in out
    assert code == 0, out


@pytest.mark.parametrize("now, command", [
    ((0.50, 0.00), "slide the block to the left"),  # at the start: left first
    ((0.48, 0.11), "slide the block to the right"),  # moved left (+y): back to the right
    ((0.47, -0.02), "slide the block to the left"),
    ((0.44, 0.10), "push the block forward"),  # 6 cm toward the robot: away from it again
    ((0.56, -0.10), "pull the block back"),
])
def test_soak_commands_keep_the_object_where_it_began(now, command):
    assert reliability.soak_command((0.50, 0.00, 0.03), (*now, 0.03)) == command
