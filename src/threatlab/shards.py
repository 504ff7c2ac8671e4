"""A dataset stored as numbered shard files, the way training data sits in a bucket or a data lake.

Each shard is one ``.npy`` file holding a structured array with an ``image`` field (float32, the
image's shape) and a ``label`` field (int64), so that a shard's bytes are exactly determined by its
examples: the same data always gives the same file and the same SHA-256 hash.
Provenance checks (hash manifests) and tampering exercises work on these files.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .checks import check_images, check_labels, check_positive_int

SHARD_GLOB = "shard-*.npy"


def _shard_dtype(image_shape: tuple[int, ...]) -> np.dtype:
    return np.dtype([("image", "<f4", image_shape), ("label", "<i8")])


def save_shard(path: str | os.PathLike[str], x: torch.Tensor, y: torch.Tensor) -> Path:
    """Write one shard: images ``x`` (N, C, H, W) in [0, 1] and labels ``y`` (N,) to ``path``.

    The file is a plain ``.npy`` file (no pickle), so ``np.load(path)`` reads it without
    ``allow_pickle``. Returns the path written.
    """
    check_images(x)
    check_labels(y, x.shape[0])
    path = Path(path)
    records = np.zeros(x.shape[0], dtype=_shard_dtype(tuple(x.shape[1:])))
    records["image"] = x.detach().cpu().float().numpy()
    records["label"] = y.detach().cpu().long().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        np.save(handle, records, allow_pickle=False)
    return path


def load_shard(path: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read one shard written by :func:`save_shard`: images (N, C, H, W) float32 and labels (N,) int64."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"shard {path} does not exist.")
    records = np.load(path, allow_pickle=False)
    names = records.dtype.names or ()
    if "image" not in names or "label" not in names:
        raise ValueError(
            f"{path} is not a ThreatLab shard (expected 'image' and 'label' fields, got {names})."
        )
    x = torch.from_numpy(np.ascontiguousarray(records["image"]))
    y = torch.from_numpy(np.ascontiguousarray(records["label"]))
    return x, y


def write_shards(
    x: torch.Tensor,
    y: torch.Tensor,
    folder: str | os.PathLike[str],
    *,
    shard_size: int = 500,
) -> list[Path]:
    """Split a dataset into consecutive shards ``shard-000.npy``, ``shard-001.npy``, ... in ``folder``.

    Shard ``k`` holds examples ``k * shard_size`` to ``(k + 1) * shard_size - 1`` (the last one may
    be shorter). ``folder`` is created if needed and must not already hold shards.
    Returns the shard paths in order.
    """
    check_images(x)
    check_labels(y, x.shape[0])
    check_positive_int(shard_size, "shard_size")
    if x.shape[0] == 0:
        raise ValueError("write_shards needs at least one example, got an empty dataset.")
    folder = Path(folder)
    if folder.is_dir() and any(folder.glob(SHARD_GLOB)):
        raise FileExistsError(
            f"{folder} already holds shards: write to an empty folder (or delete the old shards)."
        )
    count = (x.shape[0] + shard_size - 1) // shard_size
    if count > 1000:
        raise ValueError(
            f"{count} shards of {shard_size} examples: use a larger shard_size (at most 1000 shards)."
        )
    return [
        save_shard(
            folder / f"shard-{k:03d}.npy",
            x[k * shard_size : (k + 1) * shard_size],
            y[k * shard_size : (k + 1) * shard_size],
        )
        for k in range(count)
    ]


def shard_paths(folder: str | os.PathLike[str]) -> list[Path]:
    """The shard files in ``folder``, in name order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    return sorted(folder.glob(SHARD_GLOB))


def read_shards(folder: str | os.PathLike[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Read every shard in ``folder`` (in name order) back into one images tensor and one labels tensor."""
    paths = shard_paths(folder)
    if not paths:
        raise FileNotFoundError(f"{folder} holds no shard files ({SHARD_GLOB}).")
    parts = [load_shard(path) for path in paths]
    shapes = {tuple(x.shape[1:]) for x, _ in parts}
    if len(shapes) != 1:
        raise ValueError(
            f"the shards in {folder} hold images of different shapes: {sorted(shapes)}."
        )
    return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])
