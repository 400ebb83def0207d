"""benchmarks/long_runs_select.py: the long runs' snapshots scored on `select` at the steps they
share, paired against the first run, and scored once (two tiny random-weight runs, two photos)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import long_runs_select as script  # noqa: E402
from hinr.config import preset  # noqa: E402
from hinr.models.hinr import HINR  # noqa: E402
from hinr.store.checkpoint import save_model  # noqa: E402


def _photos(root: Path) -> Path:
    root.mkdir()
    rng = np.random.default_rng(0)
    rows = ["file\tsplit"]
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (260, 270, 3), dtype=np.uint8)).save(root / f"s{i}.png")
        rows.append(f"s{i}.png\tselect")
    (root / "MANIFEST.tsv").write_text("\n".join(rows) + "\n")
    return root


def _run(root: Path, name: str, steps: list[int], seed: int) -> None:
    (root / name / "snapshots").mkdir(parents=True)
    for step in steps:
        torch.manual_seed(seed + step)
        save_model(HINR(preset("tiny", arch="liif", base_skip=True)), root / name / "snapshots" / f"step-{step}.safetensors")


def _main(monkeypatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", ["long_runs_select.py", *argv])
    script.main()


def test_the_shared_steps_are_paired_against_the_first_run_and_scored_once(tmp_path, monkeypatch):
    photos, runs, out = _photos(tmp_path / "photos"), tmp_path / "runs", tmp_path / "table.md"
    _run(runs, "a", [100, 200], seed=0)
    _run(runs, "b", [200, 300], seed=1)
    args = ["a", "b", "--root", str(runs), "--data", str(photos), "--out", str(out)]
    _main(monkeypatch, *args)
    rows = [line for line in out.read_text().splitlines() if line.startswith("| a |") or line.startswith("| b |")]
    assert [row.split(" | ")[:2] for row in rows] == [["| a", "200"], ["| b", "200"]]  # 100, 300: not shared
    assert rows[0].count("—") == 3 and "[" in rows[1]
    # a second call reads the cache: nothing is scored again
    monkeypatch.setattr(script, "select_scores", lambda *a, **k: pytest.fail("scored twice"))
    _main(monkeypatch, *args)
    assert out.with_suffix(".scores.json").is_file()


def test_runs_without_a_shared_step_are_refused(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    _run(runs, "a", [100], seed=0)
    _run(runs, "b", [300], seed=1)
    with pytest.raises(SystemExit, match="no snapshot step in common"):
        _main(monkeypatch, "a", "b", "--root", str(runs), "--out", str(tmp_path / "t.md"))
