"""Tests for threatlab.device: device choice and reproducible seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from threatlab import get_device, seed_everything


@pytest.fixture
def no_accelerator(monkeypatch):
    """Pretend neither CUDA nor MPS is present, whatever machine runs the tests."""
    monkeypatch.delenv("THREATLAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_get_device_is_cpu_without_accelerator(no_accelerator):
    assert get_device() == torch.device("cpu")


def test_get_device_prefers_cuda_when_available(no_accelerator, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_get_device_uses_mps_when_no_cuda(no_accelerator, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert get_device() == torch.device("mps")


def test_get_device_on_this_machine_matches_torch(monkeypatch):
    monkeypatch.delenv("THREATLAB_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None:
        expected = "mps" if torch.backends.mps.is_available() else "cpu"
    assert get_device().type == expected


@pytest.mark.parametrize("value", ["cpu", "CPU", "  cpu  ", "cpu:0"])
def test_override_cpu(monkeypatch, value):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the override must win
    monkeypatch.setenv("THREATLAB_DEVICE", value)
    assert get_device().type == "cpu"


def test_blank_override_is_ignored(no_accelerator, monkeypatch):
    monkeypatch.setenv("THREATLAB_DEVICE", "   ")
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["tpu", "gpu", "xla:0"])
def test_unknown_override_names_the_expected_devices(monkeypatch, value):
    monkeypatch.setenv("THREATLAB_DEVICE", value)
    with pytest.raises(ValueError) as info:
        get_device()
    message = str(info.value)
    assert "THREATLAB_DEVICE" in message
    assert repr(value) in message
    for known in ("cpu", "cuda", "mps"):
        assert known in message


@pytest.mark.parametrize("value", ["cuda", "cuda:1"])
def test_cuda_override_without_cuda(no_accelerator, monkeypatch, value):
    monkeypatch.setenv("THREATLAB_DEVICE", value)
    with pytest.raises(ValueError, match="CUDA") as info:
        get_device()
    assert "not available" in str(info.value) or "no CUDA" in str(info.value)
    assert repr(value) in str(info.value)


def test_mps_override_without_mps(no_accelerator, monkeypatch):
    monkeypatch.setenv("THREATLAB_DEVICE", "mps")
    with pytest.raises(ValueError, match="MPS"):
        get_device()


def test_malformed_device_index_is_a_value_error(monkeypatch):
    """A typo in the index ('cpu:x', 'cuda:O') must give the friendly ValueError, not torch's
    RuntimeError('Invalid device string')."""
    monkeypatch.setenv("THREATLAB_DEVICE", "cpu:x")
    with pytest.raises(ValueError, match="THREATLAB_DEVICE"):
        get_device()


def _draw():
    return (torch.rand(5), np.random.rand(5), [random.random() for _ in range(5)])


def test_seed_everything_repeats_all_generators():
    seed_everything(123)
    first = _draw()
    seed_everything(123)
    second = _draw()
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert first[2] == second[2]


def test_different_seeds_give_different_draws():
    seed_everything(1)
    first = _draw()
    seed_everything(2)
    second = _draw()
    assert not torch.equal(first[0], second[0])
    assert not np.array_equal(first[1], second[1])
    assert first[2] != second[2]


def test_seed_accepts_numpy_integers_and_large_seeds():
    seed_everything(np.int64(7))
    a = torch.rand(3)
    seed_everything(7)
    assert torch.equal(a, torch.rand(3))
    seed_everything(2**32 + 5)  # NumPy only takes 32-bit seeds: must be reduced, not rejected
    b = np.random.rand(3)
    seed_everything(2**32 + 5)
    np.testing.assert_array_equal(b, np.random.rand(3))


@pytest.mark.parametrize("seed", [-1, True, False, 1.0, 0.5, "3", None, np.int64(-2)])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(seed)


def test_cuda_index_beyond_the_devices_present(monkeypatch):
    """`cuda:5` on a one-GPU machine fails at once with the valid range, not later inside torch."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("THREATLAB_DEVICE", "cuda:5")
    with pytest.raises(ValueError, match=r"only 1 CUDA device.*0\.\.0"):
        get_device()
