"""Pin the pictures of the shipped (and previously shipped) weights, for
``test_shipped_weights.test_shipped_renders_are_pinned``: run it once after shipping new weights,
and from then on a change that alters their pictures fails the test.

    python tests/pin_renders.py default jpeg hybrid tests/data/previous_weights/*.safetensors
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

PINNED = Path(__file__).parent / "data" / "shipped_renders.json"
REPO_ROOT = Path(__file__).resolve().parents[1]
SIZE, STRIDE = (100, 120), (10, 12)


def pinned_input() -> torch.Tensor:
    """The fixed 40×48 input (3, 40, 48): smooth noise, seed 7."""
    g = torch.Generator().manual_seed(7)
    return torch.nn.functional.interpolate(torch.rand(1, 3, 11, 13, generator=g), size=(40, 48),
                                           mode="bilinear", align_corners=False)[0]


def samples(weights: str) -> torch.Tensor:
    """300 samples of the 100×120 fp32 upscale of ``pinned_input`` by ``weights`` (a name or path)."""
    import hinr
    from hinr.inference.upscale import upscale_image

    render = upscale_image(hinr.load_model(weights), pinned_input(), SIZE)
    return render[:, ::STRIDE[0], ::STRIDE[1]].flatten()


def main(names: list[str]) -> None:
    renders = {}
    for name in names:
        path = Path(name)
        key = path.resolve().relative_to(REPO_ROOT).as_posix() if path.suffix == ".safetensors" else name
        renders[key] = [round(float(v), 6) for v in samples(name)]
    PINNED.write_text(json.dumps({"input": "tests/pin_renders.py: pinned_input()", "size": list(SIZE),
                                  "stride": list(STRIDE), "renders": renders}, indent=1) + "\n")
    print(f"pinned {', '.join(renders)} in {PINNED}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["default", "jpeg", "hybrid"])
