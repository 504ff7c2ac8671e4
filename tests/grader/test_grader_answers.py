"""Written answers leave the sandboxed run as an escaped page and a score sheet for the instructor."""

from __future__ import annotations

import csv
import html

from hostile import LAB, cell, solved, stub

from threatlab.course import read_notebook, student_path
from threatlab.grader.cli import write_answers, written_answers


def manual_cell_id(nb) -> str:
    """The grade_id of the lab's (first) hand-graded markdown answer."""
    return next(
        c.metadata["nbgrader"]["grade_id"]
        for c in nb.cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")
    )


def test_written_answers_follow_the_release_and_keep_the_students_text():
    released = read_notebook(student_path(LAB))
    grade_id = manual_cell_id(released)
    nb = solved()
    cell(nb, grade_id).source = "My answer <script>alert(1)</script>"
    answers = written_answers(nb, released)
    assert [a["grade_id"] for a in answers] == [grade_id]
    assert answers[0]["text"] == "My answer <script>alert(1)</script>" and answers[0]["points"] > 0
    deleted = stub()
    deleted.cells = [
        c for c in deleted.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id
    ]
    assert written_answers(deleted, released)[0]["text"] == ""  # a deleted answer is an empty one


def test_answers_page_escapes_student_text_and_the_sheet_has_a_row_per_answer(tmp_path):
    released = read_notebook(student_path(LAB))
    grade_id = manual_cell_id(released)
    nb = solved()
    cell(nb, grade_id).source = "<img src=x onerror=alert(1)> my answer"
    rows = [
        {"student_id": "alice", "answers": written_answers(nb, released)},
        {"student_id": "bob", "answers": written_answers(stub(), released)},
        {"student_id": "carol", "status": "invalid"},  # nothing to grade by hand
    ]
    write_answers(tmp_path, LAB, rows)
    page = (tmp_path / "answers.html").read_text(encoding="utf-8")
    assert "<img" not in page and html.escape("<img src=x onerror=alert(1)> my answer") in page
    with open(tmp_path / "manual-grades-template.csv", encoding="utf-8") as handle:
        sheet = list(csv.DictReader(handle))
    assert [(r["student_id"], r["grade_id"], r["score"]) for r in sheet] == [
        ("alice", grade_id, ""),
        ("bob", grade_id, ""),
    ]
    assert float(sheet[0]["max_score"]) > 0
