"""GAN losses against values worked out by hand (math module, not torch.nn.functional)."""

from __future__ import annotations

import math

import pytest
import torch

from heliogen.models.gan_losses import (flatten_logits, hinge_d_loss, hinge_g_loss, logistic_d_loss, logistic_g_loss,
                                        r1_penalty)

REAL = [0.5, -2.0, 1.5]
FAKE = [0.3, -1.5]


def softplus(v):
    return math.log(1 + math.exp(v))


def test_hinge_losses_match_hand_values():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    # relu(1 - real) = 0.5, 3.0, 0 ; relu(1 + fake) = 1.3, 0
    assert hinge_d_loss(real, fake).item() == pytest.approx(3.5 / 3 + 1.3 / 2, abs=1e-6)
    assert hinge_g_loss(fake).item() == pytest.approx(0.6, abs=1e-7)


def test_logistic_losses_match_hand_values():
    real, fake = torch.tensor(REAL), torch.tensor(FAKE)
    want_d = sum(softplus(-r) for r in REAL) / 3 + sum(softplus(f) for f in FAKE) / 2
    want_g = sum(softplus(-f) for f in FAKE) / 2
    assert logistic_d_loss(real, fake).item() == pytest.approx(want_d, rel=1e-6)
    assert logistic_g_loss(fake).item() == pytest.approx(want_g, rel=1e-6)
    # large logits stay finite (softplus, not log(sigmoid))
    assert logistic_g_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)


def test_a_list_of_heads_averages_over_every_logit():
    a = torch.tensor([[[[2.0, -1.0], [0.0, 3.0]]], [[[-2.0, 0.5], [1.0, 1.0]]]])  # (2, 1, 2, 2)
    b = torch.tensor([[[[4.0]]], [[[-3.0]]]])  # (2, 1, 1, 1)
    assert flatten_logits([a, b]).shape == (2, 5)
    values = [2, -1, 0, 3, 4, -2, 0.5, 1, 1, -3]
    assert hinge_g_loss([a, b]).item() == pytest.approx(-sum(values) / 10)
    relu = [max(0.0, 1 - v) for v in values]  # as reals
    fake_relu = [max(0.0, 1 + v) for v in values]
    assert hinge_d_loss([a, b], [a, b]).item() == pytest.approx(sum(relu) / 10 + sum(fake_relu) / 10)


def test_r1_of_a_quadratic_discriminator_has_its_closed_form():
    # D(x) = sum_j a_j x_j^2 per sample: grad = 2 a x, ||grad||^2 = sum 4 a^2 x^2
    a = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    x = torch.tensor([[1.0, 2.0, -1.0], [0.0, -3.0, 0.5]], dtype=torch.float64, requires_grad=True)
    gamma = 10.0
    logits = (a * x.square()).sum(dim=1)
    penalty = r1_penalty(logits, x, gamma)
    per_sample = [sum(4 * aj**2 * xj**2 for aj, xj in zip([0.5, -1.0, 2.0], row)) for row in ([1, 2, -1], [0, -3, 0.5])]
    assert per_sample == [1 + 16 + 16, 0 + 36 + 4]
    assert penalty.item() == pytest.approx(gamma / 2 * (33 + 40) / 2)
    # the penalty is differentiable in D's parameters: d/da_j = gamma/2 * mean_i 8 a_j x_ij^2
    penalty.backward()
    want = [gamma / 2 * sum(8 * aj * row[j] ** 2 for row in ([1, 2, -1], [0, -3, 0.5])) / 2 for j, aj in enumerate([0.5, -1.0, 2.0])]
    assert a.grad.tolist() == pytest.approx(want)


def test_r1_sums_the_logits_of_every_head_and_image_dimension():
    # two heads on a (1, 1, 2, 2) image: D1 = sum(x), D2 = 3 * x[0,0,0,0] -> grad = 1 + [3, 0, 0, 0]
    x = torch.zeros(1, 1, 2, 2, requires_grad=True)
    heads = [x.sum().view(1, 1), (3 * x[0, 0, 0, 0]).view(1, 1)]
    assert r1_penalty(heads, x, 2.0).item() == pytest.approx(16 + 1 + 1 + 1)
