"""``hinr eval``: check the options, load the models and images, run :func:`hinr.evaluate.evaluate`
under a progress bar on stderr, print the markdown table on stdout and write the result files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .errors import RuntimeFailure, UsageError


def run_eval(*, data: str, weights: Optional[list[str]], scales: Optional[str], split: Optional[str],
              crops: Optional[int], limit: Optional[int], out: Optional[Path], device: str,
              data_dir: Optional[Path], batch_size: int, chunk: int, precision: str,
              ensemble: int) -> None:
    from rich.progress import Progress

    from .. import eval_report, evaluate
    from .app import stderr_console
    from .inference import check_ensemble, check_precision, pick_device
    from ..data.folder import select_images

    cifar = data == "cifar10"
    try:
        scale_list = evaluate.parse_scales(scales or ("1" if cifar else "1,2,4,8"))
    except ValueError as err:
        raise UsageError(f"--scales: {err}") from err
    if cifar and (scale_list != [1] or crops or split not in (None, "test")):
        raise UsageError("cifar10 images are 32×32, so only --scales 1 (reconstruction) of the test "
                         "split has ground truth, without --crops: evaluate upsampling on a photo folder")
    for name, value in (("--crops", crops), ("--limit", limit), ("--batch-size", batch_size), ("--chunk", chunk)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be at least 1, got {value}")
    check_ensemble(ensemble)
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file: pass a folder")
    if not cifar and not Path(data).expanduser().is_dir():
        raise RuntimeFailure(f"--data {data} is not a folder: pass a folder of photos or 'cifar10'")
    dev = pick_device(device)
    precision = check_precision(precision, dev)
    models = evaluate.load_models(weights or [None], device=dev)
    size = models[0].model.config.image_size
    console = stderr_console()
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bars:
        def bar(description: str):
            task = bars.add_task(description, total=None)
            return lambda done, total: bars.update(task, completed=done, total=total)

        if cifar:
            samples = evaluate.cifar_samples(data_dir, limit=limit or evaluate.CIFAR_DEFAULT_LIMIT)
        else:
            root = Path(data).expanduser()
            paths = select_images(root, split=split or "val")[:limit]
            samples = evaluate.photo_samples(paths, scale_list, root=root, crops=crops,
                                             input_size=size, progress=bar("loading images"))
        result = evaluate.evaluate(samples, models, scale_list, data=data,
                                   split=None if cifar else split or "val", device=dev,
                                   batch_size=batch_size, chunk=chunk, precision=precision,
                                   ensemble=ensemble, progress=bar("evaluating"))
    sys.stdout.write(eval_report.markdown_table(result))
    if out is not None:
        eval_report.write_results(result, out)
        print(f"hinr: wrote {out}/results.json, results.md and grid.png ({result.seconds:.0f} s)", file=sys.stderr)
