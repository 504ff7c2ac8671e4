"""The grading benchmark of `make bench` keeps working (tiny set: two Lab 00 submissions)."""

from __future__ import annotations

import json

import pytest

from threatlab.grader import bench

pytestmark = pytest.mark.notebook


def test_grader_bench_compares_with_plain_nbgrader(tmp_path):
    assert (
        bench.main(
            ["--lab", "00-orientation", "--n", "2", "--workers", "2", "--out", str(tmp_path)]
        )
        == 0
    )
    result = json.loads((tmp_path / "grader.json").read_text(encoding="utf-8"))
    assert result["submissions"] == 2 and result["kinds"] == {"correct": 1, "partial": 1, "stub": 0}
    assert result["threatlab_grade_seconds"] > 0 and result["nbgrader_autograde_seconds"] > 0
    assert result["ratio"] == pytest.approx(
        result["threatlab_grade_seconds"] / result["nbgrader_autograde_seconds"], abs=0.01
    )
    assert (
        0 < result["overhead_per_submission_seconds"] < result["mean_sandboxed_submission_seconds"]
    )
    grades = (tmp_path / "grader-bench" / "out" / "grades.csv").read_text(encoding="utf-8")
    assert "s000-correct,00-orientation,2.0,2.0,graded" in grades
    assert "s001-partial,00-orientation,0.0,2.0,graded" in grades
    assert "| ratio |" in (tmp_path / "grader.md").read_text(encoding="utf-8")
