"""Input degradations for training: what each preset does to the 32×32 input, that the target
stays clean, and that a clean run draws exactly the samples it drew before the option existed."""

import numpy as np
import pytest
import torch
from PIL import Image

from hinr.data.degrade import Degradation, degradation, jpeg
from hinr.data.sr import SRCropDataset, SRSampleConfig


def photo(seed: int = 0, size: int = 300) -> Image.Image:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([np.sin(xx / 5) * 90 + 120, np.cos(yy / 7) * 80 + 120, (xx + yy) % 256], -1)
    return Image.fromarray(np.clip(base + rng.integers(0, 30, base.shape), 0, 255).astype(np.uint8))


def test_jpeg_round_trip_loses_detail_and_keeps_size():
    image = photo().resize((32, 32), Image.BICUBIC)
    low = jpeg(image, 30)
    assert low.size == image.size and low.mode == "RGB"
    diff = np.abs(np.asarray(low, dtype=int) - np.asarray(image, dtype=int))
    assert diff.mean() > 1.0
    assert np.abs(np.asarray(jpeg(image, 95), dtype=int) - np.asarray(image, dtype=int)).mean() < diff.mean()


def test_presets_and_clean_share():
    assert degradation("none") is None
    with pytest.raises(ValueError, match="mixed"):
        degradation("heavy")
    always = Degradation(jpeg_prob=1.0, clean_prob=0.0)
    never = Degradation(jpeg_prob=1.0, clean_prob=1.0)
    image = photo().resize((32, 32), Image.BICUBIC)
    rng = np.random.default_rng(0)
    assert never(image, rng) is image
    assert always(image, rng).tobytes() != image.tobytes()
    changed = sum(degradation("mixed")(image, np.random.default_rng(i)).tobytes() != image.tobytes()
                  for i in range(200))
    assert 70 < changed < 130  # half the inputs stay clean
    changed = sum(degradation("jpeg-all")(image, np.random.default_rng(i)).tobytes() != image.tobytes()
                  for i in range(50))
    assert changed == 50  # every input goes through JPEG


def test_chroma_subsampling_is_drawn_only_when_asked(monkeypatch):
    image = photo().resize((32, 32), Image.BICUBIC)
    assert len({jpeg(image, 90, subsampling=k).tobytes() for k in (0, 1, 2)}) == 3
    assert jpeg(image, 90).tobytes() == jpeg(image, 90, subsampling=2).tobytes()
    # a preset without a subsampling draw keeps its random sequence, so its samples stay the same:
    # clean, blur, noise and JPEG draws, then the quality
    replay = np.random.default_rng(1)
    for _ in range(4):
        replay.random()
    quality = int(replay.integers(40, 96))
    fixed = Degradation(jpeg_prob=1.0, clean_prob=0.0)
    assert fixed(image, np.random.default_rng(1)).tobytes() == jpeg(image, quality).tobytes()
    import hinr.data.degrade as degrade

    seen = []
    monkeypatch.setattr(degrade, "jpeg", lambda im, q, subsampling=2: seen.append(subsampling) or im)
    for i in range(200):
        degradation("jpeg-any")(image, np.random.default_rng(i))
    assert len(seen) == 200 and 90 < seen.count(2) < 150 and seen.count(0) > 20 and seen.count(1) > 20
    seen.clear()
    for i in range(20):
        degradation("jpeg-all")(image, np.random.default_rng(i))
    assert seen == [2] * 20


def test_degraded_training_samples_keep_clean_targets():
    images = [photo(0), photo(1)]
    clean = SRCropDataset(images, config=SRSampleConfig(hr_size=128, queries=64), seed=3)
    dirty = SRCropDataset(images, config=SRSampleConfig(hr_size=128, queries=64, degrade="jpeg"), seed=3)
    differs = 0
    for i in range(8):
        a, b = clean[i], dirty[i]
        torch.testing.assert_close(a["target"], b["target"])
        torch.testing.assert_close(a["coords"], b["coords"])
        differs += not torch.equal(a["input"], b["input"])
    assert 0 < differs < 8
