"""benchmarks/plot_long_runs.py: a warm restart's curve goes on from where the run it continues
ended, in steps and in CPU minutes; other runs start at zero."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import plot_long_runs as script  # noqa: E402


def _log(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_a_continuation_is_drawn_on_from_its_runs_end(tmp_path, monkeypatch):
    _log(tmp_path / "long-liif" / "cpu.jsonl", [{"step": 1000, "cpu_s": 600.0}, {"step": 2000, "cpu_s": 1200.0}])
    _log(tmp_path / "long-liif" / "metrics.jsonl", [{"step": 1000, "val_psnr": 25.0}, {"step": 2000, "val_psnr": 25.5}])
    _log(tmp_path / "long-liif-more" / "cpu.jsonl", [{"step": 1000, "cpu_s": 300.0, "precision": "fp32"}])
    _log(tmp_path / "long-liif-more" / "metrics.jsonl", [{"step": 500, "loss": 0.1},
                                                         {"step": 1000, "val_psnr": 25.7}])
    assert script.curve(tmp_path / "long-liif") == [(1000, 10.0, 25.0), (2000, 20.0, 25.5)]
    assert script.curve(tmp_path / "long-liif-more") == [(3000, 25.0, 25.7)]
    assert script.precisions(tmp_path / "long-liif-more") == {3000: "fp32"}
    monkeypatch.setattr(sys, "argv", ["plot_long_runs.py", "long-liif", "long-liif-more", "--runs",
                                      str(tmp_path), "--out", str(tmp_path / "plot.png")])
    script.main()
    assert "| long-liif-more | 3000 | 25 | fp32 | 25.70 |" in (tmp_path / "plot.md").read_text()
    assert (tmp_path / "plot.png").stat().st_size > 0
