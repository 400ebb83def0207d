"""``hinr eval``: check the options (and that --out can be written) before any work, load the models
and images, run :func:`hinr.evaluation.evaluate.evaluate` under a progress bar on stderr, print the markdown
table on stdout and write the result files (never over earlier ones without --overwrite)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .errors import RuntimeFailure, UsageError

def check_out_folder(out: Path, *, overwrite: bool, check_no_results=None) -> None:
    """--out must be a folder we can write, holding no earlier results unless --overwrite
    (``check_no_results``: the check for the files this evaluation writes)."""
    from .outputs import check_writable

    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: pass a folder")
    if not overwrite:
        if check_no_results is None:
            from ..evaluation.report import check_no_results
        check_no_results(out)  # before any work, not only when the results are written
    check_writable(out, option="--out")


def run_eval(*, data: str, weights: Optional[list[str]], scales: Optional[str], split: Optional[str],
             crops: Optional[int], limit: Optional[int], out: Optional[Path], device: str,
             data_dir: Optional[Path], batch_size: int, chunk: int, precision: str,
             ensemble: int, overwrite: bool, jpeg: Optional[int] = None,
             jpeg_chroma: Optional[str] = None, latent_gain: bool = True) -> None:
    from ..evaluation import evaluate, report as eval_report
    from ..data.folder import select_images
    from ..inference.memory import cap_chunk
    from .console import progress_bar
    from .inference_runner import check_ensemble, check_precision, pick_device

    cifar = data == "cifar10"
    try:
        scale_list = evaluate.parse_scales(scales or ("1" if cifar else "1,2,4,8"))
    except ValueError as err:
        raise UsageError(f"--scales: {err}") from err
    try:
        evaluate.check_request(data, scale_list, crops=crops, split=split, jpeg=jpeg,
                               jpeg_chroma=jpeg_chroma)
    except ValueError as err:
        raise UsageError(str(err)) from err
    for name, value in (("--crops", crops), ("--limit", limit), ("--batch-size", batch_size), ("--chunk", chunk)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    check_ensemble(ensemble)
    if out is not None:
        check_out_folder(out, overwrite=overwrite)
    if not cifar and not Path(data).expanduser().is_dir():
        raise RuntimeFailure(f"--data {data} is not a folder: pass a folder of photos or 'cifar10'")
    dev = pick_device(device)
    precision = check_precision(precision, dev)
    from ..io.coding import Coding
    from ..store.shipped import weights_for_input

    # no --weights: the shipped weights hinr upscale would pick for these inputs
    jpeg_chroma = jpeg_chroma or "4:2:0"
    coding = None if jpeg is None else Coding("JPEG", jpeg, jpeg_chroma)
    models = evaluate.load_models(weights or [weights_for_input(coding)], device=dev)
    size = models[0].model.config.image_size
    chunk = min(cap_chunk(chunk, m.model.config, batch=batch_size) for m in models)
    if cifar:
        samples = evaluate.cifar_samples(data_dir, limit=limit or evaluate.CIFAR_DEFAULT_LIMIT)
    else:
        root = Path(data).expanduser()
        paths = select_images(root, split=split or "val")[:limit]
        with progress_bar("loading images", count=True) as progress:
            samples = evaluate.photo_samples(paths, scale_list, root=root, crops=crops,
                                             input_size=size, progress=progress)
    with progress_bar("evaluating", count=True) as progress:
        result = evaluate.evaluate(samples, models, scale_list, data=data,
                                   split=None if cifar else split or "val", device=dev,
                                   batch_size=batch_size, chunk=chunk, precision=precision,
                                   ensemble=ensemble, jpeg=jpeg, jpeg_chroma=jpeg_chroma,
                                   latent_gain=latent_gain,
                                   progress=progress)
    sys.stdout.write(eval_report.markdown_table(result))
    if out is not None:
        eval_report.write_results(result, out, overwrite=overwrite)
        print(f"hinr: wrote {out}/results.json, results.md and grid.png ({result.seconds:.0f} s)",
              file=sys.stderr)
