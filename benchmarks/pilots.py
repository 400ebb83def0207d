"""Score the pilot runs of the models issue on the `select` photos, paired against the full
hybrid-v3, and write the table the issue asks for.

    python benchmarks/pilots.py                         # every long_runs/pilot-* that has weights
    python benchmarks/pilots.py --full pilot-v3 --runs long_runs --scales 2 4 8

Each `select` photo gives 8 deterministic crops (`hinr eval --crops 8`'s): the 32×32 input is the
crop's antialiased bicubic reduction, the target the crop at 32·k. RGB PSNR per crop (outputs
rounded to 8 bits), the mean over crops, and for each other run the paired per-crop difference
against the full model with a bootstrap 95 % interval (a part pays when the run without it has
its whole interval below zero); runs stopped and removed since are listed from the score cache. Writes ``benchmarks/ablations/hybrid-v3.json`` (one object per
run other than the full model: variant, cpu_minutes, select_psnr_x4, delta_vs_full, ci95) and a
markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from compare_report import bootstrap  # noqa: E402

DATA = ROOT.parent / "shared" / "photos"


def cpu_minutes(run: Path) -> float | None:
    lines = [json.loads(line) for line in (run / "cpu.jsonl").read_text().splitlines() if line.strip()] \
        if (run / "cpu.jsonl").is_file() else []
    return round(lines[-1]["cpu_s"] / 60, 1) if lines else None


def step(run: Path) -> int | None:
    state = run / "checkpoint.json"
    return json.loads(state.read_text()).get("step") if state.is_file() else None


def select_scores(model, photos: Path, scales: list[int]) -> dict[int, dict[str, float]]:
    """RGB PSNR per crop of the `select` photos at each scale."""
    import torch

    from hinr.data.folder import image_to_tensor, select_images
    from hinr.evaluation.evaluate import photo_samples
    from hinr.evaluation.metrics import psnr

    samples = photo_samples(select_images(photos, split="select"), scales, root=photos, crops=8)
    scores: dict[int, dict[str, float]] = {k: {} for k in scales}
    for s in samples:
        low = image_to_tensor(s.low).unsqueeze(0)
        with torch.inference_mode():
            latents = model.encode(low)
            for k in scales:
                target = image_to_tensor(s.targets[k]).unsqueeze(0)
                out = model.render(latents, *target.shape[-2:])
                scores[k][s.name] = float(psnr((out.clamp(0, 1) * 255).round() / 255, target)[0])
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "long_runs")
    parser.add_argument("--full", default="pilot-v3", help="the run every other is paired against")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ablations" / "hybrid-v3.json")
    args = parser.parse_args()
    import torch

    from hinr.store.checkpoint import load_model

    torch.set_num_threads(max(1, torch.get_num_threads()))
    runs = sorted(p for p in args.runs.glob("pilot-*") if (p / "model.safetensors").is_file())
    names = [p.name for p in runs]
    if args.full not in names:
        raise SystemExit(f"no weights for the full model {args.full} under {args.runs}")
    # per-crop scores are kept beside the table, by run and step, so that pairing against another
    # full model (or a run that moved on) re-scores only what changed
    cache_path = args.out.with_suffix(".scores.json")
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    scores, steps, minutes = {}, {}, {}
    for run in runs:
        key = f"{run.name}@{step(run)}"
        steps[run.name], minutes[run.name] = step(run), cpu_minutes(run)
        if key in cache and all(str(k) in cache[key] for k in args.scales):
            scores[run.name] = {k: cache[key][str(k)] for k in args.scales}
        else:
            print(f"scoring {run.name} (step {step(run)})", file=sys.stderr, flush=True)
            scores[run.name] = select_scores(load_model(run / "model.safetensors").eval(), args.data,
                                             args.scales)
        cache[key] = {**{str(k): v for k, v in scores[run.name].items()},
                      "cpu_minutes": minutes[run.name]}
    # runs stopped and removed since they were scored: their last scores, from the cache
    for key in sorted(cache, key=lambda k: int(k.rsplit("@", 1)[1])):
        name, at = key.rsplit("@", 1)
        if name not in names and all(str(k) in cache[key] for k in args.scales):
            scores[name] = {k: cache[key][str(k)] for k in args.scales}
            steps[name], minutes[name] = int(at), cache[key].get("cpu_minutes")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cache_path.write_text(json.dumps(cache) + "\n")
    full = scores[args.full]
    rows, table = [], []
    for name in sorted(scores):
        mean = {k: sum(v.values()) / len(v) for k, v in scores[name].items()}
        line = {"variant": name, "step": steps[name], "cpu_minutes": minutes[name],
                **{f"select_psnr_x{k}": round(mean[k], 3) for k in args.scales}}
        if name != args.full:
            for k in args.scales:
                diffs = [scores[name][k][n] - full[k][n] for n in full[k]]
                low, high = bootstrap(diffs)
                suffix = "" if k == 4 else f"_x{k}"
                line[f"delta_vs_full{suffix}"] = round(sum(diffs) / len(diffs), 3)
                line[f"ci95{suffix}"] = [round(low, 3), round(high, 3)]
            rows.append(line)
        cells = [f"{line[f'select_psnr_x{k}']:.2f}" for k in args.scales]
        delta = "—" if name == args.full else f"{line['delta_vs_full']:+.3f} [{line['ci95'][0]:+.3f}, {line['ci95'][1]:+.3f}]"
        table.append(f"| {name} | {line['step']} | {line['cpu_minutes']} | {' | '.join(cells)} | {delta} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")
    head = ("| run | step | CPU min | " + " | ".join(f"select ×{k}" for k in args.scales)
            + " | ×4 minus the full model [95 %] |\n|---|---:|---:|" + "---:|" * len(args.scales) + "---|")
    crops = len(next(iter(full.values())))
    md = (f"Pilots on the `select` photos ({crops} crops, RGB PSNR dB), paired against {args.full}:\n\n"
          + head + "\n" + "\n".join(table) + "\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
