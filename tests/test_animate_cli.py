"""`chord animate` end to end on a built-in scan scene, presets, and its argument errors."""

import json

import numpy as np
import pytest

from chord_core.cli import main
from chord_core.distill.presets import PRESET_NAMES, load_preset
from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.scene.scenarios import make_scenario


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("scene")
    scans, motion = make_scenario("two_objects", frames=5, points=600).write(directory)
    return [str(p) for p in scans], str(motion)


def test_animate_reference_writes_every_output(scene_files, tmp_path, capsys):
    import imageio.v2 as imageio

    scans, motion = scene_files
    out = tmp_path / "run"
    code = main(["animate", *scans, "--prompt", "slide the red block right", "--out", str(out),
                 "--teacher", "reference", "--reference-motion", motion, "--iterations", "2", "--frames", "5",
                 "--negative-prompt", "a frozen frame"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "reference teacher follows a known target motion" in printed
    flow = Flow.load(out / "flow.npz")
    assert flow.num_frames == 5 and flow.object_names == ["red_block", "blue_box"]
    # parts and joints are written with the flow: one rigid part per object after 2 iterations
    assert flow.articulation is not None and list(flow.articulation["part_objects"]) == [0, 1]
    np.testing.assert_array_equal(flow.articulation["part_ids"], flow.object_ids)
    from chord_core.formats.scans import load_scan

    points = np.concatenate([load_scan(p).points for p in scans])
    np.testing.assert_array_equal(flow.points, points)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher"] == "reference" and summary["reference_teacher"] is True
    assert summary["iterations"] == 2 and summary["preset"]["frames"] == 5
    assert summary["preset"]["negative_prompt"] == "a frozen frame"
    assert set(summary["final_losses"]) >= {"sds", "temporal", "arap", "tau"}
    video = imageio.mimread(out / "views.mp4")
    assert len(video) == 5 and video[0].shape[1] == 3 * 256  # three views side by side
    assert (out / "losses.png").stat().st_size > 0 and (out / "checkpoint.pt").is_file()


def test_animate_continue_from_starts_at_the_previous_last_frame(scene_files, tmp_path):
    scans, motion = scene_files
    first = tmp_path / "first"
    args = ["--teacher", "reference", "--reference-motion", motion, "--iterations", "1", "--frames", "5"]
    assert main(["animate", *scans, "--prompt", "a", "--out", str(first), *args]) == 0
    second = tmp_path / "second"
    assert main(["animate", *scans, "--prompt", "b", "--out", str(second), "--continue-from",
                 str(first / "flow.npz"), *args]) == 0
    np.testing.assert_array_equal(Flow.load(second / "flow.npz").points,
                                  Flow.load(first / "flow.npz").trajectories[-1])


@pytest.mark.parametrize("extra, message", [
    (["--teacher", "reference"], "needs --reference-motion"),
    (["--teacher", "wan"], "needs --model-dir"),
    (["--teacher", "wan", "--model-dir", "/nonexistent/wan"], "/nonexistent/wan"),
    (["--preset", "gpu-99b"], "unknown preset"),
])
def test_animate_argument_errors_name_the_fix(scene_files, tmp_path, capsys, extra, message):
    scans, _ = scene_files
    code = main(["animate", *scans, "--prompt", "x", "--out", str(tmp_path / "o"), "--device", "cpu", *extra])
    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_named_presets_load_and_validate(name):
    preset = load_preset(name)
    assert preset.name == name and preset.frames >= 2


def test_preset_file_with_unknown_key_is_refused(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: mine\nwidht: 64\n")
    with pytest.raises(ChordError, match=r"unknown preset keys \['widht'\]"):
        load_preset(str(path))


def test_preset_values_are_validated():
    with pytest.raises(ChordError, match="frames must be"):
        load_preset("cpu-test").replace(frames=1)
    with pytest.raises(ChordError, match="lr_deformation must be positive"):
        load_preset("cpu-test").replace(lr_deformation=[1e-2, 0.0])
    with pytest.raises(ChordError, match="appearance_sigma must be >= 0"):
        load_preset("cpu-test").replace(appearance_sigma=-0.1)


def test_animate_hands_the_live_flow_to_a_watcher(scene_files, tmp_path):
    from chord_core.distill.pipeline import animate
    from chord_core.distill.presets import load_preset

    scans, motion = scene_files
    preset = load_preset("cpu-test").replace(iterations=5, frames=5)
    seen = []
    animate("slide the red block right", tmp_path, preset, scene_paths=scans, teacher_kind="reference",
            reference_motion=motion, write_views=False, live_flow=seen.append, live_every=2)
    assert len(seen) == 4  # before the first iteration, after 2, after 4 and after the last (5)
    start = seen[0].trajectories
    np.testing.assert_allclose(start, np.broadcast_to(start[0], start.shape), atol=1e-6)  # nothing moved yet
    np.testing.assert_array_equal(seen[-1].trajectories, Flow.load(tmp_path / "flow.npz").trajectories)
    assert np.abs(seen[-1].trajectories - start).max() > 1e-4
    with pytest.raises(ChordError, match="positive interval"):
        animate("a", tmp_path / "bad", preset, scene_paths=scans, teacher_kind="reference",
                reference_motion=motion, live_flow=seen.append, live_every=0)
