"""nbgrader grades every lab: a fully solved student notebook gets full marks, a stub gets zero."""

from __future__ import annotations

import html
import re

import pytest

from threatlab.course import (
    autograde,
    feedback,
    hidden_test_lines,
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
    grades = {
        "lab": lab,
        "submission": solved,
        "solved": autograde(lab, solved, course, student="solved"),
        "stub": autograde(lab, student_path(lab), course, student="stub"),
    }
    grades["feedback"] = feedback(lab, course, student="solved").read_text(encoding="utf-8")
    return grades


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


def test_feedback_never_shows_hidden_tests(grades):
    """Feedback HTML shows scores and visible tests, never a line of a hidden test."""
    page = grades["feedback"]
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "BEGIN HIDDEN TESTS" not in text
    # What the learner's own notebook holds is not secret, even where a hidden test repeats it.
    public = "\n".join(cell.source for cell in read_notebook(grades["submission"]).cells)
    solution = read_notebook(solution_path(grades["lab"]))
    hidden = [line.strip() for line in hidden_test_lines(solution)]
    secret = [line for line in hidden if len(line) > 25 and line not in public]
    leaked = [line for line in secret if line in text]
    assert secret, f"{grades['lab']} has no hidden tests to protect"
    assert not leaked, f"feedback for {grades['lab']} shows hidden-test lines: {leaked[:3]}"
    assert "Score" in text or "score" in text
