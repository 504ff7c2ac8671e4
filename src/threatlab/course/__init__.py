"""The course pipeline, one module per flow; ``python -m threatlab.course`` is its command line.

Maintainers use it through ``make``::

    python -m threatlab.course labs     # regenerate labs/ from solutions/ (nbgrader generate_assignment)
    python -m threatlab.course check    # notebooks clean, labs/ in sync, README table in sync
    python -m threatlab.course readme   # rewrite the README's lab table from notebook metadata
    python -m threatlab.course run 01-evasion --mode fast --seed 0   # execute one solution
    python -m threatlab.course bench    # wall time and peak memory of every solution, FAST and full

Modules: ``layout`` (where things are), ``notebooks`` (I/O, canonical form, checks), ``generate``
(authoring: solutions/ -> labs/ with nbgrader), ``grading`` (in-process nbgrader autograde and
feedback), ``execution`` (papermill runs and their metrics), ``readme`` (lab table and launch
links), ``check`` (``make check``), ``benchmark`` (``make bench``), ``cli`` (the commands). Adding a lab needs no change here:
put ``solutions/NN-slug/NN-slug.ipynb`` in place.
"""

from __future__ import annotations

from .benchmark import BINDER_FULL_RUN_SECONDS, BINDER_MEMORY_MB, bench, binder_verdict
from .check import course_problems
from .execution import Run, execute, executed_path, poll_in_slices
from .generate import (
    check_nbgrader_result,
    course_config,
    generate_labs,
    labs_out_of_sync,
    nbgrader_api,
)
from .grading import CellGrade, Grade, autograde, feedback, read_grade
from .layout import (
    LAB_ID,
    lab_ids,
    patched_environ,
    repo_root,
    repository_slug,
    solution_path,
    student_path,
    venv_path,
)
from .notebooks import (
    canonical,
    hidden_test_lines,
    lab_metadata,
    notebook_problems,
    read_notebook,
    with_solutions,
    write_notebook,
)
from .readme import (
    README_END,
    README_START,
    binder_link,
    readme_problems,
    readme_table,
    readme_with_table,
    write_readme,
)

__all__ = [
    "BINDER_FULL_RUN_SECONDS",
    "BINDER_MEMORY_MB",
    "CellGrade",
    "Grade",
    "LAB_ID",
    "README_END",
    "README_START",
    "Run",
    "autograde",
    "bench",
    "binder_link",
    "binder_verdict",
    "canonical",
    "check_nbgrader_result",
    "course_config",
    "course_problems",
    "execute",
    "executed_path",
    "feedback",
    "generate_labs",
    "hidden_test_lines",
    "lab_ids",
    "lab_metadata",
    "labs_out_of_sync",
    "nbgrader_api",
    "notebook_problems",
    "patched_environ",
    "poll_in_slices",
    "read_grade",
    "read_notebook",
    "readme_problems",
    "readme_table",
    "readme_with_table",
    "repo_root",
    "repository_slug",
    "solution_path",
    "student_path",
    "venv_path",
    "with_solutions",
    "write_readme",
    "write_notebook",
]
