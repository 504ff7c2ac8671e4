"""Tests for threatlab.shards: a dataset as shard files whose bytes depend only on the data."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from threatlab import load_shard, read_shards, save_shard, shard_paths, write_shards


@pytest.fixture
def data():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(23, 1, 4, 4, generator=generator)
    y = torch.randint(0, 10, (23,), generator=generator)
    return x, y


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_is_exact(data, tmp_path):
    x, y = data
    paths = write_shards(x, y, tmp_path / "shards", shard_size=10)
    assert [p.name for p in paths] == ["shard-000.npy", "shard-001.npy", "shard-002.npy"]
    assert shard_paths(tmp_path / "shards") == paths
    x2, y2 = read_shards(tmp_path / "shards")
    assert torch.equal(x2, x) and torch.equal(y2, y)
    assert x2.dtype == torch.float32 and y2.dtype == torch.int64
    xs, ys = load_shard(paths[2])
    assert torch.equal(xs, x[20:]) and torch.equal(ys, y[20:]), "the last shard holds the rest"


def test_same_data_same_bytes(data, tmp_path):
    """A manifest of hashes is only useful if unchanged data always hashes the same."""
    x, y = data
    first = write_shards(x, y, tmp_path / "a", shard_size=8)
    second = write_shards(x.clone(), y.clone(), tmp_path / "b", shard_size=8)
    assert [_digest(p) for p in first] == [_digest(p) for p in second]


def test_one_changed_pixel_or_label_changes_only_its_shard(data, tmp_path):
    x, y = data
    clean = write_shards(x, y, tmp_path / "clean", shard_size=8)
    x_bad, y_bad = x.clone(), y.clone()
    x_bad[3, 0, 1, 1] = 1.0 - x_bad[3, 0, 1, 1]  # shard 0
    y_bad[17] = (y_bad[17] + 1) % 10  # shard 2
    bad = write_shards(x_bad, y_bad, tmp_path / "bad", shard_size=8)
    changed = [p.name for p, q in zip(clean, bad, strict=True) if _digest(p) != _digest(q)]
    assert changed == ["shard-000.npy", "shard-002.npy"]


def test_shards_load_without_pickle(data, tmp_path):
    x, y = data
    path = save_shard(tmp_path / "one.npy", x[:5], y[:5])
    records = np.load(path, allow_pickle=False)
    assert records.dtype.names == ("image", "label")
    assert records["image"].shape == (5, 1, 4, 4)


def test_rgb_images_keep_their_shape(tmp_path):
    x, y = torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 2, 3])
    write_shards(x, y, tmp_path, shard_size=3)
    x2, y2 = read_shards(tmp_path)
    assert x2.shape == (4, 3, 8, 8) and torch.equal(x2, x) and torch.equal(y2, y)


def test_refuses_to_mix_with_existing_shards(data, tmp_path):
    x, y = data
    write_shards(x, y, tmp_path, shard_size=10)
    with pytest.raises(FileExistsError, match="already holds shards"):
        write_shards(x, y, tmp_path, shard_size=10)


@pytest.mark.parametrize(
    ("x", "y", "size", "match"),
    [
        (torch.rand(3, 4, 4), torch.zeros(3, dtype=torch.long), 2, r"\(N, C, H, W\)"),
        (torch.rand(3, 1, 4, 4) * 2, torch.zeros(3, dtype=torch.long), 2, r"\[0, 1\]"),
        (torch.rand(3, 1, 4, 4), torch.zeros(2, dtype=torch.long), 2, r"shape \(3,\)"),
        (torch.rand(3, 1, 4, 4), torch.zeros(3), 2, "integer"),
        (torch.rand(3, 1, 4, 4), torch.zeros(3, dtype=torch.long), 0, "positive integer"),
        (torch.rand(0, 1, 4, 4), torch.zeros(0, dtype=torch.long), 2, "at least one"),
    ],
)
def test_bad_input_is_explained(tmp_path, x, y, size, match):
    with pytest.raises(ValueError, match=match):
        write_shards(x, y, tmp_path, shard_size=size)


def test_missing_folder_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a folder"):
        read_shards(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no shard files"):
        read_shards(tmp_path)
    np.save(tmp_path / "shard-000.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not a ThreatLab shard"):
        read_shards(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_shard(tmp_path / "shard-999.npy")


def test_shards_of_different_image_shapes_are_refused(tmp_path):
    save_shard(tmp_path / "shard-000.npy", torch.rand(2, 1, 4, 4), torch.tensor([0, 1]))
    save_shard(tmp_path / "shard-001.npy", torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="different shapes"):
        read_shards(tmp_path)
