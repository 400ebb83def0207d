"""The one upscale of one file, as ``hinr upscale`` does it and ``hinr serve`` reuses: decode
(reduced on decode when the output is far smaller), pick the shipped weights for the input unless
told, upscale through ``hinr.upscale_image``, resize alpha, and write the result with its
metadata. Models are loaded once each; what the user should hear goes to ``say``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .memory import fit_memory
from .options import RenderOptions

Say = Callable[[str], None]  # one line for the user (stderr in the CLI, the page in hinr serve)


class Upscaler:
    def __init__(self, *, device, options: RenderOptions | None = None,
                 strip_metadata: bool = False, keep_gps: bool = False, quality: int | None = None) -> None:
        self.device = device
        self.options = options or RenderOptions()
        self.strip_metadata, self.keep_gps = strip_metadata, keep_gps
        self.quality = quality  # JPEG / WebP quality (None: save_image's)
        self.models: dict[str, tuple] = {}  # weights spec → (model, chunk), loaded on first use
        self._said: set[str] = set()  # what is said once a run

    def model_for(self, spec: str, sizes: list[tuple[int, int]]) -> tuple:
        """(model, chunk) for the weights ``spec``; the chunk fits the largest of ``sizes``."""
        from ..store.checkpoint import load_model

        if spec not in self.models:
            model = load_model(spec, device=self.device)
            self.models[spec] = model, fit_memory(model, sizes, chunk=self.options.chunk,
                                                  ensemble=self.options.ensemble)
        return self.models[spec]

    def _once(self, key: str, text: str, say: Say) -> None:
        if key not in self._said:
            self._said.add(key)
            say(text)

    def upscale(self, path: Path, out: Path, size: tuple[int, int], *, weights: str | None,
                overwrite: bool, say: Say, progress=None, ensemble: int | None = None,
                render: tuple[int, int] | None = None, quality: int | None = None) -> str:
        """Upscale ``path`` to ``size`` (width, height) and write ``out``; returns the weights it
        used (``weights``, or the shipped ones picked for the input). ``progress`` hears (done,
        total) queries; ``ensemble``, when given, replaces the options' self-ensemble for this
        file; ``render`` (width, height), when larger than ``size``, is the size the picture is
        rendered at before its middle ``size`` is kept (``--fit cover``); ``quality``, when
        given, replaces the JPEG / WebP quality for this file."""
        from dataclasses import replace

        from ..io.coding import describe_coding
        from ..io.images import ALPHA_FORMATS, load_image, output_format, save_image
        from ..io.metadata import FORMATS_WITH_METADATA, fit_for_format
        from .upscale import resize_bicubic, upscale_image
        from ..store.shipped import weights_for_input

        out_width, out_height = size
        width, height = render or size
        image = load_image(path, at_least=(width, height))  # a far smaller output: reduce on decode
        if not self.strip_metadata:  # what the output's format cannot hold, said before the work
            image.metadata, dropped = fit_for_format(output_format(out), image.metadata, size,
                                                     path.name, keep_gps=self.keep_gps)
            image.notes.extend(dropped)
        for note in image.notes:
            say(f"warning: {note}")
        if image.alpha is not None and output_format(out) not in ALPHA_FORMATS:
            say(f"warning: {path.name} has transparency and {Path(out).name} cannot hold it: "
                "transparent areas are flattened onto white (write .png, .webp or .tif to keep it)")
        spec = weights
        if weights is None:  # no --weights: the shipped weights for this input
            spec = weights_for_input(image.coding)
            if spec != "default":
                self._once(f"weights:{spec}", f"{path.name} is {describe_coding(image.coding)}: "
                           f"such inputs are upscaled with the '{spec}' weights, made for them "
                           "(--weights default to override)", say)
        model, chunk = self.model_for(spec, [(width, height)])
        options = self.options.with_chunk(chunk)
        if ensemble is not None and ensemble != options.ensemble:
            fit_memory(model, [(width, height)], chunk=chunk, ensemble=ensemble)  # refuses what cannot fit
            options = replace(options, ensemble=ensemble)
        rgb = upscale_image(model, image.rgb, (height, width), progress=progress, **options.kwargs())
        alpha = None if image.alpha is None else resize_bicubic(image.alpha, height, width)
        if (width, height) != (out_width, out_height):  # --fit cover: keep the middle
            top, left = (height - out_height) // 2, (width - out_width) // 2
            rgb = rgb[:, top:top + out_height, left:left + out_width]
            alpha = None if alpha is None else alpha[:, top:top + out_height, left:left + out_width]
        metadata = None if self.strip_metadata else image.metadata
        if metadata and output_format(out) not in FORMATS_WITH_METADATA:
            self._once("bmp", f"warning: {Path(out).name}: BMP holds no metadata, so the colour "
                       "profile, EXIF and XMP are not kept (write .png, .jpg, .webp or .tif)", say)
        save_image(out, rgb, alpha=alpha, grey=image.grey, bits=image.bits, overwrite=overwrite,
                   metadata=metadata, keep_gps=self.keep_gps,
                   quality=self.quality if quality is None else quality)
        return spec
