"""Every solution notebook executes in FAST mode and reports its headline metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from threatlab.course import lab_ids, repo_root

LABS = lab_ids()


def test_the_course_has_labs():
    """Lab 00 and Lab 01 exist: the suite must never pass on an empty course."""
    assert {"00-orientation", "01-evasion"} <= set(LABS)


@pytest.mark.notebook
@pytest.mark.parametrize("lab", LABS)
def test_solution_executes_and_reports(lab, solution_metrics):
    """The solution runs top to bottom (papermill, FAST, seed 0) and calls report()."""
    metrics = solution_metrics(lab, 0)
    assert metrics, f"{lab} ran but reported no metrics through threatlab.report()"
    assert all(isinstance(v, (int, float, bool, str)) for v in metrics.values())


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_has_a_regression_test(lab):
    """A lab without metric bands could silently break: each needs tests/test_lab_NN_slug.py."""
    expected = repo_root() / "tests" / f"test_lab_{lab.replace('-', '_')}.py"
    assert expected.is_file(), (
        f"add {expected.relative_to(repo_root())} asserting {lab}'s metric bands"
    )
    assert f'"{lab}"' in expected.read_text(encoding="utf-8"), f"{expected.name} never names {lab}"


def test_regression_tests_name_existing_labs():
    """No orphaned lab test module survives a renamed lab."""
    for path in Path(repo_root() / "tests").glob("test_lab_*.py"):
        lab = path.stem.removeprefix("test_lab_").replace("_", "-", 1)
        assert lab in LABS, f"{path.name} has no matching solutions/<lab>/ folder"
