"""Tests for threatlab.shadow: balanced inclusion masks and the shadow-model training loop."""

from __future__ import annotations

import pytest
import torch

from threatlab import MLP, accuracy, inclusion_masks, load_digits, train_models


@pytest.fixture(scope="module")
def digits():
    """300 of the 8x8 digits."""
    split = load_digits(seed=0)
    return split.x_train[:300], split.y_train[:300]


def _mlp() -> MLP:
    return MLP(64, hidden=(16,))


@pytest.mark.parametrize(("n_models", "n_examples"), [(2, 1), (4, 10), (16, 301)])
def test_every_example_is_in_exactly_half_of_the_models(n_models, n_examples):
    masks = inclusion_masks(n_models, n_examples, seed=3)
    assert masks.dtype == torch.bool and masks.shape == (n_models, n_examples)
    assert torch.equal(masks.sum(0), torch.full((n_examples,), n_models // 2))


def test_models_train_on_about_half_of_the_examples():
    masks = inclusion_masks(16, 2000, seed=0)
    sizes = masks.sum(1).float()
    assert ((sizes - 1000).abs() < 100).all(), sizes
    # Different models get different halves.
    assert len({tuple(row.nonzero().flatten().tolist()) for row in masks}) == 16


def test_masks_depend_only_on_the_seed():
    torch.manual_seed(0)
    a = inclusion_masks(8, 50, seed=1)
    torch.manual_seed(123)
    b = inclusion_masks(8, 50, seed=1)
    assert torch.equal(a, b)
    assert not torch.equal(a, inclusion_masks(8, 50, seed=2))


@pytest.mark.parametrize(
    ("n_models", "n_examples", "message"),
    [
        (3, 10, "even"),
        (0, 10, "n_models must be a positive integer"),
        (1, 10, "even and at least 2"),
        (4, 0, "n_examples must be a positive integer"),
        (2.0, 10, "n_models must be a positive integer"),
    ],
)
def test_inclusion_masks_rejects_bad_sizes(n_models, n_examples, message):
    with pytest.raises(ValueError, match=message):
        inclusion_masks(n_models, n_examples)


def test_train_models_trains_each_model_on_its_own_rows(digits):
    x, y = digits
    masks = inclusion_masks(4, len(x), seed=0)
    models = train_models(_mlp, x, y, masks, epochs=30, batch_size=32, lr=1e-2, seed=0)
    assert len(models) == 4
    assert all(not m.training for m in models)
    # Each model fits its own half better than the other half (it has memorised it).
    for model, row in zip(models, masks, strict=True):
        seen, unseen = accuracy(model, x[row], y[row]), accuracy(model, x[~row], y[~row])
        assert seen > 0.95 and unseen < seen - 0.03
    weights = [m.head.weight for m in models]
    assert not torch.equal(weights[0], weights[1])


def test_train_models_is_reproducible_and_uses_the_seed(digits):
    x, y = digits
    masks = inclusion_masks(2, len(x), seed=0)
    run = [train_models(_mlp, x, y, masks, epochs=2, seed=5) for _ in range(2)]
    other = train_models(_mlp, x, y, masks, epochs=2, seed=6)
    for a, b in zip(*run, strict=True):
        assert torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(run[0][0].head.weight, other[0].head.weight)


def test_train_models_moves_models_to_the_device(digits):
    x, y = digits
    masks = inclusion_masks(2, len(x), seed=0)
    models = train_models(_mlp, x, y, masks, epochs=1, device="cpu")
    assert all(next(m.parameters()).device.type == "cpu" for m in models)


def test_train_models_rejects_bad_input(digits):
    x, y = digits
    good = inclusion_masks(2, len(x))
    with pytest.raises(ValueError, match="bool tensor of shape"):
        train_models(_mlp, x, y, good.int(), epochs=1)
    with pytest.raises(ValueError, match="one column per example"):
        train_models(_mlp, x, y, good[:, :10], epochs=1)
    empty = good.clone()
    empty[1] = False
    with pytest.raises(ValueError, match=r"rows \[1\] select no example"):
        train_models(_mlp, x, y, empty, epochs=1)
    with pytest.raises(ValueError, match="make_model must be a function"):
        train_models(_mlp(), x, y, good, epochs=1)
    with pytest.raises(ValueError, match="must return a torch.nn.Module"):
        train_models(lambda: "model", x, y, good, epochs=1)
    with pytest.raises(ValueError, match="y must have shape"):
        train_models(_mlp, x, y[:-1], good, epochs=1)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        train_models(_mlp, x, y, good, epochs=0)
