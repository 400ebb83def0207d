"""Loading a checkpoint first builds its model on the meta device to check the file's shapes
(hinr.store.checkpoint). That build must describe the real model exactly, and must compute
nothing: torch runs some meta ops in Python, and the first one imports torch._dynamo, seconds on a
small CPU (hinr.layers.computed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from hinr.config import ARCHITECTURES, REGISTRY, SHARED_SIZES, preset
from hinr.models.hinr import HINR

# every built-in architecture and size, and the hybrid-v3 options that add tensors of their own
CASES = [(arch, size, {}) for arch in ARCHITECTURES for size in (REGISTRY[arch].sizes or SHARED_SIZES)]
CASES += [("hybrid-v3", "tiny", dict(options=dict(pixel_kv=True, modulate=True, value_position=4,
                                                   neighbourhood=4))),
          ("hybrid-v3", "tiny", dict(options=dict(pixel_kv=True, pixel_head=1, pixel_dim=8)))]


def _tensors(model: torch.nn.Module) -> dict[str, tuple[tuple[int, ...], torch.dtype]]:
    named = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    return {name: (tuple(t.shape), t.dtype) for name, t in named.items()}


@pytest.mark.parametrize("arch, size, overrides", CASES)
def test_the_meta_build_has_the_real_models_tensors(arch, size, overrides):
    config = preset(size, arch=arch, **overrides)
    real = HINR(config)
    with torch.device("meta"):
        shapes_only = HINR(config)
    assert _tensors(shapes_only) == _tensors(real)  # non-persistent buffers too
    assert all(t.is_meta for t in shapes_only.state_dict().values())


BUILD_ALL = """
import json, sys, torch
from hinr.config import preset
from hinr.models.hinr import HINR
with torch.device("meta"):
    torch.nn.Linear(2, 2)  # the device context's own first use imports a module
before = set(sys.modules)
for arch, size, overrides in json.loads(sys.argv[1]):
    with torch.device("meta"):
        HINR(preset(size, arch=arch, **overrides))
print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split(".")[0] != "hinr")))
"""


def test_the_meta_build_computes_nothing():
    """No meta op that torch implements in Python runs: nothing but hinr's own model files is
    imported (the first such op imports sympy, or torch._dynamo: hundreds of modules)."""
    out = subprocess.run([sys.executable, "-c", BUILD_ALL, json.dumps(CASES)], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == []
