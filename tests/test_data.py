"""Tests of hinr.data: CIFAR-10 reading and trust, photo folders, and super-resolution samples.

All offline and small: CIFAR-10 is a synthetic archive in the official format, photos are made here.
"""

from __future__ import annotations

import pickle
import tarfile
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from cifar_fixture import fake_cifar_images
from hinr.errors import HinrError
from hinr.data import (
    Cifar10Dataset,
    DatasetCorruptError,
    DatasetNotFoundError,
    EmptyDatasetError,
    HinrDataError,
    ImageFolderDataset,
    SRCropDataset,
    SRSampleConfig,
    eval_crops,
    find_cifar10,
    image_to_tensor,
    list_images,
    load_cifar10,
    load_rgb,
    make_eval_pair,
    read_manifest_split,
    select_images,
)
from hinr.data import cifar as cifar_module


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Fail any download attempt, and point the dataset cache and env var into tmp_path."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("HINR_DATA_DIR", raising=False)


# ---- CIFAR-10 -------------------------------------------------------------------------------


def expected_split(split: str, n: int) -> torch.Tensor:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return torch.from_numpy(np.concatenate([fake_cifar_images(name, n) for name in names]))


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_archive_round_trips_pixels_exactly(fake_cifar, split):
    archive, md5 = fake_cifar
    images = load_cifar10(archive, split=split, expected_md5=md5)
    assert images.dtype == torch.uint8
    assert images.shape == (20 if split == "train" else 4, 3, 32, 32)
    assert torch.equal(images, expected_split(split, 4))
    # the first byte of each 1024-byte plane is channel c's top-left pixel
    assert images[0, 1, 0, 0] == fake_cifar_images("data_batch_1" if split == "train" else "test_batch", 4)[0, 1, 0, 0]


def test_cifar_md5_mismatch_raises_before_unpickling(fake_cifar, monkeypatch):
    archive, _ = fake_cifar

    def never(*args, **kwargs):
        raise AssertionError("unpickled before the md5 check")

    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    monkeypatch.setattr(cifar_module, "_unpickle_batch", never)
    monkeypatch.setattr(cifar_module, "_read_archive_members", never)
    with pytest.raises(DatasetCorruptError, match="md5"):
        load_cifar10(archive, split="test")  # the official md5 cannot match the fake archive


def test_cifar_rejects_pickles_that_reference_other_globals(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": __import__("os").getcwd}, protocol=2))
    with pytest.raises(DatasetCorruptError, match="not a CIFAR-10 batch"):
        load_cifar10(folder, split="test")


def test_cifar_missing_offline_names_where_to_put_it(tmp_path, monkeypatch):
    """The download really is tried and fails at the network itself (not only at urlopen), so the
    test means the same on a machine that is online."""
    import socket

    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network blocked by the test")

    for name in ("getaddrinfo", "create_connection"):
        monkeypatch.setattr(socket, name, no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    # urllib's own machinery (the autouse fixture's stub would stop the request before a socket)
    def real_urlopen(url, timeout=None):
        return urllib.request.build_opener().open(url, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", real_urlopen)
    empty = tmp_path / "nothing_here"
    with pytest.raises(DatasetNotFoundError) as info:
        find_cifar10(empty)  # download=True: it tries, and the blocked socket refuses
    assert attempts, "find_cifar10 never tried to download"
    message = str(info.value)
    assert "\n" not in message
    assert str(tmp_path / "cache" / "hinr" / "datasets") in message and "cifar-10-python.tar.gz" in message
    assert str(empty) in message
    assert "--data-dir" in message and "HINR_DATA_DIR" in message
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        find_cifar10(empty, download=False)
    assert isinstance(info.value, HinrDataError) and isinstance(info.value, HinrError)


def test_cifar_search_order_and_dataset(fake_cifar, tmp_path, monkeypatch):
    archive, md5 = fake_cifar
    assert find_cifar10(tmp_path, download=False) == archive
    monkeypatch.setenv("HINR_DATA_DIR", str(tmp_path))
    assert find_cifar10(None, download=False) == archive
    dataset = Cifar10Dataset(split="test", download=False, expected_md5=md5)
    assert len(dataset) == 4
    item = dataset[2]
    assert item.dtype == torch.float32 and item.shape == (3, 32, 32)
    assert torch.allclose(item, expected_split("test", 4)[2].float() / 255)


def test_cifar_loads_from_extracted_folder(fake_cifar, tmp_path):
    archive, _ = fake_cifar
    out = tmp_path / "extracted"
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.12 and recent patch releases
            tar.extractall(out, filter="data")
        else:
            tar.extractall(out)
    assert find_cifar10(out, download=False) == out / "cifar-10-batches-py"
    for path in (out, out / "cifar-10-batches-py"):
        assert torch.equal(load_cifar10(path, split="train"), expected_split("train", 4))


def test_cifar_download_is_verified_and_renamed(fake_cifar, tmp_path, monkeypatch):
    archive, md5 = fake_cifar
    payload = archive.read_bytes()

    class Response:
        headers = {"Content-Length": str(len(payload))}

        def __init__(self):
            self.chunks = [payload]

        def read(self, size):
            return self.chunks.pop() if self.chunks else b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: Response())
    found = find_cifar10(tmp_path / "empty", expected_md5=md5)
    assert found == tmp_path / "cache" / "hinr" / "datasets" / "cifar-10-python.tar.gz"
    assert found.read_bytes() == payload and list(found.parent.iterdir()) == [found]
    found.unlink()
    with pytest.raises(DatasetCorruptError, match="md5"):
        find_cifar10(tmp_path / "empty")  # the official md5 does not match the fake payload
    assert list(found.parent.iterdir()) == []  # no half-written file left behind


# ---- folders of photos ----------------------------------------------------------------------


def gradient(width: int, height: int) -> Image.Image:
    """RGB image whose red is the column, green the row and blue 7 (mod 256)."""
    x, y = np.meshgrid(np.arange(width), np.arange(height))
    array = np.stack([x % 256, y % 256, np.full_like(x, 7)], axis=-1).astype(np.uint8)
    return Image.fromarray(array)


def test_list_images_recursive_sorted_and_errors(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ["a.PNG", "b/c.jpg", "b/deep/d.JpEg", "e.webp", "f.bmp"]:
        suffix = name.rsplit(".", 1)[1].lower()
        gradient(4, 4).save(tmp_path / name, format={"webp": "WEBP", "bmp": "BMP", "png": "PNG"}.get(suffix, "JPEG"))
    (tmp_path / "notes.txt").write_text("x")
    found = list_images(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.PNG", "b/c.jpg", "b/deep/d.JpEg", "e.webp", "f.bmp"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmptyDatasetError, match="empty"):
        list_images(tmp_path / "empty")
    with pytest.raises(DatasetNotFoundError, match="missing"):
        list_images(tmp_path / "missing")


def test_load_rgb_converts_every_mode(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = [[255, 0], [128, 255]]
    cases = {
        "rgba.png": (Image.fromarray(rgba, "RGBA"), [[200, 0], [100, 200]]),
        "grey.png": (Image.fromarray(np.full((2, 2), 90, np.uint8), "L"), 90),
        "la.png": (Image.fromarray(np.dstack([np.full((2, 2), 90, np.uint8), np.full((2, 2), 255, np.uint8)]), "LA"), 90),
        "grey16.png": (Image.fromarray(np.full((2, 2), 65535, np.uint16)), 255),
        "grey16_mid.png": (Image.fromarray(np.full((2, 2), 257 * 40, np.uint16)), 40),
    }
    palette = Image.new("P", (2, 2), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    cases["palette.png"] = (palette, None)
    for name, (image, _) in cases.items():
        image.save(tmp_path / name)
    for name, (_, expected) in cases.items():
        loaded = load_rgb(tmp_path / name)
        assert loaded.mode == "RGB" and loaded.size == (2, 2), name
        array = np.asarray(loaded)
        if name == "palette.png":
            assert (array == [10, 20, 30]).all()
        elif name == "rgba.png":
            assert (array == np.array(expected)[..., None]).all()
        else:
            assert (array == expected).all(), (name, array[0, 0])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(DatasetCorruptError, match="broken.png"):
        load_rgb(tmp_path / "broken.png")


def test_load_rgb_refuses_a_decompression_bomb_in_one_line(tmp_path, monkeypatch):
    Image.fromarray(np.zeros((60, 60, 3), np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 3600 px > 2 × 1000: Pillow refuses
    with pytest.raises(DatasetCorruptError, match="too large") as info:
        load_rgb(tmp_path / "big.png")
    assert str(tmp_path / "big.png") in str(info.value)


def test_manifest_split(tmp_path):
    for name in ["a.png", "b.png", "c.png"]:
        gradient(8, 8).save(tmp_path / name)
    (tmp_path / "MANIFEST.tsv").write_text("file\tsplit\tsize\na.png\ttrain\t8x8\nb.png\tval\t8x8\nc.png\ttrain\t8x8\n")
    assert read_manifest_split(tmp_path, "train") == [tmp_path / "a.png", tmp_path / "c.png"]
    assert select_images(tmp_path, split="val") == [tmp_path / "b.png"]
    with pytest.raises(EmptyDatasetError, match="train"):
        read_manifest_split(tmp_path, "test")
    (tmp_path / "MANIFEST.tsv").unlink()
    assert len(select_images(tmp_path, split="train")) == 3  # no manifest: the whole folder
    with pytest.raises(DatasetNotFoundError, match="MANIFEST.tsv"):
        read_manifest_split(tmp_path, "train")


def test_image_folder_dataset_crops_and_seeds(tmp_path):
    gradient(40, 50).save(tmp_path / "big.png")
    gradient(10, 20).save(tmp_path / "small.png")
    data = ImageFolderDataset.from_folder(tmp_path, crop=16, samples_per_epoch=6, seed=3)
    assert len(data) == 6
    items = [data[i] for i in range(6)]
    assert all(x.shape == (3, 16, 16) and 0 <= x.min() and x.max() <= 1 for x in items)
    assert torch.equal(ImageFolderDataset.from_folder(tmp_path, crop=16, samples_per_epoch=6, seed=3)[4], items[4])
    big = items[0] * 255  # a plain crop of the gradient: red steps by one per column
    assert torch.equal(big[0, :, 1:] - big[0, :, :-1], torch.ones(16, 15))
    data.set_epoch(1)
    assert any(not torch.equal(data[i], items[i]) for i in range(6))


# ---- super-resolution samples ---------------------------------------------------------------


def test_sr_sample_shapes_ranges_and_cell():
    photos = [gradient(300, 200), gradient(120, 160)]
    config = SRSampleConfig(hr_size=96, queries=50)
    data = SRCropDataset(photos, config=config, samples_per_epoch=8, seed=0)
    for i in range(8):
        item = data[i]
        assert item["input"].shape == (3, 32, 32) and item["coords"].shape == (50, 2)
        assert item["target"].shape == (50, 3) and item["cell"].shape == (2,)
        for key in ("input", "coords", "target"):
            assert item[key].dtype == torch.float32 and 0 <= item[key].min() and item[key].max() <= 1
        side = data.hr_crop(i).size[0]
        assert 32 <= side <= 96
        assert torch.allclose(item["cell"], torch.tensor([1 / side, 1 / side]))


def test_sr_is_deterministic_by_seed_epoch_and_index():
    photos = [gradient(200, 150)]
    config = SRSampleConfig(hr_size=64, queries=20, rot90=True)
    a = SRCropDataset(photos, config=config, samples_per_epoch=4, seed=5)
    b = SRCropDataset(photos, config=config, samples_per_epoch=4, seed=5)
    for index in [3, 0, 2]:  # order of drawing must not matter
        for key, value in a[index].items():
            assert torch.equal(value, b[index][key])
    c = SRCropDataset(photos, config=config, samples_per_epoch=4, seed=6)
    assert not torch.equal(a[0]["coords"], c[0]["coords"])
    first = a[1]["coords"]
    a.set_epoch(1)
    assert not torch.equal(a[1]["coords"], first)


def test_sr_rot90_turns_crops_by_quarter_turns_only_when_asked():
    photo = gradient(180, 140)  # red grows with the column, green with the row

    def orientations(rot90: bool) -> set[tuple[int, int]]:
        config = SRSampleConfig(hr_size=64, queries=8, random_downscale=(1.0, 1.0), hflip=False,
                                rot90=rot90)
        data = SRCropDataset([photo], config=config, samples_per_epoch=24, seed=2)
        seen = set()
        for i in range(24):
            hr = np.asarray(data.hr_crop(i)).astype(np.int64)
            # a literal window turned by k quarter turns: each channel steps by ±1 along one axis
            red_x, red_y = np.diff(hr[..., 0], axis=1), np.diff(hr[..., 0], axis=0)
            assert (abs(red_x) == 1).all() and (red_y == 0).all() or (abs(red_y) == 1).all() and (red_x == 0).all()
            axis = 1 if (red_y == 0).all() else 0
            seen.add((axis, int(np.sign(np.diff(hr[..., 0], axis=axis).flat[0]))))
        return seen

    assert orientations(False) == {(1, 1)}  # upright: red grows to the right
    assert orientations(True) == {(1, 1), (0, -1), (1, -1), (0, 1)}  # all four turns occur


def test_sr_rgb_permute_reorders_channels_and_leaves_the_rest_as_drawn():
    photo = gradient(180, 140)  # red = column, green = row, blue constant: each channel tells
    plain = SRSampleConfig(hr_size=64, queries=8, rot90=True)
    permuted = SRSampleConfig(hr_size=64, queries=8, rot90=True, rgb_permute=True)
    a = SRCropDataset([photo], config=plain, samples_per_epoch=24, seed=4)
    b = SRCropDataset([photo], config=permuted, samples_per_epoch=24, seed=4)
    orders = set()
    for i in range(24):
        hr_a, hr_b = np.asarray(a.hr_crop(i)), np.asarray(b.hr_crop(i))
        # the same crop, zoom and turn: only the channels' order differs
        order = tuple(next(j for j in range(3) if np.array_equal(hr_b[..., c], hr_a[..., j])) for c in range(3))
        assert sorted(order) == [0, 1, 2]
        orders.add(order)
        assert torch.equal(a[i]["coords"], b[i]["coords"])  # the queries are drawn as before
        assert torch.equal(b[i]["target"], a[i]["target"][:, list(order)])  # the targets follow
    assert (0, 1, 2) in orders and len(orders) >= 4  # all orders occur, unpermuted among them


def test_sr_random_downscale_caps_the_zoom():
    photo = gradient(240, 200)  # red = column: a crop seen at zoom r steps by about 1/r a pixel
    for high, low_step in ((1.0, 0.99), (0.5, 1.95)):
        config = SRSampleConfig(hr_size=64, queries=8, random_downscale=(1e-6, high), hflip=False)
        data = SRCropDataset([photo], config=config, samples_per_epoch=16, seed=3)
        steps = [np.diff(np.asarray(data.hr_crop(i))[..., 0].astype(float), axis=1).mean() for i in range(16)]
        assert min(steps) >= low_step
    assert max(steps) > 2.5  # zooms below the cap occur too


def test_sr_pixel_targets_are_exact_hr_pixels_and_input_is_pil_bicubic():
    photo = gradient(180, 140)
    config = SRSampleConfig(hr_size=64, queries=200, random_downscale=(1.0, 1.0), hflip=False)
    data = SRCropDataset([photo], config=config, samples_per_epoch=3, seed=1)
    for i in range(3):
        item, crop = data[i], data.hr_crop(i)
        side = crop.size[0]
        hr = np.asarray(crop).astype(np.int64)
        # no zoom and no flip: the crop is a literal window of the gradient
        assert (np.diff(hr[..., 0], axis=1) == 1).all() and (np.diff(hr[..., 1], axis=0) == 1).all()
        cols = (item["coords"][:, 0] * side - 0.5).round().long()
        rows = (item["coords"][:, 1] * side - 0.5).round().long()
        assert torch.allclose(item["coords"][:, 0], (cols + 0.5) / side)  # exact pixel centres
        expected = torch.from_numpy(hr[rows.numpy(), cols.numpy()]).float() / 255
        assert torch.equal(item["target"], expected)
        assert torch.equal(item["input"], image_to_tensor(crop.resize((32, 32), Image.BICUBIC)))


def test_sr_bilinear_targets_match_grid_sample_at_pixel_centres():
    photo = gradient(100, 100)
    config = SRSampleConfig(hr_size=48, queries=64, target_mode="bilinear", random_downscale=(1.0, 1.0))
    data = SRCropDataset([photo], config=config, seed=2)
    item, crop = data[0], data.hr_crop(0)
    side = crop.size[0]
    hr = image_to_tensor(crop)
    # away from the border, bilinear sampling of a linear ramp is the ramp itself
    inner = ((item["coords"] * side > 1) & (item["coords"] * side < side - 1)).all(dim=1)
    x = item["coords"][inner, 0] * side - 0.5
    first_red = hr[0, 0, 0]
    step = hr[0, 0, 1] - hr[0, 0, 0]
    assert torch.allclose(item["target"][inner, 0], first_red + step * x, atol=1e-4)


def test_sr_config_validation():
    with pytest.raises(ValueError, match="hr_size"):
        SRSampleConfig(hr_size=64, max_scale=4)
    with pytest.raises(ValueError, match="target_mode"):
        SRSampleConfig(target_mode="nearest")
    with pytest.raises(EmptyDatasetError):
        SRCropDataset([])


def test_make_eval_pair_and_eval_crops():
    photo = gradient(300, 200)
    low, hr = make_eval_pair(photo, 4)
    assert low.shape == (3, 32, 32) and hr.shape == (3, 128, 128)
    centre = photo.crop((50, 0, 250, 200))
    assert torch.equal(low, image_to_tensor(centre.resize((32, 32), Image.BICUBIC)))
    crops = eval_crops(photo, 1)
    assert len(crops) == 1 and crops[0].size == (200, 200)
    many = eval_crops(photo, 9)
    assert len(many) == 9 and len({c.size for c in many}) >= 2
    assert [np.asarray(c).tobytes() for c in many] == [np.asarray(c).tobytes() for c in eval_crops(photo, 9)]
    with pytest.raises(ValueError, match="fewer"):
        eval_crops(photo, 10_000)
