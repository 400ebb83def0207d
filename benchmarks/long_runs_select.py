"""The long runs on `select` at equal steps: each run's snapshot at each step both runs reached,
scored as `pilots.py` scores the pilots (16 `select` photos, 8 crops each, RGB PSNR at ×2 / ×4 /
×8), the later runs paired per crop against the first with a bootstrap 95 % interval.

    OMP_NUM_THREADS=1 python benchmarks/long_runs_select.py long-liif long-v3uc-stem8   # ~45 s a snapshot

Scores are kept by run and step in ``benchmarks/long_runs_select.scores.json``, so a later call
scores only the new snapshots, and a step scored once still counts when its snapshot is gone (they
are not in git). A second table pairs each run's last step against the first run's last step (the
ends of their cosines, once both are done). Both go to stdout and ``benchmarks/long_runs_select.md``.
The trainer's own held-out PSNR per snapshot is in each run's ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare_report import bootstrap  # noqa: E402
from harness import machine, parse_args  # noqa: E402
from pilots import DATA, select_scores  # noqa: E402

SCALES = [2, 4, 8]


def snapshot_steps(run: Path) -> set[int]:
    return {int(m.group(1)) for p in (run / "snapshots").glob("step-*.safetensors")
            if (m := re.fullmatch(r"step-(\d+)\.safetensors", p.name))}


def known_steps(run: Path, cache: dict) -> set[int]:
    """The steps of ``run`` with a snapshot on disk or a score in ``cache``."""
    return snapshot_steps(run) | {int(key.split("@")[1]) for key in cache if key.split("@")[0] == run.name}


def paired_row(run: str, step: int, scores: dict, ref: dict | None) -> str:
    """A table row: the mean per scale, and minus ``ref`` per crop [95 %] ("—" without one)."""
    means = [f"{sum(scores[str(k)].values()) / len(scores[str(k)]):.3f}" for k in SCALES]
    deltas = ["—"] * len(SCALES)
    if ref is not None:
        deltas = []
        for k in SCALES:
            diffs = [scores[str(k)][n] - ref[str(k)][n] for n in ref[str(k)]]
            low, high = bootstrap(diffs)
            deltas.append(f"{sum(diffs) / len(diffs):+.3f} [{low:+.3f}, {high:+.3f}]")
    return f"| {run} | {step} | {' | '.join(means)} | {' | '.join(deltas)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="long runs under --root; the first is the reference")
    parser.add_argument("--root", type=Path, default=ROOT / "long_runs")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "long_runs_select.md")
    args = parse_args(parser)
    from hinr.store.checkpoint import load_model

    if len(args.runs) < 2:
        raise SystemExit("name at least two long runs: the first is the one the others are paired against")
    cache_path = args.out.with_suffix(".scores.json")
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    known = {run: known_steps(args.root / run, cache) for run in args.runs}
    steps = sorted(set.intersection(*known.values()))
    if not steps:
        raise SystemExit(f"{', '.join(args.runs)} have no snapshot step in common under {args.root}")
    last = {run: max(known[run]) for run in args.runs}
    for run in args.runs:
        for step in sorted({*steps, last[run]}):
            key = f"{run}@{step}"
            if key not in cache:
                print(f"scoring {key}", file=sys.stderr, flush=True)
                model = load_model(args.root / run / "snapshots" / f"step-{step}.safetensors").eval()
                cache[key] = {str(k): v for k, v in select_scores(model, args.data, SCALES).items()}
                cache_path.write_text(json.dumps(cache) + "\n")  # kept as it goes: a long call can stop
    reference = args.runs[0]
    head = ("| run | step | " + " | ".join(f"select ×{k}" for k in SCALES)
            + " | " + " | ".join(f"×{k} minus {reference} [95 %]" for k in SCALES) + " |\n"
            + "|---|---:|" + "---:|" * len(SCALES) + "---|" * len(SCALES))
    lines = [paired_row(run, step, cache[f"{run}@{step}"], None if run == reference else cache[f"{reference}@{step}"])
             for step in steps for run in args.runs]
    ends = [paired_row(run, last[run], cache[f"{run}@{last[run]}"],
                       None if run == reference else cache[f"{reference}@{last[reference]}"]) for run in args.runs]
    crops = len(cache[f"{reference}@{steps[0]}"]["4"])
    md = (f"{machine('cpu')}\n\nThe long runs' snapshots on the `select` photos ({crops} crops, RGB PSNR dB), "
          f"paired against {reference} at the same step:\n\n{head}\n" + "\n".join(lines) + "\n"
          f"\nEach run's last step, paired against {reference}'s last:\n\n{head}\n" + "\n".join(ends) + "\n")
    args.out.write_text(md)
    print(md)


if __name__ == "__main__":
    main()
