"""CPU rasterizer vs. a dense float64 compositor, analytic single-Gaussian values, gradients."""

import math

import pytest
import torch

from chord_core.errors import ChordError
from chord_core.render.cameras import Cameras, intrinsics, look_at, orbit_cameras
from chord_core.render.cpu import rasterize_cpu
from chord_core.render.dense_reference import render_dense
from chord_core.render.gaussians import Gaussians
from chord_core.render.renderer import render


def _random_scene(n: int, seed: int, dtype=torch.float32) -> dict:
    gen = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=gen) - 0.5) * torch.tensor([2.0, 2.0, 1.0])
    means[0] = torch.tensor([0.0, 0.0, 3.5])  # behind / at the camera of view 0 (culled)
    quats = torch.randn(n, 4, generator=gen)
    scales = torch.exp(torch.randn(n, 3, generator=gen) * 0.5 - 2.0)
    opacities = torch.rand(n, generator=gen) * 0.98 + 0.01
    opacities[1] = 0.002  # below 1/255: invisible
    opacities[2:8] = 0.99  # opaque cluster so some pixels saturate (transmittance stop)
    means[2:8] = means[2:8] * 0.05
    colors = torch.rand(n, 3, generator=gen)
    feats = torch.randn(n, 3, generator=gen)
    return {k: v.to(dtype) for k, v in dict(means=means, quats=quats, scales=scales, opacities=opacities,
                                               colors=colors, feats=feats).items()}


def _cams(width=26, height=18, dtype=torch.float32) -> Cameras:
    cams = orbit_cameras((0, 0, 0), 1.2, 3, width, height, elevation_deg=(-20, 40), azimuth_deg=(0, 300),
                         random=False, distance=3.5)
    return Cameras(cams.viewmats.to(dtype), cams.Ks.to(dtype), width, height)


def test_cpu_renderer_matches_dense_reference():
    s = _random_scene(60, seed=0)
    cams = _cams()
    colors = torch.cat((s["colors"], s["feats"]), 1)
    chans, alpha, depth = rasterize_cpu(s["means"], s["quats"], s["scales"], s["opacities"], colors,
                                        cams.viewmats, cams.Ks, cams.width, cams.height)
    ref_c, ref_a, ref_d = render_dense(s["means"], s["quats"], s["scales"], s["opacities"], colors,
                                       cams.viewmats, cams.Ks, cams.width, cams.height)
    assert ref_a.max() > 0.99 and ref_a.min() < 0.01  # the scene covers saturated and empty pixels
    assert (chans.double() - ref_c).abs().max() <= 1e-5
    assert (alpha.double() - ref_a).abs().max() <= 1e-5
    # Expected depth is D / alpha: compare where alpha is not vanishing (1/255 and up).
    covered = ref_a > 1.0 / 255
    assert (depth.double() - ref_d)[covered].abs().max() <= 1e-5


def test_cpu_renderer_is_exact_in_float64():
    s = _random_scene(60, seed=1, dtype=torch.float64)
    cams = _cams(dtype=torch.float64)
    colors = torch.cat((s["colors"], s["feats"]), 1)
    out = rasterize_cpu(s["means"], s["quats"], s["scales"], s["opacities"], colors,
                        cams.viewmats, cams.Ks, cams.width, cams.height)
    ref = render_dense(s["means"], s["quats"], s["scales"], s["opacities"], colors,
                       cams.viewmats, cams.Ks, cams.width, cams.height)
    for got, want in zip(out, ref):
        assert (got - want).abs().max() <= 1e-10


def test_single_isotropic_gaussian_matches_analytic_alpha():
    """A sphere of std s at depth z on the optical axis: cov2d = (f s / z)² I + 0.3 I."""
    width, height, z, s, o = 21, 21, 2.0, 0.05, 0.7
    k = intrinsics(60.0, width, height)
    view = look_at(torch.tensor([[0.0, 0.0, z]]), torch.zeros(3), up=(0, 1, 0))
    g = dict(means=torch.zeros(1, 3), quats=torch.tensor([[1.0, 0, 0, 0]]), scales=torch.full((1, 3), s),
             opacities=torch.tensor([o]), colors=torch.tensor([[0.2, 0.4, 0.6]]))
    _, alpha, depth = rasterize_cpu(**g, viewmats=view, Ks=k[None], width=width, height=height)
    f = float(k[0, 0])
    var = (f * s / z) ** 2 + 0.3
    for py, px in [(10, 10), (10, 13), (7, 12), (0, 0)]:
        d2 = (px + 0.5 - 10.5) ** 2 + (py + 0.5 - 10.5) ** 2
        expected = o * math.exp(-0.5 * d2 / var)
        expected = expected if expected >= 1 / 255 else 0.0
        assert alpha[0, py, px, 0].item() == pytest.approx(expected, abs=1e-6)
    assert depth[0, 10, 10, 0].item() == pytest.approx(z, abs=1e-5)


def test_cpu_renderer_gradients_match_finite_differences():
    s = _random_scene(6, seed=3, dtype=torch.float64)
    s["opacities"] = s["opacities"].clamp(0.1, 0.8)  # keep away from the saturation stop
    s["means"][0] = torch.tensor([0.1, -0.1, 0.2], dtype=torch.float64)
    s["scales"] = s["scales"] * 2
    cams = _cams(width=10, height=8, dtype=torch.float64)[1:2]
    weights = torch.randn(cams.height, cams.width, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def loss(means, quats, scales, opacities, colors):
        c, a, d = rasterize_cpu(means, quats, scales, opacities, colors, cams.viewmats, cams.Ks,
                                cams.width, cams.height)
        return ((torch.cat((c, a, d * a), -1)[0] * weights).sum())[None]

    inputs = tuple(t.clone().requires_grad_(True) for t in
                   (s["means"], s["quats"], s["scales"], s["opacities"], torch.cat((s["colors"], s["feats"]), 1)))
    assert torch.autograd.gradcheck(loss, inputs, eps=1e-7, atol=1e-5, rtol=1e-4)


def test_cpu_gradients_equal_dense_reference_gradients():
    s = _random_scene(40, seed=4, dtype=torch.float64)
    cams = _cams(width=16, height=12, dtype=torch.float64)
    colors = torch.cat((s["colors"], s["feats"]), 1)
    grads = []
    for fn in (rasterize_cpu, render_dense):
        inputs = [t.clone().requires_grad_(True) for t in (s["means"], s["quats"], s["scales"], s["opacities"], colors)]
        c, a, d = fn(*inputs, cams.viewmats, cams.Ks, cams.width, cams.height)
        (c.square().sum() + a.sum() + (d * a).sum()).backward()
        grads.append([t.grad for t in inputs])
    for g_fast, g_ref in zip(*grads):
        assert torch.allclose(g_fast, g_ref, atol=1e-9, rtol=1e-7)


def test_render_interface_background_features_and_per_camera_means():
    s = _random_scene(30, seed=5)
    cams = _cams()
    g = Gaussians(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"],
                  torch.zeros(30, dtype=torch.int64))
    out = render(g, cams, features=s["feats"], backend="cpu", background=(0.2, 0.3, 0.4))
    ref_c, ref_a, ref_d = render_dense(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"],
                                       cams.viewmats, cams.Ks, cams.width, cams.height,
                                       background=torch.tensor([0.2, 0.3, 0.4]))
    assert (out.rgb.double() - ref_c).abs().max() <= 1e-5
    ref_f = render_dense(s["means"], s["quats"], s["scales"], s["opacities"], s["feats"],
                         cams.viewmats, cams.Ks, cams.width, cams.height)[0]
    assert (out.features.double() - ref_f).abs().max() <= 1e-5
    # Per-camera Gaussian sets: camera c sees the scene shifted by c * 0.1 along x.
    shifted = torch.stack([s["means"] + torch.tensor([0.1 * c, 0, 0]) for c in range(len(cams))])
    per_cam = render(g.replace(means=shifted), cams, backend="cpu")
    for c in range(len(cams)):
        single = render(g.replace(means=shifted[c]), cams[c], backend="cpu")
        assert torch.allclose(per_cam.rgb[c], single.rgb[0], atol=1e-6)


def test_render_rejects_bad_input():
    cams = _cams()
    empty = Gaussians(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, 3), torch.zeros(0), torch.zeros(0, 3),
                      torch.zeros(0, dtype=torch.int64))
    with pytest.raises(ChordError, match="no Gaussians"):
        render(empty, cams)
    s = _random_scene(5, seed=6)
    s["means"][2, 1] = float("nan")
    g = Gaussians(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"], torch.zeros(5, dtype=torch.int64))
    with pytest.raises(ChordError, match="NaN"):
        render(g, cams)
    with pytest.raises(ChordError, match="backend"):
        render(g, cams, backend="vulkan")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat rasterizes on CUDA only")
def test_gsplat_backend_matches_cpu_backend():
    s = _random_scene(200, seed=7)
    cams = _cams(width=64, height=48)
    g = Gaussians(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"], torch.zeros(200, dtype=torch.int64))
    cpu = render(g, cams, features=s["feats"], backend="cpu")
    gpu = render(g.to("cuda"), cams.to("cuda"), features=s["feats"].cuda(), backend="gsplat")
    diffs = {name: (getattr(cpu, name) - getattr(gpu, name).cpu()).abs().max().item()
             for name in ("rgb", "alpha", "features")}
    covered = cpu.alpha > 0.5
    diffs["depth"] = (cpu.depth - gpu.depth.cpu())[covered].abs().max().item()
    print("gsplat vs cpu max abs difference:", diffs)
    assert max(diffs.values()) < 1e-3


def test_gsplat_camera_fields_index_per_camera_fields_and_share_the_rest():
    """The distiller renders deformed means/quats per camera with shared scales and opacities; each
    gsplat call must get camera c's means/quats and all N scales/opacities (a CUDA run crashed when
    the shared fields were indexed too)."""
    from chord_core.render.gsplat_backend import camera_fields

    s = _random_scene(10, seed=3)
    per_camera = Gaussians(torch.stack([s["means"], s["means"] + 1]), torch.stack([s["quats"], -s["quats"]]),
                           s["scales"], s["opacities"], s["colors"], torch.zeros(10, dtype=torch.int64))
    means, quats, scales, opacities = camera_fields(per_camera, 1)
    assert torch.equal(means, s["means"] + 1) and torch.equal(quats, -s["quats"])
    assert torch.equal(scales, s["scales"]) and torch.equal(opacities, s["opacities"])
    everything = per_camera.replace(scales=torch.stack([s["scales"], 2 * s["scales"]]),
                                    opacities=torch.stack([s["opacities"], s["opacities"] / 2]))
    assert torch.equal(camera_fields(everything, 1)[2], 2 * s["scales"])
    assert torch.equal(camera_fields(everything, 1)[3], s["opacities"] / 2)
    shared = Gaussians(s["means"], s["quats"], s["scales"], s["opacities"], s["colors"], torch.zeros(10))
    assert all(a is b for a, b in zip(camera_fields(shared, None), (s["means"], s["quats"], s["scales"],
                                                                     s["opacities"])))
