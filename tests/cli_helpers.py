"""Helpers shared by the CLI tests: run ``hinr`` in-process or as a real process, make photos and a
tiny model whose latents matter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from hinr import HINR, preset, save_model
from hinr.cli.app import main

REPO = Path(__file__).resolve().parents[1]


def tiny_weights(folder: Path, seed: int = 0) -> Path:
    """A tiny residual model saved as weights (its renders are near PIL's bicubic)."""
    torch.manual_seed(seed)
    model = HINR(preset("tiny", residual=True, locality=True, cell_input=True, local_pixels=4))
    return save_model(model, folder / "model.safetensors")


def run(capsys, monkeypatch, *args, debug=False):
    """Run ``hinr ARGS`` through main(): (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["hinr", *map(str, args)])
    monkeypatch.setenv("HINR_DEBUG", "1" if debug else "0")
    code = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def photo(path: Path, h: int = 32, w: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") and ".tmp" in p.name]


def interruptible() -> None:
    """A child's SIGINT as at a terminal (``preexec_fn``): a shell that starts the tests in the
    background (``cmd &``) makes SIGINT ignored, and its children inherit that, so Ctrl-C tests
    would see nothing happen."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def hinr_process(*args, cwd: Path | None = None, env: dict | None = None, **popen) -> subprocess.Popen:
    """``hinr ARGS`` as a real process (python -m hinr.cli.app), one thread."""
    environment = {**os.environ, "HINR_DEBUG": "0", "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "hinr.cli.app", *map(str, args)], cwd=cwd,
                            env=environment, text=True, preexec_fn=interruptible, **popen)
