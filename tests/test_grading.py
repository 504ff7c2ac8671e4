"""nbgrader grades every lab: a fully solved student notebook gets full marks, a stub gets zero."""

from __future__ import annotations

import pytest

from threatlab.course import (
    autograde,
    lab_ids,
    read_notebook,
    solution_path,
    student_path,
    with_solutions,
    write_notebook,
)

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=lab_ids())
def grades(request, tmp_path_factory):
    """Grade two students of one lab in one scratch course: the solved notebook and the stub."""
    lab = request.param
    work = tmp_path_factory.mktemp(f"grade-{lab}")
    solved = work / "solved.ipynb"
    write_notebook(
        with_solutions(read_notebook(student_path(lab)), read_notebook(solution_path(lab))), solved
    )
    course = work / "course"
    return {
        "lab": lab,
        "solved": autograde(lab, solved, course, student="solved"),
        "stub": autograde(lab, student_path(lab), course, student="stub"),
    }


def test_lab_has_autograded_points(grades):
    """Each lab gives points for autograded tests, so the grading checks below mean something."""
    assert grades["solved"].auto_max_score > 0, f"{grades['lab']} has no autograded points"


def test_solution_scores_full_marks(grades):
    """The student version, filled with the instructor's answers, passes every test (hidden too)."""
    lost = [
        f"{c.grade_id}: {c.score}/{c.max_score}"
        for c in grades["solved"].cells
        if c.cell_type == "code" and c.score != c.max_score
    ]
    assert not lost, f"{grades['lab']}: the solution loses points on {lost}"


def test_stub_scores_zero(grades):
    """The generated student notebook, unanswered, earns nothing and the grader still finishes."""
    stub = grades["stub"]
    earned = [f"{c.grade_id}: {c.score}" for c in stub.cells if c.cell_type == "code" and c.score]
    assert not earned, f"{grades['lab']}: an unanswered notebook earns points on {earned}"
    assert stub.auto_max_score == grades["solved"].auto_max_score


def test_written_answers_wait_for_a_human(grades):
    """Manually graded answers are left for the instructor, not scored by the machine."""
    manual = [c for c in grades["solved"].cells if c.cell_type == "markdown"]
    assert all(c.needs_manual_grade for c in manual)
