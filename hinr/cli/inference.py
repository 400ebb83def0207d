"""``hinr upscale``, ``hinr encode`` and ``hinr render``: option checking, output naming, progress
bars and the loop over inputs; the work itself is in ``hinr.upscale``, ``hinr.imageio`` and
``hinr.latents_io``.

Every check that can fail runs before any compute: sizes, devices, output paths (an existing file
needs --overwrite; the folder must be writable), so a mistake costs no time and leaves no file.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import typer

from .errors import RuntimeFailure, UsageError

MAX_SIDE = 16384  # larger outputs need --force: at 3 floats a pixel they take gigabytes
_SIZE = re.compile(r"^\s*(-?\d+)\s*(?:[xX×]\s*(-?\d+)\s*)?$")


# --- options ------------------------------------------------------------------------------------

def parse_size(text: str, *, option: str) -> tuple[int | None, int, int]:
    """'N' or 'WxH' → (N or None, width, height); UsageError unless all are positive integers."""
    match = _SIZE.match(text)
    if match is None:
        raise UsageError(f"{option} takes N or WxH (e.g. 256 or 640x480), not {text!r}")
    width = int(match[1])
    height = int(match[2]) if match[2] is not None else width
    if width < 1 or height < 1:
        raise UsageError(f"{option} must be positive, got {text!r}")
    return (None if match[2] is not None else width), width, height


def check_limit(width: int, height: int, *, force: bool) -> None:
    if max(width, height) > MAX_SIDE and not force:
        raise UsageError(f"{width}x{height} is larger than {MAX_SIDE} px on a side: pass --force if "
                         "you mean it (it needs ~12 bytes a pixel)")


def upscale_size(in_width: int, in_height: int, *, size: str | None, scale: float | None,
                 force: bool) -> tuple[int, int]:
    """Output (width, height): --size WxH exactly, --size N for the longer side (aspect kept),
    or --scale K times the input."""
    if (size is None) == (scale is None):
        raise UsageError("pass exactly one of --size N, --size WxH or --scale K")
    if scale is not None:
        if not math.isfinite(scale) or scale <= 0:
            raise UsageError(f"--scale must be a positive number, got {scale}")
        width, height = max(1, round(in_width * scale)), max(1, round(in_height * scale))
    else:
        side, width, height = parse_size(size, option="--size")
        if side is not None and in_width != in_height:
            factor = side / max(in_width, in_height)
            width, height = max(1, round(in_width * factor)), max(1, round(in_height * factor))
    check_limit(width, height, force=force)
    return width, height


def check_ensemble(ensemble: int) -> None:
    from ..ensemble import transforms

    try:
        transforms(ensemble)
    except ValueError as err:
        raise UsageError(f"--{err}") from err


def check_counts(*, batch_size: int, chunk: int, stride: int | None = None) -> None:
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if chunk < 1:
        raise UsageError(f"--chunk must be at least 1, got {chunk}")
    if stride is not None and not 1 <= stride <= 24:
        raise UsageError(f"--stride must be in 1..24 (tiles are 32 px and must overlap), got {stride}")


def check_precision(name: str, device) -> str:
    """--precision → 'fp32' or 'bf16' for ``device`` (see hinr.precision)."""
    from ..precision import resolve_precision

    try:
        return resolve_precision(name, device)
    except ValueError as err:
        raise UsageError(f"--{err}") from err


def pick_device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", name):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, not {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeFailure("CUDA is not available here: use --device cpu (or auto)")
    return torch.device(name)


def load_weights(spec: str | None, device):
    from ..checkpoint import load_model
    from ..weights import resolve_weights

    return load_model(resolve_weights(spec), device=device)


# --- inputs and outputs ---------------------------------------------------------------------------

def check_inputs(paths: list[Path]) -> None:
    """Fail before loading the model on a missing, empty or folder input (decoding checks the rest)."""
    from ..imageio import check_image_file

    for path in paths:
        check_image_file(path)


def unique_stems(names: list[str]) -> list[str]:
    """File stems, made unique in order by a -2, -3… suffix."""
    seen: dict[str, int] = {}
    stems = []
    for name in names:
        stem = Path(name).stem or "image"
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return stems


def plan_outputs(names: list[str], output: Path, *, overwrite: bool) -> list[Path]:
    """One input: ``output`` is the file (or an existing folder to write <stem>.png into). Several:
    ``output`` is a folder and each result is ``output/<stem>.png``."""
    from ..imageio import SAVE_FORMATS, UnsupportedFormatError, output_format

    if len(names) == 1 and not output.is_dir():
        try:
            output_format(output)
        except UnsupportedFormatError as err:
            raise UsageError(str(err)) from err
        paths = [output]
    else:
        if output.exists() and not output.is_dir():
            raise UsageError(f"-o {output} is a file, but {len(names)} results need a folder: pass a folder")
        if len(names) > 1 and output.suffix.lower() in SAVE_FORMATS:
            raise UsageError(f"-o {output} looks like a file, but {len(names)} results need a folder")
        paths = [output / f"{stem}.png" for stem in unique_stems(names)]
    check_outputs(paths, overwrite=overwrite)
    return paths


def check_outputs(paths: list[Path], *, overwrite: bool) -> None:
    """Refuse existing files without --overwrite, and folders we cannot write into."""
    for path in paths:
        if path.is_dir():
            raise RuntimeFailure(f"{path} is a folder: choose another output file name")
        if path.exists() and not overwrite:
            raise RuntimeFailure(f"{path} already exists: pass --overwrite to replace it, or choose "
                                 "another -o")
    for folder in sorted({p.parent for p in paths}):
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent  # folders are made when writing, so a failed run leaves none
        try:
            if not existing.is_dir():
                raise NotADirectoryError(20, f"{existing} is not a folder")
            fd, probe = tempfile.mkstemp(prefix=".hinr-write-test.", dir=existing)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise RuntimeFailure(f"cannot write into {folder} ({err.strerror or err}): choose another "
                                 "-o") from err


# --- progress -------------------------------------------------------------------------------------

@contextmanager
def progress_bars() -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """Rich progress bars on stderr (shown only on a terminal, removed when done).

    Yields ``start(description)`` → a callback ``(done, total)`` for that bar.
    """
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  TimeRemainingColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as bars:
        def start(description: str) -> Callable[[int, int], None]:
            task = bars.add_task(description, total=None)
            return lambda done, total: bars.update(task, completed=done, total=total)

        yield start


# --- commands ---------------------------------------------------------------------------------------

def run_upscale(*, images: list[Path], output: Path, size: str | None, scale: float | None,
                weights: str | None, device: str, batch_size: int, chunk: int, precision: str,
                ensemble: int, stride: int, overwrite: bool, force: bool) -> None:
    upscale_size(1, 1, size=size, scale=scale, force=force)  # bad sizes fail before anything loads
    check_counts(batch_size=batch_size, chunk=chunk, stride=stride)
    check_ensemble(ensemble)
    check_inputs(images)
    outputs = plan_outputs([p.name for p in images], output, overwrite=overwrite)
    torch_device = pick_device(device)
    precision = check_precision(precision, torch_device)

    from ..imageio import load_image, save_image
    from ..upscale import resize_bicubic, upscale_image

    model = load_weights(weights, torch_device)
    with progress_bars() as start:
        for path, out in zip(images, outputs):
            image = load_image(path)
            width, height = upscale_size(image.width, image.height, size=size, scale=scale, force=force)
            rgb = upscale_image(model, image.rgb, (height, width), chunk=chunk, batch_size=batch_size,
                                stride=stride, precision=precision, ensemble=ensemble,
                                progress=start(f"{path.name} → {width}×{height}"))
            alpha = None if image.alpha is None else resize_bicubic(image.alpha, height, width)
            save_image(out, rgb, alpha=alpha, grey=image.grey, bits=image.bits)
            typer.echo(str(out))


def run_encode(*, images: list[Path], output: Path, weights: str | None, device: str,
               batch_size: int, overwrite: bool) -> None:
    if output.suffix != ".safetensors":
        raise UsageError(f"-o {output} must end in .safetensors")
    check_counts(batch_size=batch_size, chunk=1)
    check_inputs(images)
    check_outputs([output], overwrite=overwrite)
    torch_device = pick_device(device)

    import torch

    from ..imageio import load_image
    from ..latents_io import save_latents
    from ..upscale import encode_images, model_input

    model = load_weights(weights, torch_device)
    side = model.config.image_size
    inputs, sizes = [], []
    for path in images:
        image = load_image(path)
        inputs.append(model_input(image.rgb, side=side))
        sizes.append((image.width, image.height))
    with progress_bars() as start:
        latents = encode_images(model, torch.stack(inputs), batch_size=batch_size,
                                progress=start(f"encoding {len(inputs)} image(s)"))
    save_latents(output, latents, model=model, sources=[p.name for p in images], input_sizes=sizes)
    typer.echo(str(output))


def run_render(*, latents: Path, output: Path, res: int | None, size: str | None,
               weights: str | None, device: str, batch_size: int, chunk: int, precision: str,
               overwrite: bool, force: bool) -> None:
    if (res is None) == (size is None):
        raise UsageError("pass exactly one of --res N or --size WxH")
    if res is not None:
        if res < 1:
            raise UsageError(f"--res must be positive, got {res}")
        width = height = res
    else:
        _, width, height = parse_size(size, option="--size")
    check_limit(width, height, force=force)
    check_counts(batch_size=batch_size, chunk=chunk)
    torch_device = pick_device(device)
    precision = check_precision(precision, torch_device)

    from ..latents_io import load_latents
    from ..imageio import save_image
    from ..upscale import render_latents

    load_latents(latents)  # a corrupt file fails before the model loads
    model = load_weights(weights, torch_device)
    found = load_latents(latents, model=model)
    outputs = plan_outputs(found.sources, output, overwrite=overwrite)
    with progress_bars() as start:
        for first in range(0, len(outputs), batch_size):
            batch = found.latents[first:first + batch_size]
            names = ", ".join(found.sources[first:first + batch_size])
            images = render_latents(model, batch, height, width, chunk=chunk, precision=precision,
                                    progress=start(f"{names} → {width}×{height}"))
            for out, rgb in zip(outputs[first:first + batch_size], images):
                save_image(out, rgb)
                typer.echo(str(out))
