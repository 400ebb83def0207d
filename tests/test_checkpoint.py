"""Save → load round trips, strict loading and the config's own validation."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from hinr import ARCHITECTURES, HINR, CheckpointError, ModelConfig, load_model, preset, save_model
from hinr.store.checkpoint import read_metadata, weights_fingerprint


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_round_trip_is_bit_identical(tmp_path, arch):
    torch.manual_seed(0)
    skip = arch in ("hybrid-v2", "hybrid-v3")  # they add bicubic through base_skip, not residual
    options = dict(base_skip=True) if skip else dict(residual=True, locality=True)
    model = HINR(preset("tiny", arch=arch, **options)).eval()
    with torch.no_grad():
        (model.base_skip if skip else model.residual_gate).fill_(0.5)
    path = save_model(model, tmp_path / "run")
    assert path.name == "model.safetensors"
    loaded = load_model(tmp_path / "run")
    assert loaded.config == model.config
    images, coords = torch.rand(2, 3, 32, 32), torch.rand(50, 2)
    with torch.no_grad():
        assert torch.equal(model(images, coords), loaded(images, coords))
    assert weights_fingerprint(model) == weights_fingerprint(loaded)


def _saved(tmp_path):
    model = HINR(preset("tiny"))
    path = save_model(model, tmp_path / "m.safetensors")
    return path, load_file(str(path)), read_metadata(path)


def test_missing_key_is_named(tmp_path):
    path, tensors, meta = _saved(tmp_path)
    tensors.pop("decoder.to_rgb.weight")
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="missing decoder.to_rgb.weight"):
        load_model(path)


def test_extra_key_is_named(tmp_path):
    path, tensors, meta = _saved(tmp_path)
    tensors["surprise"] = torch.zeros(1)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="unexpected surprise"):
        load_model(path)


def test_wrong_shape_is_named(tmp_path):
    path, tensors, meta = _saved(tmp_path)
    tensors["decoder.to_rgb.bias"] = torch.zeros(4)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="decoder.to_rgb.bias"):
        load_model(path)


def test_truncated_file_is_a_clear_error(tmp_path):
    path, _, _ = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_model(path)


def test_file_without_hinr_config(tmp_path):
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(CheckpointError, match="not saved by hinr"):
        load_model(tmp_path / "other.safetensors")


def test_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="no weights"):
        load_model(tmp_path / "nothing")


def test_fingerprint_changes_with_weights():
    a, b = HINR(preset("tiny")), HINR(preset("tiny"))
    torch.manual_seed(1)
    b.load_state_dict(a.state_dict())
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.decoder.to_rgb.bias.add_(1e-3)
    assert weights_fingerprint(a) != weights_fingerprint(b)


def test_config_json_round_trip_and_validation():
    cfg = preset("small", arch="scent", residual=True)
    assert ModelConfig.from_json(cfg.to_json()) == cfg
    with pytest.raises(ValueError, match="unknown arch"):
        ModelConfig(arch="resnet")
    with pytest.raises(ValueError, match="square"):
        ModelConfig(num_latents=200)
    with pytest.raises(ValueError, match="unknown fields"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")


def test_base_preset_is_the_design():
    cfg = preset("base")
    assert (cfg.dim, cfg.num_latents, cfg.patch_size, cfg.processor_depth) == (256, 256, 2, 4)
    assert (cfg.heads, cfg.dim_head, cfg.ff_mult) == (8, 64, 4)
    assert (cfg.decoder_dim, cfg.decoder_depth, cfg.decoder_ff_mult) == (512, 3, 4)
    assert not (cfg.residual or cfg.locality or cfg.cell_input or cfg.local_pixels)
    assert cfg.num_patches == 256
