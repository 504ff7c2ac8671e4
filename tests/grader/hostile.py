"""Build submissions of Lab 00 programmatically: the solved notebook, then edited cells."""

from __future__ import annotations

import copy
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
