"""``make check``: everything that must hold before a commit, as one list of problems."""

from __future__ import annotations

from pathlib import Path

from .generate import labs_out_of_sync
from .layout import lab_ids, repo_root, solution_path, student_path
from .notebooks import notebook_problems
from .readme import readme_problems


def course_problems(root: Path | None = None) -> list[str]:
    """Notebooks clean (authored and student), ``labs/`` in sync, README table current."""
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
    return problems + labs_out_of_sync(root) + readme_problems(root)
