"""The distillation loop: reference-teacher gradient, resume, cancel, NaN stop, recovery, tiny Wan;
camera pool + target cache, scene units, learned skinning, `chord bench recovery` / `step`."""

import threading

import numpy as np
import pytest
import torch

from chord_core.cli import main
from chord_core.distill.optimize import Distiller, export_flow, gradient_norm_line, gradient_norm_records, log_linear
from chord_core.distill.presets import Preset
from chord_core.distill.sds import sds_step
from chord_core.errors import ChordError
from chord_core.formats.reference_motion import end_point_error
from chord_core.motion import fenwick
from chord_core.motion.model import MotionConfig, ObjectMotion
from chord_core.render.cameras import orbit_cameras
from chord_core.scene.objects import scene_from_scans
from chord_core.scene.scenarios import make_scenario
from chord_core.teachers.reference import ReferenceTeacher


def tiny_preset(**changes) -> Preset:
    base = Preset(name="tiny", teacher="reference", device="cpu", width=32, height=32, frames=5, fps=4.0,
                  batch_cameras=1, iterations=6, gaussians_per_object=300, num_coarse=6, num_fine=12,
                  neighbours=3, fine_tau=0.8, split_iteration=3, split_fraction=0.75,
                  lr_deformation=[1e-2, 1e-3], lr_rotation=[5e-3, 5e-4], lr_scale=[5e-3, 5e-4],
                  arap_samples=300, checkpoint_every=2,
                  sds_weight=3 * 5 * 32 * 32, temporal_weight=[0.6, 0.1])  # Eq. 3's sum; A.1's 9.6 -> 1.6 / 4^2
    return base.replace(**changes)


@pytest.fixture(scope="module")
def box():
    scenario = make_scenario("rigid_box", frames=5, points=800)
    return scenario, scene_from_scans(scenario.scans, 300)


def test_reference_w_rfsds_gradient_is_analytic(box):
    """With the ideal velocity (z_τ − x*)/τ, Eq. 3 reduces to (z − x*)/τ."""
    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    centre, radius = scene.bounding_sphere()
    cams = orbit_cameras(centre, radius, 2, 32, 32, seed=1)
    z = torch.rand(2, 3, 5, 32, 32, requires_grad=True)
    cond = teacher.condition(z[:, :, 0].detach(), 5, cameras=cams)
    step = sds_step(teacher, z, 0.4, cond, 12.0, torch.Generator().manual_seed(0))
    expected = (z.detach() - cond.target) / 0.4
    torch.testing.assert_close(step.grad, expected, atol=2e-5, rtol=1e-5)
    step.loss.backward()
    torch.testing.assert_close(z.grad, expected, atol=2e-5, rtol=1e-5)


def test_reference_target_is_the_ground_truth_render(box):
    """Frame 0 of the target equals a render of the undeformed scene; later frames differ."""
    from chord_core.render.renderer import render

    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    centre, radius = scene.bounding_sphere()
    cams = orbit_cameras(centre, radius, 1, 32, 32, seed=2)
    target = teacher.target_video(cams)
    still = render(scene.gaussians, cams).rgb[0].permute(2, 0, 1)
    torch.testing.assert_close(target[0, :, 0], still, atol=1e-5, rtol=0)
    assert (target[0, :, -1] - still).abs().max() > 0.05


def _state(distiller: Distiller) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in distiller.motion.state_dict().items()}


@pytest.mark.parametrize("changes", [{}, {"batch_cameras": 2, "camera_pool": 4}])
def test_resume_continues_bit_for_bit_and_cancel_keeps_checkpoint(box, tmp_path, changes):
    """Resumed by a fresh teacher too (a new process): with a camera pool its target cache starts
    empty, so targets are rendered in other batches than in the uninterrupted run."""
    scenario, scene = box
    preset = tiny_preset(**changes)

    def make(out, **kw):
        return Distiller(scene, ReferenceTeacher(scene, scenario.motion, 5), preset, "slide the block",
                         out, seed=3, **kw)

    straight = make(tmp_path / "a")
    straight.run()
    cancel = threading.Event()
    first = make(tmp_path / "b", cancel=cancel,
                 progress=lambda p: cancel.set() if p.iteration == 3 else None)
    partial = first.run()
    assert partial.cancelled and partial.iterations == 3
    assert torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)["iteration"] == 3
    resumed = make(tmp_path / "b")
    result = resumed.run(resume=True)
    assert result.iterations == 6 and not result.cancelled
    assert resumed.motion.objects[0].fine_enabled == straight.motion.objects[0].fine_enabled
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [h["total"] for h in straight.history] == [h["total"] for h in resumed.history]


def test_resume_refuses_a_different_run(box, tmp_path):
    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    Distiller(scene, teacher, tiny_preset(iterations=2), "slide", tmp_path, seed=0).run()
    other = Distiller(scene, teacher, tiny_preset(iterations=2), "slide", tmp_path, seed=1)
    with pytest.raises(ChordError, match="different preset, seed or prompt"):
        other.run(resume=True)
    with pytest.raises(ChordError, match="no checkpoint"):
        Distiller(scene, teacher, tiny_preset(), "slide", tmp_path / "none").run(resume=True)
    moved = make_scenario("two_objects", frames=5, points=800)  # other clouds: other control points
    moved_scene = scene_from_scans(moved.scans, 300)
    with pytest.raises(ChordError, match="different scene"):
        Distiller(moved_scene, ReferenceTeacher(moved_scene, moved.motion, 5), tiny_preset(iterations=2), "slide",
                  tmp_path, seed=0).run(resume=True)


class PoisonedTeacher(ReferenceTeacher):
    """Returns NaN velocities from a given call on, like a diverging model."""

    def __init__(self, *args, poison_from: int, **kw):
        super().__init__(*args, **kw)
        self.calls, self.poison_from = 0, poison_from

    def velocity(self, z_tau, tau, cond, guidance_scale):
        self.calls += 1
        v = super().velocity(z_tau, tau, cond, guidance_scale)
        return v * float("nan") if self.calls > self.poison_from else v


def test_nan_loss_stops_with_last_good_checkpoint(box, tmp_path):
    scenario, scene = box
    teacher = PoisonedTeacher(scene, scenario.motion, 5, poison_from=5)
    distiller = Distiller(scene, teacher, tiny_preset(iterations=8), "slide", tmp_path, seed=0)
    with pytest.raises(ChordError, match="iteration 6: the loss became nan"):
        distiller.run()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in state["motion"].values() if v.is_floating_point())


def test_empty_prompt_is_refused_for_text_teachers(box):
    scenario, scene = box

    class TextTeacher(ReferenceTeacher):
        is_reference = False

    with pytest.raises(ChordError, match="prompt is empty"):
        Distiller(scene, TextTeacher(scene, scenario.motion, 5), tiny_preset(), "  ")


def test_export_flow_follows_a_known_translation(box):
    scenario, scene = box
    distiller = Distiller(scene, ReferenceTeacher(scene, scenario.motion, 5), tiny_preset(), "slide")
    with torch.no_grad():
        for layer in distiller.motion.objects[0].layers():
            nodes = layer.deformation.translation_nodes
            nodes.zero_()
        # frame t = 4 -> Fenwick node 4 (index 3 of the trainable nodes) covers frames 1..4 alone
        distiller.motion.objects[0].coarse.deformation.translation_nodes[3] = torch.tensor([0.1, 0.0, 0.0])
    flow = export_flow(scene, distiller.motion, "slide", 4.0)
    points = scene.objects[0].source_points
    np.testing.assert_array_equal(flow.trajectories[0], points)
    np.testing.assert_allclose(flow.trajectories[4], points + [0.1, 0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(flow.trajectories[1], points, atol=1e-6)


def test_support_term_pushes_a_sunken_object_back_up(box):
    """The support term is the weighted mean squared depth of the Gaussians below the scene's
    lowest point at rest (scene units), and its descent direction lifts a motion that sinks the
    object; a motion that stays above gives no term."""
    scenario, scene = box
    distiller = Distiller(scene, ReferenceTeacher(scene, scenario.motion, 5), tiny_preset(support_weight=100.0), "x")
    node = distiller.motion.objects[0].coarse.deformation.translation_nodes
    generator = torch.Generator().manual_seed(0)
    assert distiller._forward(0, generator).support.item() == 0.0
    with torch.no_grad():
        node[3] = torch.tensor([0.02, 0.0, -0.03])  # frame 4 alone (Fenwick node 4) slides and sinks 3 cm
    terms = distiller._forward(0, generator)
    means = scene.gaussians.means.double().numpy()
    depth = np.maximum(means[:, 2].min() - (means[:, 2] - 0.03), 0.0)  # frames 0-3 rest, frame 4 sunk
    expected = 100.0 * (depth**2).sum() / (5 * len(means)) / distiller.unit**2
    assert terms.support.item() == pytest.approx(expected, rel=1e-3)
    (grad,) = torch.autograd.grad(terms.support, node)  # [nodes, control points, 3]
    lift, sideways = grad[3, ..., 2], grad[3, ..., :2]
    assert (lift <= 0).all() and lift.sum() < 0  # a descent step raises every control point that sank
    assert float(lift.abs().sum()) > 10 * float(sideways.abs().sum())  # and moves it no other way


def test_log_linear_learning_rate_endpoints():
    assert log_linear(6e-3, 6e-5, 0.0) == pytest.approx(6e-3)
    assert log_linear(6e-3, 6e-5, 1.0) == pytest.approx(6e-5)
    assert log_linear(6e-3, 6e-5, 0.5) == pytest.approx(6e-4)


def test_reference_run_recovers_rigid_motion(box):
    """A short run already moves the flow most of the way toward the known motion."""
    scenario, scene = box
    preset = tiny_preset(iterations=40, batch_cameras=2, checkpoint_every=100, split_iteration=1000,
                         arap_weight=[30.0, 3.0], temporal_weight=[0.1 / 16, 0.1 / 16],
                         lr_deformation=[5e-2, 5e-3])  # scene units (bounding radius), see optimize
    assert _recovery_ratio(scenario, scene, preset) < 0.5


@pytest.mark.parametrize("kind", ["i2v-a14b", "ti2v-5b"])
def test_tiny_wan_gradients_reach_the_motion(box, tmp_path, kind):
    from chord_core.teachers import load_teacher
    from chord_core.teachers.tiny import build_tiny_wan

    scenario, scene = box
    teacher = load_teacher(kind, build_tiny_wan(tmp_path / kind, kind), device="cpu")
    preset = tiny_preset(teacher=f"wan-{kind}", iterations=2, checkpoint_every=100)
    distiller = Distiller(scene, teacher, preset, "the robot slides the box left", seed=0)
    distiller.step()
    grads = [p.grad for p in distiller.motion.param_groups()["deformations"] if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    assert np.isfinite(distiller.history[-1]["sds"])


def test_camera_pool_batches_come_from_the_pool_and_targets_are_cached(box):
    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    distiller = Distiller(scene, teacher, tiny_preset(batch_cameras=2, camera_pool=6), "", seed=1)
    pool = distiller.camera_pool[0]
    for i in range(5):
        cams = distiller.cameras(i)
        for c in range(len(cams)):
            assert any(torch.equal(cams.viewmats[c], pool.viewmats[j]) for j in range(len(pool)))
    cams = distiller.cameras(0)
    cached = teacher.target_video(cams)
    assert len(teacher._cache) >= len(cams)
    fresh = teacher._video.render(cams)
    torch.testing.assert_close(cached, fresh)
    assert torch.equal(teacher.target_video(cams), cached)


def test_translation_learning_rate_is_in_scene_units(box):
    scenario, scene = box
    distiller = Distiller(scene, ReferenceTeacher(scene, scenario.motion, 5), tiny_preset(), "", seed=0)
    radius = scene.bounding_sphere()[1]
    assert distiller.lr_ranges["deformations"] == pytest.approx([lr * radius for lr in tiny_preset().lr_deformation])
    assert distiller.lr_ranges["rotations"] == tiny_preset().lr_rotation


def test_learned_skinning_starts_as_eq7_and_learns_offsets():
    rng = np.random.default_rng(0)
    interior = rng.uniform(-1, 1, (400, 3))
    anchors = rng.uniform(-1, 1, (50, 3)).astype(np.float32)
    plain = ObjectMotion(interior, MotionConfig(num_frames=3, num_coarse=6, use_fine=False), 0.5)
    learned = ObjectMotion(interior, MotionConfig(num_frames=3, num_coarse=6, use_fine=False,
                                                  learned_skinning=True), 0.5, anchors=anchors)
    points = torch.as_tensor(anchors[:20])
    idx_a, beta_a = plain.coarse.blend_weights(points)
    idx_b, beta_b = learned.coarse.blend_weights(points)
    assert torch.equal(idx_a, idx_b)  # an anchor has its own K nearest control points
    torch.testing.assert_close(beta_a, beta_b)  # ℓ = 0: exactly Eq. 7
    with torch.no_grad():
        learned.coarse.deformation.translation_nodes.normal_()
    learned.deform(points, [2])[0].sum().backward()
    assert learned.coarse.skin_logits.grad is not None and learned.coarse.skin_logits.grad.abs().sum() > 0
    with torch.no_grad():
        learned.coarse.skin_logits[:, 0] += 5.0
    assert (learned.coarse.blend_weights(points)[1][:, 0] > beta_b[:, 0]).all()


def _recovery_ratio(scenario, scene, preset) -> float:
    """EPE of a reference run's flow / EPE of no motion (chord bench recovery's figure)."""
    distiller = Distiller(scene, ReferenceTeacher(scene, scenario.motion, preset.frames), preset, "", seed=0)
    distiller.run()
    flow = export_flow(scene, distiller.motion, "", preset.fps)
    points = np.concatenate([s.points for s in scenario.scans])
    truth = scenario.motion.resampled(preset.frames).apply(points)
    still = end_point_error(np.repeat(points[None], preset.frames, 0), truth)
    return end_point_error(flow.trajectories, truth) / still


def test_two_objects_recover_in_few_iterations():
    """Two separate blocks moving differently: a short reference run gets most of the motion."""
    scenario = make_scenario("two_objects", frames=5, points=1200)
    scene = scene_from_scans(scenario.scans, 300)
    preset = tiny_preset(iterations=30, batch_cameras=2, num_coarse=4, use_fine=False, camera_pool=12,
                         checkpoint_every=100, split_iteration=1000, lr_deformation=[5e-2, 5e-3])
    assert _recovery_ratio(scenario, scene, preset) < 0.35


def test_bench_recovery_prints_the_table(capsys):
    assert main(["bench", "recovery", "--iterations", "2", "--scenarios", "rigid_box"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("recovery ratio (mean): ")
    float(lines[-1].split(":")[1])
    assert any(line.startswith("rigid_box") for line in lines)


@pytest.mark.slow
def test_bench_step_prints_phases(capsys):
    assert main(["bench", "step", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for phase in ("render (fwd)", "VAE encode fwd", "VAE encode bwd", "transformer", "losses", "total"):
        assert phase in out


def test_camera_pool_on_an_arc_across_180_degrees_uses_every_pool_camera(box):
    """The operator arc (azimuth 135..225, behind the robot base) crosses the ±180° seam."""
    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    preset = tiny_preset(batch_cameras=2, camera_pool=8, azimuth_deg=[135.0, 225.0])
    distiller = Distiller(scene, teacher, preset, "", seed=1)
    pool, azimuths = distiller.camera_pool
    assert ((azimuths >= 135.0) & (azimuths <= 225.0)).all(), azimuths
    eyes = -torch.einsum("cji,cj->ci", pool.viewmats[:, :3, :3], pool.viewmats[:, :3, 3])
    assert (eyes[:, 0] < torch.as_tensor(distiller.center[0])).all()  # all behind the base side (-x)
    used = {tuple(distiller.cameras(i).viewmats[c].flatten().tolist()) for i in range(20) for c in range(2)}
    assert len(used) == len(pool)


def test_term_gradient_norms_split_the_step_gradient_by_term(box):
    """Each norm equals the norm of that term's own one-stage gradient, the weighted terms scale
    with their weights, and the terms' gradients add up to the gradient a step applies."""
    scenario, scene = box

    def distiller(**changes) -> Distiller:
        d = Distiller(scene, ReferenceTeacher(scene, scenario.motion, 5), tiny_preset(**changes), "x", seed=0)
        d.step()  # past iteration 0, so the motion is not at its zero-gradient rest state
        return d

    d = distiller()
    norms = d.term_gradient_norms(seed=5)
    params = [p for group in d.motion.param_groups().values() for p in group]
    terms = d._forward(d.iteration, torch.Generator().manual_seed(5))
    direct = {name: torch.autograd.grad(getattr(terms, name), params, retain_graph=True, allow_unused=True)
              for name in ("sds", "temporal", "arap")}
    for name, grads in direct.items():
        expected = float(torch.sqrt(sum(g.double().square().sum() for g in grads if g is not None)))
        assert norms[name] == pytest.approx(expected, rel=1e-4), name
        assert norms[name] > 0
    total = torch.autograd.grad(terms.sds + terms.regularizers, params, allow_unused=True)
    for i, g in enumerate(total):
        parts = [direct[name][i] for name in direct if direct[name][i] is not None]
        assert (g is None) == (not parts)  # parameters no term reaches (e.g. the fine layer, not yet on)
        if g is not None:
            torch.testing.assert_close(g, sum(parts), rtol=1e-3, atol=1e-3 * float(g.abs().max()))
    doubled = distiller(temporal_weight=[2 * w for w in tiny_preset().temporal_weight]).term_gradient_norms(seed=5)
    assert doubled["temporal"] == pytest.approx(2 * norms["temporal"], rel=1e-4)
    assert doubled["sds"] == pytest.approx(norms["sds"], rel=1e-4)


def _smooth_motion(distiller: Distiller, seed: int = 0) -> None:
    """Put every coarse control point on one smooth path in clip time s = t / (T − 1) (a slide, a
    bump and a yaw), so distillers with other frame counts hold the same motion, sampled more finely."""
    rng = np.random.default_rng(seed)
    for obj in distiller.motion.objects:
        sequence = obj.coarse.deformation
        count, frames = sequence.translation_nodes.shape[1], sequence.num_frames
        s = torch.linspace(0.0, 1.0, frames, dtype=torch.float64)[:, None, None]
        slide, bump = (torch.as_tensor(rng.normal(0.0, 0.3 * distiller.unit, (1, count, 3))) for _ in range(2))
        yaw = torch.as_tensor(rng.normal(0.0, 0.4, (1, count))) * s[..., 0]
        zero = torch.zeros_like(yaw)
        quats = torch.stack([torch.cos(yaw / 2), zero, zero, torch.sin(yaw / 2)], -1)
        with torch.no_grad():
            sequence.translation_nodes.copy_(fenwick.nodes_from_values(slide * s + bump * torch.sin(torch.pi * s))[1:])
            sequence.rotation_nodes.copy_(fenwick.nodes_from_values(quats)[1:])


def test_term_balance_holds_when_resolution_or_frame_count_doubles():
    """Issue 13.4: the regularisers' gradient norms relative to W-RFSDS's, for one smooth motion, stay
    within 10 % at twice the width and height or (almost) twice the frames (a run of the sums Eq. 3,
    12 and 13 write would move them 4x (resolution) and 2x-4x (frames); the weights stay put)."""
    def ratios(frames: int, size: int) -> dict[str, float]:
        scenario = make_scenario("rigid_box", frames=frames, points=800)
        scene = scene_from_scans(scenario.scans, 300)
        preset = tiny_preset(frames=frames, width=size, height=size, split_iteration=1000, support_weight=1e5,
                             temporal_weight=[60.0, 60.0])  # weights that make every term count here
        distiller = Distiller(scene, ReferenceTeacher(scene, scenario.motion, frames), preset, "", seed=0)
        _smooth_motion(distiller)
        norms = distiller.term_gradient_norms(seed=3)
        return {name: norms[name] / norms["sds"] for name in ("temporal", "arap", "support")}

    base, finer, longer = ratios(9, 32), ratios(9, 64), ratios(17, 32)
    print({"base": base, "2x resolution": finer, "2x frames": longer})
    for name, value in base.items():
        assert value > 0.01, name  # each regulariser really counts beside W-RFSDS here
        assert finer[name] == pytest.approx(value, rel=0.10), ("resolution", name)
        assert longer[name] == pytest.approx(value, rel=0.10), ("frames", name)


def test_steps_log_each_terms_gradient_norm_at_checkpoints(box):
    """Every checkpoint_every-th step records the norms term_gradient_norms gives for that state (the
    reference teacher's noise cancels, so the step's own noise does not matter); summary.json's list
    and the progress line are read from those records."""
    scenario, scene = box
    teacher = ReferenceTeacher(scene, scenario.motion, 5)
    distiller = Distiller(scene, teacher, tiny_preset(support_weight=1e3), "x", seed=0)
    assert "grad_sds" not in distiller.step()  # iteration 1 of 6, checkpoint_every 2
    expected = distiller.term_gradient_norms(seed=9)
    record = distiller.step()
    assert set(expected) == {"sds", "temporal", "arap", "support"}
    for name, value in expected.items():
        assert record[f"grad_{name}"] == pytest.approx(value, rel=1e-4), name
    records = gradient_norm_records(distiller.history)
    assert records == [{"iteration": 2, **{name: record[f"grad_{name}"] for name in expected}}]
    line = gradient_norm_line(2, record)
    ratio = record["grad_arap"] / record["grad_sds"]
    assert line.startswith("iteration 2: gradient norm on the motion: W-RFSDS ") and f"({ratio:.2g}x)" in line
