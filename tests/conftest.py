"""Shared pytest fixtures."""

from __future__ import annotations

import pytest

from cifar_fixture import make_fake_cifar


@pytest.fixture
def fake_cifar(tmp_path):
    """A tiny offline CIFAR-10 archive in the official format: (archive path, md5), 4 images a batch."""
    return make_fake_cifar(tmp_path, n_per_batch=4)
