"""`chord animate --dry-run` and the framing rule: every shipped preset sees every object point of the
bundled demo scene and of the built-in scenarios (through their whole known motion) in every view;
the dry run resolves the τ schedule's consequences (A14B's expert switch, the fine layer's start)
from the preset's shift without loading Wan."""

from __future__ import annotations

import glob

import pytest

from chord_core.cli import main
from chord_core.distill.presets import PRESET_NAMES, load_preset
from chord_core.distill.run_plan import framing_fraction
from chord_core.render.cameras import inside_every_view, orbit_cameras
from chord_core.scene.load import load_scene
from chord_core.scene.objects import scene_from_scans
from chord_core.scene.scenarios import SCENARIOS, make_scenario

BUNDLED_SCENES = [sorted(glob.glob(f"config/scenes/{name}/*.ply")) for name in ("demo", "chest")]


@pytest.mark.parametrize("preset_name", PRESET_NAMES)
def test_every_preset_frames_every_object_point_in_every_view(preset_name):
    """Through the scenarios' whole motion for the presets with room for motion (min_frame_radius);
    cpu-test frames the objects tightly, as the reference benchmarks were measured (its teacher
    renders its targets from the same cameras), so there only frame 0 is checked."""
    preset = load_preset(preset_name)
    for name in SCENARIOS:
        scenario = make_scenario(name, frames=preset.frames, points=2000)
        scene = scene_from_scans(scenario.scans, 2000)
        trajectories = scenario.motion.resampled(preset.frames).apply(scene.source_points())
        moving = trajectories if preset.min_frame_radius > 0 else None
        assert framing_fraction(scene, preset, moving) == 1.0, name
    for scans in BUNDLED_SCENES:
        assert framing_fraction(load_scene(scans, preset.gaussians_per_object), preset) == 1.0, scans
    assert preset.min_frame_radius > 0 or preset_name == "cpu-test"


def test_the_square_distance_rule_cut_objects_off_at_the_wide_gpu_size():
    """What the aspect factor fixes: at 832x464, cameras radius_scale framing radii away (the rule
    before, which also had no minimum framing radius) leave object points outside the views."""
    preset = load_preset("gpu-14b").replace(min_frame_radius=0.0)
    scene = scene_from_scans(make_scenario("hinged_lid", frames=5, points=2000).scans, 2000)
    centre, radius = scene.bounding_sphere()
    arc = preset.camera_arc()
    framing = arc.frame_radius(radius)
    square_rule = orbit_cameras(centre, framing, 128, arc.width, arc.height, tuple(arc.elevation_deg),
                                tuple(arc.azimuth_deg), arc.fov_deg, distance=arc.radius_scale * framing, seed=0)
    assert inside_every_view(scene.source_points(), square_rule).mean() < 0.95
    assert arc.distance(radius) == pytest.approx(arc.radius_scale * framing * 832 / 464)


def test_dry_run_resolves_the_wan_run_without_loading_it(tiny_i2v_dir, tmp_path, capsys, monkeypatch):
    import chord_core.teachers.wan_loading as wan_loading

    def refuse(*args, **kwargs):
        raise AssertionError("a dry run must not load Wan")

    monkeypatch.setattr(wan_loading, "load_wan_components", refuse)
    code = main(["animate", *BUNDLED_SCENES[0], "--prompt", "slide the block to the left",
                 "--out", str(tmp_path / "run"),
                 "--teacher", "wan", "--preset", "gpu-14b", "--model-dir", str(tiny_i2v_dir), "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0, out
    # Shift 5 over 2000 iterations: the high-noise expert (tau >= 0.9) serves 714 iterations and the
    # fine layer (tau < 0.6) joins at 1539; with diffusers' 3.0 it would be 500 and 1334.
    assert "shift 5 from preset flow_shift" in out and "high-noise expert until iteration 714 of 2000" in out
    assert "fine layer from iteration 1539" in out
    assert "negative prompt: Wan 2.2's default" in out
    assert "dtypes: transformer torch.bfloat16, VAE torch.float32" in out
    assert "video: 832x464, 41 frames" in out and "framing: 100.0% of object points inside every sampled view" in out
    assert not (tmp_path / "run").exists()
    code = main(["animate", *BUNDLED_SCENES[0], "--prompt", "x", "--out", str(tmp_path / "run"), "--teacher", "wan",
                 "--preset", "gpu-14b", "--model-dir", str(tiny_i2v_dir), "--dry-run", "--negative-prompt", "blur"])
    assert code == 0 and "negative prompt: 'blur'" in capsys.readouterr().out
