"""In-process nbgrader grading of one notebook (tests, benchmarks and the sandboxed worker)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .generate import check_nbgrader_result, nbgrader_api
from .layout import repo_root


@dataclass(frozen=True)
class CellGrade:
    """The grade of one graded cell."""

    grade_id: str
    cell_type: str
    score: float
    max_score: float
    needs_manual_grade: bool


@dataclass(frozen=True)
class Grade:
    """An autograded submission: total autograded score and every graded cell."""

    score: float
    max_score: float
    cells: tuple[CellGrade, ...]

    @property
    def auto_max_score(self) -> float:
        """Points available from autograded code cells."""
        return sum(c.max_score for c in self.cells if c.cell_type == "code")

    @property
    def auto_score(self) -> float:
        """Points earned on autograded code cells."""
        return sum(c.score for c in self.cells if c.cell_type == "code")


def autograde(
    lab: str, submission: Path, workdir: Path, *, student: str = "student", root: Path | None = None
) -> Grade:
    """Autograde one submitted notebook with nbgrader in a scratch course under ``workdir``.

    Several students may share one ``workdir``: the assignment is generated once.
    """
    root = root or repo_root()
    workdir.mkdir(parents=True, exist_ok=True)
    release = workdir / "release"
    api = nbgrader_api(workdir, source=root / "solutions", release=release)
    if not (release / lab).is_dir():
        check_nbgrader_result(
            api.generate_assignment(lab, force=True, create=True), f"generate_assignment {lab}"
        )
    target = workdir / "submitted" / student / lab / f"{lab}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(submission, target)
    check_nbgrader_result(api.autograde(lab, student, force=True, create=True), f"autograde {lab}")
    return read_grade(api, lab, student)


def feedback(
    lab: str, workdir: Path, *, student: str = "student", root: Path | None = None
) -> Path:
    """Generate the feedback HTML of an autograded submission (hidden tests cleared by the config)."""
    root = root or repo_root()
    api = nbgrader_api(workdir, source=root / "solutions", release=workdir / "release")
    check_nbgrader_result(
        api.generate_feedback(lab, student, force=True), f"generate_feedback {lab}"
    )
    return workdir / "feedback" / student / lab / f"{lab}.html"


def read_grade(api, lab: str, student: str) -> Grade:
    """Collect a submission's scores from the gradebook (used by autograde and the grader worker)."""
    from nbgrader.api import Gradebook

    with Gradebook(api.coursedir.db_url) as gradebook:
        submission = gradebook.find_submission(lab, student)
        cells = tuple(
            CellGrade(
                grade_id=grade.name,
                cell_type=grade.cell.cell_type,
                score=float(grade.score),
                max_score=float(grade.max_score),
                needs_manual_grade=bool(grade.needs_manual_grade),
            )
            for notebook in submission.notebooks
            for grade in notebook.grades
        )
        return Grade(float(submission.score), float(submission.max_score), cells)
