"""Choosing a device and making runs reproducible."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

DEVICE_ENV = "THREATLAB_DEVICE"
_KNOWN_DEVICES = ("cpu", "cuda", "mps")


def get_device() -> torch.device:
    """Return the best available device: CUDA, then Apple MPS, then CPU.

    Set the environment variable ``THREATLAB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``)
    to override the choice.
    """
    override = os.environ.get(DEVICE_ENV, "").strip()
    if override:
        return _checked_device(override)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _checked_device(name: str) -> torch.device:
    """Parse a device name from the environment, failing with a clear message."""
    kind = name.split(":", 1)[0].lower()
    if kind not in _KNOWN_DEVICES:
        raise ValueError(
            f"{DEVICE_ENV}={name!r} is not a device ThreatLab knows; "
            f"expected one of {', '.join(_KNOWN_DEVICES)} (optionally with an index, e.g. 'cuda:0')."
        )
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{DEVICE_ENV}={name!r} asks for CUDA, but no CUDA GPU is available here.")
    index = name.split(":", 1)[1] if ":" in name else ""
    if kind == "cuda" and index.isdigit() and int(index) >= torch.cuda.device_count():
        raise ValueError(
            f"{DEVICE_ENV}={name!r}: there are only {torch.cuda.device_count()} CUDA device(s), "
            f"numbered 0..{torch.cuda.device_count() - 1}."
        )
    if kind == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ValueError(f"{DEVICE_ENV}={name!r} asks for MPS, but MPS is not available here.")
    try:
        return torch.device(name.lower())
    except RuntimeError as error:
        raise ValueError(
            f"{DEVICE_ENV}={name!r} is not a valid device string; expected e.g. 'cpu', 'cuda', "
            "'cuda:0' or 'mps'."
        ) from error


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and GPU) so a run can be repeated exactly."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
