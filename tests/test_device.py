"""``--device``: one resolution of auto, cpu and cuda for every command."""

import pytest
import torch

from heliogen.device import resolve_device
from heliogen.errors import HeliogenError


def test_auto_follows_cuda_availability(monkeypatch):
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu" and resolve_device() == "cpu" and resolve_device("CPU") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == "cuda" and resolve_device("cuda") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("cpu") == "cpu"


def test_cuda_without_cuda_and_unknown_names_are_one_line_errors(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HeliogenError, match="^--device cuda asked for, but no CUDA device is available$"):
        resolve_device("cuda")
    with pytest.raises(HeliogenError, match="no CUDA device"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(HeliogenError, match="there are 1 CUDA devices"):
        resolve_device("cuda:1")
    for bad in ("tpu", "cuda:x", ""):
        with pytest.raises(HeliogenError, match="unknown device") as err:
            resolve_device(bad)
        assert "\n" not in str(err.value)
