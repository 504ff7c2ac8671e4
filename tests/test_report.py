"""Tests for threatlab.report: cleaning metrics, the JSON-lines channel and the text table."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from threatlab import read_metrics, report
from threatlab.report import curve


@pytest.fixture(autouse=True)
def _no_metrics_file(monkeypatch):
    monkeypatch.delenv("THREATLAB_METRICS", raising=False)


def test_report_returns_cleaned_plain_values():
    result = report(
        acc=np.float32(0.5),
        acc64=np.float64(0.25),
        count=np.int64(7),
        loss=torch.tensor(1.5),
        steps=torch.tensor(3),
        flag=np.bool_(True),
        name="fgsm",
        ratio=Fraction(1, 4),
        plain=2,
    )
    assert result == {
        "acc": 0.5,
        "acc64": 0.25,
        "count": 7,
        "loss": 1.5,
        "steps": 3,
        "flag": True,
        "name": "fgsm",
        "ratio": 0.25,
        "plain": 2,
    }
    types = {name: type(value) for name, value in result.items()}
    assert types == {
        "acc": float,
        "acc64": float,
        "count": int,
        "loss": float,
        "steps": int,
        "flag": bool,
        "name": str,
        "ratio": float,
        "plain": int,
    }
    assert list(result) == [
        "acc",
        "acc64",
        "count",
        "loss",
        "steps",
        "flag",
        "name",
        "ratio",
        "plain",
    ]


def test_report_keeps_bools_as_bools():
    result = report(passed=True, failed=False)
    assert result["passed"] is True and result["failed"] is False


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), np.float32("nan"), torch.tensor(float("inf"))],
)
def test_report_rejects_non_finite(value):
    with pytest.raises(ValueError, match="'acc'.*finite"):
        report(acc=value)


@pytest.mark.parametrize(
    "value", [np.array([0.1, 0.2]), torch.tensor([0.1, 0.2]), np.zeros((2, 2))]
)
def test_report_rejects_arrays(value):
    with pytest.raises(ValueError, match="'acc' must be a single number, got an array"):
        report(acc=value)


@pytest.mark.parametrize("value", [None, [0.1], {"a": 1}, object(), 1 + 2j, (1, 2)])
def test_report_rejects_other_objects(value):
    with pytest.raises(ValueError, match="'acc' must be a number, bool or string") as info:
        report(acc=value)
    assert type(value).__name__ in str(info.value)


def test_report_needs_a_metric():
    with pytest.raises(ValueError, match="at least one metric"):
        report()


def test_bad_metric_writes_nothing(tmp_path, monkeypatch, capsys):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("THREATLAB_METRICS", str(path))
    with pytest.raises(ValueError):
        report(good=1.0, bad=float("nan"))
    assert not path.exists()
    assert capsys.readouterr().out == ""


def test_report_appends_one_json_line_per_call(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("THREATLAB_METRICS", str(path))
    report(clean_accuracy=np.float32(0.75), attack="fgsm")
    report(robust_accuracy=torch.tensor(0.5), clean_accuracy=0.8)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert json.loads(lines[0]) == {"attack": "fgsm", "clean_accuracy": 0.75}
    assert json.loads(lines[1]) == {"clean_accuracy": 0.8, "robust_accuracy": 0.5}
    assert read_metrics(path) == {"attack": "fgsm", "clean_accuracy": 0.8, "robust_accuracy": 0.5}
    assert read_metrics(str(path)) == read_metrics(path)


def test_report_appends_to_an_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"earlier": 1}\n', encoding="utf-8")
    monkeypatch.setenv("THREATLAB_METRICS", str(path))
    report(later=2)
    assert read_metrics(path) == {"earlier": 1, "later": 2}


def test_read_metrics_skips_blank_lines_and_later_wins(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"a": 1, "b": 2}\n\n   \n{"a": 3}\n', encoding="utf-8")
    assert read_metrics(path) == {"a": 3, "b": 2}


def test_no_file_without_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report(acc=0.5)
    assert list(tmp_path.iterdir()) == []


def test_report_prints_plain_table(capsys):
    report(clean_accuracy=np.float64(0.98765), attack="pgd", steps=10, ok=True)
    out = capsys.readouterr().out
    assert "<table>" not in out
    lines = out.splitlines()
    assert lines == [
        "clean_accuracy  0.9877",
        "attack          pgd",
        "steps           10",
        "ok              True",
    ]


def test_curve_reads_reported_points_in_order():
    metrics = {
        "pgd_accuracy_eps_0_15": 0.4,
        "pgd_accuracy_eps_0_05": 0.9,
        "pgd_accuracy_eps_0_1": 0.6,
        "fgsm_accuracy_eps_0_1": 0.7,  # another curve
        "pgd_accuracy_eps_max": 0.0,  # not a point
        "agreement_indist_label_400": 0.93,
        "agreement_indist_label_50": 0.81,
    }
    assert curve(metrics, "pgd_accuracy_eps") == [(0.05, 0.9), (0.1, 0.6), (0.15, 0.4)]
    assert curve(metrics, "agreement_indist_label") == [(50.0, 0.81), (400.0, 0.93)]
    assert curve(metrics, "nothing") == []
