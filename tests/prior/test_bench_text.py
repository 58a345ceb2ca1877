"""`chord bench text` measures motion honestly: its estimators recover known motions."""

import colorsys

import numpy as np
import pytest

from chord_core.bench.text import estimate_rigid_motion, rigid_motion_of_flow, score, unseen_objects
from chord_core.distill.presets import load_preset
from chord_core.formats.flow import Flow
from chord_core.formats.reference_motion import ReferenceMotion
from chord_core.prior.vocabulary import check_command
from chord_core.scene.objects import scene_from_scans
from chord_core.scene.part_motion import PartMotionVideo
from chord_core.scene.scenarios import rigid_track


@pytest.mark.parametrize("translation,yaw_deg", [((0.0, 0.06, 0.0), 0.0), ((0.05, 0.0, 0.0), 0.0),
                                                 ((0.0, 0.0, 0.07), 0.0), ((0.0, 0.0, 0.0), 40.0),
                                                 ((0.0, -0.05, 0.0), -30.0)])
def test_video_estimator_recovers_a_known_rigid_motion(translation, yaw_deg):
    preset = load_preset("mini")
    name, scan = unseen_objects(points=1500)[0]
    scene = scene_from_scans([scan], preset.gaussians_per_object)
    centre, radius = scene.bounding_sphere()
    track = rigid_track(preset.frames, [0, 0, np.radians(yaw_deg)], translation, centre)
    motion = ReferenceMotion(np.zeros(len(scan.points), np.int32), track[:, None])
    cameras = preset.camera_arc().sample(centre, radius, 4, seed=3)
    video = PartMotionVideo(scene, motion, preset.frames).render(cameras)
    moved, yaw = estimate_rigid_motion(scene, cameras, video[:, :, 0].numpy(), video[:, :, -1].numpy())
    # the silhouette fit lands within 5 mm; the centroids alone were 9 mm off on two of these
    assert np.linalg.norm(moved - np.asarray(translation)) < 0.005, moved
    assert abs(yaw - yaw_deg) <= 5, yaw


def test_flow_motion_is_the_rigid_fit():
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.05, 0.05, (200, 3)) + [0.5, 0.0, 0.05]
    track = rigid_track(5, [0, 0, np.radians(-25)], [0.0, 0.04, 0.0], points.mean(0))
    traj = np.einsum("tij,nj->tni", track[:, :3, :3], points) + track[:, None, :3, 3]
    moved, yaw, tilt = rigid_motion_of_flow(Flow(traj.astype(np.float32), np.zeros(200, np.int32), 4.0))
    np.testing.assert_allclose(moved, [0, 0.04, 0], atol=1e-5)
    assert yaw == pytest.approx(-25, abs=1e-3) and tilt == pytest.approx(0, abs=1e-2)
    tipped = rigid_track(5, [np.radians(12), 0, 0], [0.0, 0.04, 0.0], points.mean(0))  # tipped 12 deg about x
    traj = np.einsum("tij,nj->tni", tipped[:, :3, :3], points) + tipped[:, None, :3, 3]
    assert rigid_motion_of_flow(Flow(traj.astype(np.float32), np.zeros(200, np.int32), 4.0))[2] == pytest.approx(
        12, abs=1e-3)


def test_scores_follow_the_targets():
    assert score(np.array([0.0, 0.04, 0.005]), 0.0, ("y", 1), 1.0).meets_target
    wrong_sign = score(np.array([0.0, -0.04, 0.0]), 0.0, ("y", 1), 1.0)
    assert not wrong_sign.correct and not wrong_sign.meets_target
    too_small = score(np.array([0.0, 0.02, 0.0]), 0.0, ("y", 1), 1.0)
    assert too_small.correct and not too_small.meets_target
    off_axis = score(np.array([0.03, 0.04, 0.0]), 0.0, ("y", 1), 1.0)
    assert off_axis.correct and not off_axis.meets_target  # 75 % off-axis
    assert score(np.array([0.0, 0.01, 0.0]), 30.0, ("yaw", 1), 1.0).meets_target
    assert not score(np.array([0.0, 0.05, 0.0]), 20.0, ("yaw", 1), 1.0).meets_target  # moved too far
    assert not score(np.array([0.0, 0.0, 0.0]), -30.0, ("yaw", 1), 1.0).correct


def test_a_pairs_samples_are_counted_one_by_one():
    from chord_core.bench.text import _samples_row

    expected = ("y", 1)
    samples = [score(np.array([0.0, 0.08, 0.0]), 12.0, expected, 2.0),
               score(np.array([0.0, 0.02, 0.0]), -3.0, expected, 4.0),   # right way, too small
               score(np.array([0.0, -0.05, 0.0]), 30.0, expected, 6.0)]  # wrong way
    right, size, unit, off, _percent, turn, met, seconds = _samples_row(expected, samples).split()
    assert (right, met, unit, turn) == ("2/3", "1/3", "cm", "+12")  # turn: the median yaw, unasked
    assert float(size) == pytest.approx(2.0)  # the median of 8, 2 and -5 cm along +y
    assert float(off) == 0 and float(seconds) == pytest.approx(4.0)


def test_a_distilled_row_shows_a_translations_unasked_turn_and_a_turns_size():
    from chord_core.bench.text import _row, _summary

    slide, turn = ("y", 1), ("yaw", 1)
    slid = score(np.array([0.0, 0.06, 0.0]), -28.0, slide, 30.0)
    turned = score(np.array([0.0, 0.01, 0.0]), 20.0, turn, 30.0)
    assert _row(slide, slid).split()[:6] == ["yes", "6.0", "cm", "0", "%", "-28"]
    assert _row(turn, turned).split()[:5] == ["yes", "20.0", "deg", "1.0cm", "-"]
    assert _row(slide, score(np.array([0.0, 0.06, 0.0]), -0.3, slide, 30.0)).split()[5] == "+0"  # not "-0"
    summary = _summary("distilled flows", [(slide, slid), (slide, score(np.array([0.0, 0.05, 0.0]), 4.0, slide, 1.0)),
                                           (turn, turned)])
    assert "unasked turn median 16 deg, max 28" in summary, summary  # |-28| and |4|: the turn's own yaw not counted
    assert "tilt" not in summary  # none measured (a sample's fit sees no tilt)
    tipped = score(np.array([0.0, 0.06, 0.0]), 0.0, slide, 30.0, tilt_deg=24.0)
    summary = _summary("distilled flows", [(slide, tipped), (turn, score(np.zeros(3), 20.0, turn, 30.0, tilt_deg=2.0)),
                                           (slide, score(np.array([0.0, 0.05, 0.0]), 0.0, slide, 30.0, tilt_deg=30.0))])
    assert "tilt median 24 deg, max 30" in summary, summary


def test_the_benchmark_commands_are_understood_and_its_objects_unseen():
    from chord_core.bench.text import COMMANDS
    from chord_core.prior.clips import HELD_OUT_HUES

    for template, _ in COMMANDS:
        check_command(template.format(o="tee"))
    for _, scan in unseen_objects(points=500):
        hue = colorsys.rgb_to_hsv(*np.median(scan.colors, 0))[0]
        assert HELD_OUT_HUES[0] <= hue <= HELD_OUT_HUES[1]


@pytest.mark.parametrize("preset_name", ["mini", "cpu-test"])
def test_ablations_change_one_setting_each_and_toggle_the_fine_layer(preset_name):
    from chord_core.bench.text import ablations

    preset = load_preset(preset_name)
    variants = {label: preset.replace(**change) for label, change in ablations(preset).items()}
    assert list(variants.values())[0] == preset
    fine = [v for label, v in variants.items() if "fine layer" in label]
    assert len(fine) == 1 and fine[0].use_fine != preset.use_fine
    assert variants["uniform tau"].tau_schedule == "uniform" != preset.tau_schedule
    assert variants["weighted tau"].tau_schedule == "weighted" != preset.tau_schedule
    assert f"({preset.tau_schedule} tau" in list(variants)[0] and "annealed tau" not in variants
    weighted = ablations(preset.replace(tau_schedule="weighted"))  # every other schedule, none twice
    assert {c["tau_schedule"] for c in weighted.values() if "tau_schedule" in c} == {"annealed", "uniform"}
    assert variants["constant CFG"].cfg[0] == variants["constant CFG"].cfg[1] == preset.cfg[0] != preset.cfg[1]
