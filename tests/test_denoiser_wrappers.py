"""The denoiser wrappers on small hand-made 'networks': what each passes in and gets out.

Guidance is checked on numbers worked by hand (``eps_u + w (eps_c - eps_u)``); the network
adapter on a recording model whose output encodes its inputs, so every row's condition, drop
flag, timestep and micro-batch can be read back.
"""

import pytest
import torch

from heliogen.diffusion.denoisers import ImageConditioned, NetworkDenoiser, condition_keys
from heliogen.diffusion.guidance import ClassifierFreeGuidance, from_poster_scale, guide
from heliogen.diffusion.sampling import network_denoiser


def test_guide_on_hand_worked_numbers():
    u, c = torch.tensor([1.0, -2.0]), torch.tensor([3.0, 2.0])
    # w = 2.5: 1 + 2.5 * 2 = 6, -2 + 2.5 * 4 = 8
    assert torch.equal(guide(u, c, 2.5), torch.tensor([6.0, 8.0]))
    assert torch.equal(guide(u, c, 0.0), u) and torch.equal(guide(u, c, 1.0), c)
    # w = -1 moves away from the condition: 1 - 2 = -1, -2 - 4 = -6
    assert torch.equal(guide(u, c, -1.0), torch.tensor([-1.0, -6.0]))


@pytest.mark.parametrize("w_prime,w", [(0.0, 1.0), (2.0, 3.0), (-1.0, 0.0), (0.5, 1.5)])
def test_poster_scale_is_one_more(w_prime, w):
    """eps_c + w'(eps_c - eps_u) = eps_u + (1 + w')(eps_c - eps_u)."""
    assert from_poster_scale(w_prime) == w
    u, c = torch.tensor([0.5, 1.0]), torch.tensor([2.0, -3.0])
    torch.testing.assert_close(guide(u, c, from_poster_scale(w_prime)), c + w_prime * (c - u))


def test_classifier_free_guidance_calls_each_branch_once_on_the_same_input():
    seen = []

    def branch(offset):
        def denoise(x, t):
            seen.append((offset, x.clone(), t.clone()))
            return x * 0 + offset + t.to(x.dtype).reshape(-1, 1)
        return denoise

    cfg = ClassifierFreeGuidance(branch(4.0), branch(1.0), 2)
    assert isinstance(cfg.scale, float) and cfg.scale == 2.0
    x, t = torch.zeros(2, 3), torch.tensor([0, 10])
    out = cfg(x, t)
    # (1 + t) + 2 ((4 + t) - (1 + t)) = 7 + t
    assert torch.equal(out, torch.tensor([[7.0] * 3, [17.0] * 3]))
    assert sorted(o for o, _, _ in seen) == [1.0, 4.0]
    assert all(torch.equal(s, x) and torch.equal(tt, t) for _, s, tt in seen)


class Encoder:
    def __init__(self, uses_class, uses_flux):
        self.uses_class, self.uses_flux = uses_class, uses_flux


class WithEncoder:
    def __init__(self, uses_class, uses_flux):
        self.encoder = Encoder(uses_class, uses_flux)


@pytest.mark.parametrize("uses_class,uses_flux,keys", [
    (True, True, ["class_index", "log10_flux"]), (True, False, ["class_index"]),
    (False, True, ["log10_flux"]), (False, False, []),
])
def test_condition_keys_from_the_encoder(uses_class, uses_flux, keys):
    assert condition_keys(WithEncoder(uses_class, uses_flux)) == keys


def test_condition_keys_attribute_wins_and_no_encoder_means_none():
    class Declared(WithEncoder):
        condition_keys = ("log10_flux",)

    assert condition_keys(Declared(True, True)) == ["log10_flux"]
    assert isinstance(condition_keys(Declared(True, True)), list)
    assert condition_keys(object()) == []


class Recorder:
    """A conditional 'network' that records its inputs; output row = x + 100 t + class + flux + 1000 drop."""

    conditioned = True

    def __init__(self, keys=("class_index", "log10_flux")):
        self.condition_keys, self.calls = keys, []

    def __call__(self, x, t, drop, **cond):
        self.calls.append({"x": x.clone(), "t": t.clone(), "drop": drop.clone(), **{k: v.clone() for k, v in cond.items()}})
        out = x + 100 * t.reshape(-1, 1).to(x.dtype) + 1000 * drop.reshape(-1, 1).to(x.dtype)
        for v in cond.values():
            out = out + v.reshape(-1, 1).to(x.dtype)
        return out


def test_null_condition_rows_are_zeros_of_the_network_dtypes():
    model = Recorder()
    x, t = torch.randn(3, 2), torch.tensor([1, 2, 3])
    out = NetworkDenoiser(model, eval_batch=3)(x, t)
    call = model.calls[0]
    assert call["class_index"].dtype == torch.long and call["log10_flux"].dtype == torch.float32
    assert not call["class_index"].any() and not call["log10_flux"].any()
    assert call["drop"].dtype == torch.bool and call["drop"].all()
    assert torch.equal(out, x + 100 * t.reshape(-1, 1) + 1000)


def test_null_branch_keeps_the_condition_but_drops_it():
    model = Recorder(("class_index",))
    x, t = torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)
    cond = {"class_index": torch.tensor([3, 4])}
    out = NetworkDenoiser(model, cond, null=True, eval_batch=2)(x, t)
    assert model.calls[0]["drop"].all() and torch.equal(model.calls[0]["class_index"], cond["class_index"])
    assert torch.equal(out, torch.tensor([[1003.0], [1004.0]]))


def test_micro_batches_pad_with_the_first_row_and_keep_row_order():
    """7 rows at eval_batch 3: calls of 3, 3, 3 rows, the last holding row 6 and two copies of it."""
    model = Recorder(("class_index",))
    x = torch.arange(7.0).reshape(7, 1)
    t = torch.arange(7) * 2
    cond = {"class_index": torch.arange(7) + 10}
    out = NetworkDenoiser(model, cond, eval_batch=3.0)(x, t)
    assert [c["x"].shape[0] for c in model.calls] == [3, 3, 3]
    last = model.calls[-1]
    assert last["x"].flatten().tolist() == [6.0] * 3 and last["t"].tolist() == [12] * 3
    assert last["class_index"].tolist() == [16] * 3 and not last["drop"].any()
    assert torch.equal(out, x + 100 * t.reshape(-1, 1) + cond["class_index"].reshape(-1, 1))


def test_two_rows_left_over_pad_with_the_first_of_them():
    model = Recorder(("class_index",))
    x = torch.arange(5.0).reshape(5, 1)
    t = torch.arange(5)
    NetworkDenoiser(model, {"class_index": torch.arange(5)}, eval_batch=3)(x, t)
    assert model.calls[-1]["x"].flatten().tolist() == [3.0, 4.0, 3.0]
    assert model.calls[-1]["t"].tolist() == [3, 4, 3]


class Plain:
    """An unconditional 'network': takes no condition at all."""

    def __init__(self):
        self.calls = []

    def __call__(self, x, t):
        self.calls.append(x.shape[0])
        return 2 * x + t.reshape(-1, 1).to(x.dtype)


def test_unconditional_network_gets_no_condition_and_no_drop():
    model = Plain()
    x, t = torch.randn(4, 2), torch.tensor([1, 2, 3, 4])
    out = NetworkDenoiser(model)(x, t)
    assert model.calls == [8]  # default micro-batch: 8 rows, padded
    assert torch.equal(out, 2 * x + t.reshape(-1, 1))


def test_network_denoiser_picks_guidance_only_with_a_condition():
    model = Recorder(("class_index",))
    cond = {"class_index": torch.tensor([1, 2])}
    x, t = torch.zeros(2, 1), torch.zeros(2, dtype=torch.long)
    guided = network_denoiser(model, cond, 3.0, eval_batch=2)
    assert isinstance(guided, ClassifierFreeGuidance) and guided.scale == 3.0
    # conditional branch c, null branch (class kept, dropped) 1000 + c: (1000 + c) + 3 (c - 1000 - c) = c - 2000
    assert torch.equal(guided(x, t), torch.tensor([[-1999.0], [-1998.0]]))
    assert len(model.calls) == 2 and sorted(bool(c["drop"].all()) for c in model.calls) == [False, True]
    assert all(c["x"].shape[0] == 2 for c in model.calls)
    model.calls.clear()
    plain = network_denoiser(model, cond, None, eval_batch=2)
    assert isinstance(plain, NetworkDenoiser) and torch.equal(plain(x, t), torch.tensor([[1.0], [2.0]]))
    assert [c["x"].shape[0] for c in model.calls] == [2]
    model.calls.clear()
    unguided = network_denoiser(model, None, 3.0)  # no condition: the null model, evaluated once
    assert isinstance(unguided, NetworkDenoiser)
    assert torch.equal(unguided(x, t), torch.full((2, 1), 1000.0)) and len(model.calls) == 1
    assert model.calls[0]["x"].shape[0] == 8  # the default micro-batch


class Channels:
    """A 'network' on concat(x, y) that returns x's channels times the image's first channel."""

    def __init__(self):
        self.inputs = []

    def __call__(self, xy, t):
        self.inputs.append(xy)
        return xy[:, :1] * xy[:, 1:2] + t.reshape(-1, 1, 1, 1).to(xy.dtype)


def test_image_conditioning_appends_the_image_after_x():
    model = Channels()
    x = torch.full((2, 1, 2, 2), 3.0)
    image = torch.arange(16, dtype=torch.float64).reshape(2, 2, 2, 2)
    out = ImageConditioned(model, image)(x, torch.tensor([0, 1]))
    xy = model.inputs[0]
    assert xy.shape == (2, 3, 2, 2) and xy.dtype == torch.float32  # the image follows x's dtype
    assert torch.equal(xy[:, :1], x) and torch.equal(xy[:, 1:], image.float())
    assert torch.equal(out, 3 * image[:, :1].float() + torch.tensor([0.0, 1.0]).reshape(-1, 1, 1, 1))


def test_null_condition_and_drop_are_made_on_x_device():
    """Rows the adapter makes itself follow x (here the storage-free meta device)."""
    model = Recorder()
    x, t = torch.zeros(3, 2, device="meta"), torch.zeros(3, dtype=torch.long, device="meta")
    NetworkDenoiser(model, eval_batch=2)(x, t)
    assert {v.device.type for call in model.calls for v in call.values()} == {"meta"}


def test_conditioning_image_moves_to_x_device():
    devices = []

    def denoiser(xy, t):
        devices.append(xy.device.type)
        return xy[:, :1]

    x = torch.zeros(2, 1, 3, 3, device="meta")
    out = ImageConditioned(denoiser, torch.ones(2, 2, 3, 3))(x, torch.zeros(2, dtype=torch.long, device="meta"))
    assert devices == ["meta"] and out.shape == (2, 1, 3, 3)
