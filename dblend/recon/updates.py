"""The update math of every sampler, in one place (as a diffusers scheduler's ``step``).

Notation (volumes in the network's units, [-1, 1] unless the prior's value_range says otherwise;
data consistency converts to [0, 1]):

    t          a timestep of the VP schedule, T - 1 = 999 down to 0 (fractional on a
               continuous grid, see ``VPSchedule.sampling_timesteps``); t_prev is the next one
               of the sampling grid, -1 after the last
    abar_t     alpha-bar: the product of (1 - beta_s) up to t, so that
               x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; abar_{-1} = 1
    beta       the one-step noise variance between t and t_prev: 1 - abar_t / abar_prev
    alpha      1 - beta
    eps        the prior's noise estimate epsilon_theta(x_t, t) (one per slice, from the patches
               of the step's partition)
    x0_hat     Tweedie's estimate of x_0 from x_t: (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t),
               clipped to the network's range
    x0'        x0_hat after the data-consistency step
    n          fresh standard normal noise, drawn from the sampler's noise generator
    eta        DDS's re-noising weight (Chung et al., DDS, ICLR 2024): the noise of x_t_prev is
               sqrt(1 - abar_prev) (eta n + sqrt(1 - eta^2) eps), so eta is the share of fresh
               noise; eta = 0 is deterministic DDIM and eta = 1 draws all noise afresh. It is not
               DDIM's eta, which scales sigma_t = eta sqrt((1 - abar_prev) / (1 - abar_t))
               sqrt(1 - abar_t / abar_prev); the two agree only at eta = 0.
    snr        the Langevin corrector's signal-to-noise ratio (Song et al., score SDE, 2021):
               its step is 2 alpha (snr ||n|| / ||score||)^2
    score      -eps / sqrt(1 - abar_t), the score of the noisy marginal at t
"""

from __future__ import annotations

import math

import torch


def tweedie(
    x_t: torch.Tensor,
    eps: torch.Tensor,
    abar: float,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), clipped to the network's range."""
    return ((x_t - math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)).clamp(*value_range)


def implied_epsilon(x_t: torch.Tensor, x0: torch.Tensor, abar: float) -> torch.Tensor:
    """The eps whose Tweedie estimate of x_t is x0: (x_t - sqrt(abar_t) x0) / sqrt(1 - abar_t)."""
    return (x_t - math.sqrt(abar) * x0) / math.sqrt(1.0 - abar)


def dds_renoise(
    x0: torch.Tensor, eps: torch.Tensor, abar_prev: float, eta: float, fresh: torch.Tensor
) -> torch.Tensor:
    """x_t_prev = sqrt(abar_prev) x0' + sqrt(1 - abar_prev) (eta n + sqrt(1 - eta^2) eps)."""
    sigma = math.sqrt(1.0 - abar_prev)
    return math.sqrt(abar_prev) * x0 + sigma * (eta * fresh + math.sqrt(1.0 - eta**2) * eps)


def ancestral_step(
    x_t: torch.Tensor, x0: torch.Tensor, abar: float, abar_prev: float, fresh: torch.Tensor
) -> torch.Tensor:
    """A draw from the DDPM posterior q(x_t_prev | x_t, x_0 = x0): the reverse-diffusion predictor.

    Mean sqrt(abar_prev) beta / (1 - abar_t) x0 + sqrt(alpha) (1 - abar_prev) / (1 - abar_t) x_t,
    variance beta (1 - abar_prev) / (1 - abar_t).
    """
    beta = 1.0 - abar / abar_prev
    mean = (
        math.sqrt(abar_prev) * beta / (1.0 - abar) * x0
        + math.sqrt(1.0 - beta) * (1.0 - abar_prev) / (1.0 - abar) * x_t
    )
    variance = beta * (1.0 - abar_prev) / (1.0 - abar)
    return mean + math.sqrt(variance) * fresh


def langevin_step(
    x: torch.Tensor, eps: torch.Tensor, abar: float, alpha: float, snr: float, fresh: torch.Tensor
) -> torch.Tensor:
    """One Langevin corrector step x + step score + sqrt(2 step) n at noise level abar."""
    score = -eps / math.sqrt(1.0 - abar)
    step = 2.0 * alpha * (snr * fresh.norm() / score.norm()) ** 2
    return x + step * score + torch.sqrt(2.0 * step) * fresh
