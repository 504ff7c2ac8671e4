"""Notebook I/O and hygiene: canonical committed form, lab metadata, problems, nbgrader regions."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from ..files import atomic_write_text
from .layout import solution_path

NB_VERSION = 4


# nbgrader markup, papermill's tags, and the read-only flags nbgrader sets on locked cells.
KEEP_CELL_METADATA = ("nbgrader", "tags", "editable", "deletable")


LANGUAGE_INFO = {"file_extension": ".py", "mimetype": "text/x-python", "name": "python"}


KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


REQUIRED_LAB_METADATA = ("title", "topic", "atlas", "owasp", "minutes")


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, failing with the file name when it is not valid notebook JSON."""
    try:
        return nbformat.read(str(path), as_version=NB_VERSION)
    except Exception as error:  # nbformat raises several unrelated types
        raise ValueError(f"{path} is not a readable Jupyter notebook: {error}") from error


def canonical(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The committed form of a notebook: no outputs, no execution counts, only meaningful metadata."""
    nb = copy.deepcopy(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    lab_meta = nb.metadata.get("threatlab")
    nb.metadata = nbformat.from_dict(
        {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO}
        | ({"threatlab": lab_meta} if lab_meta else {})
    )
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {key: cell.metadata[key] for key in KEEP_CELL_METADATA if key in cell.metadata}
        )
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write a notebook in canonical form, atomically."""
    text = nbformat.writes(canonical(nb))
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")


def lab_metadata(lab: str, root: Path | None = None) -> dict:
    """The ``threatlab`` block of a lab's notebook metadata (title, topic, atlas, owasp, minutes)."""
    return dict(read_notebook(solution_path(lab, root)).metadata.get("threatlab", {}))


def notebook_problems(path: Path, *, authored: bool) -> list[str]:
    """Everything wrong with a committed notebook; an empty list means it is clean.

    ``authored`` notebooks (solutions/) must also carry lab metadata, a ``parameters`` cell with
    FAST and SEED, and a ``report(`` call.
    """
    try:
        nb = read_notebook(path)
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return [str(error)]
    problems = []
    if nb != canonical(nb):
        problems.append(
            f"{path}: not in canonical form (outputs, execution counts or editor metadata); "
            "run `make format`."
        )
    grade_ids = [
        c.metadata["nbgrader"].get("grade_id") for c in nb.cells if "nbgrader" in c.metadata
    ]
    dupes = sorted({g for g in grade_ids if grade_ids.count(g) > 1})
    if dupes:
        problems.append(f"{path}: duplicate nbgrader grade_id(s): {', '.join(dupes)}")
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("points", 0) > 0:
            problems.append(f"{path}: graded cell {meta.get('grade_id')!r} has no points")
    if authored:
        problems += _authored_problems(path, nb)
    return problems


def _authored_problems(path: Path, nb: nbformat.NotebookNode) -> list[str]:
    """Checks that apply to the one authored notebook of a lab."""
    problems = []
    meta = nb.metadata.get("threatlab", {})
    missing = [key for key in REQUIRED_LAB_METADATA if key not in meta]
    if missing:
        problems.append(f"{path}: notebook metadata 'threatlab' lacks {', '.join(missing)}")
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    if len(params) != 1:
        problems.append(f"{path}: needs exactly one cell tagged 'parameters', found {len(params)}")
    else:
        for name in ("FAST", "SEED"):
            if not re.search(rf"^{name}\s*=", params[0].source, re.MULTILINE):
                problems.append(f"{path}: the parameters cell does not set {name}")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if "report(" not in code:
        problems.append(f"{path}: never calls report(...), so tests cannot read its results")
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    if not any(c.cell_type == "code" for c in graded):
        problems.append(f"{path}: has no autograded test cell")
    return problems


def hidden_test_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The source lines inside every ``### BEGIN/END HIDDEN TESTS`` block of a notebook."""
    lines: list[str] = []
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "### END HIDDEN TESTS" in line:
                inside = False
            elif inside:
                lines.append(line)
    return lines


def with_solutions(student_nb: nbformat.NotebookNode, source_nb: nbformat.NotebookNode):
    """A student notebook whose answer cells are filled from the authored solution (by grade_id)."""
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source_nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    filled = copy.deepcopy(student_nb)
    for cell in filled.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in answers:
            cell.source = answers[meta["grade_id"]]
    return filled


def notebook_sections(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Markdown text under each ``## `` heading of a notebook, keyed by the lowercased heading.

    A section runs to the next ``## `` (or ``# ``) heading, across cells; code cells end it.
    """
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            current = None
            continue
        for line in cell.source.splitlines():
            heading = re.match(r"^(#{1,2})\s+(.*)$", line)
            if heading:
                current = sections.setdefault(heading.group(2).strip().lower(), [])
                continue
            if current is not None:
                current.append(line)
    return {key: "\n".join(lines).strip() for key, lines in sections.items()}
