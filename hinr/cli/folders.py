"""Folders as inputs, and the output formats: ``hinr upscale DIR/ -o OUT/`` upscales every image
under DIR (recursively, by extension; everything else is skipped and counted) into the same tree
under OUT; ``--format`` picks what is written (``keep``: each input's own format where hinr writes
it, else PNG) and ``--quality`` the JPEG / WebP quality.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

FORMATS = {"keep": None, "png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
LOSSY = frozenset({".jpg", ".jpeg", ".webp"})
# what hinr reads: the suffixes of Pillow's formats people keep photos in (files without one of
# these are skipped, not decoded: a folder holds .txt, .xmp sidecars, .DS_Store…)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".webp", ".tif", ".tiff", ".bmp", ".gif",
                            ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".jp2", ".j2k", ".ico", ".dib"})


@dataclass
class Inputs:
    files: list[Path]  # the images, in the order given (a folder's sorted within it)
    relative: list[Path] | None  # each file's path under its folder (None: no folder given)
    skipped: int = 0  # files under the folders that are not images


def expand_inputs(paths: list[Path], output: str | None) -> Inputs:
    """The files to upscale: each path as given, a folder's images in its place (UsageError for a
    folder without ``-o``, with no images, or holding the output folder)."""
    if not any(p.is_dir() for p in paths):
        return Inputs(list(paths), None)
    if output is None:
        raise UsageError("a folder input needs -o OUT/: the upscaled tree is written there")
    out = Path(output).resolve()
    files, relative, skipped = [], [], 0
    for path in paths:
        if not path.is_dir():
            files.append(path)
            relative.append(Path(path.name))
            continue
        root = path.resolve()
        if out == root or root in out.parents:
            raise UsageError(f"-o {output} is inside {path}: a second run would upscale the "
                             "results again; choose an -o outside it")
        found = []
        for folder, dirs, names in os.walk(path):
            dirs.sort()
            for name in sorted(names):
                file = Path(folder) / name
                if file.suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                    found.append(file)
                else:
                    skipped += 1
        if not found:
            raise UsageError(f"{path} holds no images (png, jpg, webp, tiff, …)"
                             + (f"; its {skipped} other file(s) are not images" if skipped else ""))
        files.extend(found)
        relative.extend(f.relative_to(path) for f in found)
    return Inputs(files, relative, skipped)


def output_suffixes(fmt: str, quality: int | None, output: str | None, inputs: list[Path]) -> list[str]:
    """The output suffix for each input after checking ``--format`` and ``--quality`` (UsageError:
    an unknown format, a quality outside 1–100 or for a lossless output, or a format that
    contradicts ``-o FILE``'s extension)."""
    from .outputs import image_output_suffix, is_folder_spec

    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    from ..io.coding import check_quality
    from ..io.images import SAVE_FORMATS

    check_quality(quality, option="--quality")

    one_file = (output is not None and len(inputs) == 1 and not is_folder_spec(output)
                and not Path(output).is_dir())
    if one_file:
        own = Path(output).suffix.lower()
        if fmt != "keep" and SAVE_FORMATS.get(own) != SAVE_FORMATS[FORMATS[fmt]]:
            raise UsageError(f"--format {fmt} and -o {output} disagree: drop one")
        chosen = [own]
    else:
        chosen = [FORMATS[fmt] or image_output_suffix(path) for path in inputs]
    if quality is not None and not all(s.lower() in LOSSY for s in chosen):
        raise UsageError("--quality is for JPEG and WebP outputs: "
                         + ("pass --format jpeg or webp" if fmt == "keep" else f"{fmt} is lossless"))
    return chosen
