"""Where the CLI writes: output names (given with -o, or the defaults next to the input), the checks
made before any work, and the final publish that never replaces a file without --overwrite.

Names. One input and ``-o FILE``: that file. Several inputs, or ``-o`` an existing folder or a path
ending in '/': ``FOLDER/<stem>.png`` each. Without ``-o``: next to the input, named after it and
the output size (``hinr.inference.sizes.size_tag``). A name that two inputs would share is made unique,
deterministically: the first input in command-line order keeps it, each later one gets the first
free ``-2``, ``-3``, … suffix (a name some other input produces naturally is never taken), so a
run always writes one file per input.

Publishing is the library writers' (``save_image``, ``save_latents``, through ``hinr.atomic``):
a complete temporary file is linked to the target name, which fails if the target exists (even
one that appeared during the run) unless --overwrite was given; a signal or failure leaves no
temporary file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..inference.sizes import size_tag
from .errors import RuntimeFailure, UsageError

LATENTS_SUFFIX = ".latents.safetensors"


def is_folder_spec(output: str) -> bool:
    """'-o out/' names a folder even before it exists."""
    return output.endswith("/") or output.endswith(os.sep)


def unique_paths(paths: list[Path]) -> list[Path]:
    """``paths`` with repeats renamed (see the module docstring); case-insensitive, as on macOS."""
    def key(p: Path) -> str:
        return str(p).casefold()

    taken = {key(p) for p in paths}
    seen: set[str] = set()
    result = []
    for path in paths:
        if key(path) in seen:
            n = 2
            while key(candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")) in taken:
                n += 1
            path = candidate
            taken.add(key(path))
        seen.add(key(path))
        result.append(path)
    return result


def plan_outputs(names: list[str | Path], output: str, *, suffix: str = ".png",
                 suffixes: list[str] | None = None) -> list[Path]:
    """Output paths for results named after ``names`` (input file names, or paths under an input
    folder, whose tree is kept) under ``-o output``, with ``suffixes`` (one each) or ``suffix``."""
    from ..io.images import SAVE_FORMATS, UnsupportedFormatError, output_format

    folder = is_folder_spec(output)
    output_path = Path(output)
    if len(names) == 1 and not folder and not output_path.is_dir():
        try:
            output_format(output_path)
        except UnsupportedFormatError as err:
            raise UsageError(str(err)) from err
        return [output_path]
    if output_path.exists() and not output_path.is_dir():
        raise UsageError(f"-o {output} is a file, but {len(names)} results need a folder: pass a folder")
    if len(names) > 1 and not folder and output_path.suffix.lower() in SAVE_FORMATS:
        raise UsageError(f"-o {output} looks like a file, but {len(names)} results need a folder "
                         f"(end it with / to mean a folder)")
    suffixes = suffixes or [suffix] * len(names)
    return unique_paths([output_path / Path(name).parent / f"{Path(name).stem or 'image'}{ext}"
                         for name, ext in zip(names, suffixes)])


def image_output_suffix(path: Path) -> str:
    """The input's own extension when hinr can write it, else .png."""
    from ..io.images import SAVE_FORMATS

    return path.suffix if path.suffix.lower() in SAVE_FORMATS else ".png"


def default_image_outputs(stems: list[Path], sizes: list[tuple[int, int]],
                          suffixes: list[str]) -> list[Path]:
    """``FOLDER/STEM_<size>.EXT`` for each ``FOLDER/STEM`` (e.g. photo_256.png, photo_640x480.jpg)."""
    return unique_paths([stem.with_name(f"{stem.name}_{size_tag(*size)}{suffix}")
                         for stem, size, suffix in zip(stems, sizes, suffixes)])


def default_latents_output(images: list[Path]) -> Path:
    """One input a.png → a.latents.safetensors beside it; several → latents.safetensors beside the first."""
    first = images[0]
    return first.with_name(f"{first.stem}{LATENTS_SUFFIX}" if len(images) == 1 else "latents.safetensors")


def latents_stem(latents: Path) -> Path:
    """photo.latents.safetensors → photo; latents.safetensors → latents (with its folder)."""
    name = latents.name
    for ending in (LATENTS_SUFFIX, latents.suffix):
        if ending and name.endswith(ending) and len(name) > len(ending):
            return latents.with_name(name[: -len(ending)])
    return latents


def check_not_inputs(outputs: list[Path], inputs: list[Path]) -> None:
    """A default name must never be an input (that would destroy it)."""
    sources = {os.path.realpath(p) for p in inputs}
    for out in outputs:
        if os.path.realpath(out) in sources:
            raise UsageError(f"the output {out} would replace an input: pass -o")


def check_outputs(paths: list[Path], *, overwrite: bool) -> None:
    """Refuse existing files without --overwrite, and folders we cannot write into."""
    for path in paths:
        if path.is_dir():
            raise RuntimeFailure(f"{path} is a folder: choose another output file name")
        if path.is_symlink() and not path.exists() and not overwrite:
            raise RuntimeFailure(f"{path} is a symbolic link to {os.readlink(path)}, which does not "
                                 "exist: pass --overwrite to replace the link, or choose another -o")
        if path.exists() and not overwrite:
            raise RuntimeFailure(f"{path} already exists: pass --overwrite to replace it, or choose "
                                 "another -o")
    for folder in sorted({p.parent for p in paths}):
        check_writable(folder, option="-o")


def check_writable(folder: Path, *, option: str) -> None:
    """RuntimeFailure unless files can be created in ``folder`` (or where it would be made)."""
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
                             f"{option}") from err
