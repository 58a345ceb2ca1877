"""W-RFSDS: score distillation from a rectified-flow video model (paper §3.2, Eq. 2-4, App. B).

Pure noise and gradient math; no model is needed except in :func:`sds_step`, which only calls
``teacher.velocity``. Conventions (shared with the teachers):

* noising (Eq. 2): ``z_tau = (1 - tau) * z + tau * eps``, ``tau`` in (0, 1), 1 = pure noise;
* the teacher predicts the flow velocity ``v_hat ~ eps - z`` (Wan's ``flow_prediction``) and is
  called with timestep ``tau * 1000``;
* the W-RFSDS gradient with respect to the latents is ``v_hat - eps + z`` (Eq. 3).

The noise-level schedule
------------------------
Wan is trained and sampled on *shifted* flow-matching sigmas: with ``sigma ~ U(0, 1)``,
``tau = g(sigma) = s*sigma / (1 + (s-1)*sigma)`` (diffusers: ``flow_shift`` of
``UniPCMultistepScheduler`` / ``shift`` of ``FlowMatchEulerDiscreteScheduler``). Sampling
``sigma`` uniformly and shifting it is the same as sampling ``tau`` uniformly and weighting it by
the density of ``g(sigma)``:

* density ``w(tau) = d g^{-1}(tau)/d tau = s / (s - (s-1)*tau)**2`` (already normalised:
  integrates to 1 on (0, 1), so ``w_hat = w``);
* CDF ``h(tau) = g^{-1}(tau) = tau / (s - (s-1)*tau)``;
* inverse CDF ``h^{-1}(u) = s*u / (1 + (s-1)*u) = g(u)``: the inverse CDF *is* the shift map.

Eq. 4, ``h(tau_i) = 1 - i/(I+1)`` for step ``i = 1..I``, therefore gives
``tau_i = g(1 - i/(I+1))``: the annealed schedule visits the shifted sigmas of a uniform grid,
from near 1 down to near 0, never touching either end. ``s > 1`` keeps ``tau`` high for longer,
where motion forms (paper §3.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor

from chord_core.errors import ChordError
from chord_core.teachers.base import DEFAULT_FLOW_SHIFT, shift_from_scheduler_config, shift_sigma

TAU_KINDS: tuple[str, ...] = ("annealed", "weighted", "uniform")

def tau_density(tau: Tensor | float, shift: float) -> Tensor | float:
    """Normalised training weighting ``w_hat(tau) = s / (s - (s-1)*tau)^2`` on (0, 1) (Eq. 2-3)."""
    return shift / (shift - (shift - 1.0) * tau) ** 2


def tau_cdf(tau: Tensor | float, shift: float) -> Tensor | float:
    """CDF ``h(tau) = tau / (s - (s-1)*tau)`` of the weighting (Eq. 4)."""
    return tau / (shift - (shift - 1.0) * tau)


def tau_cdf_inverse(u: Tensor | float, shift: float) -> Tensor | float:
    """Solve ``h(tau) = u`` for tau (Eq. 4); it is the shift map itself."""
    return shift_sigma(u, shift)


class TauSample(NamedTuple):
    """A noise level and the factor its W-RFSDS gradient is multiplied by (1 unless 'uniform')."""

    tau: float
    weight: float


@dataclass(frozen=True)
class TauSchedule:
    """Noise level per iteration (Eq. 2-4).

    kinds:
      * ``"annealed"`` (default, Eq. 4): deterministic ``tau_i = h^{-1}(1 - i/(I+1))``;
      * ``"weighted"`` (Eq. 3): ``tau ~ w_hat`` at random, gradient weight 1;
      * ``"uniform"`` (Eq. 2): ``tau ~ U(0, 1)``, gradient weighted by ``w(tau)``; same expected
        gradient as "weighted", kept for the paper's ablation (§4.3).
    """

    total_iterations: int
    kind: str = "annealed"
    shift: float = DEFAULT_FLOW_SHIFT

    def __post_init__(self) -> None:
        if self.kind not in TAU_KINDS:
            raise ChordError(f"tau schedule kind {self.kind!r} is unknown; use one of {TAU_KINDS}")
        if int(self.total_iterations) < 1:
            raise ChordError(f"total_iterations={self.total_iterations} must be at least 1")
        if not math.isfinite(self.shift) or self.shift <= 0:
            raise ChordError(f"flow shift {self.shift!r} must be a positive number (Wan uses 5.0)")

    @classmethod
    def from_scheduler_config(cls, config: Mapping[str, Any], total_iterations: int,
                              kind: str = "annealed") -> TauSchedule:
        """Schedule whose shift comes from a diffusers scheduler config (default 5.0 if absent)."""
        shift = shift_from_scheduler_config(config)
        return cls(total_iterations, kind, DEFAULT_FLOW_SHIFT if shift is None else shift)

    def annealed_tau(self, iteration: int) -> float:
        """Eq. 4 with ``i = iteration + 1`` so the 0-based loop index never reaches tau = 1."""
        i = min(max(int(iteration), 0), self.total_iterations - 1) + 1
        return float(tau_cdf_inverse(1.0 - i / (self.total_iterations + 1), self.shift))

    def sample(self, iteration: int, generator: torch.Generator | None = None) -> TauSample:
        """Noise level for 0-based ``iteration``; ``generator`` drives the random kinds."""
        if self.kind == "annealed":
            return TauSample(self.annealed_tau(iteration), 1.0)
        u = _open_unit_uniform(generator)
        if self.kind == "weighted":
            return TauSample(float(tau_cdf_inverse(u, self.shift)), 1.0)
        return TauSample(u, float(tau_density(u, self.shift)))


def _open_unit_uniform(generator: torch.Generator | None) -> float:
    """A float64 uniform draw strictly inside (0, 1)."""
    device = generator.device if generator is not None else "cpu"
    u = float(torch.rand((), generator=generator, device=device, dtype=torch.float64))
    return min(max(u, 1e-6), 1.0 - 1e-6)


def cfg_scale(iteration: int, total: int, start: float = 25.0, end: float = 12.0) -> float:
    """Classifier-free guidance scale decayed linearly from ``start`` to ``end`` (App. A.1)."""
    if total <= 1:
        return float(start)
    frac = min(max(iteration, 0), total - 1) / (total - 1)
    return float(start + (end - start) * frac)


def add_noise(z: Tensor, eps: Tensor, tau: float) -> Tensor:
    """``z_tau = (1 - tau) z + tau eps`` (Eq. 2)."""
    return (1.0 - tau) * z + tau * eps


def w_rfsds_grad(v_hat: Tensor, eps: Tensor, z: Tensor) -> Tensor:
    """W-RFSDS gradient with respect to the latents: ``v_hat - eps + z`` (Eq. 3, App. B Eq. 16)."""
    return v_hat - eps + z


def w_rfsds_loss(z: Tensor, grad: Tensor, reduction: Literal["sum", "mean"] = "sum") -> Tensor:
    """Surrogate ``0.5 ||z - sg(z - grad)||^2`` whose gradient w.r.t. ``z`` is ``grad``.

    With ``reduction="sum"`` the gradient equals ``grad`` exactly; ``"mean"`` divides it by the
    number of elements. Its value is ``0.5 ||grad||^2`` (useful for logging).
    """
    target = (z - grad).detach()
    loss = 0.5 * (z - target).pow(2)
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ChordError(f"reduction {reduction!r} is unknown; use 'sum' or 'mean'")


class SdsStep(NamedTuple):
    """One W-RFSDS evaluation.

    grad: ``[B, C, F', h, w]`` float32 gradient for ``z`` (detached, already weighted).
    loss: surrogate loss attached to ``z``'s graph; ``loss.backward()`` sends ``grad`` into
    the renders through the VAE encoder; ``loss.item()`` is ``0.5 ||grad||^2`` for logging.
    """

    grad: Tensor
    loss: Tensor


def sds_step(teacher: Any, z: Tensor, tau: float | TauSample, cond: Any, guidance_scale: float,
             generator: torch.Generator | None = None, weight: float = 1.0,
             reduction: Literal["sum", "mean"] = "sum") -> SdsStep:
    """Noise ``z``, query ``teacher.velocity`` and build the W-RFSDS gradient (Eq. 2-3).

    ``z``: latents from ``teacher.encode`` (with grad). ``tau``: a float or a :class:`TauSample`
    (whose weight multiplies ``weight``). Latent frames the teacher holds clean
    (``cond.clean_latent_frames``, e.g. TI2V-5B's first frame) get zero gradient: the teacher
    does not predict them. ``reduction`` of the surrogate: ``"sum"`` sends ``grad`` itself,
    ``"mean"`` ``grad`` / its element count (per-element scale, like the mean regularisers).
    """
    if isinstance(tau, TauSample):
        tau, weight = tau.tau, weight * tau.weight
    tau = float(tau)
    if not 0.0 < tau < 1.0:
        raise ChordError(f"noise level tau={tau} must lie strictly between 0 and 1")
    z_detached = z.detach().float()
    noise_device = generator.device if generator is not None else z.device
    eps = torch.randn(z.shape, generator=generator, device=noise_device,
                      dtype=torch.float32).to(z.device)
    z_tau = add_noise(z_detached, eps, tau)
    with torch.no_grad():
        v_hat = teacher.velocity(z_tau, tau, cond, guidance_scale).float()
    grad = w_rfsds_grad(v_hat, eps, z_detached) * weight
    clean = int(getattr(cond, "clean_latent_frames", 0) or 0)
    if clean > 0:
        grad[:, :, :clean] = 0.0
    return SdsStep(grad, w_rfsds_loss(z, grad.to(z.dtype), reduction))
