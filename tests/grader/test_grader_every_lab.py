"""Every lab grades cleanly, the way instructors grade it: through ``threatlab-grade``.

Per lab, two students in one run: the released notebook filled with the instructor's answers
(full marks, no tamper or runtime-integrity finding: a new lab's widgets, hooks or imports must not
trip them) and the released notebook unanswered (zero, and the grader still finishes). The grader
runs nbgrader's autograde inside its sandbox, so this is also the nbgrader grading test; one
grading path keeps the suite to one solved-notebook execution per lab.
"""

from __future__ import annotations

import html
import json
import re

import pytest
from hostile import grade, make_course, read_grades, save, solved, stub

from threatlab.course import hidden_test_lines, lab_ids, read_notebook, solution_path

pytestmark = [pytest.mark.notebook, pytest.mark.grading]  # make test-grading


@pytest.fixture(scope="module", params=lab_ids())
def graded(request, tmp_path_factory):
    """One lab's solved and stub submissions, graded: grades.csv rows, cells, feedback."""
    lab = request.param
    base = tmp_path_factory.mktemp(f"every-lab-{lab}")
    submission = save(solved(lab), base / "submissions" / "solved.ipynb")
    save(stub(lab), base / "submissions" / "stub.ipynb")
    out = base / "out"
    course = make_course(base / "course")
    done = grade(
        base / "submissions",
        out,
        "--workers",
        "1",
        "--timeout",
        "600",
        "--course",
        str(course),
        lab=lab,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_grades(out)
    results = {s: json.loads((out / "results" / f"{s}.json").read_text()) for s in rows}
    return {
        "lab": lab,
        "rows": rows,
        "cells": {s: r.get("cells", []) for s, r in results.items()},
        "submission": submission,
        "feedback": (out / "feedback" / "solved" / f"{lab}.html").read_text(encoding="utf-8"),
        "course": course,
    }


def test_lab_has_autograded_points(graded):
    """Each lab gives points for autograded tests, so the checks below mean something."""
    assert float(graded["rows"]["solved"]["max_score"]) > 0, f"{graded['lab']} has no points"


def test_solved_lab_gets_full_marks_without_findings(graded):
    """The student version, filled with the instructor's answers, passes every test (hidden too)."""
    row = graded["rows"]["solved"]
    assert row["status"] == "graded", row
    assert row["detail"] == "", row
    lost = [
        f"{c['grade_id']}: {c['score']}/{c['max_score']}"
        for c in graded["cells"]["solved"]
        if c["type"] == "code" and c["score"] != c["max_score"]
    ]
    assert not lost, f"{graded['lab']}: the solution loses points on {lost}"
    assert float(row["score"]) == float(row["max_score"]) > 0, row


def test_stub_scores_zero(graded):
    """The generated student notebook, unanswered, earns nothing and the grader still finishes."""
    row = graded["rows"]["stub"]
    assert row["status"] == "graded", row
    earned = [
        f"{c['grade_id']}: {c['score']}"
        for c in graded["cells"]["stub"]
        if c["type"] == "code" and c["score"]
    ]
    assert not earned, f"{graded['lab']}: an unanswered notebook earns points on {earned}"
    assert float(row["score"]) == 0
    assert row["max_score"] == graded["rows"]["solved"]["max_score"]


def test_written_answers_wait_for_a_human(graded):
    """Manually graded answers are left for the instructor, not scored by the machine."""
    manual = [c for c in graded["cells"]["solved"] if c["type"] == "markdown"]
    assert manual, f"{graded['lab']} has no written answer for a human to grade"
    assert all(c["needs_manual_grade"] for c in manual)
    # ... and reach the instructor in the course's gradebook (formgrader), awaiting a grade.
    from nbgrader.api import Gradebook

    db = f"sqlite:///{graded['course'] / 'gradebook.db'}"
    with Gradebook(db, course_id="threatlab") as gradebook:
        waiting = [
            g.name
            for g in gradebook.find_submission(graded["lab"], "solved").notebooks[0].grades
            if g.needs_manual_grade and g.auto_score is None
        ]
    assert sorted(waiting) == sorted(c["grade_id"] for c in manual)


def test_feedback_never_shows_hidden_tests(graded):
    """Feedback HTML shows scores and visible tests, never a line of a hidden test."""
    text = html.unescape(re.sub(r"<[^>]+>", "", graded["feedback"]))
    assert "BEGIN HIDDEN TESTS" not in text
    # What the learner's own notebook holds is not secret, even where a hidden test repeats it.
    public = "\n".join(cell.source for cell in read_notebook(graded["submission"]).cells)
    hidden = [
        line.strip() for line in hidden_test_lines(read_notebook(solution_path(graded["lab"])))
    ]
    secret = [line for line in hidden if len(line) > 25 and line not in public]
    leaked = [line for line in secret if line in text]
    assert secret, f"{graded['lab']} has no hidden tests to protect"
    assert not leaked, f"feedback for {graded['lab']} shows hidden-test lines: {leaked[:3]}"
    assert "Score" in text or "score" in text
