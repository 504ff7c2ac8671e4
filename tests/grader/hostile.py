"""Helpers for the hostile-submission suite: build Lab 00/01 submissions, run the grader, read grades."""

from __future__ import annotations

import copy
import csv
import os
import subprocess
import sys
from pathlib import Path

from threatlab.course import (
    read_notebook,
    solution_path,
    student_path,
    with_solutions,
    write_notebook,
)

LAB = "00-orientation"
ANSWER = "top1_accuracy"
TEST = "test_top1_accuracy"


def solved(lab: str = LAB):
    """The released notebook of a lab with the instructor's answers filled in."""
    return with_solutions(read_notebook(student_path(lab)), read_notebook(solution_path(lab)))


def stub(lab: str = LAB):
    """The released notebook, unanswered."""
    return read_notebook(student_path(lab))


def cell(nb, grade_id: str):
    """The cell of a notebook with this grade_id."""
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def with_answer_prefix(code: str, nb=None):
    """The solved notebook whose answer cell runs ``code`` first."""
    nb = copy.deepcopy(nb or solved())
    answer = cell(nb, ANSWER)
    answer.source = code + "\n" + answer.source
    return nb


def save(nb, path: Path) -> Path:
    """Write a notebook (canonical form) and return its path."""
    write_notebook(nb, path)
    return path


def grade(submissions: Path, out: Path, *extra: str, env: dict | None = None, lab: str = LAB):
    """Run ``threatlab-grade`` on a folder as an instructor would (a separate process)."""
    command = [sys.executable, "-m", "threatlab.grader.cli", lab, str(submissions)]
    command += ["--out", str(out), "--no-progress", *extra]
    environ = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    # threatlab-grade enforces its own per-submission limit (--timeout); this outer one only stops a
    # hung grader, so it must hold a whole folder graded one at a time (Lab 09's model runs included).
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environ | (env or {}),
        timeout=3600,
        check=False,
    )


def read_grades(out: Path) -> dict[str, dict]:
    """grades.csv as {student_id: row}."""
    with open(out / "grades.csv", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def make_course(path: Path) -> Path:
    """An empty nbgrader course folder for ``threatlab-grade --course``: course/nbgrader_config.py
    (feedback without hidden tests, FAST mode...) with its gradebook and submissions in ``path``."""
    from threatlab.course import repo_root

    root = repo_root()
    path.mkdir(parents=True, exist_ok=True)
    (path / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"load_subconfig('nbgrader_config.py', path={str(root / 'course')!r})  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(path)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(path / 'gradebook.db')!r}\n"
        f"c.CourseDirectory.source_directory = {str(root / 'solutions')!r}\n"
        f"c.CourseDirectory.release_directory = {str(root / 'labs')!r}\n",
        encoding="utf-8",
    )
    return path
