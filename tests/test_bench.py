"""`make bench` keeps working: one FAST run of Lab 00 through the same code path."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from threatlab.course import bench


@pytest.mark.notebook
def test_bench_writes_time_memory_and_metrics(tmp_path, monkeypatch):
    """A fresh process per run; the table, CSV and JSON lines agree and hold plausible numbers.

    The output folder is relative, as in `make bench`: notebooks run in their own folder.
    """
    monkeypatch.chdir(tmp_path)
    rows = bench(["00-orientation"], ["fast"], Path("bench"))
    tmp_path = tmp_path / "bench"
    assert [(r["lab"], r["mode"]) for r in rows] == [("00-orientation", "fast")]
    row = rows[0]
    assert row["seconds"] > 0
    assert 100 < row["peak_mb"] < 8000, "peak memory is the kernel's resident set, in MB"
    assert row["metrics"]["fast"] is True and "test_accuracy" in row["metrics"]
    with open(tmp_path / "bench.csv", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert table[0]["lab"] == "00-orientation" and float(table[0]["seconds"]) == row["seconds"]
    lines = (tmp_path / "bench.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["metrics"] == row["metrics"]
    assert "| 00-orientation | fast |" in (tmp_path / "bench.md").read_text(encoding="utf-8")


def test_bench_flags_runs_over_binder_limits():
    """mybinder.org: 2 GB of memory per session; a learner's full run within a few minutes."""
    from threatlab.course import binder_verdict

    assert binder_verdict({"mode": "fast", "seconds": 900.0, "peak_mb": 700.0}) == "yes"
    assert binder_verdict({"mode": "full", "seconds": 100.0, "peak_mb": 1500.0}) == "yes"
    assert "2048 MB" in binder_verdict({"mode": "fast", "seconds": 10.0, "peak_mb": 2100.0})
    assert binder_verdict({"mode": "full", "seconds": 400.0, "peak_mb": 700.0}).startswith("NO")
