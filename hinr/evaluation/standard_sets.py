"""``hinr eval --benchmark DIR``: the standard super-resolution tables (Set5, Set14, B100,
Urban100) as the papers make them, with hinr's models and bicubic side by side.

Layout (as SelfExSR's ``data/`` folder, which ships the four sets): ``DIR/SET/xK/NAME_HR.png`` with
``NAME_LR.png``, the LR being MATLAB's bicubic reduction of the HR by K. ``DIR`` may also be one
set folder itself. For a scale a set does not ship (LIIF's ×6, ×8, ×12), or a set folder that holds
HR images only, the LR is made here: the HR (from the shipped scale with the largest factor, which
was cropped least) is cropped at its bottom and right edges to a multiple of the scale, then
reduced with PIL's antialiased bicubic — close to, not equal to, MATLAB's ``imresize``, so rows
made that way are marked as such.

Every model output goes through ``hinr.upscale_image``, exactly as ``hinr upscale`` runs it, and is
rounded to what it would write (8 bits; one channel for a greyscale input), then scored with
:mod:`hinr.evaluation.protocol` (luma PSNR / SSIM, ``scale`` pixels shaved). Bicubic is PIL's
bicubic enlargement of the LR file.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from ..errors import HinrUsageError
from ..io.images import ImageReadError, load_image
from .protocol import y_psnr, y_ssim

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
STANDARD_SETS = ("Set5", "Set14", "B100", "BSD100", "Urban100", "Manga109")
SCALE_DIR = re.compile(r"^x(\d+)$")
Progress = Callable[[int, int], None]  # (done, total)


class BenchmarkError(HinrUsageError):
    """A benchmark folder that cannot be scored as asked; the message says what to fix (exit 2)."""


@dataclass(frozen=True)
class BenchPair:
    """One test image at one scale: its HR file, and its LR file (None: made by bicubic here)."""

    set: str
    scale: int
    name: str
    hr: Path
    lr: Path | None

    @property
    def made_lr(self) -> bool:
        return self.lr is None


def set_rank(name: str) -> int:
    """Where a set's columns go: the papers' order for the standard sets, then the rest."""
    lowered = [s.lower() for s in STANDARD_SETS]
    return lowered.index(name.lower()) if name.lower() in lowered else len(lowered)


# --- finding the pairs ----------------------------------------------------------------------------

def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _scale_dirs(folder: Path) -> dict[int, Path]:
    found = {}
    for p in folder.iterdir():
        match = SCALE_DIR.match(p.name)
        if p.is_dir() and match:
            found[int(match.group(1))] = p
    return found


def _stem(path: Path, tag: str) -> str | None:
    """'img_001_SRF_2_HR.png', 'HR' → 'img_001'; None when the name lacks the tag."""
    stem = path.stem
    if not stem.upper().endswith("_" + tag):
        return None
    stem = stem[:-len(tag) - 1]
    return re.sub(r"_SRF_\d+$", "", stem)


def _shipped_pairs(folder: Path) -> tuple[list[tuple[str, Path, Path]], list[tuple[str, Path]]]:
    """In an xK folder: (name, HR, LR) pairs, and HR images that have no LR beside them."""
    files = _images(folder)
    lows = {}
    for p in files:
        name = _stem(p, "LR")
        if name is not None:
            lows[name] = p
    pairs, alone = [], []
    for p in files:
        name = _stem(p, "HR")
        if name is None:
            if _stem(p, "LR") is None:  # a file with neither tag: an HR image on its own
                alone.append((p.stem, p))
            continue
        if name in lows:
            pairs.append((name, p, lows[name]))
        else:
            alone.append((name, p))
    return pairs, alone


def _hr_sources(set_dir: Path, scale_dirs: dict[int, Path]) -> list[tuple[str, Path]]:
    """HR images to make missing scales from: the set folder's own images, else the HR images of
    the shipped scale with the largest factor."""
    own = [(_stem(p, "HR") or p.stem, p) for p in _images(set_dir)]
    if own:
        return own
    for scale in sorted(scale_dirs, reverse=True):
        pairs, alone = _shipped_pairs(scale_dirs[scale])
        hrs = [(name, hr) for name, hr, _ in pairs] + alone
        if hrs:
            return sorted(hrs)
    return []


def set_folders(root: Path) -> list[Path]:
    """The set folders under ``root`` (``root`` itself when it is one)."""
    if not root.is_dir():
        raise BenchmarkError(f"--benchmark {root} is not a folder: pass a folder of test sets laid "
                             "out as SET/xK/NAME_HR.png with NAME_LR.png")
    if _scale_dirs(root) or _images(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def find_pairs(root: str | Path, scales: Sequence[int]) -> list[BenchPair]:
    """Every (set, scale, image) to score, sorted; BenchmarkError (one line) when a set cannot
    give a scale, or nothing is found."""
    root = Path(root).expanduser()
    found: list[BenchPair] = []
    for set_dir in set_folders(root):
        dirs = _scale_dirs(set_dir)
        for scale in scales:
            pairs, alone = _shipped_pairs(dirs[scale]) if scale in dirs else ([], [])
            for name, hr, lr in pairs:
                found.append(BenchPair(set_dir.name, scale, name, hr, lr))
            if pairs or alone:
                found.extend(BenchPair(set_dir.name, scale, name, hr, None) for name, hr in alone)
                continue
            sources = _hr_sources(set_dir, dirs)
            if not sources:
                if not dirs:
                    break  # not a set folder at all (no images, no xK folders): skip it
                if scale in dirs and _images(dirs[scale]):  # LR images with no ground truth
                    raise BenchmarkError(
                        f"{dirs[scale]} holds only LR images (NAME_LR.png): scoring needs the "
                        "ground truth beside them as NAME_HR.png, or the set's HR images in "
                        f"{set_dir.name}/ to make the LR from")
                raise BenchmarkError(
                    f"{set_dir.name} ships no x{scale} folder and holds no HR images to make its "
                    f"x{scale} input from: choose --scales among {','.join(map(str, sorted(dirs)))}")
            found.extend(BenchPair(set_dir.name, scale, name, hr, None) for name, hr in sources)
    if not found:
        raise BenchmarkError(f"no test images in {root}: expected SET/xK/NAME_HR.png with "
                             "NAME_LR.png (as the SelfExSR repository's data/ folder), or SET/ "
                             "folders of HR images")
    return sorted(found, key=lambda p: (p.set, p.scale, p.name))


def check_sizes(pairs: Sequence[BenchPair]) -> None:
    """BenchmarkError naming the first shipped pair whose sizes are not ``scale``× apart, read from
    the headers (before any work)."""
    for pair in pairs:
        if pair.lr is None:
            continue
        hr, lr = _header_size(pair.hr), _header_size(pair.lr)
        if hr != (lr[0] * pair.scale, lr[1] * pair.scale):
            raise BenchmarkError(
                f"{pair.lr} is {lr[0]}×{lr[1]} and {pair.hr.name} is {hr[0]}×{hr[1]}: not "
                f"{pair.scale}× apart, so the pair cannot be scored at x{pair.scale}; crop the HR "
                f"to a multiple of {pair.scale} and reduce it again")


def hr_size(pair: BenchPair) -> tuple[int, int]:
    """(width, height) of the output this pair asks for, from the HR file's header."""
    w, h = _header_size(pair.hr)
    return (w, h) if pair.lr is not None else ((w // pair.scale) * pair.scale, (h // pair.scale) * pair.scale)


def _header_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except Exception as err:  # noqa: BLE001 - one line naming the file
        raise BenchmarkError(f"{path} is not an image Pillow can read ({err}): re-download the set") from err


# --- loading -------------------------------------------------------------------------------------

@dataclass
class BenchImage:
    """The HR ground truth and the LR input of one pair, as (3, H, W) in [0, 1] (grey replicated)."""

    hr: torch.Tensor
    lr: torch.Tensor
    grey: bool


def _load(path: Path):
    try:
        return load_image(path)
    except ImageReadError as err:
        raise BenchmarkError(str(err)) from err


def load_pair(pair: BenchPair) -> BenchImage:
    hr = _load(pair.hr)
    if pair.lr is not None:
        lr = _load(pair.lr)
        return BenchImage(hr.rgb, lr.rgb, hr.grey and lr.grey)
    k = pair.scale
    w, h = (hr.width // k) * k, (hr.height // k) * k
    if w == 0 or h == 0:
        raise BenchmarkError(f"{pair.hr} ({hr.width}×{hr.height}) is smaller than one x{k} input pixel")
    target = hr.rgb[:, :h, :w]
    low = _to_pil(target).resize((w // k, h // k), Image.BICUBIC)
    return BenchImage(target, _from_pil(low), hr.grey)


def _to_pil(rgb: torch.Tensor) -> Image.Image:
    array = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array)


def _from_pil(image: Image.Image) -> torch.Tensor:
    import numpy as np

    return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


def as_saved(rgb: torch.Tensor, *, grey: bool) -> torch.Tensor:
    """What ``hinr upscale`` writes for this output: one channel (the mean) for a grey input, 8 bits."""
    rgb = rgb.float().clamp(0, 1)
    if grey:
        rgb = rgb.mean(0, keepdim=True).expand(3, -1, -1)
    return (rgb * 255).round() / 255


def bicubic(lr: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """PIL's bicubic enlargement of an 8-bit LR image → (3, H, W) in [0, 1], 8 bits."""
    return _from_pil(_to_pil(lr).resize((width, height), Image.BICUBIC))


# --- scoring ----------------------------------------------------------------------------------------

@dataclass
class Scores:
    """Per-image scores of one method on one set at one scale."""

    names: list[str] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)

    def add(self, name: str, pred: torch.Tensor, target: torch.Tensor, border: int) -> None:
        self.names.append(name)
        self.psnr.append(float(y_psnr(pred, target, border=border)[0]))
        self.ssim.append(float(y_ssim(pred, target, border=border)[0]))

    @property
    def mean_psnr(self) -> float:
        return math.fsum(self.psnr) / len(self.psnr)

    @property
    def mean_ssim(self) -> float:
        return math.fsum(self.ssim) / len(self.ssim)


@dataclass
class BenchmarkResult:
    root: str
    scales: list[int]
    methods: list[str]  # "bicubic" first, then the models' labels
    weights: dict[str, str]  # model label → weights file
    fingerprints: dict[str, str]
    scores: dict[tuple[str, int, str], Scores]  # (set, scale, method)
    made_lr: dict[tuple[str, int], bool]  # (set, scale) → LR made here by PIL bicubic
    seconds: float
    device: str
    precision: str
    ensemble: int

    @property
    def cells(self) -> list[tuple[str, int]]:
        """(set, scale) columns: the standard sets in the papers' order, then others by name."""
        return sorted(self.made_lr, key=lambda c: (set_rank(c[0]), c[0], c[1]))


Upscaler = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]  # (3, h, w), (H, W) → (3, H, W)


def run_benchmark(pairs: Sequence[BenchPair], upscalers: dict[str, Upscaler], *, root: str = "",
                  weights: dict[str, str] | None = None, fingerprints: dict[str, str] | None = None,
                  device: str = "cpu", precision: str = "fp32", ensemble: int = 1,
                  progress: Progress | None = None) -> BenchmarkResult:
    """Score bicubic and every upscaler (label → function) on ``pairs``; ``progress`` gets
    (images done, images in all)."""
    if not pairs:
        raise BenchmarkError("no test images to score")
    started = time.perf_counter()
    methods = ["bicubic", *upscalers]
    scores: dict[tuple[str, int, str], Scores] = {}
    made: dict[tuple[str, int], bool] = {}
    for done, pair in enumerate(pairs, 1):
        image = load_pair(pair)
        height, width = image.hr.shape[-2:]
        made[(pair.set, pair.scale)] = made.get((pair.set, pair.scale), False) or pair.made_lr
        outputs = {"bicubic": bicubic(image.lr, height, width)}
        for label, upscale in upscalers.items():
            outputs[label] = upscale(image.lr, (height, width))
        for label in methods:
            cell = scores.setdefault((pair.set, pair.scale, label), Scores())
            cell.add(pair.name, as_saved(outputs[label], grey=image.grey), image.hr, pair.scale)
        if progress is not None:
            progress(done, len(pairs))
    return BenchmarkResult(root=root, scales=sorted({p.scale for p in pairs}), methods=methods,
                           weights=weights or {}, fingerprints=fingerprints or {}, scores=scores,
                           made_lr=made, seconds=time.perf_counter() - started, device=device,
                           precision=precision, ensemble=ensemble)
