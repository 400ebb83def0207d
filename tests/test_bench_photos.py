"""benchmarks/bench_photos.py: the 16:9 preparation, the case list and the OpenCV skip rules
(no model, no photo folder, nothing timed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_photos as bench  # noqa: E402


def test_the_cases_are_the_issue_s_four_sizes():
    assert [(c.name, c.output) for c in bench.CASES] == [
        ("480x270x2", (960, 540)), ("480x270x4", (1920, 1080)),
        ("960x540x2", (1920, 1080)), ("960x540x4", (3840, 2160)),
    ]
    assert bench.Case.parse("960X540x4") == bench.Case(960, 540, 4)


@pytest.mark.parametrize("name", ["480x270", "480x270x3", "0x270x2", "axbx2"])
def test_a_bad_case_is_refused(name):
    with pytest.raises(argparse.ArgumentTypeError):
        bench.Case.parse(name)


@pytest.mark.parametrize("size", [(1280, 962), (1280, 800), (512, 512), (380, 254), (741, 500), (300, 1000)])
def test_the_crop_is_the_largest_centred_16_9_box(size):
    left, top, right, bottom = bench.crop_16_9(*size)
    w, h = right - left, bottom - top
    assert 0 <= left and 0 <= top and right <= size[0] and bottom <= size[1]
    assert abs(w / h - 16 / 9) < 2 / h  # as close as whole pixels allow
    assert w == size[0] or h == size[1] or w + 16 > size[0]  # no larger 16:9 box fits
    assert abs(left - (size[0] - right)) <= 1 and abs(top - (size[1] - bottom)) <= 1


def test_prepare_crops_before_resizing():
    # a 4:3 photo whose top and bottom bands are red: the 16:9 crop must cut them off
    photo = np.zeros((960, 1280, 3), np.uint8)
    photo[:120] = photo[-120:] = (255, 0, 0)
    photo[120:-120] = (0, 0, 255)
    small = np.asarray(bench.prepare(Image.fromarray(photo), (480, 270)))
    assert small.shape == (270, 480, 3)
    assert small[..., 0].max() == 0 and small[..., 2].min() == 255


def test_psnr_counts_only_photos_whose_crop_covers_the_output():
    assert bench.covers((1280, 962), (960, 540)) and bench.covers((1280, 962), (1280, 720))
    assert not bench.covers((1280, 962), (1920, 1080))
    assert not bench.covers((512, 512), (960, 540))


def test_opencv_rows_are_skipped_without_their_model(tmp_path):
    (tmp_path / "FSRCNN_x2.pb").write_bytes(b"")
    assert bench.opencv_model(str(tmp_path), "fsrcnn", 2) == tmp_path / "FSRCNN_x2.pb"
    assert bench.opencv_model(str(tmp_path), "fsrcnn", 4) is None
    assert bench.opencv_model(None, "lapsrn", 2) is None
    why = bench.opencv_missing(None)  # no folder, with or without cv2
    assert why is not None and ("--opencv-models" in why or "cv2.dnn_superres" in why)


def test_psnr_8bit():
    a = np.zeros((4, 4, 3), np.uint8)
    assert bench.psnr_8bit(a, a) == float("inf")
    assert bench.psnr_8bit(a, a + 1) == pytest.approx(20 * np.log10(255))
