"""Results of a sandboxed run written into an nbgrader course's own gradebook (``--course DIR``).

Only the trusted parent runs this, after grading, on the stored results: it copies each submitted
notebook to ``submitted/<id>/<lab>/`` and the sanitised autograded copy (probe cells removed, outputs
capped, made by the worker) to ``autograded/<id>/<lab>/``, and writes scores through
:class:`nbgrader.api.Gradebook`: auto scores per graded cell, written answers awaiting a manual
grade, the submission's timestamp, and a comment (and formgrader's flag) on any status other than
``graded``. Formgrader, ``nbgrader generate_feedback``/``release_feedback`` and ``nbgrader export``
then work as in any nbgrader course.

Re-grading replaces auto scores. A manual grade the instructor gave is kept while what it grades is
unchanged: a written answer's grade while the answer's text is the same, an override of an
autograded cell while the submitted notebook is byte for byte the same.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from threatlab.course import check_nbgrader_result, nbgrader_api, read_notebook, repo_root
from threatlab.files import atomic_write_text

from .checks import _nbgrader

STATE = "gradebook.json"  # in OUT: {course root: {lab: {student: what was written}}}
NOT_GRADED = ("invalid", "missing")
MAX_COMMENT = 1000


@dataclass
class Course:
    """An nbgrader course folder, as its own ``nbgrader_config.py`` describes it."""

    root: Path
    coursedir: object  # nbgrader.coursedir.CourseDirectory
    db_url: str
    course_id: str

    def path(self, step: str, student: str, lab: str) -> Path:
        directory = getattr(self.coursedir, f"{step}_directory")
        return Path(self.coursedir.format_path(directory, student, lab))


def open_course(root: Path) -> Course:
    """Read ``root/nbgrader_config.py`` the way nbgrader does (its root defaults to ``root``)."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    root = root.resolve()
    config = Config()
    if (root / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    if "root" not in config.CourseDirectory:
        config.CourseDirectory.root = str(root)
    coursedir = CourseDirectory(config=config)
    course_id = coursedir.course_id or "default_course"
    return Course(Path(coursedir.root), coursedir, coursedir.db_url, course_id)


def _gradebook(course: Course):
    from nbgrader.api import Gradebook

    return Gradebook(course.db_url, course_id=course.course_id)


def assignment_template(lab: str, work: Path) -> Path:
    """A scratch gradebook holding the lab's definition, made by nbgrader's generate_assignment."""
    root = repo_root()
    api = nbgrader_api(work, source=root / "solutions", release=work / "release")
    check_nbgrader_result(api.generate_assignment(lab, force=True, create=True), "generate_assign")
    return work / "gradebook.db"


def define_assignment(course: Course, lab: str, template: Path) -> None:
    """Copy the lab's cells (grade, solution, task, source) from ``template`` into the course."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template}") as source, _gradebook(course) as gradebook:
        gradebook.update_or_create_assignment(lab)
        for notebook in source.find_assignment(lab).notebooks:
            name = notebook.name
            gradebook.update_or_create_notebook(name, lab)
            for cell in notebook.grade_cells:
                gradebook.update_or_create_grade_cell(
                    cell.name, name, lab, max_score=cell.max_score, cell_type=cell.cell_type
                )
            for cell in notebook.solution_cells:
                gradebook.update_or_create_solution_cell(cell.name, name, lab)
            for cell in notebook.task_cells:
                gradebook.update_or_create_task_cell(
                    cell.name, name, lab, max_score=cell.max_score, cell_type=cell.cell_type
                )
            for cell in notebook.source_cells:
                gradebook.update_or_create_source_cell(
                    cell.name,
                    name,
                    lab,
                    cell_type=cell.cell_type,
                    locked=cell.locked,
                    source=cell.source,
                    checksum=cell.checksum,
                )


def _sources(path: Path) -> dict[str, str]:
    """grade_id -> source of every cell of a notebook ({} when absent or unreadable)."""
    try:
        nb = read_notebook(path)
    except Exception:  # noqa: BLE001 - a previous copy that cannot be read compares as changed
        return {}
    return {
        str(_nbgrader(c)["grade_id"]): str(c.get("source", ""))
        for c in nb.cells
        if _nbgrader(c).get("grade_id")
    }


def without_hidden_tests(source: str) -> str:
    """A cell's source without its ``### BEGIN/END HIDDEN TESTS`` blocks (markers included)."""
    if "BEGIN HIDDEN TESTS" not in source:
        return source
    kept, hidden = [], False
    for line in source.splitlines(keepends=True):
        if "BEGIN HIDDEN TESTS" in line:
            hidden = True
        elif "END HIDDEN TESTS" in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "".join(kept)


def _restore_locked_cells(path: Path, locked: dict[str, str]) -> None:
    """Every locked cell (tests with their hidden part) as the gradebook holds it, like
    nbgrader's autograde shows it: what formgrader displays is the instructor's version."""
    nb = read_notebook(path)
    for cell in nb.cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid in locked and _nbgrader(cell).get("locked"):
            cell["source"] = locked[gid]
    nbformat.write(nb, str(path))


def _without_outputs(source: Path, target: Path) -> None:
    """The submission itself, outputs removed (it was never run: nothing of the student's shows)."""
    nb = read_notebook(source)
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


def record(
    course: Course,
    lab: str,
    result: dict,
    notebook: Path,
    timestamp: str | None,
    autograded: Path | None,
    previous: dict | None = None,
) -> dict:
    """Write one submission into the course: its files, then its grades and comments.

    ``previous`` is what the last call returned for this student and course (None: compare with
    the course's copy of the submission, if any). Returns what to pass next time.
    """
    from nbgrader.api import MissingEntry

    student = result["student_id"]
    submitted = course.path("submitted", student, lab) / f"{lab}.ipynb"
    new_bytes = notebook.read_bytes()
    new_sources = _sources(notebook)
    if previous is not None:  # what this grader last wrote for the student
        unchanged = previous.get("sha256") == hashlib.sha256(new_bytes).hexdigest()
        old_sources = previous.get("sources", {})
    else:
        in_place = submitted.exists() and submitted.resolve() == notebook.resolve()
        unchanged = in_place or (submitted.is_file() and submitted.read_bytes() == new_bytes)
        old_sources = new_sources if in_place else _sources(submitted)
        old_sources = {k: _hash(v) for k, v in old_sources.items()}
    new_keys = {k: _hash(v) for k, v in new_sources.items()}
    if not (submitted.exists() and submitted.resolve() == notebook.resolve()):
        # graded from elsewhere (an LMS export): the course gets its copy, nbgrader's layout
        submitted.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, submitted)
        stamp_file = submitted.parent / "timestamp.txt"
        if timestamp:
            stamp_file.write_text(timestamp, encoding="utf-8")
        elif stamp_file.is_file():
            stamp_file.unlink()
    graded_copy = course.path("autograded", student, lab) / f"{lab}.ipynb"
    graded_copy.parent.mkdir(parents=True, exist_ok=True)
    if autograded is not None and autograded.is_file():
        shutil.copyfile(autograded, graded_copy)
    else:  # not executed to the end (timeout, memory, crash): the submission, for manual grading
        _without_outputs(notebook, graded_copy)
    cells = {c["grade_id"]: c for c in result.get("cells") or []}
    status = result.get("status", "")
    with _gradebook(course) as gradebook:
        locked = {
            c.name: c.source
            for c in gradebook.find_notebook(lab, lab).source_cells
            if c.locked and c.source is not None
        }
        _restore_locked_cells(graded_copy, locked)
        gradebook.update_or_create_student(student)
        try:
            submission = gradebook.find_submission(lab, student)
        except MissingEntry:
            submission = gradebook.add_submission(lab, student)
        submission.timestamp = (
            datetime.datetime.fromisoformat(timestamp).astimezone(datetime.timezone.utc)
            if timestamp
            else None
        )
        for nb in submission.notebooks:
            first_comment = True
            for grade in nb.grades:
                reply = cells.get(grade.name)
                manual = (
                    reply is None
                    and grade.cell.cell_type == "markdown"
                    or (reply is not None and reply.get("needs_manual_grade"))
                )
                if manual:
                    grade.auto_score = None
                    same = new_keys.get(grade.name) == old_sources.get(grade.name)
                    if not (same and grade.name in old_sources):
                        grade.manual_score = None
                    grade.needs_manual_grade = grade.manual_score is None
                else:
                    grade.auto_score = float(reply["score"]) if reply else 0.0
                    if not unchanged:
                        grade.manual_score = None
                    grade.needs_manual_grade = False
            for comment in nb.comments:
                if first_comment and status != "graded":
                    detail = result.get("detail") or ""
                    comment.auto_comment = f"threatlab-grade: {status}. {detail}"[:MAX_COMMENT]
                else:
                    comment.auto_comment = None
                first_comment = False
            nb.flagged = status != "graded"
        gradebook.db.commit()
    return {"sha256": hashlib.sha256(new_bytes).hexdigest(), "sources": new_keys}


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _digest(result: dict) -> str:
    """Identifies one grading of one submission (a re-grade has another, even if the same)."""
    return hashlib.sha256(json.dumps(result, sort_keys=True).encode()).hexdigest()


def fill(
    course_root: Path,
    out: Path,
    lab: str,
    rows: list[dict],
    notebooks: dict[str, tuple[Path, str | None]],
) -> tuple[int, int]:
    """Write every result of this lab that changed since the last fill into the course's gradebook.

    ``notebooks`` maps a student id to (submitted notebook, ISO timestamp or None). Returns (written,
    unchanged).
    """
    course = open_course(course_root)
    state_path = out / STATE
    try:
        state = json.loads(state_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    done = state.setdefault(str(course.root), {}).setdefault(lab, {})
    todo = [
        r
        for r in rows
        if r.get("status") not in NOT_GRADED
        and r.get("student_id") in notebooks
        and (done.get(r["student_id"]) or {}).get("result") != _digest(r)
    ]
    if todo:
        with tempfile.TemporaryDirectory(prefix="threatlab-gradebook-") as work:
            define_assignment(course, lab, assignment_template(lab, Path(work)))
        for row in todo:
            notebook, stamp = notebooks[row["student_id"]]
            autograded = out / "autograded" / row["student_id"] / f"{lab}.ipynb"
            previous = done.get(row["student_id"])
            written = record(course, lab, row, notebook, stamp, autograded, previous)
            done[row["student_id"]] = {"result": _digest(row), **written}
            atomic_write_text(state_path, json.dumps(state, indent=1))
    return len(todo), len(rows) - len(todo)
