"""The Typer app: every ``hinr`` command is defined here; the work happens in the library.

Heavy modules (torch, the model) are imported inside the commands so ``hinr --help`` is instant.
Results go to stdout; progress and errors to stderr.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .. import __version__
from ..config import DEFAULT_CHUNK, DEFAULT_STRIDE
from ..inference.sizes import MAX_SIDE
from ..store.shipped import JPEG_WEIGHTS_BELOW, SHIPPED
from .errors import Interrupted, UsageError, report
from .train_options import TrainOptions, train_signature

app = typer.Typer(
    name="hinr",
    help="Arbitrary-resolution image upsampling with a hybrid implicit neural representation.\n\n"
         "Encode a 32×32 image once into latent tokens, render it at any size.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hinr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    pass


@app.command()
def models() -> None:
    """List the weights that ship with hinr (what each is for, its size and scores), then the
    architectures × presets with parameter counts and latent shapes."""
    import torch
    from rich.console import Console
    from rich.table import Table
    from safetensors import safe_open

    from ..config import PRESETS, REGISTRY, preset
    from ..store.checkpoint import read_config
    from ..store.shipped import SHIPPED, shipped_weights
    from ..models.hinr import HINR

    shipped = Table(title="shipped weights (--weights NAME)")
    for column in ("name", "architecture", "params", "use it for", "Set5 / Set14 ×4", "1080p ×4"):
        shipped.add_column(column, justify="right" if column in ("params", "1080p ×4") else "left")
    for name, row in SHIPPED.items():
        path = shipped_weights(name)
        if not path.is_file():
            shipped.add_row(name, "(not installed)", "", row.use, "", "")
            continue
        with safe_open(str(path), "pt") as weights:
            params = sum(_count(weights.get_slice(key).get_shape()) for key in weights.keys())
        scores = "—" if row.set5_x4 is None else f"{row.set5_x4:.2f} / {row.set14_x4:.2f} dB"
        seconds = "" if row.seconds_1080p is None else f"{row.seconds_1080p:.1f} s"
        shipped.add_row(name, read_config(path).arch, f"{params / 1e6:.2f} M", row.use, scores, seconds)
    Console().print(shipped)
    table = Table(title="hinr architectures and presets (hinr train --arch A --preset P)")
    for column in ("arch", "preset", "params", "latents (M × D)", "encoder", "decoder"):
        table.add_column(column, justify="right" if column == "params" else "left")
    torch.manual_seed(0)
    for arch, row in REGISTRY.items():
        for name in PRESETS:
            cfg = preset(name, arch=arch)
            with torch.device("meta"):
                model = HINR(cfg)
            encoder, decoder = row.describe(cfg) if row.describe else (arch, cfg.readout)
            table.add_row(arch, name, f"{model.num_parameters / 1e6:.2f} M",
                          f"{cfg.num_latents} × {cfg.dim}", encoder, decoder)
    Console().print(table)


def _count(shape) -> int:
    total = 1
    for side in shape:
        total *= side
    return total


# --- training --------------------------------------------------------------------------------

_TRAIN_EPILOG = ("Examples:\n\n"
                 "  hinr train --data photos/ --hr-size 256 --out runs/sr\n\n"
                 "  hinr train --resume runs/sr --steps 40000\n\n"
                 "More options (read-out, augmentations, precision): docs/training.md.")
def train(**options) -> None:
    """Train a model on a folder of photos or CIFAR-10; writes a run folder --weights accepts."""
    from .train_runner import run_training

    run_training(TrainOptions(**options))


train.__signature__ = train_signature()  # the options: TrainConfig's fields (cli/train_options.py)
app.command(epilog=_TRAIN_EPILOG)(train)


# --- inference: upscale, encode, render ------------------------------------------------------

_WEIGHTS_HELP = (" | ".join(SHIPPED) + ", a .safetensors file, a run folder or "
                 "hf:owner/name[@rev]. Default: 'default'.")
# the rule of hinr.store.shipped.weights_for_input, from its own numbers (that module imports neither
# torch nor Pillow, so `hinr --help` stays fast)
_BELOW = JPEG_WEIGHTS_BELOW
_LOSSY_RULE = (f"a JPEG file saved below quality {_BELOW['4:2:0']} (read from the file; "
               f"{_BELOW['4:2:2']} for 4:2:2 colour, {_BELOW['4:4:4']} for 4:4:4"
               + (f", {_BELOW['grey']} for grey" if _BELOW['grey'] != _BELOW['4:4:4'] else " or grey")
               + ") or a lossy WebP file")
_DEVICE_HELP = "auto | cpu | cuda | cuda:N | mps."
_CHUNK_HELP = "Pixels decoded at once (bounds memory)."
_OVERWRITE_HELP = "Replace existing outputs (never without it)."
_FORCE_HELP = f"Allow outputs over {MAX_SIDE} px on a side."
_ENSEMBLE_HELP = "Average N flipped/turned passes (1, 2, 4, 8): better, N× slower."
_PRECISION_HELP = "auto | fp32 | bf16 (auto: bf16 where native)."

# The options several commands take, each declared once (its default beside its use); the ones
# for speed and memory in a panel of their own, below the ones that say what is made
SPEED = "Speed and memory"
Device = Annotated[str, typer.Option(help=_DEVICE_HELP, rich_help_panel=SPEED)]
Chunk = Annotated[int, typer.Option(help=_CHUNK_HELP, rich_help_panel=SPEED)]
Precision = Annotated[str, typer.Option(help=_PRECISION_HELP, rich_help_panel=SPEED)]
Ensemble = Annotated[int, typer.Option(help=_ENSEMBLE_HELP, show_default=False)]
Overwrite = Annotated[bool, typer.Option("--overwrite", help=_OVERWRITE_HELP)]
Force = Annotated[bool, typer.Option("--force", help=_FORCE_HELP, rich_help_panel=SPEED)]


@app.command(epilog="Examples:\n\n"
             "  hinr upscale photo.jpg --scale 4   (writes photo_<W>x<H>.jpg beside it)\n\n"
             "  hinr upscale photos/ --size 1920x1080 -o big/   (the folder's tree, in big/)\n\n"
             "Alpha, greyscale, 16-bit PNG, the colour profile, EXIF and XMP are kept (GPS only "
             "with --keep-gps). More: docs/cli.md.")
def upscale(
    images: list[Path] = typer.Argument(..., help="Images, or folders of them (recursive, with "
                                        "-o OUT/).", show_default=False),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="PATH",
        help="A file (one input) or a folder (FOLDER/<stem>.<ext>). Default: beside each input, "
             "<stem>_<W>x<H>.<ext>."),
    size: Optional[str] = typer.Option(None, "--size", metavar="N|WxH",
                                       help="N (longer side, aspect kept) or WxH (see --fit)."),
    fit: Optional[str] = typer.Option(None, "--fit", metavar="MODE", show_default=False,
                                      help="With WxH: contain (the default: fit inside) | cover "
                                           "(fill, crop) | stretch."),
    scale: Optional[float] = typer.Option(None, "--scale", metavar="K",
                                          help="Instead of --size: K times the input."),
    format: str = typer.Option("keep", "--format", metavar="FMT", show_default=False,
                               help="keep (the default: each input's own) | png | jpeg | webp | tiff."),
    quality: Optional[int] = typer.Option(None, "--quality", metavar="Q", show_default=False,
                                          help="JPEG / WebP quality, 1–100 (95)."),
    weights: Optional[str] = typer.Option(
        None, "--weights", "-w", show_default=False,
        help=_WEIGHTS_HELP[:_WEIGHTS_HELP.rindex("Default:")] + f"Default: 'jpeg' for {_LOSSY_RULE}; "
             "else 'default'."),
    device: Device = "auto",
    batch_size: int = typer.Option(16, help="Tiles encoded at once.", rich_help_panel=SPEED),
    chunk: Chunk = DEFAULT_CHUNK,
    precision: Precision = "auto",
    ensemble: Ensemble = 1,
    stride: int = typer.Option(DEFAULT_STRIDE, help=f"Tile stride (1..{DEFAULT_STRIDE}) of tiled models.",
                               rich_help_panel=SPEED),
    overwrite: Overwrite = False,
    force: Force = False,
    strip_metadata: bool = typer.Option(False, "--strip-metadata",
                                        help="Write no colour profile, EXIF or XMP."),
    keep_gps: bool = typer.Option(False, "--keep-gps",
                                  help="Keep the GPS position (dropped by default)."),
) -> None:
    """Upscale (or resize) images of any size to any size."""
    options = dict(locals())
    from .inference_runner import run_upscale

    run_upscale(**options)


@app.command(epilog="Examples:\n\n  hinr encode photo.png   (writes photo.latents.safetensors beside it)\n\n"
             "  hinr encode a.png b.png -o latents.safetensors\n\n"
             "Each input is resized to the model's 32×32 (bicubic, antialiased) and encoded; use "
             "`hinr upscale` to keep the detail of larger images.")
def encode(
    images: list[Path] = typer.Argument(..., help="Images to encode.", show_default=False),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="FILE",
        help="The latents file (.safetensors). Default: <stem>.latents.safetensors beside the input "
             "(several inputs: latents.safetensors beside the first)."),
    weights: Optional[str] = typer.Option(
        None, "--weights", "-w", show_default=False,
        help=_WEIGHTS_HELP[:_WEIGHTS_HELP.rindex("Default:")] + "Default: 'jpeg' when every input is "
             f"{_LOSSY_RULE}; else 'default' (as upscale picks)."),
    device: Device = "auto",
    batch_size: int = typer.Option(16, help="Images encoded at once."),
    overwrite: Overwrite = False,
) -> None:
    """Encode images into latents (N, tokens, width) that `hinr render` draws at any size."""
    options = dict(locals())
    from .inference_runner import run_encode

    run_encode(**options)


@app.command(epilog="Examples:\n\n  hinr render latents.safetensors --res 128   (writes latents_128.png)\n\n"
             "  hinr render latents.safetensors --res 1024 -o big.png\n\n"
             "  hinr render latents.safetensors --size 640x480 -o renders/")
def render(
    latents: Path = typer.Argument(..., help="A latents file written by `hinr encode`.",
                                   show_default=False),
    output: Optional[str] = typer.Option(
        None, "--output", "-o", metavar="PATH",
        help="Output file (one latent) or folder (several, or a path ending in /: FOLDER/<source "
             "stem>.png). Default: beside the latents file, <latents stem>_<size>.png (several: "
             "<source stem>_<size>.png)."),
    res: Optional[int] = typer.Option(None, "--res", metavar="N",
                                      help="N on the longer side, each source's shape kept (N×N "
                                           "for a square source)."),
    size: Optional[str] = typer.Option(None, "--size", metavar="N|WxH",
                                       help="N as --res, or exactly WxH."),
    weights: Optional[str] = typer.Option(
        None, "--weights", "-w", show_default=False,
        help="The weights that encoded the latents. " + _WEIGHTS_HELP[:_WEIGHTS_HELP.rindex("Default:")]
             + "Default: the shipped weights that encoded them."),
    device: Device = "auto",
    batch_size: int = typer.Option(1, help="Latents rendered at once (memory grows with it)."),
    chunk: Chunk = DEFAULT_CHUNK,
    precision: Precision = "auto",
    overwrite: Overwrite = False,
    force: Force = False,
    strip_metadata: bool = typer.Option(False, "--strip-metadata", help="Write no metadata. By "
                                        "default the colour profile, EXIF and XMP that hinr encode "
                                        "recorded from each source (never its GPS position) are "
                                        "written where the format holds them."),
) -> None:
    """Render latents at any resolution, chunked so memory does not grow with it."""
    options = dict(locals())
    from .inference_runner import run_render

    run_render(**options)


@app.command(epilog="Examples:\n\n"
             "  hinr average runs/a runs/b runs/c -o soup.safetensors\n\n"
             "  hinr upscale photo.png --weights soup.safetensors\n\n"
             "Fine-tunes that start from the same weights average well: the shipped default is the "
             "mean of five (weights/README.md). Weights of different architectures, and an "
             "existing output without --overwrite, are refused before any weights are read.")
def average(
    checkpoints: list[str] = typer.Argument(..., metavar="WEIGHTS", show_default=False,
                                            help="Two or more weights of one architecture: run "
                                                 "folders, .safetensors files or shipped names."),
    output: Path = typer.Option(..., "--output", "-o", metavar="FILE", show_default=False,
                                help="The averaged weights: a .safetensors file, or a folder that "
                                     "gets model.safetensors (a --weights for every command)."),
    overwrite: Overwrite = False,
) -> None:
    """Average the weights of several checkpoints into one model (a uniform model soup)."""
    from ..store.average import save_average
    from ..store.checkpoint import weights_output
    from .outputs import check_outputs

    if output.suffix and output.suffix != ".safetensors" and not output.is_dir():
        raise UsageError(f"-o {output} must be a .safetensors file or a folder (no extension)")
    repeated = sorted({c for c in checkpoints if checkpoints.count(c) > 1})
    if repeated:  # the mean of a model with itself is that model: surely a slip
        raise UsageError(f"{', '.join(repeated)} given more than once: average different weights")
    check_outputs([weights_output(output)], overwrite=overwrite)  # before any weights are read
    typer.echo(save_average(checkpoints, output, overwrite=overwrite))


# --- evaluation ------------------------------------------------------------------------------

@app.command("eval", epilog="Examples:\n\n"
             "  hinr eval --data examples/val_photos --weights runs/a --weights runs/b --out eval/\n\n"
             "  hinr eval --benchmark ../shared/benchmarks --scales 2,3,4 --out bench/\n\n"
             "How each is scored: docs/cli.md and docs/results.md.")
def eval_(
    data: Optional[str] = typer.Option(None, help="A folder of photos (its MANIFEST.tsv split) or 'cifar10'."),
    benchmark: Optional[Path] = typer.Option(None, help="Instead: standard sets (SET/xK/NAME_HR.png + NAME_LR.png), scored as the papers do."),
    weights: Optional[list[str]] = typer.Option(None, "--weights", "-w", help="Weights (as upscale's); repeat to compare. Default: what upscale would pick."),
    scales: Optional[str] = typer.Option(None, help="e.g. 1,2,4,8 (the default; 1 for cifar10)."),
    split: Optional[str] = typer.Option(None, help="Manifest split of a photo folder (default val)."),
    crops: Optional[int] = typer.Option(None, help="N square crops per photo (default: its centre)."),
    limit: Optional[int] = typer.Option(None, help="At most N photos (cifar10: images, default 500)."),
    out: Optional[Path] = typer.Option(None, help="Folder for results.json, results.md, grid.png."),
    device: Device = "auto",
    data_dir: Optional[Path] = typer.Option(None, help="Where CIFAR-10 is.", rich_help_panel=SPEED),
    batch_size: int = typer.Option(8, help="Images at once.", rich_help_panel=SPEED),
    chunk: Chunk = DEFAULT_CHUNK,
    precision: Precision = "auto",
    ensemble: Ensemble = 1,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace earlier results in --out."),
    jpeg: Optional[int] = typer.Option(None, help="Score JPEG inputs of this quality (1–100)."),
    jpeg_chroma: Optional[str] = typer.Option(None, show_default=False, help="With --jpeg: 4:2:0 (the default) | 4:2:2 | 4:4:4."),
    latent_gain: bool = typer.Option(True, "--latent-gain/--no-latent-gain", show_default=False, help="Also report what the latents carry (on by default; 2× the work).", rich_help_panel=SPEED),
) -> None:
    """Score models against nearest, bilinear, bicubic and Lanczos: PSNR, SSIM, latent gain, grid
    score (1.0 = no pattern locked to the input pixels) and speed per scale."""
    if (data is None) == (benchmark is None):
        raise UsageError("pass one of --data (a photo folder or cifar10) or --benchmark (a folder of "
                         "test sets such as Set5 and Set14)")
    if benchmark is not None:
        given = [flag for flag, value in (("--split", split), ("--crops", crops), ("--limit", limit),
                                          ("--data-dir", data_dir), ("--jpeg", jpeg),
                                          ("--jpeg-chroma", jpeg_chroma)) if value is not None]
        if given:
            raise UsageError(f"{', '.join(given)} apply to --data, not to --benchmark (whose sets "
                             "are scored whole, as published)")
        from .benchmark_runner import run_benchmark_eval

        run_benchmark_eval(root=benchmark, weights=weights, scales=scales, out=out, device=device,
                           batch_size=batch_size, chunk=chunk, precision=precision,
                           ensemble=ensemble, stride=24, overwrite=overwrite)
        return
    from .eval_runner import run_eval

    run_eval(data=data, weights=weights, scales=scales, split=split, crops=crops, limit=limit,
             out=out, device=device, data_dir=data_dir, batch_size=batch_size, chunk=chunk,
             precision=precision, ensemble=ensemble, overwrite=overwrite, jpeg=jpeg,
             jpeg_chroma=jpeg_chroma, latent_gain=latent_gain)


@app.command(epilog="Examples:\n\n"
             "  hinr serve   (then open the address it prints)\n\n"
             "  hinr serve --port 8080\n\n"
             "A page where you drop images, pick a scale or a size and the weights, watch the "
             "progress, compare each result with bicubic (slider and magnified crop) and download it "
             "as a PNG — the same PNG hinr upscale writes. One job runs at a time; jobs can be "
             "cancelled. Stop it with Ctrl-C; its temporary files go with it.")
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on. The default answers this "
                             "computer only; anything else lets others on the network upscale "
                             "with it (hinr says so)."),
    port: int = typer.Option(7860, help="Port to listen on (0: any free one)."),
    device: Device = "auto",
    precision: Precision = "auto",
    max_upload_mb: int = typer.Option(64, help="Largest upload accepted, in MiB (refused as soon "
                                      "as it passes)."),
) -> None:
    """Upscale in a web page: drop images, compare with bicubic, download."""
    from ..threads import choose_wait_policy
    from .serve_runner import run_serve

    choose_wait_policy(busy=lambda: True)  # a server outlives the quiet moment it started in

    run_serve(host=host, port=port, device=device, precision=precision, max_upload_mb=max_upload_mb)


def _help_types(command) -> None:
    """Help shows a value's metavar (or TEXT, INTEGER, …) and nothing for flags and arguments,
    instead of typer's ``<bool>``, ``<str>`` and ``<list[Path]>``."""
    names = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "Path": "PATH"}
    for param in command.params:
        if param.param_type_name == "argument" or getattr(param, "is_flag", False):
            shown = None
        elif param.metavar is not None:
            shown = param.metavar
        else:
            shown = names.get(param.bare_type().removeprefix("list[").removesuffix("]"), "VALUE")
        param.display_type_rich = lambda ctx=None, shown=shown: shown
    make_help_option = command.get_help_option

    def get_help_option(ctx, make=make_help_option):
        option = make(ctx)
        if option is not None:
            option.display_type_rich = lambda ctx=None: None
        return option

    command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _help_types(sub)


def cli():
    """The click command behind ``app``, with the help display above."""
    command = typer.main.get_command(app)
    _help_types(command)
    return command


_MAIN_PID = os.getpid()


def _stop(signum: int, frame) -> None:
    """SIGTERM/SIGHUP: delete pending temporary files and unwind (each writer removes its own)."""
    from ..atomic import remove_pending

    if os.getpid() != _MAIN_PID:  # a forked child (a data worker) just dies as it would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    remove_pending()
    raise Interrupted(signum)


def main() -> None:
    """Console entry point: run the app, turning every ending into one line and an exit code.

    HinrError (and known library errors): "hinr: error: …", exit 1 (2 for usage errors). Ctrl-C:
    exit 130; SIGTERM/SIGHUP: temporary files removed, exit 128 + the signal. Anything else is a
    bug: one "internal error" line, exit 1. Nothing heavy is imported here, so ``hinr --help``
    stays fast.
    """
    from ..atomic import remove_pending

    global _MAIN_PID
    _MAIN_PID = os.getpid()
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = cli()(standalone_mode=False, prog_name="hinr")
    except typer.Exit as err:
        code = err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        remove_pending()
        sys.exit(report(Interrupted(signal.SIGINT)))
    except Interrupted as err:
        remove_pending()
        sys.exit(report(err))
    except Exception as err:
        # click's (typer's vendored click's) usage errors know their message and exit code
        if hasattr(err, "show") and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        sys.exit(report(err))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code == 130:  # typer turns Ctrl-C into Exit(130), returned in non-standalone mode
        remove_pending()
        sys.exit(report(Interrupted(signal.SIGINT)))
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
