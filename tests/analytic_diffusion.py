"""Exact denoisers for data with a closed-form distribution, for testing samplers on known answers.

Forward process (Ho et al. 2020, eq. 4): ``x_t = a x0 + b eps`` with ``a = sqrt(alphabar_t)``,
``b = sqrt(1 - alphabar_t)``. For a Gaussian ``x0 ~ N(mu, s^2)``, ``x_t ~ N(a mu, a^2 s^2 + b^2)`` and

    E[x0 | x_t] = mu + a s^2 (x_t - a mu) / (a^2 s^2 + b^2).

For a mixture ``sum_k w_k N(mu_k, s_k^2)`` the posterior mean is the responsibilities
``r_k(x_t) ∝ w_k N(x_t; a mu_k, a^2 s_k^2 + b^2)`` times each component's posterior mean. The
epsilon and v outputs follow from x0: ``eps = (x_t - a x0) / b`` and ``v = a eps - b x0``
(Salimans & Ho 2022, sec. 4). Everything is computed in float64 and returned in x's dtype.
"""

from __future__ import annotations

import numpy as np
import torch


class GaussianMixture:
    """Data ``sum_k w_k N(mu_k, s_k^2)`` per element (one component: a Gaussian)."""

    def __init__(self, weights, means, stds):
        self.weights = torch.tensor(weights, dtype=torch.float64) / float(np.sum(weights))
        self.means = torch.tensor(means, dtype=torch.float64)
        self.stds = torch.tensor(stds, dtype=torch.float64)

    @property
    def mean(self) -> float:
        return float((self.weights * self.means).sum())

    @property
    def var(self) -> float:
        second = (self.weights * (self.stds**2 + self.means**2)).sum()
        return float(second - self.mean**2)

    def posterior_mean(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """E[x0 | x_t = x] at signal scale ``a`` (broadcastable to x), float64."""
        x, a = x.double().unsqueeze(-1), a.double().unsqueeze(-1)
        var_t = a**2 * self.stds**2 + (1 - a**2)
        log_r = torch.log(self.weights) - 0.5 * torch.log(var_t) - 0.5 * (x - a * self.means) ** 2 / var_t
        r = torch.softmax(log_r, dim=-1)
        return (r * (self.means + a * self.stds**2 * (x - a * self.means) / var_t)).sum(-1)


class ExactDenoiser:
    """The exact model output of ``data`` under a diffusers scheduler's ``alphas_cumprod``.

    Parameters
    ----------
    data : GaussianMixture
    alphas_cumprod : Tensor (T,)
    prediction : {"epsilon", "v_prediction", "sample"}
    """

    def __init__(self, data: GaussianMixture, alphas_cumprod: torch.Tensor, prediction: str):
        self.data, self.prediction = data, prediction
        self.alphas_cumprod = alphas_cumprod.double()

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        alphabar = self.alphas_cumprod[t.cpu()].reshape(-1, *([1] * (x.dim() - 1))).to(x.device)
        a, b = alphabar.sqrt(), (1 - alphabar).sqrt()
        x0 = self.data.posterior_mean(x, a.expand_as(x))
        eps = (x.double() - a * x0) / b
        out = {"sample": x0, "epsilon": eps, "v_prediction": a * eps - b * x0}[self.prediction]
        return out.to(x.dtype)


def _posterior_mean_affine(mu: float, s: float, alphabar: float, x: tuple[float, float]) -> tuple[float, float]:
    """E[x0 | x_t] for x0 ~ N(mu, s^2) when x_t = g z + c is affine in a latent z: the same (g, c) form."""
    a = np.sqrt(alphabar)
    k = a * s**2 / (alphabar * s**2 + 1 - alphabar)
    return k * x[0], mu + k * (x[1] - a * mu)


def exact_gaussian_output(sampler: str, scheduler, mu: float, s: float, prediction: str = "epsilon") -> tuple[float, float]:
    """Mean and variance of a sampler's output for ``x0 ~ N(mu, s^2)`` with the exact denoiser.

    With an exact Gaussian denoiser every step is affine in the state and the fresh noise, so
    the output is Gaussian and its two moments follow from the update equations, written here
    from the papers, independently of diffusers: DDPM (Ho et al. 2020, eq. 6-7, with
    ``sigma_t^2 = beta~_t`` or ``beta_t``), DDIM with eta = 0 (Song et al. 2021, eq. 12) and
    DPM-Solver++(2M) (Lu et al. 2022b, Alg. 2; first order at the first and the last step).
    Only the noise levels (the spacing) are read from ``scheduler``, after ``set_timesteps``.
    The start is the loop's ``x_T ~ N(0, 1)``, not the true ``N(a_T mu, ...)``: the tiny
    signal left at ``t = T`` is part of the answer.
    """
    ac = scheduler.alphas_cumprod.double().numpy()
    ts = [int(t) for t in scheduler.timesteps]
    if sampler in ("ddpm", "ddpm-large"):
        mean, var = 0.0, 1.0
        for i, t in enumerate(ts):
            prev = ac[ts[i + 1]] if i + 1 < len(ts) else 1.0
            beta = 1 - ac[t] / prev
            c0 = np.sqrt(prev) * beta / (1 - ac[t])  # eq. 7's posterior-mean coefficients
            c1 = np.sqrt(1 - beta) * (1 - prev) / (1 - ac[t])
            gain, shift = _posterior_mean_affine(mu, s, ac[t], (1.0, 0.0))
            noise = 0.0 if t == 0 else (beta if sampler == "ddpm-large" else (1 - prev) / (1 - ac[t]) * beta)
            mean = c0 * (gain * mean + shift) + c1 * mean
            var = (c0 * gain + c1) ** 2 * var + noise
        return mean, var
    x = (1.0, 0.0)  # x = g z + c with z ~ N(0, 1)
    if sampler == "ddim":
        for i, t in enumerate(ts):
            prev = ac[ts[i + 1]] if i + 1 < len(ts) else 1.0  # the last step lands on the clean x0
            x0 = _posterior_mean_affine(mu, s, ac[t], x)
            eps = tuple((xi - np.sqrt(ac[t]) * x0i) / np.sqrt(1 - ac[t]) for xi, x0i in zip(x, x0))
            x = tuple(np.sqrt(prev) * x0i + np.sqrt(1 - prev) * ei for x0i, ei in zip(x0, eps))
        return x[1], x[0] ** 2
    if sampler == "dpmpp":
        return _dpmpp_gaussian_output(scheduler, ac, ts, mu, s, prediction)
    raise ValueError(sampler)


def _dpmpp_gaussian_output(scheduler, ac, ts, mu, s, prediction):
    sigmas = scheduler.sigmas.double().numpy()  # VE sigmas sqrt((1 - abar) / abar); the last is 0
    alpha = 1 / np.sqrt(sigmas**2 + 1)
    sig = sigmas * alpha
    x, history, lam_prev = (1.0, 0.0), [], None
    for i, t in enumerate(ts):
        # the network sees the integer timestep t; the solver converts its output to x0 with
        # its own (alpha, sigma) at the Karras level, as DPM-Solver++ does (Lu et al. 2022b, eq. 8)
        x0_true = _posterior_mean_affine(mu, s, ac[t], x)
        a_t, b_t = np.sqrt(ac[t]), np.sqrt(1 - ac[t])
        eps = tuple((xi - a_t * x0i) / b_t for xi, x0i in zip(x, x0_true))
        if prediction == "epsilon":
            m0 = tuple((xi - sig[i] * ei) / alpha[i] for xi, ei in zip(x, eps))
        elif prediction == "v_prediction":
            v = tuple(a_t * ei - b_t * x0i for ei, x0i in zip(eps, x0_true))
            m0 = tuple(alpha[i] * xi - sig[i] * vi for xi, vi in zip(x, v))
        else:
            m0 = x0_true
        if sigmas[i + 1] == 0:  # the final step to sigma = 0 returns the x0 estimate
            x = m0
            break
        lam, lam_next = np.log(alpha[i] / sig[i]), np.log(alpha[i + 1] / sig[i + 1])
        h = lam_next - lam
        d = m0
        if history:  # second order from the second step on
            r = (lam - lam_prev) / h
            d = tuple(m0i + 0.5 / r * (m0i - m1i) for m0i, m1i in zip(m0, history[-1]))
        x = tuple(sig[i + 1] / sig[i] * xi - alpha[i + 1] * (np.exp(-h) - 1) * di for xi, di in zip(x, d))
        history.append(m0)
        lam_prev = lam
    return x[1], x[0] ** 2
