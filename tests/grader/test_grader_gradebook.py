"""``threatlab-grade --course``: the sandboxed results land in nbgrader's own gradebook.

Three Lab 00 submissions (solved with a timestamp, unanswered, an edited test cell) are graded into
a fresh course; the gradebook is read back with nbgrader's API, a manual grade is given the way
formgrader gives it, ``nbgrader export`` is run, and a re-grade keeps the manual grade of an
unchanged answer and drops the one of a changed answer.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import ANSWER, LAB, TEST, cell, grade, make_course, save, solved, stub

from threatlab.course import hidden_test_lines, read_notebook, solution_path
from threatlab.grader import probe

pytestmark = pytest.mark.notebook
WRITTEN = "why_verify_data"  # Lab 00's written answer (1 point, graded by hand)
STAMP = "2026-11-30T17:45:00+01:00"


def gradebook(course: Path):
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="threatlab")


def grades(course: Path) -> dict[str, dict[str, tuple]]:
    """{student: {grade_id: (auto_score, manual_score, needs_manual_grade)}} and more."""
    found = {}
    with gradebook(course) as gb:
        for submission in gb.find_assignment(LAB).submissions:
            (nb,) = submission.notebooks
            cells = {
                g.name: (g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades
            }
            comments = [c.auto_comment for c in nb.comments if c.auto_comment]
            found[submission.student_id] = {
                "cells": cells,
                "comments": comments,
                "flagged": nb.flagged,
                "timestamp": submission.timestamp,
                "score": submission.score,
            }
    return found


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """nbgrader's own command line, run in the course folder as an instructor runs it."""
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    environ = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(
        command, cwd=course, capture_output=True, text=True, timeout=300, env=environ, check=False
    )


def give_manual_grade(course: Path, student: str, score: float) -> None:
    """What formgrader does when the instructor types a score for the written answer."""
    with gradebook(course) as gb:
        graded = gb.find_grade(WRITTEN, LAB, LAB, student)
        graded.manual_score = score
        graded.needs_manual_grade = False
        gb.db.commit()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("gradebook")
    subs = base / "submissions"
    nb = solved()
    cell(nb, WRITTEN).source = "A swapped data file would poison training unnoticed."
    save(nb, subs / "alice" / LAB / f"{LAB}.ipynb")  # nbgrader's collect layout, timestamped
    (subs / "alice" / LAB / "timestamp.txt").write_text(STAMP, encoding="utf-8")
    save(stub(), subs / "bob.ipynb")
    tampered = solved()
    cell(tampered, TEST).source = "assert True"
    cell(tampered, WRITTEN).source = "Hashes catch supply-chain tampering."
    save(tampered, subs / "mallory.ipynb")
    course = make_course(base / "course")
    out = base / "out"
    done = grade(subs, out, "--workers", "2", "--timeout", "120", "--course", str(course))
    assert done.returncode == 0, done.stderr[-3000:]
    return {"base": base, "subs": subs, "course": course, "out": out, "stdout": done.stdout}


def test_every_score_is_in_the_gradebook(graded):
    found = grades(graded["course"])
    assert set(found) == {"alice", "bob", "mallory"}
    alice, bob, mallory = found["alice"], found["bob"], found["mallory"]
    # autograded: full marks, nothing, and the tampered one still scored (its test was restored)
    assert alice["cells"][TEST] == (2.0, None, False)
    assert bob["cells"][TEST] == (0.0, None, False)
    assert mallory["cells"][TEST] == (2.0, None, False)
    # written answers wait for a human; an unanswered one is 0 (nbgrader's "No response" rule)
    assert alice["cells"][WRITTEN] == (None, None, True)
    assert mallory["cells"][WRITTEN] == (None, None, True)
    assert bob["cells"][WRITTEN] == (0.0, None, False)
    assert alice["timestamp"].isoformat(timespec="seconds") == "2026-11-30T16:45:00"  # UTC
    assert bob["timestamp"] is None
    assert not alice["flagged"] and not alice["comments"] and not bob["comments"]
    assert mallory["flagged"]
    assert len(mallory["comments"]) == 1 and "tampered" in mallory["comments"][0]
    assert TEST in mallory["comments"][0]  # the detail names the edited cell
    assert "gradebook of" in graded["stdout"] and "3 submissions written" in graded["stdout"]


def test_course_folders_hold_the_submission_and_a_sanitised_autograded_copy(graded):
    course = graded["course"]
    for student in ("alice", "bob", "mallory"):
        submitted = course / "submitted" / student / LAB / f"{LAB}.ipynb"
        autograded = read_notebook(course / "autograded" / student / LAB / f"{LAB}.ipynb")
        assert submitted.is_file()
        assert not [c for c in autograded.cells if probe.MARK in c.get("metadata", {})]
        assert cell(autograded, ANSWER).source == cell(read_notebook(submitted), ANSWER).source
        # the instructor's test cell, hidden tests included (OUT's copy has none of them)
        assert "BEGIN HIDDEN TESTS" in cell(autograded, TEST).source
        kept = read_notebook(graded["out"] / "autograded" / student / f"{LAB}.ipynb")
        assert "HIDDEN TESTS" not in cell(kept, TEST).source
    stamp = course / "submitted" / "alice" / LAB / "timestamp.txt"
    assert stamp.read_text(encoding="utf-8").startswith("2026-11-30T17:45:00")
    assert not (graded["out"] / "answers.html").exists()  # formgrader replaces the sheet


def test_nbgrader_export_and_a_regrade_that_keeps_manual_grades(graded):
    course, subs, out = graded["course"], graded["subs"], graded["out"]
    give_manual_grade(course, "alice", 1.0)
    give_manual_grade(course, "mallory", 0.5)
    export = nbgrader(course, "export")
    assert export.returncode == 0, export.stderr[-3000:]
    with open(course / "grades.csv", encoding="utf-8") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle) if r["assignment"] == LAB}
    assert {s: float(r["score"]) for s, r in rows.items()} == {
        "alice": 3.0,
        "bob": 0.0,
        "mallory": 2.5,
    }
    assert {float(r["max_score"]) for r in rows.values()} == {3.0}
    assert rows["alice"]["timestamp"].startswith("2026-11-30 16:45:00")
    feedback = nbgrader(course, "generate_feedback", LAB)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    page = (course / "feedback" / "alice" / LAB / f"{LAB}.html").read_text(encoding="utf-8")
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    hidden = [line.strip() for line in hidden_test_lines(read_notebook(solution_path(LAB)))]
    assert "BEGIN HIDDEN TESTS" not in text
    assert not [line for line in hidden if len(line) > 25 and line in text]
    assert "3.0 / 3.0" in text or "3 / 3" in text  # the manual grade is in the feedback

    # re-grade: alice's result is deleted (re-graded, same notebook); mallory changes her answer
    (out / "results" / "alice.json").unlink()
    changed = read_notebook(subs / "mallory.ipynb")
    cell(changed, WRITTEN).source = "A new, longer answer."
    save(changed, subs / "mallory.ipynb")
    before = json.loads((out / "gradebook.json").read_text())
    done = grade(subs, out, "--workers", "2", "--timeout", "120", "--course", str(course))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 submissions written, 1 unchanged" in done.stdout
    assert json.loads((out / "gradebook.json").read_text()) != before
    found = grades(course)
    assert found["alice"]["cells"][WRITTEN] == (None, 1.0, False)  # kept: same answer
    assert found["alice"]["cells"][TEST] == (2.0, None, False)
    assert found["mallory"]["cells"][WRITTEN] == (None, None, True)  # the answer changed
    assert found["bob"]["cells"][TEST] == (0.0, None, False)


@pytest.mark.parametrize("status", ["timeout", "crashed"])
def test_a_submission_that_did_not_finish_is_flagged_and_its_answer_waits(tmp_path, status):
    """No execution needed: a stored result without scores, written as the parent writes it."""
    from threatlab.grader.gradebook import fill

    nb = solved()
    cell(nb, WRITTEN).source = "My written answer."
    cell(nb, ANSWER).outputs = []
    notebook = save(nb, tmp_path / "carol.ipynb")
    course = make_course(tmp_path / "course")
    out = tmp_path / "out"
    out.mkdir()
    row = {"student_id": "carol", "lab": LAB, "status": status, "detail": "killed after 60 s"}
    assert fill(course, out, LAB, [row], {"carol": (notebook, None)}) == (1, 0)
    assert fill(course, out, LAB, [row], {"carol": (notebook, None)}) == (0, 1)  # unchanged
    carol = grades(course)["carol"]
    assert carol["cells"][TEST] == (0.0, None, False)
    assert carol["cells"][WRITTEN] == (None, None, True)
    assert carol["flagged"] and carol["comments"] == [
        f"threatlab-grade: {status}. killed after 60 s"
    ]
    copy = read_notebook(course / "autograded" / "carol" / LAB / f"{LAB}.ipynb")
    assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")
    assert cell(copy, WRITTEN).source == "My written answer."


def test_grading_the_courses_own_submitted_folder_in_place(tmp_path):
    """``threatlab-grade LAB submitted --course .`` from course/: nbgrader collect's files are
    neither copied onto themselves nor rewritten; a changed answer loses its manual grade."""
    from threatlab.grader.gradebook import fill

    course = make_course(tmp_path / "course")
    folder = course / "submitted" / "dan" / LAB
    nb = solved()
    cell(nb, WRITTEN).source = "First answer."
    notebook = save(nb, folder / f"{LAB}.ipynb")
    (folder / "timestamp.txt").write_text("2026-11-26 14:03:00.123456 UTC\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    row = {"student_id": "dan", "lab": LAB, "status": "timeout", "hash": "1"}
    stamp = "2026-11-26T14:03:00.123456+00:00"
    assert fill(course, out, LAB, [row], {"dan": (notebook, stamp)}) == (1, 0)
    assert (folder / "timestamp.txt").read_text(encoding="utf-8").endswith("UTC\n")
    assert grades(course)["dan"]["timestamp"].isoformat() == "2026-11-26T14:03:00.123456"
    give_manual_grade(course, "dan", 1.0)
    row |= {"hash": "2"}  # re-graded, same notebook: the grade stays
    assert fill(course, out, LAB, [row], {"dan": (notebook, stamp)}) == (1, 0)
    assert grades(course)["dan"]["cells"][WRITTEN] == (None, 1.0, False)
    cell(nb, WRITTEN).source = "Second answer."  # collected again, in place
    save(nb, notebook)
    row |= {"hash": "3"}
    assert fill(course, out, LAB, [row], {"dan": (notebook, stamp)}) == (1, 0)
    assert grades(course)["dan"]["cells"][WRITTEN] == (None, None, True)
