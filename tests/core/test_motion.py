"""Fenwick composition, Mahalanobis LBS and the motion model against dense/analytic references."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from chord_core.errors import ChordError
from chord_core.motion import fenwick
from chord_core.motion.model import DeformationSequence, MotionConfig, ObjectMotion, SceneMotion


def _range_sum_nodes(increments: torch.Tensor) -> torch.Tensor:
    """Node j (1-based) = sum of increments over (j - 2^v(j), j], computed by plain loops."""
    nodes = torch.zeros_like(increments)
    for j in range(1, len(increments) + 1):
        width = 1
        while j % (width * 2) == 0:
            width *= 2
        nodes[j - 1] = increments[j - width:j].sum(0)
    return nodes


@pytest.mark.parametrize("num_frames", [1, 2, 3, 7, 16, 41, 64, 81])
def test_fenwick_query_equals_dense_sum(num_frames):
    gen = torch.Generator().manual_seed(num_frames)
    increments = torch.randn(num_frames, 5, 3, generator=gen, dtype=torch.float64)
    increments[0] = 0.0  # frame 0 is the frozen canonical frame
    seq = DeformationSequence(5, num_frames).double()
    nodes = _range_sum_nodes(increments)
    with torch.no_grad():
        seq.translation_nodes.copy_(nodes[1:])
    frames = torch.arange(num_frames)
    dense = torch.cumsum(increments, 0)
    assert torch.allclose(seq.translations(frames), dense, atol=1e-10)
    # Every frame composes at most floor(log2 T) + 1 nodes.
    assert max(len(fenwick.bit_query_nodes(t)) for t in range(1, num_frames + 1)) <= int(np.log2(num_frames)) + 1


@pytest.mark.parametrize("num_frames", [5, 41, 81])
def test_fenwick_rotation_is_normalised_dense_quaternion_sum(num_frames):
    gen = torch.Generator().manual_seed(1)
    increments = torch.randn(num_frames, 3, 4, generator=gen, dtype=torch.float64)
    increments[0] = torch.tensor([1.0, 0, 0, 0])
    seq = DeformationSequence(3, num_frames).double()
    with torch.no_grad():
        seq.rotation_nodes.copy_(_range_sum_nodes(increments)[1:])
    dense = torch.cumsum(increments, 0)
    dense = dense / dense.norm(dim=-1, keepdim=True)
    assert torch.allclose(seq.rotations(torch.arange(num_frames)), dense, atol=1e-10)


def test_nodes_from_values_round_trips():
    values = torch.randn(81, 4, 3, dtype=torch.float64)
    nodes = fenwick.nodes_from_values(values)
    assert torch.allclose(fenwick.query_matrix(81, torch.float64) @ nodes.reshape(81, -1), values.reshape(81, -1))


@pytest.mark.parametrize("use_fenwick", [True, False])
def test_initial_deformation_is_identity_and_frame0_stays_frozen(use_fenwick):
    seq = DeformationSequence(4, 9, use_fenwick)
    frames = torch.arange(9)
    assert torch.allclose(seq.translations(frames), torch.zeros(9, 4, 3))
    assert torch.allclose(seq.rotations(frames), torch.tensor([1.0, 0, 0, 0]).expand(9, 4, 4))
    opt = torch.optim.SGD(seq.parameters(), lr=0.5)
    for _ in range(3):
        opt.zero_grad()
        loss = (seq.translations(frames) - 1).pow(2).sum() + seq.rotations(frames)[..., 1].sum()
        loss.backward()
        opt.step()
    assert torch.equal(seq.translations(torch.tensor([0])), torch.zeros(1, 4, 3))
    assert torch.equal(seq.rotations(torch.tensor([0])), torch.tensor([[[1.0, 0, 0, 0]] * 4]))
    assert seq.translations(frames)[1:].abs().max() > 0.1


@pytest.mark.parametrize("use_fenwick", [True, False])
def test_reset_after_copies_split_frame_to_later_frames(use_fenwick):
    seq = DeformationSequence(3, 41, use_fenwick)
    with torch.no_grad():
        seq.translation_nodes.normal_()
        seq.rotation_nodes.normal_()
    frames = torch.arange(41)
    t_before, r_before = seq.translations(frames).clone(), seq.rotations(frames).clone()
    seq.reset_after(30)
    t_after, r_after = seq.translations(frames), seq.rotations(frames)
    assert torch.allclose(t_after[:31], t_before[:31], atol=1e-5)
    assert torch.allclose(r_after[:31], r_before[:31], atol=1e-5)
    assert torch.allclose(t_after[31:], t_before[30].expand(10, 3, 3), atol=1e-5)
    assert torch.allclose(r_after[31:], r_before[30].expand(10, 3, 4), atol=1e-5)


def _single_point_motion(num_frames=4, **kw) -> ObjectMotion:
    config = MotionConfig(num_frames=num_frames, num_coarse=1, num_fine=1, **kw)
    return ObjectMotion(np.array([[0.2, -0.1, 0.3]]), config, fallback_scale=0.5).double()


def _set_layer_motion(layer, translations: torch.Tensor, quats: torch.Tensor) -> None:
    """Write per-frame (T, r) values [F, K, 3]/[F, K, 4] into a layer's Fenwick nodes."""
    with torch.no_grad():
        layer.deformation.translation_nodes.copy_(fenwick.nodes_from_values(translations)[1:])
        layer.deformation.rotation_nodes.copy_(fenwick.nodes_from_values(quats)[1:])


def test_lbs_single_control_point_moves_points_rigidly():
    motion = _single_point_motion()
    rots = Rotation.random(4, random_state=3)
    quats_xyzw = rots.as_quat()
    quats = torch.tensor(np.roll(quats_xyzw, 1, axis=1))[:, None]  # wxyz [F,1,4]
    quats[0] = torch.tensor([1.0, 0, 0, 0])
    trans = torch.tensor(np.random.default_rng(0).normal(size=(4, 1, 3)))
    trans[0] = 0
    _set_layer_motion(motion.coarse, trans, quats)
    rng = np.random.default_rng(1)
    points = torch.tensor(rng.normal(size=(20, 3)))
    gauss_quats = torch.tensor(Rotation.random(20, random_state=5).as_quat()[:, [3, 0, 1, 2]])
    with torch.no_grad():
        pos, rot = motion.deform(points, [0, 1, 2, 3], gauss_quats)
    p = np.array([0.2, -0.1, 0.3])
    for f in range(4):
        r_f = Rotation.from_quat(np.roll(quats[f, 0].numpy(), -1))
        expected = r_f.apply(points.numpy() - p) + p + trans[f, 0].numpy()
        assert np.allclose(pos[f].numpy(), expected, atol=1e-10)
        composed = (r_f * Rotation.from_quat(gauss_quats.numpy()[:, [1, 2, 3, 0]])).as_quat()[:, [3, 0, 1, 2]]
        got = rot[f].numpy()
        assert np.allclose(np.abs((got * composed).sum(1)), 1.0, atol=1e-10)  # same rotation up to sign


def test_lbs_weights_sum_to_one_and_match_eq7():
    rng = np.random.default_rng(2)
    config = MotionConfig(num_frames=2, num_coarse=12, neighbours=4, use_fine=False)
    motion = ObjectMotion(rng.uniform(-1, 1, size=(500, 3)), config, 0.1).double()
    layer = motion.coarse
    with torch.no_grad():
        layer.log_scales.copy_(torch.tensor(rng.normal(-1, 0.3, size=(12, 3))))
        layer.cov_quats.copy_(torch.tensor(rng.normal(size=(12, 4))))
    points = torch.tensor(rng.uniform(-1, 1, size=(30, 3)))
    idx, beta = layer.blend_weights(points)
    assert torch.allclose(beta.sum(1), torch.ones(30, dtype=torch.float64))
    p = layer.control_points.double().numpy()
    scales = np.exp(layer.log_scales.detach().numpy())
    rmats = Rotation.from_quat(layer.cov_quats.detach().numpy()[:, [1, 2, 3, 0]]).as_matrix()
    for m in range(30):
        nearest = np.argsort(np.linalg.norm(p - points[m].numpy(), axis=1))[:4]
        assert set(nearest.tolist()) == set(idx[m].tolist())
        raw = {}
        for k in nearest:
            sigma = rmats[k] @ np.diag(scales[k] ** 2) @ rmats[k].T
            d = points[m].numpy() - p[k]
            raw[k] = np.exp(-0.5 * d @ np.linalg.solve(sigma, d))
        total = sum(raw.values())
        for j, k in enumerate(idx[m].tolist()):
            assert beta[m, j].item() == pytest.approx(raw[k] / total, abs=1e-10)


def test_lbs_gradients_match_finite_differences():
    rng = np.random.default_rng(4)
    config = MotionConfig(num_frames=5, num_coarse=6, num_fine=8, neighbours=3)
    motion = ObjectMotion(rng.uniform(-1, 1, size=(200, 3)), config, 0.1).double()
    motion.enable_fine()
    for layer in motion.layers():
        with torch.no_grad():
            layer.deformation.translation_nodes.normal_(std=0.1)
            layer.deformation.rotation_nodes.add_(0.1 * torch.randn_like(layer.deformation.rotation_nodes))
    points = torch.tensor(rng.uniform(-1, 1, size=(7, 3)))
    quats = torch.tensor(rng.normal(size=(7, 4)))
    names = ["coarse.deformation.translation_nodes", "coarse.deformation.rotation_nodes",
             "coarse.log_scales", "coarse.cov_quats", "fine.deformation.translation_nodes",
             "fine.deformation.rotation_nodes"]
    state = dict(motion.named_parameters())
    inputs = tuple(state[n].detach().clone().requires_grad_(True) for n in names)

    def deform(*values):
        return _call_deform(motion, dict(zip(names, values)), points, quats)

    assert torch.autograd.gradcheck(deform, inputs, eps=1e-6, atol=1e-6)


def _call_deform(motion, overrides, points, quats):
    """motion.deform with some parameters replaced by the given tensors (torch.func)."""
    from torch.func import functional_call

    class _Deform(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, pts, qs):
            return self.inner.deform(pts, [1, 3, 4], qs)

    wrapper = _Deform(motion)
    return functional_call(wrapper, {f"inner.{k}": v for k, v in overrides.items()}, (points, quats))


def test_fine_layer_adds_residual_translation():
    rng = np.random.default_rng(6)
    config = MotionConfig(num_frames=3, num_coarse=4, num_fine=16)
    motion = ObjectMotion(rng.uniform(-1, 1, size=(300, 3)), config, 0.1).double()
    points = torch.tensor(rng.uniform(-1, 1, size=(10, 3)))
    coarse_only, _ = motion.deform(points, [0, 1, 2])
    shift = torch.tensor([0.0, 0.3, -0.2], dtype=torch.float64)
    k = len(motion.fine.control_points)
    trans = torch.zeros(3, k, 3, dtype=torch.float64)
    trans[2] = shift
    ident = torch.zeros(3, k, 4, dtype=torch.float64)
    ident[..., 0] = 1
    _set_layer_motion(motion.fine, trans, ident)
    before, _ = motion.deform(points, [0, 1, 2])
    assert torch.allclose(before, coarse_only)  # fine layer off until enabled
    motion.enable_fine()
    after, _ = motion.deform(points, [0, 1, 2])
    assert torch.allclose(after[:2], coarse_only[:2], atol=1e-12)
    assert torch.allclose(after[2], coarse_only[2] + shift, atol=1e-12)


def test_disabled_fine_layer_refuses_enable():
    motion = ObjectMotion(np.zeros((1, 3)), MotionConfig(num_frames=2, use_fine=False), 0.1)
    with pytest.raises(ChordError, match="use_fine"):
        motion.enable_fine()


def test_scene_motion_routes_gaussians_by_object():
    from chord_core.render.gaussians import Gaussians

    rng = np.random.default_rng(7)
    cfg = MotionConfig(num_frames=3, num_coarse=3, use_fine=False)
    motions = [ObjectMotion(rng.uniform(-1, 0, size=(50, 3)), cfg, 0.1),
               ObjectMotion(rng.uniform(0, 1, size=(50, 3)), cfg, 0.1)]
    for m, c in zip(motions, (1.0, -2.0)):
        with torch.no_grad():
            m.coarse.deformation.translation_nodes.normal_(mean=c, std=0.1)
    scene_motion = SceneMotion(motions)
    n = 12
    g = Gaussians(means=torch.rand(n, 3), quats=torch.nn.functional.normalize(torch.randn(n, 4), dim=1),
                  scales=torch.full((n, 3), 0.05), opacities=torch.full((n,), 0.5),
                  colors=torch.rand(n, 3), object_ids=torch.tensor([0, 1] * 6))
    means, quats = scene_motion.deform_gaussians(g, [0, 2])
    for i in (0, 1):
        mask = g.object_ids == i
        pos, rot = motions[i].deform(g.means[mask], [0, 2], g.quats[mask])
        assert torch.allclose(means[:, mask], pos) and torch.allclose(quats[:, mask], rot)
    groups = scene_motion.param_groups()
    assert len(groups["deformations"]) == 2 and len(groups["scales"]) == 4


def test_bad_frames_raise():
    motion = ObjectMotion(np.zeros((1, 3)), MotionConfig(num_frames=3, use_fine=False), 0.1)
    with pytest.raises(ChordError, match="frames"):
        motion.deform(torch.zeros(2, 3), [3])


def _dense_appearance_weights(layer, anchors, colors, points, sigma):
    """Eq. 7 plus the chromaticity offset, by plain loops in float64 (independent of motion.py)."""
    p = layer.control_points.double().numpy()
    scales = np.exp(layer.log_scales.detach().double().numpy())
    rmats = Rotation.from_quat(layer.cov_quats.detach().double().numpy()[:, [1, 2, 3, 0]]).as_matrix()
    chroma = colors / colors.sum(1, keepdims=True)
    owner = np.array([np.argmin(np.linalg.norm(p - a, axis=1)) for a in anchors])
    control_chroma = np.array([chroma[owner == k].mean(0) for k in range(len(p))])
    out = []
    for x in points:
        a = int(np.argmin(np.linalg.norm(anchors - x, axis=1)))
        nearest = np.argsort(np.linalg.norm(p - anchors[a], axis=1))[:layer.neighbours]
        raw = {}
        for k in nearest:
            d = x - p[k]
            sigma_k = rmats[k] @ np.diag(scales[k] ** 2) @ rmats[k].T
            colour = np.sum((chroma[a] - control_chroma[k]) ** 2) / (2 * sigma**2)
            raw[int(k)] = np.exp(-0.5 * d @ np.linalg.solve(sigma_k, d) - colour)
        total = sum(raw.values())
        out.append({k: v / total for k, v in raw.items()})
    return out


def test_appearance_skinning_matches_dense_reference():
    rng = np.random.default_rng(11)
    anchors = rng.uniform(-1, 1, (300, 3))
    colors = rng.uniform(0.1, 1.0, (300, 3))
    config = MotionConfig(num_frames=2, num_coarse=8, neighbours=3, use_fine=False, appearance_sigma=0.2)
    motion = ObjectMotion(rng.uniform(-1, 1, (500, 3)), config, 0.1, anchors=anchors, anchor_colors=colors)
    layer = motion.coarse.double()
    with torch.no_grad():
        layer.log_scales.copy_(torch.tensor(rng.normal(-0.5, 0.3, size=(8, 3))))
    points = rng.uniform(-1, 1, (25, 3))
    idx, beta = layer.blend_weights(torch.tensor(points))
    expected = _dense_appearance_weights(layer, anchors, colors, points, 0.2)
    for m in range(len(points)):
        assert set(idx[m].tolist()) == set(expected[m])
        for j, k in enumerate(idx[m].tolist()):
            assert beta[m, j].item() == pytest.approx(expected[m][k], abs=1e-6)


def test_appearance_skinning_is_eq7_on_a_uniformly_coloured_object():
    rng = np.random.default_rng(12)
    anchors = rng.uniform(-1, 1, (200, 3)).astype(np.float32)
    grey = np.full((200, 3), 0.4, np.float32)
    interior = rng.uniform(-1, 1, (400, 3))
    plain = ObjectMotion(interior, MotionConfig(num_frames=2, num_coarse=6, use_fine=False), 0.1)
    tinted = ObjectMotion(interior, MotionConfig(num_frames=2, num_coarse=6, use_fine=False, appearance_sigma=0.05),
                          0.1, anchors=anchors, anchor_colors=grey)
    idx_a, beta_a = plain.coarse.blend_weights(torch.as_tensor(anchors))
    idx_b, beta_b = tinted.coarse.blend_weights(torch.as_tensor(anchors))
    assert torch.equal(idx_a, idx_b)
    torch.testing.assert_close(beta_a, beta_b)


def test_appearance_skinning_keeps_a_flush_part_of_another_colour_still():
    """A blue slab resting flush on a brown block: moving the blue control points drags the
    brown points below the seam with Eq. 7, hardly at all with the chromaticity term."""
    rng = np.random.default_rng(13)
    body = rng.uniform([-1, -1, -1], [1, 1, 0], (600, 3))
    lid = rng.uniform([-1, -1, 0], [1, 1, 0.6], (400, 3))
    anchors = np.concatenate([body, lid]).astype(np.float32)
    shade = rng.uniform(0.5, 1.0, (1000, 1))  # texture intensity: chromaticity ignores it
    colors = (np.r_[np.tile([[0.55, 0.4, 0.25]], (600, 1)), np.tile([[0.25, 0.45, 0.75]], (400, 1))] * shade)
    near_seam = torch.as_tensor(body[body[:, 2] > -0.3], dtype=torch.float32)
    moved = {}
    for sigma in (0.0, 0.05):
        config = MotionConfig(num_frames=2, num_coarse=10, neighbours=4, use_fine=False, appearance_sigma=sigma)
        motion = ObjectMotion(anchors, config, 0.1, anchors=anchors, anchor_colors=colors.astype(np.float32))
        lid_controls = motion.coarse.control_points[:, 2] > 0.0
        with torch.no_grad():
            motion.coarse.deformation.translation_nodes[0, lid_controls] = torch.tensor([0.0, 0.0, 1.0])
        moved[sigma] = (motion.deform(near_seam, [1])[0][0] - near_seam).norm(dim=1).mean().item()
    assert moved[0.0] > 0.05
    assert moved[0.05] < 0.2 * moved[0.0]


def test_appearance_skinning_needs_colours():
    anchors = np.zeros((4, 3), np.float32)
    with pytest.raises(ChordError, match="colour"):
        ObjectMotion(np.zeros((4, 3)), MotionConfig(num_frames=2, use_fine=False, appearance_sigma=0.1), 0.1,
                     anchors=anchors)
