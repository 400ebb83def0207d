"""The one rule for ``--device`` (every command and the trainer): which names are valid and what
``auto`` picks.

- ``auto``: the first CUDA device if there is one, else the CPU;
- ``cpu``, ``cuda``, ``cuda:N``, ``mps``: that device, which must exist here.
"""

from __future__ import annotations

import re

import torch

from .errors import HinrError, HinrUsageError

DEVICE_NAMES = "auto, cpu, cuda, cuda:N or mps"


class DeviceUnavailableError(HinrError):
    """A valid device name for a device this machine does not have."""


def check_device_name(name: str | torch.device) -> re.Match | None:
    """HinrUsageError unless ``name`` is one of DEVICE_NAMES (whether this machine has it or not);
    the match (its group 1 the CUDA index, if any), or None for ``auto``."""
    name = str(name).strip().lower()
    if name == "auto":
        return None
    match = re.fullmatch(r"cpu|mps|cuda(?::(\d+))?", name)
    if match is None:
        raise HinrUsageError(f"--device must be {DEVICE_NAMES}, not {name!r}")
    return match


def resolve_device(name: str | torch.device) -> torch.device:
    """``name`` → a torch.device that exists here.

    HinrUsageError for a name that is none of DEVICE_NAMES; DeviceUnavailableError (exit 1) for a
    device this machine lacks.
    """
    match = check_device_name(name)
    if match is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = match[0]
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceUnavailableError("CUDA is not available here: use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if match[1] is not None and int(match[1]) >= count:
            raise DeviceUnavailableError(f"--device {name}: this machine has {count} CUDA device(s), "
                                         f"cuda:0 to cuda:{count - 1}")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceUnavailableError("MPS is not available here: use --device cpu (or auto)")
    return torch.device(name)
