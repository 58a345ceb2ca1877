"""W-RFSDS math (Eq. 2-4): noise-level schedule, CFG decay, gradient and surrogate loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chord_core.distill.sds import (
    TauSample,
    TauSchedule,
    add_noise,
    cfg_scale,
    sds_step,
    shift_sigma,
    tau_cdf,
    tau_cdf_inverse,
    tau_density,
    w_rfsds_grad,
    w_rfsds_loss,
)
from chord_core.errors import ChordError
from chord_core.teachers.base import DEFAULT_FLOW_SHIFT, shift_from_scheduler_config


def _numeric_cdf(tau: float, shift: float, n: int = 200_001) -> float:
    """Trapezoid integral of the weighting from 0 to tau, independent of the closed form."""
    t = np.linspace(0.0, tau, n)
    w = shift / (shift - (shift - 1.0) * t) ** 2
    return float(np.trapezoid(w, t))


@pytest.mark.parametrize("shift", [1.0, 3.0, 5.0, 12.0])
def test_density_integrates_to_one(shift: float) -> None:
    assert _numeric_cdf(1.0, shift) == pytest.approx(1.0, abs=1e-8)


@pytest.mark.parametrize("shift", [3.0, 5.0])
@pytest.mark.parametrize("tau", [0.05, 0.3, 0.5, 0.9, 0.99])
def test_cdf_matches_numeric_integral_of_density(shift: float, tau: float) -> None:
    assert tau_cdf(tau, shift) == pytest.approx(_numeric_cdf(tau, shift), abs=1e-8)


@pytest.mark.parametrize("shift", [3.0, 5.0])
def test_cdf_inverse_solves_eq4(shift: float) -> None:
    for u in np.linspace(0.01, 0.99, 37):
        tau = tau_cdf_inverse(float(u), shift)
        assert 0.0 < tau < 1.0
        assert _numeric_cdf(tau, shift) == pytest.approx(u, abs=1e-8)


def test_cdf_is_distribution_of_shifted_uniform_sigma() -> None:
    """h is the CDF of Wan's shifted sigma s*sigma/(1+(s-1)*sigma) with sigma ~ U(0,1)."""
    shift = 5.0
    sigma = torch.rand(400_000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    shifted = shift_sigma(sigma, shift)
    for tau in (0.2, 0.6, 0.9, 0.97):
        empirical = float((shifted <= tau).double().mean())
        assert empirical == pytest.approx(tau_cdf(tau, shift), abs=3e-3)


def test_density_is_derivative_of_cdf() -> None:
    shift, h = 5.0, 1e-6
    for tau in (0.1, 0.5, 0.8):
        numeric = (tau_cdf(tau + h, shift) - tau_cdf(tau - h, shift)) / (2 * h)
        assert tau_density(tau, shift) == pytest.approx(numeric, rel=1e-6)


def test_annealed_tau_decreases_strictly_over_iterations() -> None:
    schedule = TauSchedule(total_iterations=200, kind="annealed", shift=5.0)
    taus = [schedule.sample(i).tau for i in range(200)]
    assert all(a > b for a, b in zip(taus, taus[1:]))
    assert 0.0 < taus[-1] < taus[0] < 1.0


def test_annealed_tau_solves_eq4_at_each_step() -> None:
    total = 50
    schedule = TauSchedule(total_iterations=total, kind="annealed", shift=5.0)
    for iteration in range(total):
        sample = schedule.sample(iteration)
        assert sample.weight == 1.0
        assert tau_cdf(sample.tau, 5.0) == pytest.approx(1.0 - (iteration + 1) / (total + 1))


def test_annealed_shift_keeps_tau_high_longer() -> None:
    shifted = TauSchedule(100, "annealed", shift=5.0)
    plain = TauSchedule(100, "annealed", shift=1.0)
    assert plain.sample(49).tau == pytest.approx(1 - 50 / 101)
    assert shifted.sample(49).tau > 0.8


def test_weighted_sampling_matches_cdf_ks() -> None:
    schedule = TauSchedule(total_iterations=10, kind="weighted", shift=5.0)
    generator = torch.Generator().manual_seed(1234)
    n = 4000
    samples = np.sort([schedule.sample(0, generator).tau for _ in range(n)])
    assert all(schedule.sample(0, generator).weight == 1.0 for _ in range(5))
    cdf = np.array([tau_cdf(t, 5.0) for t in samples])
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.36 / math.sqrt(n)  # 5 % critical value
    # Against the uniform distribution the same statistic must fail clearly.
    ks_uniform = max(np.max(np.arange(1, n + 1) / n - samples), np.max(samples - np.arange(n) / n))
    assert ks_uniform > 5 * 1.36 / math.sqrt(n)


def test_uniform_variant_weights_by_density() -> None:
    schedule = TauSchedule(total_iterations=10, kind="uniform", shift=5.0)
    generator = torch.Generator().manual_seed(7)
    draws = [schedule.sample(0, generator) for _ in range(20_000)]
    taus = np.array([d.tau for d in draws])
    for d in draws[:50]:
        assert d.weight == pytest.approx(tau_density(d.tau, 5.0))
    assert abs(np.mean(taus) - 0.5) < 0.01  # tau itself is uniform
    # Expectation invariance (§3.2): E_U[w(tau) f(tau)] equals E_{w_hat}[f(tau)].
    weights = np.array([d.weight for d in draws])
    expected_weighted_mean_tau = _weighted_mean_tau(5.0)
    assert np.mean(weights * taus) == pytest.approx(expected_weighted_mean_tau, abs=0.01)


def _weighted_mean_tau(shift: float, n: int = 200_001) -> float:
    t = np.linspace(0.0, 1.0, n)
    return float(np.trapezoid(t * shift / (shift - (shift - 1.0) * t) ** 2, t))


def test_schedule_rejects_bad_settings() -> None:
    with pytest.raises(ChordError, match="kind"):
        TauSchedule(10, kind="cosine")
    with pytest.raises(ChordError, match="total_iterations"):
        TauSchedule(0)
    with pytest.raises(ChordError, match="shift"):
        TauSchedule(10, shift=-1.0)


def test_shift_read_from_scheduler_configs() -> None:
    unipc = {"_class_name": "UniPCMultistepScheduler", "flow_shift": 3.0, "use_flow_sigmas": True}
    euler = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 5.0}
    dynamic = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0,
               "use_dynamic_shifting": True}
    assert shift_from_scheduler_config(unipc) == 3.0
    assert shift_from_scheduler_config(euler) == 5.0
    assert shift_from_scheduler_config(dynamic) is None
    assert TauSchedule.from_scheduler_config(unipc, 10).shift == 3.0
    assert TauSchedule.from_scheduler_config({}, 10).shift == DEFAULT_FLOW_SHIFT


def test_cfg_scale_endpoints_and_linearity() -> None:
    total = 11
    scales = [cfg_scale(i, total) for i in range(total)]
    assert scales[0] == 25.0 and scales[-1] == 12.0
    steps = np.diff(scales)
    assert np.allclose(steps, -1.3)
    assert cfg_scale(5, total, start=10.0, end=0.0) == pytest.approx(5.0)
    assert cfg_scale(0, 1) == 25.0


def test_surrogate_loss_gradient_equals_w_rfsds_grad() -> None:
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(2, 4, 3, 5, 6, generator=generator, dtype=torch.float64, requires_grad=True)
    v_hat = torch.randn(z.shape, generator=generator, dtype=torch.float64)
    eps = torch.randn(z.shape, generator=generator, dtype=torch.float64)
    grad = w_rfsds_grad(v_hat, eps, z.detach())
    loss = w_rfsds_loss(z, grad)
    loss.backward()
    assert torch.equal(z.grad, grad)
    assert float(loss.detach()) == pytest.approx(0.5 * float(grad.pow(2).sum()))


def test_surrogate_mean_reduction_scales_gradient() -> None:
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    grad = torch.randn(3, 4, dtype=torch.float64)
    w_rfsds_loss(z, grad, reduction="mean").backward()
    assert torch.allclose(z.grad, grad / grad.numel())


def test_ideal_velocity_gives_analytic_gradient() -> None:
    """For a point mass at x*, v = (z_tau - x*)/tau and the W-RFSDS gradient is (z - x*)/tau."""
    generator = torch.Generator().manual_seed(5)
    z = torch.randn(1, 3, 5, 4, 4, generator=generator, dtype=torch.float64)
    target = torch.randn(z.shape, generator=generator, dtype=torch.float64)
    eps = torch.randn(z.shape, generator=generator, dtype=torch.float64)
    for tau in (0.1, 0.5, 0.93):
        z_tau = add_noise(z, eps, tau)
        v_ideal = (z_tau - target) / tau
        grad = w_rfsds_grad(v_ideal, eps, z)
        assert torch.allclose(grad, (z - target) / tau, atol=1e-12)


class _PointMassTeacher:
    """Ideal velocity toward a fixed target; records the noisy input it was given."""

    def __init__(self, target: torch.Tensor) -> None:
        self.target = target
        self.seen: list[tuple[torch.Tensor, float, float]] = []

    def velocity(self, z_tau, tau, cond, guidance_scale):
        self.seen.append((z_tau.clone(), tau, guidance_scale))
        return (z_tau - self.target) / tau


class _Cond:
    clean_latent_frames = 1


def test_sds_step_uses_teacher_velocity_and_backpropagates() -> None:
    generator = torch.Generator().manual_seed(9)
    target = torch.randn(2, 3, 4, 4, 4, generator=generator)
    teacher = _PointMassTeacher(target)
    z = torch.randn(target.shape, generator=generator, requires_grad=True)
    step = sds_step(teacher, z, 0.4, None, 7.5, torch.Generator().manual_seed(1))
    assert torch.allclose(step.grad, (z.detach() - target) / 0.4, atol=1e-5)
    assert teacher.seen[0][1] == 0.4 and teacher.seen[0][2] == 7.5
    # Noise is drawn from the generator: same seed, same z_tau.
    eps = torch.randn(z.shape, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(teacher.seen[0][0], 0.6 * z.detach() + 0.4 * eps)
    step.loss.backward()
    assert torch.allclose(z.grad, step.grad)


def test_sds_step_applies_uniform_weight_and_clean_frames() -> None:
    target = torch.zeros(1, 2, 3, 2, 2)
    z = torch.ones(1, 2, 3, 2, 2, requires_grad=True)
    step = sds_step(_PointMassTeacher(target), z, TauSample(0.5, 3.0), _Cond(), 1.0,
                    torch.Generator().manual_seed(0))
    assert torch.all(step.grad[:, :, 0] == 0)
    assert torch.allclose(step.grad[:, :, 1:], torch.full((1, 2, 2, 2, 2), 3.0 * 1.0 / 0.5))


def test_sds_step_rejects_tau_outside_open_interval() -> None:
    z = torch.zeros(1, 1, 1, 1, 1)
    with pytest.raises(ChordError, match="tau"):
        sds_step(_PointMassTeacher(z), z, 1.0, None, 1.0)
