"""Authoring flow: generate the student notebooks (``labs/``) from ``solutions/`` with nbgrader."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .layout import lab_ids, repo_root, venv_path
from .notebooks import read_notebook, write_notebook


def course_config(course_root: Path, *, source: Path, release: Path):
    """``course/nbgrader_config.py`` with the course root and source/release folders overridden."""
    from traitlets.config.loader import PyFileConfigLoader

    config_file = repo_root() / "course" / "nbgrader_config.py"
    config = PyFileConfigLoader(config_file.name, path=str(config_file.parent)).load_config()
    config.CourseDirectory.root = str(course_root)
    config.CourseDirectory.source_directory = str(source)
    config.CourseDirectory.release_directory = str(release)
    config.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
    return config


def nbgrader_api(course_root: Path, *, source: Path, release: Path):
    """An in-process nbgrader API over a course folder (faster than the CLI)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    os.environ["PATH"] = venv_path()
    config = course_config(course_root, source=source, release=release)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def check_nbgrader_result(result: dict, what: str) -> None:
    """Raise with nbgrader's own log when an API call failed."""
    if not result.get("success"):
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('error') or result.get('log')}")


def generate_labs(
    root: Path | None = None, release: Path | None = None, labs: Sequence[str] | None = None
) -> list[Path]:
    """Generate student notebooks with nbgrader into ``release`` (default ``labs/``)."""
    root = root or repo_root()
    release = (release or root / "labs").resolve()
    written = []
    with tempfile.TemporaryDirectory(prefix="threatlab-course-") as scratch:
        api = nbgrader_api(Path(scratch), source=root / "solutions", release=release)
        for lab in labs or lab_ids(root):
            check_nbgrader_result(
                api.generate_assignment(lab, force=True, create=True), f"generate_assignment {lab}"
            )
            for path in sorted((release / lab).glob("*.ipynb")):
                write_notebook(read_notebook(path), path)
                written.append(path)
    return written


def labs_out_of_sync(root: Path | None = None) -> list[str]:
    """Files under ``labs/`` that differ from what ``make labs`` would generate now."""
    root = root or repo_root()
    with tempfile.TemporaryDirectory(prefix="threatlab-sync-") as scratch:
        fresh = Path(scratch) / "labs"
        generate_labs(root, release=fresh)
        expected = {p.relative_to(fresh): p for p in fresh.rglob("*") if p.is_file()}
        committed_dir = root / "labs"
        actual = {
            p.relative_to(committed_dir): p
            for p in committed_dir.rglob("*")
            if p.is_file() and ".ipynb_checkpoints" not in p.parts
        }
        drift = [
            f"labs/{rel}: missing (run `make labs`)"
            for rel in sorted(expected.keys() - actual.keys())
        ]
        drift += [
            f"labs/{rel}: has no source in solutions/"
            for rel in sorted(actual.keys() - expected.keys())
        ]
        drift += [
            f"labs/{rel}: differs from its regenerated version (never hand-edit; run `make labs`)"
            for rel in sorted(expected.keys() & actual.keys())
            if expected[rel].read_bytes() != actual[rel].read_bytes()
        ]
    return drift
