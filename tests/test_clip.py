"""CLIP image features: heliogen's RN50 / ViT-B/32 towers, checkpoint loading, errors."""

import copy

import numpy as np
import pytest
import torch

from heliogen.errors import HeliogenError
from heliogen.evaluate.features import get_extractor, resize_batch
from heliogen.evaluate.features.clip import _MEAN, _STD, ClipExtractor, import_open_clip
from heliogen.models.backbones.clip import PARAM_COUNTS, TOWERS, build_visual, load_clip_visual, random_visual

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),  # the shared 2-core machine: see conftest
    # Saving OpenAI-style archives needs torch.jit.script/save, deprecated from torch 2.9 on.
    pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning"),
]

# Small towers of the same two families, for the checkpoint-format tests (a full RN50 state
# dict is 150 MB, a ViT-B/32 one 350 MB).
TINY = {
    "RN-tiny": {"kind": "resnet", "layers": (1, 2, 1, 1), "width": 8, "heads": 2, "output_dim": 16, "image_size": 64},
    "ViT-tiny": {"kind": "vit", "patch_size": 8, "width": 32, "layers": 2, "heads": 4, "output_dim": 16,
                 "image_size": 32},
}


@pytest.fixture
def tiny_towers(monkeypatch):
    for name, cfg in TINY.items():
        monkeypatch.setitem(TOWERS, name, cfg)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:40, :40] / 40
    return np.stack([np.clip(0.5 + 0.4 * np.sin(5 * x * (i + 1) + y) + 0.05 * rng.normal(size=x.shape), 0, 1)
                     for i in range(2)])[:, None].astype(np.float32)


def _perturb_norms(model, seed=3):
    """Non-trivial batch-norm statistics and affine terms, so a loader that dropped them shows."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=gen))
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return model.eval()


class _WholeClip(torch.nn.Module):
    """A stand-in for a whole CLIP model: the image tower under ``visual`` plus text-side tensors."""

    def __init__(self, visual):
        super().__init__()
        self.visual = visual
        self.token_embedding = torch.nn.Embedding(10, 4)
        self.ln_final = torch.nn.LayerNorm(4)
        self.logit_scale = torch.nn.Parameter(torch.ones([]))
        self.register_buffer("input_resolution", torch.tensor(224))  # as in OpenAI's archives

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def _save(model, path, fmt):
    whole = _WholeClip(model)
    state = whole.state_dict()
    assert any(not k.startswith("visual.") for k in state)
    if fmt == "pt":
        torch.save(state, path)
    elif fmt == "pt-ddp":  # a training checkpoint: nested, DistributedDataParallel prefix
        torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in state.items()}}, path)
    elif fmt == "torchscript":  # like OpenAI's RN50.pt / ViT-B-32.pt
        torch.jit.save(torch.jit.script(whole), str(path))
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().clone() for k, v in state.items()}, str(path))
    return path


@pytest.mark.parametrize("name,dim", [("clip-rn50", 1024), ("clip-vitb32", 512)])
def test_random_weights_give_finite_batch_independent_features(images, name, dim):
    ext = get_extractor(name, weights="random")
    a = ext(images, batch_size=1)
    b = ext(images, batch_size=2)
    assert a.shape == (2, dim) and a.dtype == np.float64 and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())
    assert np.abs(a[0] - a[1]).max() > 1e-3 * np.abs(a).max()  # different images, different features
    d = ext.describe()
    assert "random" in d["weights"] and d["implementation"] in d["weights"]
    # Seeded: a second build gives the same network.
    again = ClipExtractor(arch=name, weights="random").net.state_dict()
    assert all(torch.equal(v, again[k]) for k, v in ext.net.state_dict().items())


def test_tower_parameter_counts_and_checkpoint_names():
    # RN50 visual from the architecture (open_clip's docs/model_profile.csv: image_mparams 38.32):
    # stem 3x3 convs 3->32->32->64 with their batch norms; bottlenecks (w, 4w) per stage
    # w = 64, 128, 256, 512 with 3, 4, 6, 3 blocks and a 1x1 shortcut in each first block;
    # attention pool over 2048 channels: 7*7+1 positions, q/k/v 2048x2048 + bias,
    # c_proj 2048->1024 + bias.
    stem = 3 * 32 * 9 + 32 * 32 * 9 + 32 * 64 * 9 + 2 * (32 + 32 + 64)
    blocks, cin = 0, 64
    for w, n in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        for i in range(n):
            blocks += cin * w + 2 * w + w * w * 9 + 2 * w + w * 4 * w + 2 * 4 * w
            if i == 0:
                blocks += cin * 4 * w + 2 * 4 * w
            cin = 4 * w
    attnpool = 50 * 2048 + 3 * (2048 * 2048 + 2048) + 2048 * 1024 + 1024
    assert stem + blocks + attnpool == 38_316_896 == PARAM_COUNTS["RN50"]
    # ViT-B/32 visual (model_profile.csv: 87.85): patch conv, class token, 7*7+1 positions,
    # ln_pre, 12 blocks of (ln, qkv + out proj, ln, 768->3072->768 MLP), ln_post, proj.
    block = 2 * 768 + (3 * 768 * 768 + 3 * 768) + (768 * 768 + 768) + 2 * 768 + (768 * 3072 + 3072) + (3072 * 768 + 768)
    vit = 768 * 3 * 32 * 32 + 768 + 50 * 768 + 2 * 768 + 12 * block + 2 * 768 + 768 * 512
    assert vit == 87_849_216 == PARAM_COUNTS["ViT-B-32"]

    expect = {
        "RN50": {"conv1.weight": (32, 3, 3, 3), "bn3.running_var": (64,), "layer1.0.downsample.0.weight": (256, 64, 1, 1),
                 "layer2.0.downsample.1.running_mean": (512,), "layer4.2.conv3.weight": (2048, 512, 1, 1),
                 "attnpool.positional_embedding": (50, 2048), "attnpool.q_proj.weight": (2048, 2048),
                 "attnpool.c_proj.weight": (1024, 2048), "attnpool.c_proj.bias": (1024,)},
        "ViT-B-32": {"conv1.weight": (768, 3, 32, 32), "class_embedding": (768,), "positional_embedding": (50, 768),
                     "ln_pre.weight": (768,), "transformer.resblocks.11.attn.in_proj_weight": (2304, 768),
                     "transformer.resblocks.0.attn.out_proj.bias": (768,),
                     "transformer.resblocks.5.mlp.c_fc.weight": (3072, 768),
                     "transformer.resblocks.5.mlp.c_proj.weight": (768, 3072), "ln_post.bias": (768,),
                     "proj": (768, 512)},
    }
    for arch, keys in expect.items():
        with torch.device("meta"):
            model = build_visual(arch)
        assert sum(p.numel() for p in model.parameters()) == PARAM_COUNTS[arch]
        state = model.state_dict()
        for k, shape in keys.items():
            assert tuple(state[k].shape) == shape, k
        if arch == "RN50":  # a shortcut convolution in the first block of each stage only
            assert sorted({k.split(".downsample")[0] for k in state if ".downsample." in k}) == [
                "layer1.0", "layer2.0", "layer3.0", "layer4.0"]


@pytest.mark.parametrize("fmt", ["pt", "pt-ddp", "torchscript", "safetensors"])
@pytest.mark.parametrize("arch", ["RN-tiny", "ViT-tiny"])
def test_checkpoint_formats_reproduce_the_source_tower(tmp_path, tiny_towers, arch, fmt):
    source = _perturb_norms(random_visual(arch, seed=7))
    path = _save(source, tmp_path / f"clip.{'safetensors' if fmt == 'safetensors' else 'pt'}", fmt)
    loaded = load_clip_visual(arch, path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.rand(2, 3, TINY[arch]["image_size"], TINY[arch]["image_size"], generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        want, got = source(x), loaded(x)
    assert got.shape == (2, 16)
    # The same tensors (exactly); the same outputs up to BLAS round-off (kernels may depend on
    # memory alignment).
    source_state, loaded_state = source.state_dict(), loaded.state_dict()
    assert source_state.keys() == loaded_state.keys()
    assert all(torch.equal(v, loaded_state[k]) for k, v in source_state.items())
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * want.abs().max().item())
    # A fresh random tower differs: the match above is the loaded weights, not the seed.
    with torch.inference_mode():
        assert (random_visual(arch, seed=8).eval()(x) - want).abs().max() > 1e-3


def test_openai_style_fp16_torchscript_archive_through_the_extractor(tmp_path, monkeypatch, images):
    """A whole-model TorchScript archive in float16 (OpenAI's format), found via the env var."""
    source = _perturb_norms(random_visual("RN50", seed=5))
    source.half().float()  # the reference holds exactly the float16 values the archive stores
    path = _save(copy.deepcopy(source).half(), tmp_path / "RN50.pt", "torchscript")
    monkeypatch.setenv("HELIOGEN_CLIP_WEIGHTS", str(path))
    ext = ClipExtractor(arch="clip-rn50", implementation="heliogen")  # built directly: one fresh extractor for this file
    assert str(path) in ext.weights and "ModifiedResNet" in ext.describe()["implementation"]
    got = ext(images)
    x = resize_batch(torch.from_numpy(images), 224).expand(-1, 3, -1, -1)
    x = (x - torch.tensor(_MEAN).view(1, 3, 1, 1)) / torch.tensor(_STD).view(1, 3, 1, 1)
    with torch.inference_mode():
        want = source(x).double().numpy()
    assert got.shape == (2, 1024)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def _one_line_error(fn, match):
    with pytest.raises(HeliogenError, match=match) as info:
        fn()
    assert "\n" not in str(info.value)
    return str(info.value)


def test_mismatched_checkpoints_give_one_clear_error(tmp_path, tiny_towers):
    source = random_visual("RN-tiny")
    state = {"visual." + k: v for k, v in source.state_dict().items()}
    state["token_embedding.weight"] = torch.zeros(10, 4)

    missing = dict(state)
    del missing["visual.attnpool.c_proj.bias"]
    torch.save(missing, tmp_path / "missing.pt")
    msg = _one_line_error(lambda: load_clip_visual("RN-tiny", tmp_path / "missing.pt"), "missing")
    assert "visual.attnpool.c_proj.bias" in msg and "RN-tiny" in msg

    wrong = dict(state)
    wrong["visual.conv1.weight"] = torch.zeros(5, 3, 3, 3)
    torch.save(wrong, tmp_path / "wrong.pt")
    msg = _one_line_error(lambda: load_clip_visual("RN-tiny", tmp_path / "wrong.pt"), "shape")
    assert "visual.conv1.weight is (5, 3, 3, 3), RN-tiny needs (4, 3, 3, 3)" in msg

    extra = dict(state)
    extra["visual.attnpool.extra"] = torch.zeros(2)
    torch.save(extra, tmp_path / "extra.pt")
    _one_line_error(lambda: load_clip_visual("RN-tiny", tmp_path / "extra.pt"), "unexpected visual.attnpool.extra")

    # A ViT checkpoint handed to the RN50 extractor fails before any network is built.
    vit = {"visual." + k: v for k, v in random_visual("ViT-tiny").state_dict().items()}
    torch.save(vit, tmp_path / "vit.pt")
    msg = _one_line_error(lambda: get_extractor("clip-rn50", weights=str(tmp_path / "vit.pt")), "does not fit")
    assert "missing visual." in msg and "unexpected visual." in msg and "more)" in msg

    torch.save({"token_embedding.weight": torch.zeros(3)}, tmp_path / "text.pt")
    _one_line_error(lambda: load_clip_visual("RN-tiny", tmp_path / "text.pt"), "no 'visual.\\*' tensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    _one_line_error(lambda: load_clip_visual("RN-tiny", tmp_path / "junk.safetensors"), "cannot read CLIP weights")


def test_weights_are_required(monkeypatch, tmp_path):
    monkeypatch.delenv("HELIOGEN_CLIP_WEIGHTS", raising=False)
    _one_line_error(lambda: ClipExtractor(arch="clip-vitb32"), "HELIOGEN_CLIP_WEIGHTS")
    monkeypatch.setenv("HELIOGEN_CLIP_WEIGHTS", str(tmp_path / "nope.pt"))
    _one_line_error(lambda: ClipExtractor(arch="clip-rn50"), "no CLIP weights at")
    _one_line_error(lambda: ClipExtractor(arch="clip-rn50", weights="random", implementation="tf"), "implementation")
    _one_line_error(lambda: load_clip_visual("RN101", "random"), "unknown CLIP image tower")
    try:
        import_open_clip()
    except HeliogenError:  # here (no usable torchvision): asking for open_clip says why it cannot
        _one_line_error(lambda: ClipExtractor(arch="clip-rn50", weights="random", implementation="open_clip"),
                        "torchvision")


def test_attention_pool_equals_full_multi_head_attention_read_at_the_mean_token():
    """Independent route: torch's packed multi-head attention over all tokens (time-major, as
    CLIP's reference code calls it), with the mean token's output taken afterwards."""
    import torch
    import torch.nn.functional as F

    from heliogen.models.backbones.clip import AttentionPool2d

    torch.manual_seed(0)
    pool = AttentionPool2d(grid=3, channels=16, heads=4, output_dim=8).eval()
    x = torch.randn(2, 16, 3, 3)
    with torch.no_grad():
        ours = pool(x)
        t = x.flatten(2).permute(2, 0, 1)  # (S*S, N, C)
        t = torch.cat([t.mean(dim=0, keepdim=True), t]) + pool.positional_embedding[:, None, :]
        ref, _ = F.multi_head_attention_forward(
            query=t, key=t, value=t, embed_dim_to_check=16, num_heads=4, in_proj_weight=None,
            in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]), bias_k=None, bias_v=None,
            add_zero_attn=False, dropout_p=0.0, out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
            use_separate_proj_weight=True, q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight,
            v_proj_weight=pool.v_proj.weight, training=False, need_weights=False)
    torch.testing.assert_close(ours, ref[0], rtol=1e-5, atol=1e-6)
