"""``hinr train``: turn the CLI options into a TrainConfig, run the Trainer with progress on stderr
(a rich bar on a terminal, a plain line every 50 steps or 30 s otherwise), and print the run
folder on stdout.

Every option arrives typed and ``None`` when not given, so "was it given" is ``is not None``:
defaults live in one place (:class:`hinr.train.TrainConfig` and ``RECIPE_OVERRIDES``), and every
option is validated before any data is loaded or any file is created.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from .errors import Interrupted, UsageError
from .train_options import MODEL_FLAGS, TrainOptions

RESUMABLE = ("steps", "device", "val_every", "save_every")  # what --resume may change
PLAIN_EVERY_STEPS, PLAIN_EVERY_S = 50, 30.0


def _flags(names: list[str]) -> str:
    return ", ".join("--" + n.replace("_", "-") for n in names)


def config_from_options(opts: TrainOptions):
    """A validated TrainConfig for a new run (UsageError, exit 2, for any bad option)."""
    from ..config import LP_PLACEMENTS, PRESETS, REGISTRY
    from ..errors import HinrUsageError
    from ..train.config import RECIPE_OVERRIDES, RECON_OVERRIDES, RESIDUAL_AT_SCALE_1, TrainConfig

    if opts.arch is not None and opts.arch not in REGISTRY:
        raise UsageError(f"--arch must be one of {', '.join(REGISTRY)}, not {opts.arch!r}")
    if opts.preset is not None and opts.preset not in PRESETS:
        raise UsageError(f"--preset must be one of {', '.join(PRESETS)}, not {opts.preset!r}")
    if opts.lp_placement is not None and opts.lp_placement not in LP_PLACEMENTS:
        raise UsageError(f"--lp-placement must be one of {', '.join(LP_PLACEMENTS)}, not "
                         f"{opts.lp_placement!r}")
    if opts.steps is not None and opts.epochs is not None:
        raise UsageError("give --steps or --epochs, not both")
    given_model = opts.given(*MODEL_FLAGS)
    if opts.init_from is not None and given_model:
        raise UsageError(f"{_flags(given_model)}: the model comes from --init-from {opts.init_from}; "
                         "drop these options")
    reconstruction = opts.hr_size is None  # the 32×32 image is its own target
    if reconstruction and opts.residual:
        raise UsageError(RESIDUAL_AT_SCALE_1)
    base = opts.preset == "base"  # the design as written: options past it stay off
    # the recipe's options are the hinr attention decoders' (liif is LIIF as published; the
    # hybrids that read out locally have their own defaults: Architecture.train_recipe)
    recipe = base or opts.init_from is not None or not REGISTRY[opts.arch or "hybrid"].train_recipe
    overrides = {} if recipe else dict(RECON_OVERRIDES if reconstruction else RECIPE_OVERRIDES)
    overrides.update({name: getattr(opts, name) for name in given_model})
    if overrides.get("base_skip") and "residual" not in given_model:
        overrides["residual"] = False  # the skip replaces the recipe's residual
    fields = {name: getattr(opts, name) for name in (
        "data", "arch", "preset", "steps", "epochs", "batch_size", "lr", "warmup", "queries",
        "hr_size", "recon_weight", "val_every", "save_every", "seed", "device", "bf16", "ema",
        "compile", "degrade", "rot90", "rgb_permute", "consistency", "max_zoom", "input_size") if getattr(opts, name) is not None}
    if opts.data_dir is not None:
        fields["data_dir"] = str(opts.data_dir)
    if opts.init_from is not None:
        fields["init_from"] = str(opts.init_from)
    try:
        return TrainConfig(model_overrides=overrides, **fields)
    except HinrUsageError as err:
        raise UsageError(str(err)) from err


def resumed_config(opts: TrainOptions):
    """The run's own TrainConfig, with the few options a resume may change."""
    from ..errors import HinrUsageError
    from ..train.config import TrainConfig
    from ..train.trainer import CONFIG_NAME

    fixed = [n for n in TrainOptions.__dataclass_fields__ if n not in (*RESUMABLE, "resume")
             and getattr(opts, n) is not None]
    if fixed:
        raise UsageError(f"{_flags(fixed)} cannot change on --resume (the run's "
                         f"{CONFIG_NAME} holds them); only {_flags(list(RESUMABLE))} can")
    if not (opts.resume / CONFIG_NAME).is_file():
        raise UsageError(f"--resume {opts.resume}: no {CONFIG_NAME} there; pass a run folder made by "
                         "hinr train")
    cfg = TrainConfig.load(opts.resume / CONFIG_NAME)
    changes = {n: getattr(opts, n) for n in RESUMABLE if getattr(opts, n) is not None}
    if "steps" in changes:
        changes["epochs"] = None
    try:
        return TrainConfig(**{**cfg.__dict__, **changes})
    except HinrUsageError as err:
        raise UsageError(str(err)) from err


def run_training(opts: TrainOptions) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    from ..errors import HinrUsageError
    from ..train import Trainer
    from ..train.stopping import stop_on_sigterm

    console = Console(stderr=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False)])
    rank = int(os.environ.get("RANK", "0"))
    resume = opts.resume is not None
    cfg = resumed_config(opts) if resume else config_from_options(opts)
    run_dir = opts.resume if resume else (
        opts.out or Path("runs") / f"{cfg.arch}-{cfg.preset}-{time.strftime('%Y%m%d-%H%M%S')}")

    def status(message: str) -> None:
        if rank == 0:
            console.print(f"{message} …", highlight=False)

    try:
        trainer = Trainer(cfg, run_dir, resume=resume, on_status=status)
    except HinrUsageError as err:
        raise UsageError(str(err)) from err
    try:
        if rank == 0:
            # with --init-from the model (and so its architecture) comes from the weights
            model = (f"{trainer.model.config.arch} from {cfg.init_from}" if cfg.init_from
                     else f"{cfg.arch}/{cfg.preset}")
            console.print(f"[bold]hinr train[/] {model}, "
                          f"{trainer.model.num_parameters / 1e6:.2f} M params, {trainer.device}, "
                          f"{trainer.world} process(es), steps {trainer.step}→{trainer.cfg.steps}",
                          highlight=False)
            emulated = emulated_bf16_warning(trainer.cfg.bf16, trainer.device)
            if emulated:
                console.print(f"[yellow]warning:[/] {emulated}", highlight=False)
            if trainer.cfg.steps < trainer.cfg.warmup:
                console.print(f"[yellow]warning:[/] --steps {trainer.cfg.steps} is shorter than the "
                              f"warm-up ({trainer.cfg.warmup} steps): the learning rate never reaches "
                              f"--lr {trainer.cfg.lr:g}; lower --warmup", highlight=False)
        with stop_on_sigterm(trainer):
            if console.is_terminal:
                _fit_with_bar(trainer, console, disable=rank != 0)
            else:
                _fit_with_lines(trainer, console, disable=rank != 0)
    finally:
        trainer.close()
    if rank == 0:
        if trainer.stopped_early:
            console.print(f"stopped at step {trainer.step}/{trainer.cfg.steps} (SIGTERM), checkpoint "
                          f"saved: continue with hinr train --resume {run_dir}", highlight=False)
        print(run_dir)
    if trainer.stopped_early:  # a stopped run is not a finished one: `hinr train … && next` stops
        raise Interrupted(signal.SIGTERM)  # exit 143, as a process killed by SIGTERM


def emulated_bf16_warning(bf16: bool, device) -> str | None:
    """The warning for --bf16 on a CPU without native bf16 (an AVX2-only CPU emulates it: a
    training measured there ran 0.6 images/s in bf16 against 7 in fp32), else None."""
    from .. import precision

    if bf16 and device.type == "cpu" and not precision.native_bf16("cpu"):
        return ("this CPU has no native bf16 (AVX512-BF16 or AMX): --bf16 is emulated and about "
                "10× slower than fp32 here; drop --bf16")
    return None


def _val_text(m: dict, previous: str) -> str:
    if "val_psnr" not in m:
        return previous
    text = f"{m['val_psnr']:.2f} dB"
    if "val_bicubic_psnr" in m:
        text += f" (bicubic {m['val_bicubic_psnr']:.2f})"
    return text


def _stats(m: dict, val: str) -> str:
    return (f"loss {m['loss']:.5f}  psnr {m['psnr']:.2f} dB  val {val}  "
            f"{m['images_per_s']:.1f} img/s")


def _fit_with_bar(trainer, console, *, disable: bool) -> None:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("step {task.completed}/{task.total}"), BarColumn(),
               TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=disable) as progress:
        task = progress.add_task("train", total=trainer.cfg.steps, completed=trainer.step,
                                 stats="first step …")
        val = "–"

        def on_step(m: dict) -> None:
            nonlocal val
            val = _val_text(m, val)
            progress.update(task, completed=m["step"], stats=_stats(m, val))

        trainer.fit(on_step)


def _fit_with_lines(trainer, console, *, disable: bool) -> None:
    """No terminal (a log file, CI): one plain line every 50 steps or 30 s, and at the end."""
    start = last_line = time.monotonic()
    val = "–"

    def on_step(m: dict) -> None:
        nonlocal val, last_line
        val = _val_text(m, val)
        now = time.monotonic()
        if disable or not (m["step"] % PLAIN_EVERY_STEPS == 0 or now - last_line >= PLAIN_EVERY_S
                           or m["step"] == trainer.cfg.steps):
            return
        last_line = now
        elapsed = time.strftime("%H:%M:%S", time.gmtime(now - start))
        console.print(f"step {m['step']}/{trainer.cfg.steps}  {_stats(m, val)}  {elapsed}",
                      highlight=False, soft_wrap=True)

    trainer.fit(on_step)
