"""Tests for threatlab.models: output shapes and clear errors for inputs of the wrong shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from threatlab import MLP, SmallCNN, penultimate_activations


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# --- SmallCNN -----------------------------------------------------------------------------


def test_small_cnn_default_shapes():
    model = SmallCNN()
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    assert model.features(x).shape == (3, 128)


def test_small_cnn_custom_size_channels_and_classes():
    model = SmallCNN(num_classes=4, in_channels=3, image_size=8)
    x = torch.rand(2, 3, 8, 8)
    assert model(x).shape == (2, 4)
    assert model.features(x).shape == (2, 128)


def test_small_cnn_head_is_applied_to_features():
    model = SmallCNN(image_size=8).eval()
    x = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(model(x), model.head(model.features(x)))


def test_small_cnn_features_are_relu_activations():
    feats = SmallCNN(image_size=8).features(torch.rand(5, 1, 8, 8))
    assert (feats >= 0).all()


def test_small_cnn_empty_batch():
    assert SmallCNN(image_size=8)(torch.zeros(0, 1, 8, 8)).shape == (0, 10)


@pytest.mark.parametrize("size", [30, 27, 10, 1])
def test_small_cnn_rejects_size_not_multiple_of_four(size):
    with pytest.raises(ValueError, match="multiple of 4") as info:
        SmallCNN(image_size=size)
    assert str(size) in str(info.value)


@pytest.mark.parametrize(
    ("shape", "hint"),
    [
        ((5, 28, 28), True),  # missing channel axis
        ((1, 28, 28), True),  # a single image
        ((5, 1, 32, 32), False),  # wrong size
        ((5, 3, 28, 28), False),  # wrong channel count
        ((5, 784), False),  # flattened
        ((2, 5, 1, 28, 28), False),
    ],
)
def test_small_cnn_rejects_wrong_shape(shape, hint):
    model = SmallCNN()
    for call in (model, model.features):
        with pytest.raises(ValueError) as info:
            call(torch.rand(shape))
        message = str(info.value)
        assert "SmallCNN" in message
        assert "(N, 1, 28, 28)" in message
        assert str(tuple(shape)) in message
        assert ("unsqueeze" in message) is hint


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
def test_small_cnn_rejects_integer_images(dtype):
    with pytest.raises(ValueError, match="floating-point") as info:
        SmallCNN()(torch.zeros(2, 1, 28, 28, dtype=dtype))
    assert str(dtype) in str(info.value)


@pytest.mark.parametrize("bad", [np.zeros((2, 1, 28, 28), dtype=np.float32), [[0.0]], None])
def test_small_cnn_rejects_non_tensors(bad):
    with pytest.raises(ValueError, match=r"torch\.Tensor of shape \(N, 1, 28, 28\)") as info:
        SmallCNN()(bad)
    assert type(bad).__name__ in str(info.value)


# --- MLP ----------------------------------------------------------------------------------


def test_mlp_on_images_and_vectors():
    model = MLP(784)
    images = torch.rand(3, 1, 28, 28)
    assert model(images).shape == (3, 10)
    assert model.features(images).shape == (3, 32)
    assert model(images.reshape(3, 784)).shape == (3, 10)
    assert model(images.reshape(3, 28, 28)).shape == (3, 10)


def test_mlp_flattening_is_consistent():
    model = MLP(64, num_classes=3, hidden=(16,)).eval()
    images = torch.rand(4, 1, 8, 8)
    torch.testing.assert_close(model(images), model(images.reshape(4, 64)))
    assert model.features(images).shape == (4, 16)
    assert model(images).shape == (4, 3)


def test_mlp_without_hidden_layers():
    model = MLP(10, num_classes=2, hidden=())
    x = torch.rand(5, 10)
    torch.testing.assert_close(model.features(x), x)
    assert model(x).shape == (5, 2)


@pytest.mark.parametrize("shape", [(3, 1, 8, 8), (3, 783), (784,), (2, 28)])
def test_mlp_rejects_wrong_size(shape):
    with pytest.raises(ValueError) as info:
        MLP(784)(torch.rand(shape))
    message = str(info.value)
    assert "784" in message
    assert "(N, 784)" in message
    assert str(tuple(shape)) in message


@pytest.mark.parametrize("bad", [np.zeros((2, 784), dtype=np.float32), [[0.0] * 784], None])
def test_mlp_rejects_non_tensors_with_value_error(bad):
    """Not an AttributeError about .ndim/.numel from inside the shape check."""
    with pytest.raises(ValueError, match=r"\(N, 784\)") as info:
        MLP(784)(bad)
    assert type(bad).__name__ in str(info.value)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int64])
def test_mlp_rejects_integer_inputs_with_value_error(dtype):
    """Not torch's 'mat1 and mat2 must have the same dtype' RuntimeError."""
    with pytest.raises(ValueError, match="floating-point") as info:
        MLP(784)(torch.zeros(2, 1, 28, 28, dtype=dtype))
    assert str(dtype) in str(info.value)


def test_mlp_accepts_an_empty_batch():
    """Like SmallCNN, an empty batch gives empty logits (not an IndexError from x[0])."""
    assert MLP(784)(torch.zeros(0, 784)).shape == (0, 10)


# --- penultimate_activations ---------------------------------------------------------------


def test_penultimate_activations_match_features_in_batches():
    model = SmallCNN(image_size=8).eval()
    x = torch.rand(11, 1, 8, 8)
    feats = penultimate_activations(model, x, batch_size=4)
    assert feats.shape == (11, 128) and feats.dtype == torch.float32
    assert feats.device.type == "cpu"
    torch.testing.assert_close(feats, model.features(x).detach())


def test_penultimate_activations_use_eval_mode_and_restore_it():
    """Dropout must be off while extracting, and the caller's mode comes back afterwards."""
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(16, 32), torch.nn.Dropout(0.9), torch.nn.Linear(32, 3)
    )
    model.train()
    x = torch.rand(6, 1, 4, 4)
    first = penultimate_activations(model, x, layer=model[2])
    second = penultimate_activations(model, x, layer=model[2])
    torch.testing.assert_close(first, second)
    assert model.training, "the model's mode is restored"
    with torch.no_grad():
        expected = model[1](model[0](x))
    torch.testing.assert_close(first, expected)


def test_penultimate_activations_of_a_layer_and_no_leftover_hook():
    model = SmallCNN(image_size=8).eval()
    x = torch.rand(5, 1, 8, 8)
    conv = penultimate_activations(model, x, layer=model.conv)
    assert conv.shape == (5, 32 * 2 * 2), "activations are flattened per input"
    assert not model.conv._forward_hooks, "the hook is removed afterwards"
    torch.testing.assert_close(
        penultimate_activations(model, x, layer=model.hidden), model.features(x).detach()
    )


def test_penultimate_activations_of_an_mlp_and_an_empty_batch():
    model = MLP(64, hidden=(16, 8)).eval()
    assert penultimate_activations(model, torch.rand(3, 1, 8, 8)).shape == (3, 8)
    assert penultimate_activations(model, torch.zeros(0, 64)).shape == (0, 8)


def test_penultimate_activations_explain_bad_input():
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    with pytest.raises(ValueError, match="no features"):
        penultimate_activations(plain, torch.rand(2, 1, 4, 4))
    with pytest.raises(ValueError, match="submodule"):
        penultimate_activations(plain, torch.rand(2, 1, 4, 4), layer=torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"\(N, \.\.\.\)"):
        penultimate_activations(SmallCNN(), np.zeros((2, 1, 28, 28)))
    with pytest.raises(ValueError, match="positive integer"):
        penultimate_activations(SmallCNN(), torch.rand(2, 1, 28, 28), batch_size=0)
    with pytest.raises(ValueError, match="nn.Module"):
        penultimate_activations(lambda x: x, torch.rand(2, 1, 28, 28))
