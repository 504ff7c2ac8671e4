"""Formgrader on a gradebook that ``threatlab-grade --course`` filled: Chromium, driven by Playwright.

Two Lab 00 results (one answered, one not) are written into a fresh course exactly as the grader's
trusted parent writes them (:func:`threatlab.grader.gradebook.fill`; nothing is executed: the
sandboxed grading itself is tested in tests/grader). A JupyterLab server started in the course
folder serves nbgrader's formgrader; the test opens the notebook's submission list, sees both
students, opens Alice's submission, types a manual score for her written answer the way an
instructor does (the score field, then Tab), and reads the score back from the gradebook with
nbgrader's API. Screenshots go to build/e2e/ (formgrader-submissions.png, formgrader-graded.png).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = "00-orientation"
WRITTEN = "why_verify_data"
TEST = "test_top1_accuracy"


def make_course(path: Path) -> Path:
    """A course folder using course/nbgrader_config.py, its gradebook and files in ``path``."""
    path.mkdir(parents=True)
    (path / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig('nbgrader_config.py', path={str(REPO / 'course')!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(path)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(path / 'gradebook.db')!r}\n"
        f"c.CourseDirectory.source_directory = {str(REPO / 'solutions')!r}\n"
        f"c.CourseDirectory.release_directory = {str(REPO / 'labs')!r}\n",
        encoding="utf-8",
    )
    return path


def fill_course(course: Path, work: Path) -> None:
    """Alice answered everything (2/2 autograded, her written answer waits); Bob nothing."""
    from threatlab.course import read_notebook, solution_path, student_path, with_solutions
    from threatlab.course import write_notebook as save
    from threatlab.grader.gradebook import fill

    solved = with_solutions(read_notebook(student_path(LAB)), read_notebook(solution_path(LAB)))
    for cell in solved.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == WRITTEN:
            cell.source = "A swapped data file would poison training without anyone noticing."
    save(solved, work / "alice.ipynb")
    save(read_notebook(student_path(LAB)), work / "bob.ipynb")

    def result(student: str, score: float, answered: bool) -> dict:
        cells = [
            {"grade_id": TEST, "score": score, "max_score": 2.0, "needs_manual_grade": False},
            {"grade_id": WRITTEN, "score": 0.0, "max_score": 1.0, "needs_manual_grade": answered},
        ]
        return {"student_id": student, "lab": LAB, "status": "graded", "cells": cells}

    rows = [result("alice", 2.0, True), result("bob", 0.0, False)]
    notebooks = {s: (work / f"{s}.ipynb", None) for s in ("alice", "bob")}
    out = work / "out"
    out.mkdir()
    assert fill(course, out, LAB, rows, notebooks) == (2, 0)


def manual_score(course: Path, student: str) -> float | None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="threatlab") as gradebook:
        return gradebook.find_grade(WRITTEN, LAB, LAB, student).manual_score


def submission_id(course: Path, student: str) -> str:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="threatlab") as gradebook:
        return gradebook.find_submission_notebook(LAB, LAB, student).id


@pytest.mark.e2e
def test_formgrader_lists_the_graded_submissions_and_saves_a_manual_grade(
    e2e, start_server, tmp_path
):
    e2e.require(e2e.chromium, "Chromium (Debian package chromium)")
    from playwright.sync_api import expect, sync_playwright

    course = make_course(tmp_path / "course")
    work = tmp_path / "work"
    work.mkdir()
    fill_course(course, work)
    port, token = e2e.free_port(), secrets.token_hex(24)
    env = e2e.child_env(
        JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
    )
    command = e2e.jupyter_lab_command(port, token, course)
    lab = start_server(command, "formgrader", env, course)
    base = f"http://127.0.0.1:{port}"
    lab.wait_http(f"{base}/api/status?token={token}", timeout=90)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(e2e.chromium), args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(  # the token on every request, the page's XHRs too
                viewport={"width": 1400, "height": 1000},
                extra_http_headers={"Authorization": f"token {token}"},
            )
            page = context.new_page()
            page.goto(f"{base}/formgrader/gradebook/{LAB}/{LAB}")
            table = page.locator("table")
            expect(table.get_by_text("Submission #2")).to_be_visible(timeout=60_000)
            page.get_by_role("button", name="Show All Names").click()  # anonymous by default
            expect(table.get_by_text("alice")).to_be_visible()
            expect(table.get_by_text("bob")).to_be_visible()
            expect(table.get_by_role("row").filter(has_text="alice")).to_contain_text("2 / 3")
            page.screenshot(path=str(tmp_path / "formgrader-submissions.png"), full_page=True)
            e2e.save_artifact(tmp_path / "formgrader-submissions.png")

            page.goto(f"{base}/formgrader/submissions/{submission_id(course, 'alice')}/")
            score = page.locator(f"input.score#{WRITTEN}")
            expect(score).to_be_visible(timeout=60_000)
            expect(page.get_by_text("poison training without anyone noticing")).to_be_visible()
            score.fill("1")
            score.press("Tab")  # formgrader saves on the field's change event
            deadline = time.monotonic() + 30
            while manual_score(course, "alice") != 1.0 and time.monotonic() < deadline:
                time.sleep(0.25)
            page.screenshot(path=str(tmp_path / "formgrader-graded.png"), full_page=True)
            e2e.save_artifact(tmp_path / "formgrader-graded.png")
        finally:
            browser.close()
    assert manual_score(course, "alice") == 1.0, lab.log_tail()
    assert manual_score(course, "bob") is None
