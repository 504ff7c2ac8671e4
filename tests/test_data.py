"""Tests for threatlab.data: offline loaders, stratified splits and the SHA-256 manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
import uuid
from pathlib import Path

import pytest
import torch

from threatlab import DatasetIntegrityError, Split, load_breast_cancer, load_digits, load_mnist
from threatlab import data as data_module

REPO_MANIFEST = Path(__file__).resolve().parents[1] / "datasets" / "manifest.json"


def _repo_manifest() -> dict:
    return json.loads(REPO_MANIFEST.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _real_manifest(monkeypatch):
    """Every test starts from the repository's manifest unless it points elsewhere itself."""
    monkeypatch.delenv("THREATLAB_MANIFEST", raising=False)


@pytest.fixture(scope="module")
def mnist() -> Split:
    return load_mnist()


@pytest.fixture(scope="module")
def digits() -> Split:
    return load_digits()


def _rows(x: torch.Tensor) -> set[bytes]:
    return {row.numpy().tobytes() for row in x}


# --- MNIST ------------------------------------------------------------------------------


def test_mnist_shapes_and_dtypes(mnist):
    assert isinstance(mnist, Split)
    assert mnist.x_train.shape == (4000, 1, 28, 28)
    assert mnist.x_test.shape == (1000, 1, 28, 28)
    assert mnist.y_train.shape == (4000,)
    assert mnist.y_test.shape == (1000,)
    assert mnist.x_train.dtype == mnist.x_test.dtype == torch.float32
    assert mnist.y_train.dtype == mnist.y_test.dtype == torch.int64


def test_mnist_pixels_scaled_to_unit_range(mnist):
    for x in (mnist.x_train, mnist.x_test):
        assert x.min().item() == 0.0
        assert x.max().item() == 1.0  # 255 / 255: scaled, and scaled by the right constant
        assert torch.isfinite(x).all()


def test_mnist_is_stratified(mnist):
    assert torch.bincount(mnist.y_test, minlength=10).tolist() == [100] * 10
    assert torch.bincount(mnist.y_train, minlength=10).tolist() == [400] * 10


def test_mnist_train_and_test_do_not_overlap(mnist):
    train_rows, test_rows = _rows(mnist.x_train), _rows(mnist.x_test)
    assert len(train_rows) == 4000 and len(test_rows) == 1000
    assert not train_rows & test_rows


def test_mnist_is_deterministic_per_seed(mnist):
    again = load_mnist(seed=0)
    for a, b in zip(mnist, again, strict=True):
        assert torch.equal(a, b)
    other = load_mnist(seed=1)
    assert not torch.equal(mnist.y_test, other.y_test)
    assert _rows(mnist.x_test) != _rows(other.x_test)
    # Same images overall, just split differently.
    assert _rows(mnist.x_train) | _rows(mnist.x_test) == _rows(other.x_train) | _rows(other.x_test)


def test_mnist_custom_test_size():
    split = load_mnist(test_size=0.1, seed=2)
    assert len(split.x_test) == 500 and len(split.x_train) == 4500
    assert torch.bincount(split.y_test, minlength=10).tolist() == [50] * 10


def test_split_unpacks_and_reprs(mnist):
    x_train, y_train, x_test, y_test = mnist
    assert x_train is mnist.x_train and y_test is mnist.y_test
    assert y_train is mnist.y_train and x_test is mnist.x_test
    text = repr(mnist)
    assert "(4000, 1, 28, 28)" in text and "(1000, 1, 28, 28)" in text and "classes=10" in text


def test_returned_tensors_do_not_share_the_cache():
    first = load_digits(seed=4)
    first.x_train.zero_()
    first.y_train.zero_()
    second = load_digits(seed=4)
    assert second.x_train.max().item() == 1.0
    assert second.y_train.max().item() == 9


# --- digits -----------------------------------------------------------------------------


def test_digits_shapes_and_range(digits):
    assert digits.x_train.shape == (1437, 1, 8, 8)
    assert digits.x_test.shape == (360, 1, 8, 8)
    assert digits.x_train.dtype == torch.float32 and digits.y_train.dtype == torch.int64
    assert digits.x_train.min().item() == 0.0
    assert digits.x_train.max().item() == 1.0  # 16 / 16
    assert set(digits.y_test.tolist()) == set(range(10))


def test_digits_deterministic_and_seed_dependent(digits):
    assert torch.equal(load_digits(seed=0).x_test, digits.x_test)
    assert not torch.equal(load_digits(seed=5).x_test, digits.x_test)


@pytest.mark.parametrize("test_size", [0, 0.0, -0.2, 1, 1.0, 1.5, float("nan"), True, "0.2", None])
def test_test_size_validation(test_size):
    with pytest.raises(ValueError, match="test_size"):
        load_digits(test_size=test_size)
    with pytest.raises(ValueError, match="test_size"):
        load_mnist(test_size=test_size)


# --- manifest and integrity -------------------------------------------------------------


def test_manifest_path_default_and_override(monkeypatch, tmp_path):
    assert data_module.manifest_path().resolve() == REPO_MANIFEST
    other = tmp_path / "m.json"
    monkeypatch.setenv("THREATLAB_MANIFEST", str(other))
    assert data_module.manifest_path() == other


def test_sha256_file_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 5000  # > 1 MiB, so several read blocks
    path.write_bytes(payload)
    assert data_module.sha256_file(path) == hashlib.sha256(payload).hexdigest()


@pytest.mark.parametrize(
    "name", sorted(n for n, e in _repo_manifest()["datasets"].items() if "file" in e)
)
def test_real_manifest_matches_installed_files(name):
    entry = _repo_manifest()["datasets"][name]
    path = data_module.dataset_file(name)
    assert path.is_file()
    assert data_module.sha256_file(path) == entry["sha256"]
    assert data_module.verified_file(name) == path


def test_manifest_shapes_match_loaded_data(mnist, digits):
    entries = _repo_manifest()["datasets"]
    for split, name, side in ((mnist, "mnist", 28), (digits, "digits", 8)):
        rows, columns = entries[name]["shape"]
        assert len(split.x_train) + len(split.x_test) == rows
        assert side * side + 1 == columns


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(KeyError, match="nope") as info:
        data_module.dataset_entry("nope")
    assert "digits" in str(info.value) and "mnist" in str(info.value)


def _use_manifest(tmp_path: Path, monkeypatch, datasets: dict) -> Path:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"datasets": datasets}), encoding="utf-8")
    monkeypatch.setenv("THREATLAB_MANIFEST", str(path))
    return path


def test_wrong_pinned_hash_is_refused(mnist, tmp_path, monkeypatch):
    """The real file, a manifest pinning another hash: the loader must refuse it."""
    manifest = _repo_manifest()
    real_sha = manifest["datasets"]["mnist"]["sha256"]
    real_path = data_module.dataset_file("mnist")
    wrong_sha = real_sha[::-1]
    assert wrong_sha != real_sha
    manifest["datasets"]["mnist"]["sha256"] = wrong_sha
    _use_manifest(tmp_path, monkeypatch, manifest["datasets"])
    with pytest.raises(DatasetIntegrityError) as info:
        load_mnist()
    message = str(info.value)
    assert str(real_path) in message
    assert real_sha in message  # what the file actually hashes to
    assert wrong_sha in message  # what the manifest pins
    assert "'mnist'" in message


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable, throw-away package to hold copies of dataset files."""
    name = f"threatlab_fake_{uuid.uuid4().hex[:12]}"
    root = tmp_path / "site"
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    monkeypatch.syspath_prepend(str(root))
    yield name, package
    sys.modules.pop(name, None)


def test_tampered_file_is_refused_even_after_a_cached_load(fake_package, tmp_path, monkeypatch):
    """Load a verified copy (so its parse is cached), then alter it: the next load must
    re-hash the file and refuse it rather than serve the cached table."""
    name, package = fake_package
    entry = dict(_repo_manifest()["datasets"]["digits"])
    real_sha = entry["sha256"]
    copy = package / "data" / "digits.csv.gz"
    copy.parent.mkdir()
    shutil.copyfile(data_module.dataset_file("digits"), copy)
    entry.update(package=name, file="data/digits.csv.gz")
    _use_manifest(tmp_path, monkeypatch, {"digits": entry})
    assert data_module.dataset_file("digits") == copy.resolve()

    misses = data_module._read_csv_gz.cache_info().misses
    clean = load_digits()
    assert data_module._read_csv_gz.cache_info().misses == misses + 1  # parsed and cached
    assert clean.x_train.shape == (1437, 1, 8, 8)

    # Poison one label, keep the file a valid gzipped CSV of the same shape.
    lines = gzip.decompress(copy.read_bytes()).decode().splitlines()
    cells = lines[0].split(",")
    cells[-1] = "9" if cells[-1].strip() not in ("9", "9.0") else "1"
    lines[0] = ",".join(cells)
    copy.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    tampered_sha = data_module.sha256_file(copy)
    assert tampered_sha != real_sha

    with pytest.raises(DatasetIntegrityError) as info:
        load_digits()
    message = str(info.value)
    assert str(copy.resolve()) in message
    assert real_sha in message
    assert tampered_sha in message
    with pytest.raises(DatasetIntegrityError):
        data_module.verified_file("digits")


def test_tampered_mnist_copy_is_refused(fake_package, tmp_path, monkeypatch):
    name, package = fake_package
    entry = dict(_repo_manifest()["datasets"]["mnist"])
    copy = package / "mnist.csv.gz"
    payload = bytearray(data_module.dataset_file("mnist").read_bytes())
    payload[-10] ^= 0xFF  # flip one byte
    copy.write_bytes(bytes(payload))
    entry.update(package=name, file="mnist.csv.gz")
    _use_manifest(tmp_path, monkeypatch, {"mnist": entry})
    with pytest.raises(DatasetIntegrityError) as info:
        load_mnist()
    message = str(info.value)
    assert str(copy.resolve()) in message
    assert entry["sha256"] in message
    assert data_module.sha256_file(copy) in message


def test_missing_file_is_an_integrity_error(fake_package, tmp_path, monkeypatch):
    name, package = fake_package
    entry = dict(_repo_manifest()["datasets"]["digits"], package=name, file="gone.csv.gz")
    _use_manifest(tmp_path, monkeypatch, {"digits": entry})
    with pytest.raises(DatasetIntegrityError, match="missing") as info:
        load_digits()
    assert str(package.resolve() / "gone.csv.gz") in str(info.value)


# --- breast cancer (tabular) ------------------------------------------------------------


def test_breast_cancer_is_standardised_stratified_and_deterministic():
    split = load_breast_cancer()
    rows, columns = _repo_manifest()["datasets"]["breast_cancer"]["shape"]
    assert split.x_train.shape == (455, columns - 1) and split.x_test.shape == (114, columns - 1)
    assert len(split.x_train) + len(split.x_test) == rows
    assert split.x_train.dtype == torch.float64 and split.y_train.dtype == torch.int64
    # Standardised with the training split's statistics only.
    assert torch.allclose(split.x_train.mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(split.x_train.std(0, unbiased=False), torch.ones(30, dtype=torch.float64))
    assert not torch.allclose(split.x_test.mean(0), torch.zeros(30, dtype=torch.float64), atol=1e-3)
    # 212 malignant (0) and 357 benign (1), split in proportion.
    assert torch.bincount(split.y_train).tolist() + torch.bincount(split.y_test).tolist() == [
        170,
        285,
        42,
        72,
    ]
    again = load_breast_cancer(seed=0)
    assert all(torch.equal(a, b) for a, b in zip(split, again, strict=True))
    assert not torch.equal(load_breast_cancer(seed=1).x_test, split.x_test)
