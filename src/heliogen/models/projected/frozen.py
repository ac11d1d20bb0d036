"""Freezing a module by turning its parameters into buffers.

A GAN loop toggles ``D.requires_grad_(True)`` before every discriminator step and often builds
its optimizer over ``D.parameters()``; a part frozen only with ``requires_grad = False`` would be
thawed and stepped by such a loop. A tensor held as a buffer is out of reach of both, still
moves with ``.to()``, and still passes gradients on to its input.
"""

from __future__ import annotations

from torch import nn

__all__ = ["freeze_into_buffers", "count_trainable"]


def freeze_into_buffers(module: nn.Module, persistent: bool) -> nn.Module:
    """Replace every parameter of ``module`` (and its children) by a buffer of the same name.

    Parameters
    ----------
    module : torch.nn.Module
        Changed in place; its forward keeps working because buffers are attributes too.
    persistent : bool
        Whether the frozen tensors (and the module's existing buffers, such as BatchNorm
        statistics) are written by ``state_dict``. False for weights that are rebuilt from their
        source at construction (a pretrained file), True for anything random.

    Returns
    -------
    torch.nn.Module
        ``module``, for chaining.
    """
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is None:
                continue
            del sub._parameters[name]
            sub.register_buffer(name, param.detach().requires_grad_(False), persistent=persistent)
        if not persistent:
            sub._non_persistent_buffers_set.update(sub._buffers)
            sub._register_load_state_dict_pre_hook(_drop_rebuilt_buffers, with_module=True)
    return module


def _drop_rebuilt_buffers(module: nn.Module, state_dict, prefix: str, *args) -> None:
    """Loading hook: forget the entries of ``module``'s non-persistent buffers.

    BatchNorm's loader adds its ``num_batches_tracked`` to a state dict that carries no version
    metadata (one read from a safetensors file); that buffer is rebuilt rather than saved, so
    the added entry would be refused as unexpected and such a checkpoint could not be loaded.
    """
    for name in module._non_persistent_buffers_set:
        state_dict.pop(prefix + name, None)


def count_trainable(module: nn.Module | None) -> int:
    """Number of parameter elements of ``module`` with ``requires_grad`` (0 for None)."""
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
