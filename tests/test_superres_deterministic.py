"""The deterministic 4x baselines: pixel replication, residual outputs, shapes, and that they learn."""

import pytest
import torch
import torch.nn.functional as F

from heliogen.superres.deterministic import Enhance, Progressive, replicate


def test_replication_is_nearest_neighbour_without_interpolation():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = replicate(x, 4)
    assert y.shape == (1, 1, 8, 12)
    for i in range(8):
        for j in range(12):
            assert y[0, 0, i, j] == x[0, 0, i // 4, j // 4]
    # its 4x4 block mean gives the input back: replication holds the low-resolution flux
    torch.testing.assert_close(F.avg_pool2d(y, 4), x)


@pytest.mark.parametrize("cls", [Enhance, Progressive])
def test_outputs_are_residuals_over_the_replicated_input(cls):
    torch.manual_seed(0)
    net = cls(channels=1, width=8, blocks=2)
    lowres = torch.randn(3, 1, 8, 8)
    out = net(lowres)
    final = out[1] if isinstance(out, tuple) else out
    assert final.shape == (3, 1, 32, 32)
    if isinstance(out, tuple):
        assert out[0].shape == (3, 1, 16, 16)
    tails = [net.tail] if cls is Enhance else [net.stage1.tail, net.stage2.tail]
    with torch.no_grad():
        for tail in tails:  # no learnt detail: the replicated input, exactly
            tail.weight.zero_()
            tail.bias.zero_()
        out = net(lowres)
    torch.testing.assert_close(out[1] if isinstance(out, tuple) else out, replicate(lowres, 4))
    # each image's output depends on that image only (no batch statistics)
    torch.testing.assert_close((net(lowres[1:2])[1] if isinstance(out, tuple) else net(lowres[1:2])), (out[1] if isinstance(out, tuple) else out)[1:2])


@pytest.mark.parametrize("cls", [Enhance, Progressive])
def test_they_learn_a_fixed_detail_pattern(cls):
    torch.manual_seed(1)
    net = cls(channels=1, width=8, blocks=1)
    lowres = torch.randn(4, 1, 4, 4)
    detail = torch.sin(torch.arange(16.0)).reshape(1, 1, 1, 16).expand(4, 1, 16, 16) * 0.3
    target = replicate(lowres, 4) + detail
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)

    def loss():
        out = net(lowres)
        return F.mse_loss(out[1] if isinstance(out, tuple) else out, target)

    start = loss().item()
    for _ in range(150):
        opt.zero_grad()
        value = loss()
        value.backward()
        opt.step()
    assert loss().item() < 0.2 * start
