"""Weight averaging (`hinr average`, hinr.store.average): the mean of each weight, one architecture only."""

import json

import pytest
import torch

from hinr import HINR, load_model, preset, save_model
from hinr.errors import HinrUsageError
from hinr.store.average import AVERAGED_KEY, average_models
from hinr.store.checkpoint import read_metadata, weights_fingerprint


def _liif(path, seed):
    torch.manual_seed(seed)
    return save_model(HINR(preset("tiny", arch="liif", base_skip=True)), path)


def test_every_weight_is_the_mean_of_the_sources(tmp_path):
    paths = [_liif(tmp_path / f"m{seed}.safetensors", seed) for seed in range(3)]
    sources = [load_model(p).state_dict() for p in paths]
    averaged, fingerprints = average_models(paths)
    assert fingerprints == [weights_fingerprint(load_model(p)) for p in paths]
    for name, tensor in averaged.state_dict().items():
        expected = (sources[0][name] + sources[1][name] + sources[2][name]) / 3
        torch.testing.assert_close(tensor, expected, rtol=0, atol=1e-7)
        assert not torch.equal(tensor, sources[0][name]) or torch.equal(sources[0][name], sources[1][name])
    images = torch.rand(1, 3, 32, 32)
    with torch.no_grad():  # a working model, not only a bag of tensors
        assert torch.isfinite(averaged(images, torch.rand(40, 2))).all()


def test_cli_writes_a_loadable_model_naming_its_sources(tmp_path, run_cli):
    a, b = _liif(tmp_path / "a.safetensors", 0), _liif(tmp_path / "b.safetensors", 1)
    code, out, err = run_cli("average", str(a), str(b), "-o", str(tmp_path / "soup"))
    assert code == 0, err
    written = tmp_path / "soup" / "model.safetensors"
    assert out.strip() == str(written)
    soup = load_model(tmp_path / "soup")
    assert json.loads(read_metadata(written)[AVERAGED_KEY]) == [
        weights_fingerprint(load_model(a)), weights_fingerprint(load_model(b))]
    first, second = load_model(a).state_dict(), load_model(b).state_dict()
    for name, tensor in soup.state_dict().items():
        torch.testing.assert_close(tensor, (first[name] + second[name]) / 2, rtol=0, atol=1e-7)


def test_cli_keeps_an_existing_output_without_overwrite(tmp_path, run_cli):
    a, b = _liif(tmp_path / "a.safetensors", 0), _liif(tmp_path / "b.safetensors", 1)
    out = tmp_path / "soup.safetensors"
    out.write_bytes(b"mine")
    code, _, err = run_cli("average", str(a), str(b), "-o", str(out))
    assert code == 1 and "--overwrite" in err and out.read_bytes() == b"mine"
    code, _, err = run_cli("average", str(a), str(tmp_path / "missing"), "-o", str(out))
    assert code == 1 and "--overwrite" in err  # said before any weights are looked for
    code, _, err = run_cli("average", str(a), str(b), "-o", str(out), "--overwrite")
    assert code == 0, err
    load_model(out)


def test_different_architectures_are_refused_before_writing(tmp_path, run_cli):
    a = _liif(tmp_path / "a.safetensors", 0)
    torch.manual_seed(0)
    b = save_model(HINR(preset("tiny", arch="liif", base_skip=True, decoder_dim=32)), tmp_path / "b.safetensors")
    code, _, err = run_cli("average", str(a), str(b), "-o", str(tmp_path / "soup.safetensors"))
    assert code == 2
    assert err.count("\n") == 1 and "decoder_dim" in err and "one architecture" in err
    assert not (tmp_path / "soup.safetensors").exists()


def test_one_checkpoint_is_refused(tmp_path):
    with pytest.raises(HinrUsageError, match="at least two"):
        average_models([_liif(tmp_path / "a.safetensors", 0)])


@pytest.mark.parametrize("case", ["twice", "txt"])
def test_a_repeated_source_or_a_wrong_extension_is_one_line_exit_2(tmp_path, run_cli, case):
    a, b = _liif(tmp_path / "a.safetensors", 0), _liif(tmp_path / "b.safetensors", 1)
    args = [str(a), str(a)] if case == "twice" else [str(a), str(b)]
    out = tmp_path / ("soup.safetensors" if case == "twice" else "x.txt")
    code, _, err = run_cli("average", *args, "-o", str(out))
    assert code == 2 and err.count("\n") == 1 and ("more than once" in err if case == "twice" else ".safetensors" in err)
    assert not out.exists()
