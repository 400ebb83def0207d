"""Weight averaging: one model whose every weight is the mean of the same weight in several
checkpoints of one architecture (a uniform "model soup", as timm's ``avg_checkpoints.py``).

Fine-tunes that start from the same weights stay close enough for their mean to be a good model,
often better than each of them: the shipped ``default`` is such a mean (weights/README.md). The
checkpoints must share one architecture config exactly; anything else is refused before any tensor
is read. The mean is taken in float32, added up in the order given, then divided, so the same list
gives the same bits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import HinrUsageError
from ..models.hinr import HINR
from .checkpoint import load_model, read_config, save_model, weights_fingerprint

AVERAGED_KEY = "averaged_from"  # metadata: JSON list of the sources' weight fingerprints


def average_models(sources: Sequence[str | Path]) -> tuple[HINR, list[str]]:
    """The model whose weights are the element-wise mean of ``sources``' (names or paths, as
    ``load_model`` takes them; at least two, one architecture), with the sources' fingerprints.
    HinrUsageError, naming the first field that differs, for sources of different architectures;
    tensors that are not floating point (indices) must be equal in all of them."""
    if len(sources) < 2:
        raise HinrUsageError(f"averaging needs at least two checkpoints, got {len(sources)}")
    configs = [read_config(source) for source in sources]  # headers only: refuse before loading
    for source, config in zip(sources[1:], configs[1:]):
        if config != configs[0]:
            field = next(name for name, value in vars(config).items()
                         if value != getattr(configs[0], name))
            raise HinrUsageError(
                f"{source} is another architecture than {sources[0]} ({field} "
                f"{getattr(config, field)!r} against {getattr(configs[0], field)!r}): only "
                "checkpoints of one architecture can be averaged")
    total: dict[str, torch.Tensor] = {}
    fingerprints = []
    for source in sources:
        model = load_model(source)
        fingerprints.append(weights_fingerprint(model))
        for name, tensor in model.state_dict().items():
            if name not in total:
                total[name] = tensor.float().clone() if tensor.is_floating_point() else tensor
            elif tensor.is_floating_point():
                total[name] += tensor.float()
            elif not torch.equal(tensor, total[name]):
                raise HinrUsageError(f"{source}'s {name} differs from {sources[0]}'s: these are "
                                     "not checkpoints of one model, they cannot be averaged")
    dtypes = {name: tensor.dtype for name, tensor in model.state_dict().items()}
    model.load_state_dict({name: (value / len(sources)).to(dtypes[name])
                           if value.is_floating_point() else value
                           for name, value in total.items()})  # the last source, now the mean
    return model, fingerprints


def save_average(sources: Sequence[str | Path], out: str | Path, *, overwrite: bool = False) -> Path:
    """Average ``sources`` (``average_models``) and save the result to ``out`` (a .safetensors file
    or a folder), the sources' fingerprints in its metadata; returns the file written."""
    model, fingerprints = average_models(sources)
    return save_model(model, out, extra_metadata={AVERAGED_KEY: json.dumps(fingerprints)},
                      overwrite=overwrite)
