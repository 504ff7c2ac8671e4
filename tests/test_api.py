"""Tests for threatlab.api.PredictionAPI: answers, output modes, query counting, budget, log."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from torch import nn

from threatlab import MLP, PredictionAPI, QueryBudgetExceeded, QueryRecord, SmallCNN


@pytest.fixture(scope="module")
def sk_model() -> LogisticRegression:
    gen = np.random.default_rng(0)
    x = gen.normal(size=(120, 4))
    y = (x @ np.array([1.0, -2.0, 0.5, 0.0]) > 0).astype(int) + (x[:, 3] > 1)
    return LogisticRegression(max_iter=1000).fit(x, y)


def _linear(weight: list[list[float]]) -> nn.Module:
    w = torch.tensor(weight)
    model = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        model.weight.copy_(w)
    return model


# --- answers ------------------------------------------------------------------------------


def test_sklearn_probabilities_match_predict_proba(sk_model):
    api = PredictionAPI(sk_model)
    x = np.random.default_rng(1).normal(size=(9, 4))
    out = api(x)
    assert out.dtype == np.float64 and out.shape == (9, 3)
    np.testing.assert_allclose(out, sk_model.predict_proba(x), rtol=0, atol=0)
    assert api.input_shape == (4,) and api.n_features == 4 and api.num_classes == 3


def test_torch_probabilities_are_the_softmax_of_the_logits():
    model = _linear([[1.0, 0.0], [0.0, 2.0]])
    api = PredictionAPI(model, input_shape=(2,))
    x = torch.tensor([[0.5, -1.0], [3.0, 3.0]])
    expected = torch.softmax(model(x), dim=1).detach().double().numpy()
    np.testing.assert_allclose(api(x), expected, rtol=1e-6)
    np.testing.assert_allclose(api(x).sum(axis=1), 1.0, rtol=1e-12)


def test_torch_input_shape_is_inferred_for_course_models():
    assert PredictionAPI(MLP(64, 10)).input_shape == (64,)
    assert PredictionAPI(SmallCNN(image_size=8)).input_shape == (1, 8, 8)
    assert PredictionAPI(nn.Linear(3, 2)).input_shape == (3,)  # torch's in_features
    with pytest.raises(ValueError, match="input_shape"):
        PredictionAPI(nn.Sequential(nn.Linear(3, 2)))


def test_label_mode_returns_the_top_class(sk_model):
    x = np.random.default_rng(2).normal(size=(20, 4))
    labels = PredictionAPI(sk_model, output="label")(x)
    assert labels.dtype == np.int64 and labels.shape == (20,)
    np.testing.assert_array_equal(labels, sk_model.predict_proba(x).argmax(axis=1))


@pytest.mark.parametrize("decimals", [0, 1, 3])
def test_rounded_mode_rounds_to_decimals(sk_model, decimals):
    x = np.random.default_rng(3).normal(size=(15, 4))
    out = PredictionAPI(sk_model, output="rounded", decimals=decimals)(x)
    np.testing.assert_array_equal(out, np.round(sk_model.predict_proba(x), decimals))


def test_torch_model_mode_is_restored_and_no_gradients_flow():
    model = MLP(4, 3)
    model.train()
    api = PredictionAPI(model)
    api(torch.randn(5, 4, requires_grad=True))
    assert model.training, "the API must put a training model back in training mode"
    assert all(p.grad is None for p in model.parameters())


# --- counting, budget, log ------------------------------------------------------------------


def test_every_row_is_one_query_and_construction_is_free(sk_model):
    api = PredictionAPI(sk_model)
    assert api.queries_used == 0, "finding the number of classes must not charge a query"
    api(np.zeros((3, 4)))
    api(torch.zeros(2, 4), client="bob")
    assert api.queries_used == 5
    assert api.queries_by_client() == {"default": 3, "bob": 2}
    assert api.budget_left is None


def test_budget_is_enforced_atomically_with_a_clear_error(sk_model):
    api = PredictionAPI(sk_model, budget=10)
    api(np.zeros((8, 4)))
    with pytest.raises(QueryBudgetExceeded, match=r"8 of 10 queries used.*3 more.*at most 2"):
        api(np.zeros((3, 4)))
    assert api.queries_used == 8 and len(api.log) == 1, (
        "a refused request is neither answered nor charged"
    )
    api(np.zeros((2, 4)))
    assert api.budget_left == 0
    with pytest.raises(QueryBudgetExceeded):
        api(np.zeros((1, 4)))
    assert isinstance(QueryBudgetExceeded("x"), RuntimeError)


def test_budget_zero_refuses_everything(sk_model):
    with pytest.raises(QueryBudgetExceeded):
        PredictionAPI(sk_model, budget=0)(np.zeros((1, 4)))


def test_log_keeps_clients_inputs_and_order(sk_model):
    api = PredictionAPI(sk_model)
    a, b, c = np.ones((2, 4)), 2 * np.ones((1, 4)), 3 * np.ones((3, 4))
    before = time.time()
    api(a, client="alice")
    api(b, client="bob")
    api(c, client="alice")
    times = [r.time for r in api.log]
    assert before <= times[0] <= times[1] <= times[2] <= time.time()  # for rate monitors (Lab 08)
    assert api.clients() == ["alice", "bob"]
    assert [r.client for r in api.log] == ["alice", "bob", "alice"]
    assert [r.first_query for r in api.log] == [0, 2, 3]
    assert [r.n for r in api.log] == [2, 1, 3]
    assert isinstance(api.log[0], QueryRecord)
    np.testing.assert_array_equal(api.logged_inputs("alice"), np.r_[a, c])
    np.testing.assert_array_equal(api.logged_inputs(), np.r_[a, b, c])
    assert api.logged_inputs("nobody").shape == (0, 4)


def test_log_is_a_copy_the_client_cannot_rewrite(sk_model):
    api = PredictionAPI(sk_model)
    x = np.zeros((2, 4))
    api(x)
    x[:] = 7.0
    assert (api.logged_inputs() == 0).all(), "the log must copy the inputs"
    with pytest.raises(ValueError):
        api.log[0].inputs[0, 0] = 1.0  # read-only
    assert isinstance(api.log, tuple)


def test_reset_starts_a_new_billing_period(sk_model):
    api = PredictionAPI(sk_model, budget=5)
    api(np.zeros((5, 4)))
    api.reset()
    assert api.queries_used == 0 and api.log == () and api.budget_left == 5
    api(np.zeros((5, 4)))


def test_images_are_logged_in_their_own_shape():
    api = PredictionAPI(SmallCNN(image_size=8))
    api(torch.rand(3, 1, 8, 8), client="cam")
    assert api.logged_inputs("cam").shape == (3, 1, 8, 8)
    assert "1, 8, 8" in repr(api) and "queries used 3" in repr(api)


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"output": "logits"}, "output must be one of"),
        ({"decimals": -1}, "decimals"),
        ({"decimals": 1.5}, "decimals"),
        ({"budget": -3}, "budget"),
        ({"budget": True}, "budget"),
        ({"input_shape": (0,)}, "input_shape"),
    ],
)
def test_bad_settings_are_rejected(sk_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        PredictionAPI(sk_model, **kwargs)


def test_a_model_without_probabilities_is_rejected():
    with pytest.raises(ValueError, match="predict_proba"):
        PredictionAPI(object())


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([[0.0, 0.0, 0.0, 0.0]], "NumPy array or torch tensor"),
        (np.zeros(4), r"x\[None\]"),
        (np.zeros((2, 5)), r"shape \(n, 4\)"),
        (np.zeros((0, 4)), "empty"),
        (np.full((1, 4), np.nan), "finite"),
        (np.array([["a", "b", "c", "d"]]), "numbers"),
        (np.zeros((1, 4), dtype=bool), "numbers"),
    ],
)
def test_bad_queries_are_rejected_and_not_charged(sk_model, x, match):
    api = PredictionAPI(sk_model)
    with pytest.raises(ValueError, match=match):
        api(x)
    assert api.queries_used == 0 and api.log == ()


@pytest.mark.parametrize("client", ["", None, 3])
def test_client_names_are_checked(sk_model, client):
    with pytest.raises(ValueError, match="client"):
        PredictionAPI(sk_model)(np.zeros((1, 4)), client=client)


def test_integer_queries_are_accepted(sk_model):
    out = PredictionAPI(sk_model)(np.zeros((2, 4), dtype=np.int64))
    assert out.shape == (2, 3)
