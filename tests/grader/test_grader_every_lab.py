"""Every lab grades cleanly through the sandboxed grader: the solved notebook gets full marks with
no tamper or runtime-integrity finding (a new lab's widgets, hooks or imports must not trip them)."""

from __future__ import annotations

import pytest
from hostile import grade, read_grades, save, solved

from threatlab.course import lab_ids

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=lab_ids())
def graded(request, tmp_path_factory):
    """The solved notebook of one lab, graded by ``threatlab-grade``: its grades.csv row."""
    lab = request.param
    base = tmp_path_factory.mktemp(f"every-lab-{lab}")
    save(solved(lab), base / "submissions" / "solved.ipynb")
    done = grade(base / "submissions", base / "out", "--workers", "1", "--timeout", "600", lab=lab)
    assert done.returncode == 0, done.stderr[-3000:]
    return read_grades(base / "out")["solved"]


def test_solved_lab_gets_full_marks_without_findings(graded):
    assert graded["status"] == "graded", graded
    assert graded["detail"] == "", graded
    assert float(graded["score"]) == float(graded["max_score"]) > 0, graded
