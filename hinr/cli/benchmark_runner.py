"""``hinr eval --benchmark DIR``: check the folder, the scales and --out before any work, load the
models, score every image under a progress bar, print the markdown table and write the results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from .errors import UsageError

DEFAULT_SCALES = "2,3,4"


def run_benchmark_eval(*, root: Path, weights: Optional[list[str]], scales: Optional[str],
                       out: Optional[Path], device: str, batch_size: int, chunk: int,
                       precision: str, ensemble: int, stride: int, overwrite: bool) -> None:
    from ..evaluation import evaluate
    from ..evaluation import standard_sets, standard_sets_report
    from ..inference.options import RenderOptions
    from ..inference.upscale import upscale_image
    from .console import progress_bar
    from .eval_runner import check_out_folder
    from .inference_runner import check_counts, check_ensemble, check_precision, pick_device
    from ..precision import precision_name
    from ..inference.memory import fit_memory

    try:
        scale_list = evaluate.parse_scales(scales or DEFAULT_SCALES)
    except ValueError as err:
        raise UsageError(f"--scales: {err}") from err
    if 1 in scale_list:
        raise UsageError("--benchmark scores upscaling: --scales must be 2 or more (e.g. 2,3,4)")
    check_counts(batch_size=batch_size, chunk=chunk, stride=stride)
    check_ensemble(ensemble)
    pairs = standard_sets.find_pairs(root, scale_list)
    standard_sets.check_sizes(pairs)
    if out is not None:
        check_out_folder(out, overwrite=overwrite, check_no_results=standard_sets_report.check_no_results)
    dev = pick_device(device)
    precision = check_precision(precision, dev)
    models = evaluate.load_models(weights or ["default"], device=dev)
    sizes = [standard_sets.hr_size(p) for p in pairs]  # the memory check, from the headers
    options = RenderOptions(chunk=chunk, batch_size=batch_size, stride=stride, precision=precision,
                            ensemble=ensemble)
    upscalers = {}
    for m in models:
        model_options = options.with_chunk(fit_memory(m.model, sizes, chunk=chunk, ensemble=ensemble))

        def upscale(lr, size, model=m.model, model_options=model_options):
            return upscale_image(model, lr, size, **model_options.kwargs())

        upscalers[m.label] = upscale
    with progress_bar("benchmark", count=True) as progress:
        result = standard_sets.run_benchmark(
            pairs, upscalers, root=str(root), weights={m.label: m.weights for m in models},
            fingerprints={m.label: m.metadata.get("fingerprint", "") for m in models},
            device=str(dev), precision=precision_name(precision), ensemble=ensemble,
            progress=progress)
    sys.stdout.write(standard_sets_report.markdown_table(result))
    if out is not None:
        standard_sets_report.write_results(result, out, overwrite=overwrite)
        print(f"hinr: wrote {out}/results.json and results.md ({result.seconds:.0f} s)", file=sys.stderr)
