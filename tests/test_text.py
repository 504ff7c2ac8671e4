"""Unit tests of threatlab.text: the ticket corpus, the candidate space and the char model."""

from __future__ import annotations

import json

import pytest
import torch

from threatlab import text
from threatlab.data import DatasetIntegrityError, dataset_entry, manifest_path
from threatlab.text import (
    ALPHABET,
    PAD,
    CharModel,
    SecretFormat,
    deduplicate,
    make_tickets,
    make_windows,
    train_char_model,
)


def test_tickets_are_deterministic_and_seeded():
    assert make_tickets(20, seed=3) == make_tickets(20, seed=3)
    assert make_tickets(20, seed=3) != make_tickets(20, seed=4)
    tickets = make_tickets(50, seed=0)
    assert len(tickets) == 50
    assert all(t and set(t) <= set(ALPHABET[1:]) for t in tickets)
    assert any("@" in t for t in tickets), "tickets carry e-mail addresses"
    assert any("#" in t for t in tickets), "tickets carry order numbers"


def test_canary_is_inserted_k_times_without_changing_the_other_tickets():
    canary = "my card pin is 123456"
    base = make_tickets(30, seed=1)
    with_canary = make_tickets(30, seed=1, canary=canary, k=4)
    assert len(with_canary) == 34
    assert with_canary.count(canary) == 4
    assert [t for t in with_canary if t != canary] == base


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": -1},
        {"k": 2},  # no canary
        {"k": 1, "canary": ""},
        {"k": 1, "canary": "pin \x00"},
        {"k": 1.5, "canary": "x"},
    ],
)
def test_make_tickets_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        make_tickets(5, **kwargs)
    with pytest.raises(ValueError):
        make_tickets(0)


def test_deduplicate_keeps_first_copies_in_order():
    assert deduplicate(["a", "b", "a", "c", "b"]) == ["a", "b", "c"]


def test_secret_format_enumerates_and_samples():
    space = SecretFormat(prefix="pin ", length=2, alphabet="ab")
    assert space.size == 4
    assert list(space.all_secrets()) == ["aa", "ab", "ba", "bb"]
    assert space.text("ba") == "pin ba"
    assert space.contains("bb") and not space.contains("abc") and not space.contains("ac")
    assert space.sample(5, seed=1) == space.sample(5, seed=1)
    assert all(space.contains(s) for s in space.sample(20, seed=2))
    with pytest.raises(ValueError):
        space.text("zz")
    with pytest.raises(ValueError):
        space.secret(4)
    assert SecretFormat().size == 10**6


@pytest.mark.parametrize(
    "kwargs", [{"length": 0}, {"alphabet": "a"}, {"alphabet": "aa"}, {"prefix": PAD}]
)
def test_secret_format_validates(kwargs):
    with pytest.raises(ValueError):
        SecretFormat(**kwargs)


def test_encode_decode_and_windows():
    model = CharModel(context=4, embed=2, hidden=8)
    ids = model.encode("ab c")
    assert ids.dtype == torch.long and model.decode(ids) == "ab c"
    with pytest.raises(ValueError):
        model.encode("é")
    with pytest.raises(ValueError):
        model.encode(PAD)
    x, y = make_windows(model, ["abc", "de"])
    assert x.shape == (5, 4) and y.tolist() == model.encode("abcde").tolist()
    # The first window of each text is all padding: no window crosses texts.
    assert x[0].tolist() == [model.pad_id] * 4
    assert x[3].tolist() == [model.pad_id] * 4
    assert x[2].tolist() == [0, 0] + model.encode("ab").tolist()
    assert model(x).shape == (5, model.vocab_size)
    with pytest.raises(ValueError):
        make_windows(model, "abc")
    with pytest.raises(ValueError):
        make_windows(model, [""])
    with pytest.raises(ValueError):
        model(torch.zeros(2, 3, dtype=torch.long))


def test_training_memorises_a_repeated_string():
    torch.manual_seed(0)
    model = CharModel(context=8, embed=8, hidden=64)
    texts = ["abcabc xyz"] * 30
    history = train_char_model(model, texts, epochs=15, lr=1e-2, batch_size=64, progress=False)
    assert history[-1] < history[0] / 3
    assert not model.training
    x, y = make_windows(model, ["abcabc xyz"])
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() > 0.9
    with pytest.raises(ValueError):
        train_char_model(model, texts, epochs=0)
    with pytest.raises(ValueError):
        train_char_model(model, texts, lr=-1.0)


def test_generated_corpus_matches_the_manifest_hash():
    text.verify_generator.cache_clear()
    text.verify_generator()  # the installed Faker makes the calibrated corpus
    entry = dataset_entry("faker_tickets")
    assert text.corpus_sha256(**entry["reference"]) == entry["sha256"]


def test_a_different_corpus_is_refused_with_the_fix(tmp_path, monkeypatch):
    manifest = json.loads(manifest_path().read_text(encoding="utf-8"))
    manifest["datasets"]["faker_tickets"]["sha256"] = "0" * 64
    altered = tmp_path / "manifest.json"
    altered.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setenv("THREATLAB_MANIFEST", str(altered))
    text.verify_generator.cache_clear()
    try:
        with pytest.raises(DatasetIntegrityError, match=r"faker==40\.54\.0"):
            text.make_tickets(3, seed=0)
    finally:
        text.verify_generator.cache_clear()
