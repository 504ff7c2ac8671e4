"""Tests for threatlab.train: the shared training loop, predict and accuracy."""

from __future__ import annotations

import pytest
import torch

from threatlab import MLP, SmallCNN, accuracy, load_digits, predict, seed_everything, train


@pytest.fixture(scope="module")
def small():
    """A small slice of the 8x8 digits: 240 train and 120 test images."""
    split = load_digits(seed=0)
    return split.x_train[:240], split.y_train[:240], split.x_test[:120], split.y_test[:120]


def _mlp(seed: int = 0) -> MLP:
    seed_everything(seed)
    return MLP(64, hidden=(32,))


def test_loss_decreases_and_model_learns(small):
    x, y, x_test, y_test = small
    model = _mlp()
    before = accuracy(model, x_test, y_test)
    losses = train(model, x, y, epochs=4, batch_size=32, lr=1e-2, seed=0)
    assert len(losses) == 4
    assert all(isinstance(loss, float) and loss > 0 for loss in losses)
    assert losses[-1] < losses[0] * 0.7
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert accuracy(model, x_test, y_test) > max(before, 0.5)


def test_small_cnn_trains_on_digits(small):
    x, y, _, _ = small
    seed_everything(0)
    model = SmallCNN(image_size=8)
    losses = train(model, x, y, epochs=2, batch_size=64, lr=3e-3, seed=0)
    assert losses[1] < losses[0]


def test_same_seed_gives_identical_runs(small):
    x, y, _, _ = small
    runs = []
    for _ in range(2):
        model = _mlp(3)
        losses = train(model, x, y, epochs=2, batch_size=32, seed=3)
        runs.append((losses, model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for name, tensor in runs[0][1].items():
        assert torch.equal(tensor, runs[1][1][name]), name


def test_different_seed_gives_different_run(small):
    x, y, _, _ = small
    a = train(_mlp(0), x, y, epochs=1, batch_size=32, seed=0)
    b = train(_mlp(0), x, y, epochs=1, batch_size=32, seed=1)  # same init, other batch order
    assert a != b


def test_model_is_left_in_eval_mode(small):
    x, y, _, _ = small
    model = _mlp()
    model.train()
    train(model, x[:32], y[:32], epochs=1, batch_size=16)
    assert model.training is False


def test_perturb_is_called_per_batch_in_eval_mode(small):
    x, y, _, _ = small
    x, y = x[:100], y[:100]
    model = _mlp()
    rows = {row.numpy().tobytes(): label for row, label in zip(x, y.tolist(), strict=True)}
    calls = []

    def perturb(m, xb, yb):
        assert m is model
        assert m.training is False  # attacks run on the model in eval mode
        assert xb.shape[1:] == (1, 8, 8) and len(xb) == len(yb)
        for row, label in zip(
            xb, yb.tolist(), strict=True
        ):  # a batch of the training data, with its labels
            assert rows[row.numpy().tobytes()] == label
        calls.append(len(xb))
        return xb

    train(model, x, y, epochs=2, batch_size=32, perturb=perturb, seed=0)
    assert calls == [32, 32, 32, 4] * 2


def test_model_trains_on_perturbed_batches(small):
    """Training with perturb=zeros must equal training on all-zero images."""
    x, y, _, _ = small

    def zeros(model, xb, yb):
        return torch.zeros_like(xb)

    perturbed, on_zeros, clean = _mlp(), _mlp(), _mlp()
    loss_perturbed = train(perturbed, x, y, epochs=1, batch_size=32, seed=0, perturb=zeros)
    loss_zeros = train(on_zeros, torch.zeros_like(x), y, epochs=1, batch_size=32, seed=0)
    loss_clean = train(clean, x, y, epochs=1, batch_size=32, seed=0)
    assert loss_perturbed == loss_zeros
    for name, tensor in perturbed.state_dict().items():
        assert torch.equal(tensor, on_zeros.state_dict()[name]), name
    assert loss_perturbed != loss_clean


def test_perturb_output_is_detached(small):
    """A perturbed batch is data: gradients must not flow back through the attack's graph."""
    x, y, _, _ = small

    def same_values_with_graph(m, xb, yb):
        score = m(xb).sum()
        return xb + (score - score.detach())  # equals xb, but carries a graph into the model

    hooked, plain = _mlp(), _mlp()
    loss_hooked = train(
        hooked, x[:64], y[:64], epochs=1, batch_size=32, seed=0, perturb=same_values_with_graph
    )
    loss_plain = train(plain, x[:64], y[:64], epochs=1, batch_size=32, seed=0)
    assert loss_hooked == loss_plain
    for name, tensor in hooked.state_dict().items():
        assert torch.equal(tensor, plain.state_dict()[name]), name


# --- predict / accuracy -------------------------------------------------------------------


def test_predict_returns_cpu_long_vector(small):
    _, _, x_test, _ = small
    model = _mlp()
    preds = predict(model, x_test)
    assert preds.shape == (len(x_test),)
    assert preds.dtype == torch.long
    assert preds.device.type == "cpu"
    assert ((preds >= 0) & (preds < 10)).all()
    torch.testing.assert_close(preds, model(x_test).argmax(1))


def test_predict_is_independent_of_batch_size_and_keeps_mode(small):
    _, _, x_test, _ = small
    model = _mlp()
    model.train()
    assert torch.equal(predict(model, x_test, batch_size=7), predict(model, x_test))
    assert model.training is True
    model.eval()
    predict(model, x_test)
    assert model.training is False


def test_predict_empty_batch():
    preds = predict(_mlp(), torch.zeros(0, 1, 8, 8))
    assert preds.shape == (0,) and preds.dtype == torch.long


def test_accuracy_matches_manual_computation(small):
    x, y, x_test, y_test = small
    model = _mlp()
    train(model, x, y, epochs=1, batch_size=32, seed=0)
    acc = accuracy(model, x_test, y_test, batch_size=50)
    manual = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert isinstance(acc, float)
    assert 0.0 <= acc <= 1.0
    assert acc == pytest.approx(manual)


def test_accuracy_extremes(small):
    _, _, x_test, _ = small
    model = _mlp()
    preds = predict(model, x_test)
    assert accuracy(model, x_test, preds) == 1.0
    assert accuracy(model, x_test, (preds + 1) % 10) == 0.0
    half = preds.clone()
    half[: len(half) // 2] = (half[: len(half) // 2] + 1) % 10
    assert accuracy(model, x_test, half) == pytest.approx(0.5)


# --- bad inputs ---------------------------------------------------------------------------


def test_train_rejects_mismatched_lengths(small):
    x, y, _, _ = small
    with pytest.raises(ValueError, match=r"shape \(10,\) to match the images") as info:
        train(_mlp(), x[:10], y[:9], epochs=1)
    assert "(9,)" in str(info.value)


def test_train_rejects_float_labels(small):
    x, y, _, _ = small
    with pytest.raises(ValueError, match=r"integer class labels \(torch\.long\)") as info:
        train(_mlp(), x[:10], y[:10].float(), epochs=1)
    assert "torch.float32" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"epochs": 0}, "epochs"), ({"epochs": 1.5}, "epochs"), ({"batch_size": 0}, "batch_size")],
)
def test_train_rejects_bad_counts(small, kwargs, name):
    x, y, _, _ = small
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        train(_mlp(), x[:10], y[:10], **{"epochs": 1, **kwargs})


@pytest.mark.parametrize("bad", [[[0.0] * 64], torch.zeros(5)])
def test_train_rejects_non_batches(bad):
    with pytest.raises(ValueError, match=r"x must be a batch tensor of shape \(N, \.\.\.\)"):
        train(_mlp(), bad, torch.zeros(1, dtype=torch.long), epochs=1)


def test_train_rejects_empty_data():
    """An empty training set must be a clear ValueError, not a ZeroDivisionError."""
    with pytest.raises(ValueError):
        train(_mlp(), torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long), epochs=1)


def test_accuracy_rejects_empty_batch():
    with pytest.raises(ValueError, match="at least one example"):
        accuracy(_mlp(), torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long))


def test_accuracy_rejects_mismatch_and_float_labels(small):
    _, _, x_test, y_test = small
    with pytest.raises(ValueError, match=r"\(120,\)"):
        accuracy(_mlp(), x_test, y_test[:-1])
    with pytest.raises(ValueError, match="torch.long"):
        accuracy(_mlp(), x_test, y_test.double())


@pytest.mark.parametrize("bad", [[1, 2, 3], torch.zeros(5)])
def test_predict_rejects_non_batches(bad):
    with pytest.raises(ValueError, match=r"x must be a batch tensor"):
        predict(_mlp(), bad)


def test_unseeded_shuffle_follows_the_global_seed(small):
    """train(seed=None) shuffles from torch's global RNG: seed_everything(s) decides the order."""
    x, y, _, _ = small

    def run(global_seed: int) -> list[float]:
        model = _mlp(0)
        seed_everything(global_seed)
        return train(model, x, y, epochs=1, batch_size=32)

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_train_leaves_no_stale_gradients(small):
    """After training, parameters hold no .grad: an attack's gradient checks start clean."""
    x, y, _, _ = small
    model = _mlp(0)
    train(model, x, y, epochs=1, batch_size=32, seed=0)
    assert all(p.grad is None for p in model.parameters())


def test_weight_decay_shrinks_the_weights(small):
    x, y, _, _ = small
    plain, decayed = _mlp(), _mlp()
    train(plain, x, y, epochs=5, batch_size=32, lr=1e-2, seed=0)
    train(decayed, x, y, epochs=5, batch_size=32, lr=1e-2, seed=0, weight_decay=0.1)
    norm = lambda m: sum(p.pow(2).sum() for p in m.parameters()).item()  # noqa: E731
    assert norm(decayed) < 0.8 * norm(plain)
    again = _mlp()
    train(again, x, y, epochs=5, batch_size=32, lr=1e-2, seed=0, weight_decay=0.0)
    assert torch.equal(again.head.weight, plain.head.weight)  # 0 is the old behaviour


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "0.1", True])
def test_train_rejects_bad_weight_decay(small, bad):
    x, y, _, _ = small
    with pytest.raises(ValueError, match="weight_decay"):
        train(_mlp(), x, y, epochs=1, weight_decay=bad)


def test_progress_false_draws_no_bar(small, monkeypatch, capsys):
    x, y, _, _ = small
    monkeypatch.delenv("THREATLAB_QUIET", raising=False)
    monkeypatch.delenv("CI", raising=False)
    train(_mlp(), x[:32], y[:32], epochs=2, batch_size=16, progress=False)
    assert "training" not in capsys.readouterr().err
    train(_mlp(), x[:32], y[:32], epochs=2, batch_size=16, desc="visible bar")
    assert "visible bar" in capsys.readouterr().err
