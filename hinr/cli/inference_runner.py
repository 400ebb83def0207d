"""``hinr upscale``, ``hinr encode`` and ``hinr render``: option checking, output naming, progress
bars and the loop over inputs; the work itself is in ``hinr.inference.upscale``, ``hinr.io.images`` and
``hinr.store.latents``.

Every check that can fail runs before any compute: sizes, devices, output paths (an existing file
needs --overwrite; the folder must be writable), the memory the largest output needs, so a mistake
costs no time and leaves no file. Each result is published only when complete, and never over a
file that exists without --overwrite (``hinr.cli.outputs``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from .folders import expand_inputs, output_suffixes
from ..inference.sizes import (aspect_warning, check_fit, check_limit, check_size_options, parse_size,
                               render_size, target_size)
from .console import progress_bar
from .errors import UsageError
from .outputs import (check_not_inputs, check_outputs, default_image_outputs, default_latents_output,
                      is_folder_spec, latents_stem, plan_outputs)


# --- options ------------------------------------------------------------------------------------

def check_ensemble(ensemble: int) -> None:
    from ..inference.ensemble import transforms

    try:
        transforms(ensemble)
    except ValueError as err:
        raise UsageError(f"--{err}") from err


def check_counts(*, batch_size: int, chunk: int, stride: int | None = None) -> None:
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    if chunk < 1:
        raise UsageError(f"--chunk must be at least 1, got {chunk}")
    if stride is not None:
        from ..config import INPUT_SIZE
        from ..inference.tiling import check_stride  # the one stride rule

        try:
            check_stride(stride, tile=INPUT_SIZE)
        except ValueError as err:
            raise UsageError(f"--stride: {err}") from err


def check_precision(name: str, device):
    """--precision → torch.float32 or torch.bfloat16 for ``device``: the one resolution
    (``hinr.precision.resolve_precision``), at the edge."""
    from ..precision import resolve_precision

    try:
        return resolve_precision(name, device)
    except ValueError as err:
        raise UsageError(f"--{err}") from err


def pick_device(name: str):
    from ..device import resolve_device

    return resolve_device(name)


# --- inputs -------------------------------------------------------------------------------------

def tell_notes(image) -> None:
    """What loading found that the user should know (``LoadedImage.notes``), a line each on stderr."""
    for note in image.notes:
        typer.echo(f"hinr: warning: {note}", err=True)


def check_inputs(paths: list[Path]) -> None:
    """Fail before loading the model on a missing, empty or folder input (decoding checks the rest)."""
    from ..io.images import check_image_file

    for path in paths:
        check_image_file(path)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as ``load_image`` will see it (EXIF rotation applied), from its
    header; a file whose header Pillow cannot read is decoded, which raises the precise error."""
    import warnings

    from PIL import Image

    from ..io.orientation import exif_of

    try:
        with warnings.catch_warnings():  # load_image says what matters in lines of its own
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                width, height = image.size
                orientation = exif_of(image).get(0x0112, 1)
    except Exception:  # noqa: BLE001 - load_image names the problem
        from ..io.images import load_image

        loaded = load_image(path)
        return loaded.width, loaded.height
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


# --- commands -------------------------------------------------------------------------------------

def run_upscale(*, images: list[Path], output: str | None, size: str | None, scale: float | None,
                weights: str | None, device: str, batch_size: int, chunk: int, precision: str,
                ensemble: int, stride: int, overwrite: bool, force: bool,
                strip_metadata: bool = False, keep_gps: bool = False, fit: str | None = None,
                format: str = "keep", quality: int | None = None) -> None:
    check_size_options(size, scale)  # bad sizes fail before anything is read
    fit = check_fit(fit, size)
    check_counts(batch_size=batch_size, chunk=chunk, stride=stride)
    check_ensemble(ensemble)
    given = expand_inputs(images, output)  # a folder: its images, its tree kept under -o
    images = given.files
    suffixes = output_suffixes(format, quality, output, images)
    check_inputs(images)
    in_sizes = [image_size(p) for p in images]
    targets = [target_size(*s, size=size, scale=scale, force=force, fit=fit) for s in in_sizes]
    renders = [render_size(*s, *t, fit) for s, t in zip(in_sizes, targets)]
    for render in renders:
        check_limit(*render, force=force)
    warnings = [aspect_warning(p.name, *s, size, t, fit) for p, s, t in zip(images, in_sizes, targets)]
    if output is None:
        outputs = default_image_outputs([p.with_suffix("") for p in images], targets, suffixes)
        check_not_inputs(outputs, images)
    else:
        outputs = plan_outputs(given.relative or [p.name for p in images], output, suffixes=suffixes)
    check_outputs(outputs, overwrite=overwrite)
    torch_device = pick_device(device)
    precision = check_precision(precision, torch_device)

    from ..inference.options import RenderOptions
    from ..inference.upscaler import Upscaler

    options = RenderOptions(chunk=chunk, batch_size=batch_size, stride=stride, precision=precision,
                            ensemble=ensemble)  # the one value every upscale below gets
    upscaler = Upscaler(device=torch_device, options=options, strip_metadata=strip_metadata,
                        keep_gps=keep_gps, quality=quality)
    if weights is not None:
        upscaler.model_for(weights, targets)  # bad weights fail before the first image is decoded

    def say(text: str) -> None:
        typer.echo(f"hinr: {text}", err=True)

    if given.skipped:
        say(f"{given.skipped} file(s) in the input folder(s) are not images: skipped")
    for path, out, (width, height), render, warning in zip(images, outputs, targets, renders, warnings):
        if warning is not None:
            say(f"warning: {warning}")
        label = f"{path.name} → {width}×{height}"
        with progress_bar(label) as progress:
            upscaler.upscale(path, out, (width, height), weights=weights, overwrite=overwrite,
                             say=say, progress=progress, render=render)
        typer.echo(str(out))


def run_encode(*, images: list[Path], output: str | None, weights: str | None, device: str,
               batch_size: int, overwrite: bool) -> None:
    check_counts(batch_size=batch_size, chunk=1)
    check_inputs(images)
    if output is None:
        out = default_latents_output(images)
    elif is_folder_spec(output) or Path(output).is_dir():  # -o DIR/: the default name, in DIR
        out = Path(output) / default_latents_output(images).name
    else:
        out = Path(output)
    if out.suffix != ".safetensors":
        raise UsageError(f"-o {output} must end in .safetensors")
    if output is None:
        check_not_inputs([out], images)
    check_outputs([out], overwrite=overwrite)
    torch_device = pick_device(device)

    import torch

    from ..io.images import load_image
    from ..store.checkpoint import load_model
    from ..store.latents import save_latents
    from ..inference.upscale import encode_images, model_input
    from ..store.shipped import weights_for_input

    loaded = [load_image(path) for path in images]
    for image in loaded:
        tell_notes(image)
    if weights is None:  # the shipped weights upscale would use, when they agree on every input
        chosen = {weights_for_input(image.coding) for image in loaded}
        weights = chosen.pop() if len(chosen) == 1 else "default"
    model = load_model(weights, device=torch_device)
    side = model.config.image_size
    inputs = [model_input(image.rgb, side=side) for image in loaded]
    sizes = [(image.width, image.height) for image in loaded]
    with progress_bar(f"encoding {len(inputs)} image(s)", count=True) as progress:
        latents = encode_images(model, torch.stack(inputs), batch_size=batch_size, progress=progress)
    save_latents(out, latents, model=model, sources=[p.name for p in images], input_sizes=sizes,
                 overwrite=overwrite, source_metadata=[image.metadata for image in loaded])
    typer.echo(str(out))


def check_render_size(res: int | None, size: str | None) -> str:
    """--res N or --size N|WxH → the size spec every latent's size follows (``target_size``)."""
    if (res is None) == (size is None):
        raise UsageError("pass exactly one of --res N or --size WxH")
    if res is not None:
        if res < 1:
            raise UsageError(f"--res must be positive, got {res}")
        return str(res)
    parse_size(size, option="--size")
    return size


def run_render(*, latents: Path, output: str | None, res: int | None, size: str | None,
               weights: str | None, device: str, batch_size: int, chunk: int, precision: str,
               overwrite: bool, force: bool, strip_metadata: bool = False) -> None:
    spec = check_render_size(res, size)
    check_counts(batch_size=batch_size, chunk=chunk)
    torch_device = pick_device(device)
    precision = check_precision(precision, torch_device)

    from ..io.images import save_image
    from ..inference.memory import fit_memory
    from ..inference.upscale import render_latents
    from ..store.checkpoint import load_model
    from ..store.latents import check_latents_match, load_latents, shipped_encoder

    found = load_latents(latents)  # a corrupt file fails before the model loads
    # N: the longer side, each source's shape kept; WxH: exactly that (as asked)
    sizes = [target_size(*source, size=spec, force=force, fit="stretch") for source in found.input_sizes]
    if output is None:
        stems = ([latents_stem(latents)] if len(found.sources) == 1 else
                 [latents.with_name(Path(s).stem or "image") for s in found.sources])
        outputs = default_image_outputs(stems, sizes, [".png"] * len(stems))
        check_not_inputs(outputs, [latents])
    else:
        outputs = plan_outputs(found.sources, output)
    check_outputs(outputs, overwrite=overwrite)
    model = (load_model(weights, device=torch_device) if weights is not None
             else shipped_encoder(found, torch_device))
    check_latents_match(found, model, source=latents)
    chunk = fit_memory(model, sizes, chunk=chunk, batch=min(batch_size, len(outputs)))
    first = 0
    while first < len(outputs):  # batches of consecutive latents rendered at the same size
        width, height = sizes[first]
        stop = first + 1
        while stop < min(len(outputs), first + batch_size) and sizes[stop] == sizes[first]:
            stop += 1
        names = ", ".join(found.sources[first:stop])
        with progress_bar(f"{names} → {width}×{height}") as progress:
            rendered = render_latents(model, found.latents[first:stop], height, width, chunk=chunk,
                                      precision=precision, progress=progress)
        for out, rgb, metadata in zip(outputs[first:stop], rendered, found.metadata[first:stop]):
            save_image(out, rgb, overwrite=overwrite, metadata=None if strip_metadata else metadata)
            typer.echo(str(out))
        first = stop

