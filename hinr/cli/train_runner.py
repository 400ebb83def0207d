"""``hinr train``: turn the CLI options into a TrainConfig, run the Trainer under a rich progress
bar on stderr, and print the run folder on stdout."""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

from .errors import UsageError

MODEL_FLAGS = ("residual", "locality", "cell_input", "local_pixels", "lp_placement")


def _config_from_options(opts: dict):
    from ..config import ARCHITECTURES, PRESETS
    from ..train.config import TrainConfig

    if opts["arch"] not in ARCHITECTURES:
        raise UsageError(f"--arch must be one of {', '.join(ARCHITECTURES)}, not {opts['arch']!r}")
    if opts["preset"] not in PRESETS:
        raise UsageError(f"--preset must be one of {', '.join(PRESETS)}, not {opts['preset']!r}")
    if opts["steps"] is not None and opts["epochs"] is not None:
        raise UsageError("give --steps or --epochs, not both")
    overrides = {k: opts[k] for k in MODEL_FLAGS if opts[k] not in (False, 0, "append")}
    try:
        return TrainConfig(
            data=opts["data"], data_dir=str(opts["data_dir"]) if opts["data_dir"] else None,
            arch=opts["arch"], preset=opts["preset"], model_overrides=overrides,
            init_from=str(opts["init_from"]) if opts["init_from"] else None,
            steps=opts["steps"] or 1000, epochs=opts["epochs"], batch_size=opts["batch_size"],
            lr=opts["lr"], warmup=opts["warmup"], queries=opts["queries"], hr_size=opts["hr_size"],
            recon_weight=opts["recon_weight"], val_every=opts["val_every"],
            save_every=opts["save_every"], seed=opts["seed"], device=opts["device"],
            bf16=opts["bf16"], ema=opts["ema"], compile=opts["compile"])
    except ValueError as err:
        raise UsageError(str(err)) from err


def run_training(**opts) -> None:
    from rich.logging import RichHandler
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..train import TrainConfig, Trainer
    from ..train.trainer import CONFIG_NAME
    from .console import stderr_console

    console = stderr_console()
    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(console=console, show_path=False)])
    rank = int(os.environ.get("RANK", "0"))
    resume = opts["resume"]
    if resume is not None:
        if not (Path(resume) / CONFIG_NAME).is_file():
            raise UsageError(f"--resume {resume}: no {CONFIG_NAME} there; pass a run folder made by hinr train")
        cfg = TrainConfig.load(Path(resume) / CONFIG_NAME)
        if opts["steps"] is not None:
            cfg.steps = opts["steps"]
        run_dir = Path(resume)
    else:
        cfg = _config_from_options(opts)
        run_dir = opts["out"] or Path("runs") / f"{cfg.arch}-{cfg.preset}-{time.strftime('%Y%m%d-%H%M%S')}"
        if run_dir.exists() and any(run_dir.iterdir()):
            raise UsageError(f"{run_dir} exists and is not empty: choose another --out, or --resume it")

    trainer = Trainer(cfg, run_dir, resume=resume is not None)
    try:
        if rank == 0:
            console.print(f"[bold]hinr train[/] {cfg.arch}/{cfg.preset}, "
                          f"{trainer.model.num_parameters / 1e6:.2f} M params, {trainer.device}, "
                          f"{trainer.world} process(es), steps {trainer.step}→{trainer.cfg.steps}")
        columns = (TextColumn("step {task.completed}/{task.total}"), BarColumn(),
                   TextColumn("loss {task.fields[loss]:.5f}  psnr {task.fields[psnr]:.2f} dB  "
                              "val {task.fields[val]}  {task.fields[speed]:.1f} img/s"),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, disable=rank != 0) as progress:
            task = progress.add_task("train", total=trainer.cfg.steps, completed=trainer.step,
                                     loss=math.nan, psnr=math.nan, val="–", speed=0.0)
            val = "–"

            def on_step(m: dict) -> None:
                nonlocal val
                if "val_psnr" in m:
                    val = f"{m['val_psnr']:.2f} dB"
                    if "val_bicubic_psnr" in m:
                        val += f" (bicubic {m['val_bicubic_psnr']:.2f})"
                progress.update(task, completed=m["step"], loss=m["loss"], psnr=m["psnr"],
                                val=val, speed=m["images_per_s"])

            trainer.fit(on_step)
    finally:
        trainer.close()
    if rank == 0:
        print(run_dir)
