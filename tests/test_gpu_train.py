"""benchmarks/gpu_train.py, the GPU run's script, on the CPU at tiny sizes for a few seconds: both
architectures train, keep their best held-out checkpoint and write the summary."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from cli_helpers import REPO


def test_gpu_train_script_runs_on_cpu(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):  # enough for a held-out tenth
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), np.uint8)).save(photos / f"p{i}.png")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_train.py"), "--out", str(out),
                             "--minutes", "0.05", "--data", str(photos), "--cpu-smoke"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "gpu_train_summary.json").read_text())
    assert [s["arch"] for s in summary] == ["hybrid-v3", "liif"]
    for row in summary:
        assert "error" not in row and row["steps"] > 0 and row["best_heldout_psnr"] > 5
        assert (out / row["arch"] / "model.safetensors").is_file()
