"""Tests for threatlab.checks: every check accepts good input and explains bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from threatlab import (
    check_fraction,
    check_images,
    check_labels,
    check_membership,
    check_positive_int,
    check_scores,
)

# --- check_images -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1, 28, 28), (3, 3, 8, 8), (0, 1, 4, 4)])
def test_check_images_accepts_float_batches(shape):
    x = torch.rand(shape)
    assert check_images(x) is x


def test_check_images_accepts_exact_bounds_and_double():
    x = torch.tensor([0.0, 1.0], dtype=torch.float64).reshape(1, 1, 1, 2)
    assert check_images(x) is x


@pytest.mark.parametrize("bad", [np.zeros((1, 1, 2, 2), dtype=np.float32), [[0.5]], 0.5, None])
def test_check_images_rejects_non_tensors(bad):
    with pytest.raises(ValueError, match=r"torch\.Tensor") as info:
        check_images(bad)
    assert "(N, C, H, W)" in str(info.value)
    assert type(bad).__name__ in str(info.value)


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28), (2, 1, 1, 28, 28), (5,)])
def test_check_images_rejects_wrong_rank(shape):
    with pytest.raises(ValueError) as info:
        check_images(torch.rand(shape), name="images")
    message = str(info.value)
    assert message.startswith("images ")
    assert "(N, C, H, W)" in message
    assert str(tuple(shape)) in message


def test_check_images_single_image_hint():
    with pytest.raises(ValueError, match=r"unsqueeze\(0\)"):
        check_images(torch.rand(1, 28, 28))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64, torch.bool])
def test_check_images_rejects_non_float_dtype(dtype):
    x = torch.zeros(2, 1, 4, 4, dtype=dtype)
    with pytest.raises(ValueError, match="floating-point") as info:
        check_images(x)
    assert str(dtype) in str(info.value)


@pytest.mark.parametrize(("low", "high"), [(-0.5, 0.5), (0.0, 255.0), (0.0, 1.0001)])
def test_check_images_rejects_values_outside_unit_range(low, high):
    x = torch.full((1, 1, 2, 2), 0.5)
    x[0, 0, 0, 0] = low
    x[0, 0, 1, 1] = high
    with pytest.raises(ValueError, match=r"\[0, 1\]") as info:
        check_images(x)
    assert f"[{low:.3f}, {high:.3f}]" in str(info.value)


@pytest.mark.parametrize("special", [float("inf"), float("-inf")])
def test_check_images_rejects_infinities(special):
    x = torch.full((1, 1, 2, 2), 0.5)
    x[0, 0, 0, 1] = special
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_images(x)


def test_check_images_rejects_nan():
    """NaN compares False with both bounds, so a min/max range test lets it through."""
    x = torch.full((1, 1, 2, 2), 0.5)
    x[0, 0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match=r"\[0, 1\]") as info:
        check_images(x)
    assert str(info.value).startswith("x ")


# --- check_labels -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_check_labels_accepts_integer_vectors(dtype):
    y = torch.tensor([0, 3, 9], dtype=dtype)
    assert check_labels(y, 3) is y
    assert check_labels(y, 3, num_classes=10) is y


def test_check_labels_accepts_empty_with_num_classes():
    y = torch.empty(0, dtype=torch.long)
    assert check_labels(y, 0, num_classes=10) is y


@pytest.mark.parametrize("bad", [[0, 1, 2], np.array([0, 1, 2]), (0, 1, 2)])
def test_check_labels_rejects_non_tensors(bad):
    with pytest.raises(ValueError, match=r"torch\.Tensor of integer labels") as info:
        check_labels(bad, 3)
    assert type(bad).__name__ in str(info.value)


@pytest.mark.parametrize(
    "y", [torch.zeros(4, dtype=torch.long), torch.zeros(3, 1, dtype=torch.long)]
)
def test_check_labels_rejects_count_or_shape_mismatch(y):
    with pytest.raises(ValueError) as info:
        check_labels(y, 3, name="labels")
    message = str(info.value)
    assert message.startswith("labels ")
    assert "(3,)" in message
    assert str(tuple(y.shape)) in message


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_check_labels_rejects_float_and_bool(dtype):
    with pytest.raises(ValueError, match=r"torch\.long") as info:
        check_labels(torch.zeros(3, dtype=dtype), 3)
    assert str(dtype) in str(info.value)


@pytest.mark.parametrize(("values", "shown"), [([0, 10, 2], "[0, 10]"), ([-1, 0, 2], "[-1, 2]")])
def test_check_labels_rejects_out_of_range(values, shown):
    with pytest.raises(ValueError, match=r"0\.\.9") as info:
        check_labels(torch.tensor(values), 3, num_classes=10)
    assert shown in str(info.value)


def test_check_labels_without_num_classes_skips_range():
    y = torch.tensor([0, 42])
    assert check_labels(y, 2) is y


# --- check_fraction -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 0.0, 0.25, 1, 1.0, np.float64(0.5)])
def test_check_fraction_accepts_unit_interval(value):
    result = check_fraction(value, "eps")
    assert isinstance(result, float)
    assert result == float(value)


def test_check_fraction_accepts_numpy_float32():
    """np.float32 (e.g. from a float32 array of epsilons) is a number in [0, 1] too."""
    assert check_fraction(np.float32(0.25), "eps") == 0.25


@pytest.mark.parametrize("value", [-0.01, 1.01, 2, -1, float("nan"), float("inf"), float("-inf")])
def test_check_fraction_rejects_out_of_range(value):
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\]"):
        check_fraction(value, "eps")


@pytest.mark.parametrize("value", [True, False, "0.1", None, [0.1], torch.tensor([0.1, 0.2])])
def test_check_fraction_rejects_non_numbers(value):
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\]"):
        check_fraction(value, "rate")


def test_check_fraction_allow_zero_false():
    assert check_fraction(1e-9, "test_size", allow_zero=False) == 1e-9
    with pytest.raises(ValueError, match=r"test_size must be in \(0, 1\], got 0\.0"):
        check_fraction(0, "test_size", allow_zero=False)


# --- check_positive_int -------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 5, 10**6])
def test_check_positive_int_accepts(value):
    assert check_positive_int(value, "epochs") == value


def test_check_positive_int_accepts_numpy_integer():
    """np.int64 (e.g. looping over np.arange(1, 4)) is a positive integer too."""
    result = check_positive_int(np.int64(3), "epochs")
    assert result == 3
    assert type(result) is int


@pytest.mark.parametrize("value", [0, -3, 1.0, 2.5, True, "3", None])
def test_check_positive_int_rejects(value):
    with pytest.raises(ValueError, match="epochs must be a positive integer") as info:
        check_positive_int(value, "epochs")
    assert repr(value) in str(info.value)


# --- check_scores / check_membership ------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_check_scores_accepts_float_vectors(dtype):
    scores = torch.tensor([-1.0, 0.0, 2.5], dtype=dtype)
    assert check_scores(scores) is scores
    assert check_scores(torch.empty(0)).numel() == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros(3), r"torch\.Tensor of scores .* got ndarray"),
        ([0.1, 0.2], "got list"),
        (torch.zeros(3, 2), r"1-D \(one score per example\), got shape \(3, 2\)"),
        (torch.arange(3), r"floating-point tensor, got dtype torch\.int64"),
        (torch.tensor([0.0, float("nan")]), "finite"),
        (torch.tensor([0.0, -float("inf")]), "finite"),
    ],
)
def test_check_scores_rejects_bad_scores(bad, message):
    with pytest.raises(ValueError, match=message):
        check_scores(bad, "scores")


def test_check_scores_names_the_argument():
    with pytest.raises(ValueError, match="^phi must be"):
        check_scores(torch.zeros(2, 2), "phi")


def test_check_membership_accepts_mixed_bool_vectors():
    truth = torch.tensor([True, False, True])
    assert check_membership(truth, 3) is truth


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.tensor([1, 0, 1]), r"bool torch\.Tensor .* got torch\.int64"),
        (np.array([True, False, True]), "got ndarray"),
        (torch.tensor([True, False]), r"shape \(3,\), one entry per score, got \(2,\)"),
        (torch.ones(3, dtype=torch.bool), "both members"),
        (torch.zeros(3, dtype=torch.bool), "both members"),
    ],
)
def test_check_membership_rejects_bad_truth(bad, message):
    with pytest.raises(ValueError, match=message):
        check_membership(bad, 3)
