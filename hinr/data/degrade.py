"""Realistic degradations of the low-resolution input, for training a model that serves the
images users have (mostly JPEG), not only clean PIL reductions — in the style of Real-ESRGAN's
degradation pipeline, but mild and on the 32×32 input only (the target stays the clean photo).

A ``Degradation`` is applied with its own probability per kind, in the order blur → noise →
JPEG (the order a camera and an encoder apply them). Presets, by name (``hinr train --degrade``):

- ``none``  — clean inputs (the design's training);
- ``jpeg``  — half the inputs JPEG-compressed at a random quality in [40, 95];
- ``mixed`` — ``jpeg`` plus mild Gaussian noise (σ ≤ 3 grey levels, 20 % of inputs) and mild
  Gaussian blur (σ ≤ 0.8 px, 20 % of inputs); half the inputs stay clean either way, so
  clean inputs are not served worse;
- ``jpeg-all`` — ``mixed`` without the clean half: every input JPEG-compressed (and some noisy or
  blurred). For weights that are only ever given JPEG files (``hinr upscale`` picks them for a
  JPEG input), so none of their capacity goes to clean inputs;
- ``jpeg-any`` — ``jpeg-all`` with the chroma subsampling drawn too: 4:2:0 (the others' only
  kind: phones, cameras, the web) 60 %, 4:2:2 20 %, 4:4:4 (what image editors write at high
  quality) 20 %.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Degradation:
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (40, 95)
    noise_prob: float = 0.0
    noise_sigma: float = 3.0  # grey levels (of 255), the largest σ drawn
    blur_prob: float = 0.0
    blur_sigma: float = 0.8  # input pixels, the largest σ drawn
    clean_prob: float = 0.5  # inputs left untouched whatever the other probabilities
    # chances of chroma subsampling 4:4:4, 4:2:2, 4:2:0 for a JPEG input; None: 4:2:0 always
    jpeg_subsampling: tuple[float, float, float] | None = None

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> Image.Image:
        """A degraded copy of the RGB ``image`` (or the image itself when the draw says clean)."""
        if rng.random() < self.clean_prob:
            return image
        if rng.random() < self.blur_prob:
            image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, self.blur_sigma))))
        if rng.random() < self.noise_prob:
            sigma = rng.uniform(0.0, self.noise_sigma)
            pixels = np.asarray(image, dtype=np.float32)
            pixels = pixels + rng.normal(0.0, sigma, pixels.shape).astype(np.float32)
            image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))
        if rng.random() < self.jpeg_prob:
            quality = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
            chroma = 2 if self.jpeg_subsampling is None else int(rng.choice(3, p=self.jpeg_subsampling))
            image = jpeg(image, quality, subsampling=chroma)
        return image


def jpeg(image: Image.Image, quality: int, subsampling: int = 2) -> Image.Image:
    """``image`` after a round trip through Pillow's JPEG encoder at ``quality``; ``subsampling``
    as Pillow's: 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0 (Pillow's default, as most cameras and web images)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=int(quality), subsampling=int(subsampling))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


DEGRADATIONS: dict[str, Degradation | None] = {
    "none": None,
    "jpeg": Degradation(jpeg_prob=1.0, clean_prob=0.5),
    "mixed": Degradation(jpeg_prob=1.0, noise_prob=0.2, blur_prob=0.2, clean_prob=0.5),
    "jpeg-all": Degradation(jpeg_prob=1.0, noise_prob=0.2, blur_prob=0.2, clean_prob=0.0),
    "jpeg-any": Degradation(jpeg_prob=1.0, noise_prob=0.2, blur_prob=0.2, clean_prob=0.0,
                            jpeg_subsampling=(0.2, 0.2, 0.6)),
}


def degradation(name: str) -> Degradation | None:
    """The named preset (see the module docstring); ValueError names the choices."""
    if name not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {name!r}; choose one of {', '.join(DEGRADATIONS)}")
    return DEGRADATIONS[name]
