"""AlexNet's convolutional feature stack (Krizhevsky et al. 2012), as LPIPS uses it.

torchvision's ``alexnet().features`` layout, built here without torchvision (which cannot
be imported beside torch 2.13 on heliogen's CPU machines) with the same layer indices, so a
torchvision ``alexnet`` state dict (``alexnet-owt-7be5be79.pth``) loads as is. heliogen
loads these weights frozen and never trains them; no weights ship with it.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import HeliogenError

__all__ = ["alexnet_features", "load_alexnet_features"]


def alexnet_features():
    """torchvision's ``alexnet().features`` layout (indices 0..12), randomly initialised."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )


def load_alexnet_features(path):
    """:func:`alexnet_features` with the weights of the state dict at ``path``.

    The file may hold the whole torchvision AlexNet (``features.N.*`` keys; the classifier
    is ignored) or the feature stack alone (``N.*`` keys).
    """
    import torch

    path = Path(path)
    net = alexnet_features()
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k.split("features.", 1)[1]: v for k, v in state.items() if "features." in k} or state
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise HeliogenError(f"{path} is not an AlexNet state dict ({str(err).splitlines()[0]})") from None
    return net
