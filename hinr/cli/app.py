"""The Typer app: every ``hinr`` command is defined here; the work happens in the library.

Heavy modules (torch, the model) are imported inside the commands so ``hinr --help`` is instant.
Results go to stdout; progress and errors to stderr.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .. import __version__
from .errors import UsageError, report

app = typer.Typer(
    name="hinr",
    help="Arbitrary-resolution image upsampling with a hybrid implicit neural representation.\n\n"
         "Encode a 32×32 image once into latent tokens, render it at any size.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hinr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    pass


def stderr_console():
    from rich.console import Console

    return Console(stderr=True)


@app.command()
def models() -> None:
    """List the architectures × presets with parameter counts and latent shapes."""
    import torch
    from rich.console import Console
    from rich.table import Table

    from ..config import ARCHITECTURES, PRESETS, preset
    from ..models.hinr import HINR

    table = Table(title="hinr architectures and presets")
    for column in ("arch", "preset", "params", "latents (M × D)", "encoder", "decoder"):
        table.add_column(column, justify="right" if column == "params" else "left")
    torch.manual_seed(0)
    for arch in ARCHITECTURES:
        for name in PRESETS:
            cfg = preset(name, arch=arch)
            with torch.device("meta"):
                model = HINR(cfg)
            encoder = (f"Perceiver ×{cfg.perceiver_blocks}" if arch == "scent"
                       else f"BiMamba ×{cfg.encoder_depth}")
            decoder = ("LAINR multi-band" if arch == "mamba-ginr"
                       else f"SCENT {cfg.decoder_dim}, {cfg.decoder_depth} FF")
            table.add_row(arch, name, f"{model.num_parameters / 1e6:.2f} M",
                          f"{cfg.num_latents} × {cfg.dim}", encoder, decoder)
    Console().print(table)


# --- training --------------------------------------------------------------------------------

@app.command(epilog="Examples:\n\n"
             "  hinr train --data ../shared/photos --hr-size 256 --out runs/sr\n\n"
             "  hinr train --data cifar10 --preset small --steps 20000\n\n"
             "  hinr train --preset base --data cifar10   (the design as written: options off)\n\n"
             "  hinr train --resume runs/sr --steps 40000\n\n"
             "Defaults are the best measured recipe, the shipped model's (weights/README.md): LP "
             "tokens interleaved, --residual, --locality, --cell-input, --local-pixels 8. With "
             "--preset base they default off, so base stays the design as written; any option "
             "given on the command line wins either way.")
def train(
    data: Optional[str] = typer.Option(None, show_default="cifar10", help="'cifar10' or a folder of images (recursive; a MANIFEST.tsv split is honoured)."),
    data_dir: Optional[Path] = typer.Option(None, help="Where cifar-10-python.tar.gz or cifar-10-batches-py/ is (else $HINR_DATA_DIR, then ~/.cache/hinr/datasets)."),
    arch: Optional[str] = typer.Option(None, show_default="hybrid", help="hybrid | mamba-ginr | scent | liif (EDSR-baseline + LIIF's local MLP)."),
    preset: Optional[str] = typer.Option(None, show_default="tiny", help="base | small | tiny. base is the design as written: the decoder options below default off."),
    steps: Optional[int] = typer.Option(None, show_default="1000", help="Optimizer steps (at least 1)."),
    epochs: Optional[float] = typer.Option(None, help="Instead of --steps: passes over the training set (> 0)."),
    batch_size: Optional[int] = typer.Option(None, show_default="16", help="Images per step (per process under torchrun)."),
    lr: Optional[float] = typer.Option(None, show_default="5e-4", help="Peak learning rate (AdamW, warm-up then cosine)."),
    warmup: Optional[int] = typer.Option(None, show_default="100", help="Linear warm-up steps (a warning if longer than --steps)."),
    queries: Optional[int] = typer.Option(None, show_default="1024", help="Random query points per image per step."),
    hr_size: Optional[int] = typer.Option(None, help="Super-resolution training: HR crops up to this side; the 32×32 input is their antialiased reduction."),
    recon_weight: Optional[float] = typer.Option(None, show_default="0", help="With --hr-size: weight of an added 32×32 reconstruction loss."),
    residual: Optional[bool] = typer.Option(None, "--residual/--no-residual", show_default="on; off with --preset base", help="Decoder predicts a correction over PIL bicubic."),
    locality: Optional[bool] = typer.Option(None, "--locality/--no-locality", show_default="on; off with --preset base", help="2D locality bias in cross-attention + query offset."),
    cell_input: Optional[bool] = typer.Option(None, "--cell-input/--no-cell-input", show_default="on; off with --preset base", help="Decoder sees the output pixel size (LIIF cell)."),
    local_pixels: Optional[int] = typer.Option(None, show_default="8; 0 with --preset base", help="Decoder sees the k×k input pixels around the query (0 = off; even, up to 12)."),
    lp_placement: Optional[str] = typer.Option(None, show_default="interleave; append with --preset base", help="append | interleave (LP tokens among the patches, as MAMBA-GINR)."),
    readout: Optional[str] = typer.Option(None, show_default="attention", help="attention (global cross-attention, the design) | local (LIIF's local ensemble on the latent grid: cost per pixel independent of the latents)."),
    decoder_dim: Optional[int] = typer.Option(None, show_default="the preset's", help="Decoder width (the local read-out's hidden layers)."),
    decoder_depth: Optional[int] = typer.Option(None, show_default="the preset's", help="Decoder depth (the local read-out's hidden layers)."),
    degrade: Optional[str] = typer.Option(None, show_default="none", help="With --hr-size, degrade the 32×32 input as real images are: none | jpeg (half the inputs JPEG q40–95) | mixed (jpeg + mild noise and blur)."),
    out: Optional[Path] = typer.Option(None, help="Run folder, new or empty (default runs/<arch>-<preset>-<time>). One training per folder at a time."),
    resume: Optional[Path] = typer.Option(None, help="Continue the run in this folder where its last checkpoint stopped (only --steps, --device, --val-every and --save-every can change)."),
    init_from: Optional[Path] = typer.Option(None, help="Start from these weights (run folder or .safetensors); the model options come from them."),
    device: Optional[str] = typer.Option(None, show_default="auto", help="auto | cpu | cuda | cuda:N."),
    bf16: Optional[bool] = typer.Option(None, "--bf16/--no-bf16", show_default="off", help="bfloat16 autocast (always on CUDA); the scan stays fp32."),
    ema: Optional[float] = typer.Option(None, show_default="0", help="EMA decay of the weights (0 = off), e.g. 0.999."),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", show_default="off", help="torch.compile the decoder."),
    val_every: Optional[int] = typer.Option(None, show_default="200", help="Validate every N steps (at least 1)."),
    save_every: Optional[int] = typer.Option(None, show_default="200", help="Checkpoint every N steps (at least 1; atomic, consistent as a whole)."),
    seed: Optional[int] = typer.Option(None, show_default="0", help="Seed for initialisation and data."),
) -> None:
    """Train a model on CIFAR-10 or a folder of photos; writes a run folder that --weights accepts.

    Every option is checked before any data is loaded or any file is written. Training stops
    (exit 1) if the loss becomes NaN or Inf, keeping the last good checkpoint.
    """
    from .train_runner import TrainOptions, run_training

    run_training(TrainOptions(
        data=data, data_dir=data_dir, arch=arch, preset=preset, steps=steps, epochs=epochs,
        batch_size=batch_size, lr=lr, warmup=warmup, queries=queries, hr_size=hr_size,
        recon_weight=recon_weight, residual=residual, locality=locality, cell_input=cell_input,
        local_pixels=local_pixels, lp_placement=lp_placement, readout=readout,
        decoder_dim=decoder_dim, decoder_depth=decoder_depth, degrade=degrade, out=out, resume=resume,
        init_from=init_from, device=device, bf16=bf16, ema=ema, compile=compile,
        val_every=val_every, save_every=save_every, seed=seed))


# --- inference: upscale, encode, render ------------------------------------------------------

_WEIGHTS_HELP = ("Weights: a .safetensors file, a training run folder, or hf:owner/name[@rev] "
                 "(HF_HUB_OFFLINE=1 uses the cache only). Default: the model shipped with hinr.")
_DEVICE_HELP = "auto | cpu | cuda | cuda:N."
_CHUNK_HELP = "Queries decoded at once: bounds memory whatever the output size."
_ENSEMBLE_HELP = ("Average N flipped/rotated passes (1, 2, 4 or 8): +0.08–0.14 dB on the val "
                  "photos with 8, at N times the time.")
_PRECISION_HELP = ("auto | fp32 | bf16: the decoder's arithmetic. auto = bf16 where the CPU or GPU "
                   "has native bf16 (same PSNR, faster), else fp32.")


@app.command(epilog="Examples:\n\n"
             "  hinr upscale photo.png --size 256 -o photo_256.png\n\n"
             "  hinr upscale photo.jpg --scale 4 -o big.webp\n\n"
             "  hinr upscale a.png b.jpg --size 1920x1080 -o out/   (writes out/a.png, out/b.png)\n\n"
             "A 32×32 image is encoded once; larger ones are cut into overlapping 32×32 tiles that "
             "are blended seamlessly; smaller ones are first enlarged (bicubic) to 32 px on the "
             "short side. Alpha is resized by bicubic; greyscale and 16-bit PNG stay so.")
def upscale(
    images: list[Path] = typer.Argument(..., help="Images to upscale (png, jpg, webp, tiff, bmp, …).",
                                        show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Output file (one input; format from its "
                                "extension) or folder (several inputs: FOLDER/<stem>.png)."),
    size: Optional[str] = typer.Option(None, "--size", help="N (longer side, aspect kept) or WxH."),
    scale: Optional[float] = typer.Option(None, "--scale", help="Instead of --size: K times the input."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help=_WEIGHTS_HELP),
    device: str = typer.Option("auto", help=_DEVICE_HELP),
    batch_size: int = typer.Option(16, help="Tiles encoded at once."),
    chunk: int = typer.Option(16384, help=_CHUNK_HELP),
    precision: str = typer.Option("auto", help=_PRECISION_HELP),
    ensemble: int = typer.Option(1, help=_ENSEMBLE_HELP),
    stride: int = typer.Option(24, help="Tile stride in input pixels (1..24) for inputs over 32×32: "
                               "smaller blends more tiles per pixel (16: +0.01 dB, 1.8× the time)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    force: bool = typer.Option(False, "--force", help="Allow outputs over 16384 px on a side."),
) -> None:
    """Upscale (or resize) images of any size to any size."""
    options = dict(locals())
    from .inference import run_upscale

    run_upscale(**options)


@app.command(epilog="Example:\n\n  hinr encode a.png b.png -o latents.safetensors\n\n"
             "Each input is resized to the model's 32×32 (bicubic, antialiased) and encoded; use "
             "`hinr upscale` to keep the detail of larger images.")
def encode(
    images: list[Path] = typer.Argument(..., help="Images to encode.", show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="The latents file (.safetensors)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w", help=_WEIGHTS_HELP),
    device: str = typer.Option("auto", help=_DEVICE_HELP),
    batch_size: int = typer.Option(16, help="Images encoded at once."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Encode images into latents (N, tokens, width) that `hinr render` draws at any size."""
    options = dict(locals())
    from .inference import run_encode

    run_encode(**options)


@app.command(epilog="Examples:\n\n  hinr render latents.safetensors --res 1024 -o big.png\n\n"
             "  hinr render latents.safetensors --size 640x480 -o renders/")
def render(
    latents: Path = typer.Argument(..., help="A latents file written by `hinr encode`.",
                                   show_default=False),
    output: Path = typer.Option(..., "--output", "-o", help="Output file (one latent) or folder "
                                "(several: FOLDER/<source stem>.png)."),
    res: Optional[int] = typer.Option(None, "--res", help="Render N×N."),
    size: Optional[str] = typer.Option(None, "--size", help="Render WxH (or N for N×N)."),
    weights: Optional[str] = typer.Option(None, "--weights", "-w",
                                          help="The weights that encoded the latents. " + _WEIGHTS_HELP),
    device: str = typer.Option("auto", help=_DEVICE_HELP),
    batch_size: int = typer.Option(1, help="Latents rendered at once (memory grows with it)."),
    chunk: int = typer.Option(16384, help=_CHUNK_HELP),
    precision: str = typer.Option("auto", help=_PRECISION_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
    force: bool = typer.Option(False, "--force", help="Allow outputs over 16384 px on a side."),
) -> None:
    """Render latents at any resolution, chunked so memory does not grow with it."""
    options = dict(locals())
    from .inference import run_render

    run_render(**options)


# --- evaluation ------------------------------------------------------------------------------

@app.command("eval", epilog="Examples:\n\n"
             "  hinr eval --data ../shared/photos --weights runs/a --weights runs/b --out eval/\n\n"
             "  hinr eval --data cifar10 --weights runs/cifar --limit 1000\n\n"
             "Each HR image is reduced to 32×32 (PIL bicubic, antialiased) for the input and to 32·k "
             "for the ground truth. Nearest, bilinear, bicubic and Lanczos are scored beside the "
             "models. PSNR on RGB, SSIM on luma (Gaussian 11×11, σ 1.5).")
def eval_(
    data: str = typer.Option(..., help="A folder of photos (its MANIFEST.tsv split is used) or 'cifar10' (test set, scale 1 only)."),
    weights: Optional[list[str]] = typer.Option(None, "--weights", "-w", help="A run folder, a .safetensors file or hf:owner/name; repeat to compare models (default: the shipped model)."),
    scales: Optional[str] = typer.Option(None, help="Integer scales, e.g. 1,2,4,8 (the default; 1 for cifar10)."),
    split: Optional[str] = typer.Option(None, help="Manifest split of a photo folder (default val)."),
    crops: Optional[int] = typer.Option(None, help="N deterministic square crops per photo (default: its centre square)."),
    limit: Optional[int] = typer.Option(None, help="At most N photos, in manifest order (cifar10: N test images, default 500)."),
    out: Optional[Path] = typer.Option(None, help="Folder for results.json, results.md and grid.png."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N."),
    data_dir: Optional[Path] = typer.Option(None, help="Where CIFAR-10 is (else $HINR_DATA_DIR, then ~/.cache/hinr/datasets)."),
    batch_size: int = typer.Option(8, help="Images encoded and rendered at once."),
    chunk: int = typer.Option(16384, help="Queries decoded at once per image (bounds memory)."),
    precision: str = typer.Option("auto", help=_PRECISION_HELP),
    ensemble: int = typer.Option(1, help=_ENSEMBLE_HELP),
) -> None:
    """Score models against nearest, bilinear, bicubic and Lanczos: PSNR, SSIM and speed per scale."""
    options = dict(locals())
    from .eval_runner import run_eval

    run_eval(**options)


def main() -> None:
    """Console entry point: run the app, turning failures into one line and an exit code.

    Usage errors exit 2; everything else (bad files, missing data, CheckpointError, …) exits 1.
    Nothing heavy is imported here, so ``hinr --help`` stays fast.
    """
    try:
        app(standalone_mode=False)
    except UsageError as err:
        sys.exit(report(err))
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        print("hinr: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as err:
        # click's (or Typer's vendored click's) usage errors know their message and exit code
        if hasattr(err, "show") and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        sys.exit(report(err))


if __name__ == "__main__":
    main()
