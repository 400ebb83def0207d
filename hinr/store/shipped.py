"""Finding the weights that ``--weights`` names.

- ``default``: the model shipped with hinr (the repository's ``weights/`` folder, installed as
  the package ``hinr._weights``; the source checkout's ``weights/`` is the fallback);
- nothing: ``default`` — except that ``hinr upscale`` gives JPEG files (all but high-quality
  ones) and lossy WebP files to ``jpeg`` (:func:`weights_for_input`);
- the other names of ``SHIPPED`` (the one table of shipped weights, below): ``jpeg``, the default
  fine-tuned on JPEG-compressed (and mildly noisy or blurred) inputs, for photos that went through
  JPEG; ``hybrid``, the best model of hinr's hybrid design (weights/README.md says which and how
  it was trained); a file or folder of such a name in the working directory wins;
- a ``.safetensors`` file, or a folder (a training run) holding ``model.safetensors``;
- ``hf:owner/name[@revision][:file]``: a Hugging Face Hub repository, downloaded once into the hub
  cache by ``huggingface_hub``; with ``HF_HUB_OFFLINE=1``, or when the Hub cannot be reached within
  a couple of seconds (checked once, before huggingface_hub starts retrying), only the cache is
  used, and a miss is one line at once.

Only the path is resolved here; ``hinr.store.checkpoint.load_model`` reads it (strictly, no pickle).
``huggingface_hub`` is imported only on the ``hf:`` path.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from typing import TYPE_CHECKING

from ..errors import CheckpointError

if TYPE_CHECKING:  # annotations only: importing it would load Pillow for `hinr --help`
    from ..io.coding import Coding

WEIGHTS_NAME = "model.safetensors"  # the weights file of a run folder

HF_PREFIX = "hf:"
HUB_PROBE_TIMEOUT_S = 2.0  # DNS + TCP connect to the Hub; past this, treat the machine as offline
_HF_SPEC = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?:@(?P<rev>[^:]+))?(?::(?P<file>.+))?$")


@dataclass(frozen=True)
class Shipped:
    """One set of weights that ships with hinr: the one table of their names (``--weights NAME``,
    ``hinr models``, the page, which asks the server). The figures are measured, with the commands
    in docs/results.md: Set5 / Set14 ×4 luma PSNR (``hinr eval --benchmark``), and seconds for
    ``hinr upscale`` of a 480×270 photo to 1920×1080 on 2 CPU cores, the whole command, all three
    in one run on one machine (a 2-core Intel Xeon with AMX; import torch alone: 1.4 s there)."""

    file: str
    use: str
    set5_x4: float | None = None
    set14_x4: float | None = None
    seconds_1080p: float | None = None


SHIPPED = {
    "default": Shipped(WEIGHTS_NAME, "clean inputs: PNG, screenshots, renders, high-quality JPEG",
                       31.57, 28.22, 4.5),
    "jpeg": Shipped("jpeg.safetensors", "JPEG and lossy WebP files (picked for them unless told)",
                    None, None, 4.6),
    "hybrid": Shipped("hybrid.safetensors", "the hybrid design (BiMamba + SCENT), for comparison",
                      31.51, 28.15, 7.0),
}


# A JPEG input saved below these qualities is upscaled with the 'jpeg' weights, by its chroma
# subsampling; at or above them the default serves it as well or better. Measured on the `select`
# photos (weights/README.md, "Which inputs get it"): with 4:2:0 colour (what phones, cameras and the
# web write) the 'jpeg' weights lead up to quality 95 and the default at 100; the crossover is
# between 92 and 94 for 4:2:2 and between 85 and 88 for full-resolution colour; greyscale is taken
# as 4:4:4, other subsamplings as 4:2:0.
JPEG_WEIGHTS_BELOW = {"4:2:0": 100, "other": 100, "4:2:2": 94, "4:4:4": 88, "grey": 88}


def weights_for_input(coding: Coding | None) -> str:
    """The shipped weights for an input when none are named, by how the file was coded
    (``LoadedImage.coding``): ``jpeg`` for a JPEG file saved below ``JPEG_WEIGHTS_BELOW`` for its
    subsampling and for lossy WebP (4:2:0, quality unknown: at the qualities the web uses the
    ``jpeg`` weights lead, weights/README.md), when they are installed; else ``default``."""
    if coding is None or not shipped_weights("jpeg").is_file():
        return "default"
    if coding.format == "WEBP":
        return "jpeg"
    if coding.quality is None:
        return "default"
    below = JPEG_WEIGHTS_BELOW.get(coding.subsampling, JPEG_WEIGHTS_BELOW["other"])
    return "jpeg" if coding.quality < below else "default"


def shipped_weights(name: str = "default") -> Path:
    """A weights file shipped with hinr, by name (it may be missing in a bare checkout)."""
    package = Path(__file__).resolve().parents[1]  # hinr/
    for folder in (package / "_weights", package.parent / "weights"):
        if (folder / SHIPPED[name].file).is_file():
            return folder / SHIPPED[name].file
    return package / "_weights" / SHIPPED[name].file


def shipped_name(spec: str | Path | None) -> str | None:
    """The shipped model ``spec`` names ("default" for nothing), or None when it names something
    else: a local file or folder of a shipped model's name wins over the shipped one."""
    if spec is None or str(spec) == "":
        return "default"
    text = str(spec)
    return text if text in SHIPPED and not Path(text).expanduser().exists() else None


def resolve_weights(spec: str | Path | None) -> Path:
    """The weights file that ``spec`` names (see the module docstring); CheckpointError if none."""
    if spec is None or str(spec) == "":
        path = shipped_weights()
        if not path.is_file():
            raise CheckpointError("this hinr install has no shipped weights: pass --weights RUN_DIR, "
                                  "a .safetensors file, or hf:owner/name")
        return path
    text = str(spec)
    if text.startswith(HF_PREFIX):
        return download_hub_weights(text[len(HF_PREFIX):])
    path = Path(text).expanduser()
    if shipped_name(text) is not None:
        path = shipped_weights(text)
        if not path.is_file():
            raise CheckpointError(f"this hinr install has no shipped '{text}' weights")
        return path
    if path.is_dir():
        path = path / WEIGHTS_NAME
        if not path.is_file():
            raise CheckpointError(f"{path.parent} holds no {WEIGHTS_NAME}: pass a training run folder "
                                  "or a .safetensors file")
        return path
    if not path.exists():
        raise CheckpointError(f"no weights at {path}: pass a run folder, a .safetensors file "
                              "or hf:owner/name")
    return path


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it, but at call time (the hub reads it at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "on", "yes", "true")


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether a TCP connection to the Hub's host opens within ``timeout`` seconds (DNS included:
    the lookup runs in a thread, since getaddrinfo itself has no timeout)."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def download_hub_weights(spec: str) -> Path:
    """``owner/name[@revision][:file]`` → the cached file, downloading it unless offline."""
    match = _HF_SPEC.match(spec)
    if match is None:
        raise CheckpointError(f"cannot read hf:{spec}: write hf:owner/name, hf:owner/name@revision or "
                              f"hf:owner/name:path/{WEIGHTS_NAME}")
    repo, revision, filename = match["repo"], match["rev"], match["file"] or WEIGHTS_NAME
    parts = [*repo.split("/"), *filename.split("/")]
    if any(part in ("", ".", "..") for part in parts) or filename.startswith("/") or "\\" in filename:
        raise CheckpointError(f"hf:{spec} names a path outside the repository: write hf:owner/name "
                              f"or hf:owner/name:path/{WEIGHTS_NAME} with no '..' or empty parts")
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, HFValidationError,
                                        LocalEntryNotFoundError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    offline = hub_offline()
    unreachable = not offline and not hub_reachable()
    try:
        return Path(hf_hub_download(repo, filename, revision=revision,
                                    local_files_only=offline or unreachable))
    except LocalEntryNotFoundError as err:
        how = ("HF_HUB_OFFLINE is set: unset it to download, or copy the file and pass its path"
               if offline else "the Hub cannot be reached (offline?): check your connection, or "
               "download the file and pass its path" if unreachable else
               "check your connection, or download it and pass its path")
        raise CheckpointError(f"hf:{spec} is not in the local Hugging Face cache and cannot be fetched "
                              f"({how})") from err
    except RepositoryNotFoundError as err:
        raise CheckpointError(f"hf:{spec}: no such repository on the Hub (or it is private: run "
                              "`hf auth login`)") from err
    except RevisionNotFoundError as err:
        raise CheckpointError(f"hf:{spec}: revision {revision!r} does not exist in {repo}") from err
    except EntryNotFoundError as err:
        raise CheckpointError(f"hf:{spec}: {repo} has no file {filename}; name it with "
                              f"hf:{repo}:FILE") from err
    except HFValidationError as err:
        raise CheckpointError(f"hf:{spec} is not a valid Hub name ({str(err).splitlines()[0]}): "
                              "write hf:owner/name with letters, digits, '-', '_' or '.'") from err
    except (HfHubHTTPError, OSError) as err:
        raise CheckpointError(f"hf:{spec} could not be downloaded ({str(err).splitlines()[0]}): retry, "
                              "or set HF_HUB_OFFLINE=1 to use the cache") from err
