"""``make check``: everything that must hold before a commit, as one list of problems."""

from __future__ import annotations

import re
from pathlib import Path

from .generate import labs_out_of_sync
from .layout import lab_ids, repo_root, solution_path, student_path
from .notebooks import lab_metadata, notebook_problems, notebook_sections, read_notebook
from .readme import readme_problems


def course_problems(root: Path | None = None) -> list[str]:
    """Notebooks clean (authored and student), titles and ids agree with the metadata, ``labs/``
    in sync, every generated table current."""
    root = root or repo_root()
    problems = [
        p
        for lab in lab_ids(root)
        for p in notebook_problems(solution_path(lab, root), authored=True)
    ]
    problems += [
        p
        for lab in lab_ids(root)
        for p in notebook_problems(student_path(lab, root), authored=False)
    ]
    problems += [p for lab in lab_ids(root) for p in lab_consistency_problems(lab, root)]
    return problems + labs_out_of_sync(root) + readme_problems(root)


FRAMEWORK_ID = re.compile(r"\b(?:AML\.[TM]\d{4}(?:\.\d{3})?|ML\d{2}:2023|LLM\d{2}:2025)\b")
# "AML.T0010 AI Supply Chain Compromise (.002 Data, .003 Model)": sub-techniques by suffix.
SHORTHAND = re.compile(r"\b(AML\.T\d{4})\b[^|()]*\(([^)]*)\)")
ID_ROW = re.compile(r"^\|\s*\*\*([^*|]*)\*\*\s*\|(.*)\|\s*$", re.MULTILINE)


def table_ids(threat_model: str) -> set[str]:
    """Framework ids in the threat-model table's ATLAS, OWASP and mitigation rows."""
    found: set[str] = set()
    for header, value in ID_ROW.findall(threat_model):
        if not re.search(r"atlas|owasp|mitigat", header, re.IGNORECASE):
            continue
        found |= set(FRAMEWORK_ID.findall(value))
        for parent, inside in SHORTHAND.findall(value):
            found |= {parent + suffix for suffix in re.findall(r"(?<!\w)\.\d{3}\b", inside)}
    return found


def _parents(ident: str) -> set[str]:
    return {ident.rsplit(".", 1)[0]} if re.fullmatch(r"AML\.T\d{4}\.\d{3}", ident) else set()


def lab_consistency_problems(lab: str, root: Path | None = None) -> list[str]:
    """The notebook's title and threat-model table agree with its ``threatlab`` metadata.

    The metadata is the one source (README, syllabus and site tables are generated from it); the
    notebook's own heading must carry the same title, and its threat-model table's ATLAS/OWASP/
    mitigation rows the same ids (a parent of a listed sub-technique may be named for context).
    """
    root = root or repo_root()
    path = solution_path(lab, root)
    nb = read_notebook(path)
    meta = lab_metadata(lab, root)
    problems = []
    heading = next(
        (
            m.group(1)
            for c in nb.cells
            if c.cell_type == "markdown"
            for m in [re.search(r"^# (.+)$", c.source, re.MULTILINE)]
            if m
        ),
        "",
    )
    if meta.get("title") and meta["title"] not in heading:
        problems.append(
            f"{path.name}: heading {heading!r} does not carry the title {meta['title']!r}"
        )
    sections = notebook_sections(nb)
    model = next((text for key, text in sections.items() if key.startswith("threat model")), "")
    if not model:
        return problems + [f"{path.name}: no '## Threat model' section"]
    declared = set(meta.get("atlas", [])) | set(meta.get("owasp", []))
    shown = table_ids(model)
    allowed = declared | {p for ident in declared for p in _parents(ident)}
    if declared - shown:
        problems.append(
            f"{path.name}: ids in the metadata but not in the threat-model table: "
            f"{', '.join(sorted(declared - shown))}"
        )
    if shown - allowed:
        problems.append(
            f"{path.name}: ids in the threat-model table but not in the metadata: "
            f"{', '.join(sorted(shown - allowed))}"
        )
    return problems
