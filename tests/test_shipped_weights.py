"""The shipped weights by name: `default`, `jpeg` and `hybrid` load from anywhere, a local path of
the same name wins; `default` and `jpeg` are `liif` models, `hybrid` is the hybrid design (v3)."""

import os

import pytest
import torch

import hinr
from hinr.store.checkpoint import weights_fingerprint
from hinr.errors import HinrError
from hinr.store.shipped import resolve_weights


def test_named_shipped_weights_load_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default, jpeg = hinr.load_model(), hinr.load_model("jpeg")
    assert weights_fingerprint(hinr.load_model("default")) == weights_fingerprint(default)
    hybrid = hinr.load_model("hybrid")
    assert default.config.arch == jpeg.config.arch == "liif" and hybrid.config.arch == "hybrid-v3"
    assert weights_fingerprint(default) != weights_fingerprint(jpeg)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert (default.render(default.encode(x), 64, 64) - jpeg.render(jpeg.encode(x), 64, 64)).abs().max() > 1e-3


def test_a_local_path_named_like_a_shipped_model_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("jpeg")
    with pytest.raises(HinrError, match="holds no model.safetensors"):
        resolve_weights("jpeg")


def test_eval_labels_follow_the_same_rule_as_loading(tmp_path, monkeypatch):
    """A shipped name is labelled as such, unless a local path of that name is what loads."""
    from hinr.evaluation.evaluate import model_label

    monkeypatch.chdir(tmp_path)
    assert model_label(None, resolve_weights(None)) == "hinr (shipped)"
    assert model_label("default", resolve_weights("default")) == "hinr (shipped)"
    assert model_label("jpeg", resolve_weights("jpeg")) == "hinr (jpeg)"
    os.mkdir("jpeg")
    assert model_label("jpeg", tmp_path / "jpeg" / "model.safetensors") == "jpeg"


def test_shipped_renders_are_pinned():
    """The shipped models' pictures, and those of the weights shipped before them (which must keep
    loading), stay what they were when pinned (``tests/pin_renders.py``): 300 samples of each
    one's 100×120 render of a fixed 40×48 input."""
    import json

    from pin_renders import PINNED, REPO_ROOT, samples

    pinned = json.loads(PINNED.read_text())
    assert {"default", "jpeg", "hybrid"} <= set(pinned["renders"])
    for name, values in pinned["renders"].items():
        weights = str(REPO_ROOT / name) if name.endswith(".safetensors") else name
        torch.testing.assert_close(samples(weights), torch.tensor(values), rtol=0, atol=2e-5, msg=name)
