"""Tensors a constructor computes — initial values, constant buffers — skipped on the meta device.

Loading a checkpoint builds its model on the meta device first, to check the file's tensors
against the config without allocating anything (``hinr.store.checkpoint``); that build needs
shapes only. Computing on the meta device is not free: torch runs some meta ops in Python (arange,
stack, exp, randn, …) and the first of them imports ``torch._dynamo``, about 2 s on a 2-core CPU,
longer than the rest of a model's loading. So a constructor that computes a tensor does it through
``computed``: the values on a real device, an empty tensor of the same shape on the meta device.
``tests/test_meta_build.py`` checks that both builds have the same tensors and that the meta build
imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def on_meta() -> bool:
    """Whether modules are being built on the meta device (``with torch.device("meta")``)."""
    return torch.get_default_device().type == "meta"


def computed(shape: tuple[int, ...], make: Callable[[], torch.Tensor], *,
             dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``make()``, a tensor of ``shape`` and ``dtype``; on the meta device an empty one instead,
    without running ``make``."""
    if on_meta():
        return torch.empty(shape, dtype=dtype)
    return make()
