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


def _rows(table: str) -> list[list[str]]:
    """run, step and the first delta of each row of each table, by table."""
    tables = table.split("last step")
    return [[row.split(" | ")[:2] + [row.split(" | ")[5]] for row in part.splitlines() if row.startswith("| a |")
             or row.startswith("| b |")] for part in tables]


def test_the_shared_steps_are_paired_against_the_first_run_and_scored_once(tmp_path, monkeypatch):
    photos, runs, out = _photos(tmp_path / "photos"), tmp_path / "runs", tmp_path / "table.md"
    _run(runs, "a", [100, 200], seed=0)
    _run(runs, "b", [200, 300], seed=1)
    args = ["a", "b", "--root", str(runs), "--data", str(photos), "--out", str(out)]
    _main(monkeypatch, *args)
    shared, ends = _rows(out.read_text())
    assert [row[:2] for row in shared] == [["| a", "200"], ["| b", "200"]]  # 100, 300: not shared
    assert shared[0][2] == "—" and "[" in shared[1][2]
    assert [row[:2] for row in ends] == [["| a", "200"], ["| b", "300"]]  # each run's last, b against a's last
    assert ends[0][2] == "—" and "[" in ends[1][2] and ends[1][2] != shared[1][2]
    # a second call reads the cache: nothing is scored again, even with the snapshots gone
    monkeypatch.setattr(script, "select_scores", lambda *a, **k: pytest.fail("scored twice"))
    for step in (200, 300):
        (runs / "b" / "snapshots" / f"step-{step}.safetensors").unlink()
    before = out.read_text()
    _main(monkeypatch, *args)
    assert out.read_text() == before


def test_runs_without_a_shared_step_are_refused(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    _run(runs, "a", [100], seed=0)
    _run(runs, "b", [300], seed=1)
    with pytest.raises(SystemExit, match="no snapshot step in common"):
        _main(monkeypatch, "a", "b", "--root", str(runs), "--out", str(tmp_path / "t.md"))
