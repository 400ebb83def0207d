"""A new architecture is one file and one row: a toy one, defined and registered here in a few
lines, builds, trains a step, saves, loads, upscales and is listed like the built-in ones."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from torch import nn

import hinr
from hinr.config import REGISTRY, Architecture, preset, register_architecture
from hinr.inference.upscale import upscale_image
from hinr.models.parts import Parts, local_decoder


class ToyEncoder(nn.Module):
    """One 3×3 convolution: a feature per input pixel."""

    def __init__(self, *, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, dim, 3, padding=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) → (B, S·S, D)."""
        return rearrange(self.conv(images), "b d h w -> b (h w) d")


TOY = Architecture(
    "toy", "one convolution → LIIF's local read-out",
    parts=lambda c: Parts(lambda c: ToyEncoder(dim=c.dim), False, local_decoder, reads_locally=True),
    sizes={"tiny": dict(dim=8, decoder_dim=16, decoder_depth=1)},
    fixed=dict(readout="local", num_latents=32 * 32, patch_size=1, processor_depth=0),
    describe=lambda c: ("conv ×1", f"local MLP {c.decoder_dim}"))


@pytest.fixture
def toy():
    register_architecture(TOY)
    yield TOY
    REGISTRY.pop("toy")


def test_a_toy_architecture_runs_end_to_end(toy, tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    model = hinr.HINR(preset("tiny", arch="toy"))
    assert model.encode(torch.rand(1, 3, 32, 32)).tokens.shape == (1, 1024, 8)
    assert not model.config.whole_image
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(2, 50, 2)
    loss = (model(images, coords) - 0.5).pow(2).mean()
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()  # a training step moves its weights
    assert (model(images, coords) - 0.5).pow(2).mean() < loss
    path = hinr.save_model(model, tmp_path / "toy")
    loaded = hinr.load_model(path)
    assert loaded.config.arch == "toy"
    image = torch.rand(3, 40, 56)
    torch.testing.assert_close(upscale_image(loaded, image, (80, 112)),
                               upscale_image(model.eval(), image, (80, 112)))
    from cli_helpers import run

    code, out, _ = run(capsys, monkeypatch, "models")
    assert code == 0 and "toy" in out and "conv ×1" in out


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="unknown arch 'toy'"):
        preset("tiny", arch="toy")
