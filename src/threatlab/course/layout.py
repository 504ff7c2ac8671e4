"""Where things are: the repository, its labs, their authored and student notebooks, the public slug."""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

LAB_ID = re.compile(r"^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")


def repo_root() -> Path:
    """The course repository: ``$THREATLAB_REPO`` or the checkout this package is installed from."""
    override = os.environ.get("THREATLAB_REPO")
    if override:
        return Path(override).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "course" / "nbgrader_config.py").is_file() and (parent / "solutions").is_dir():
            return parent
    raise FileNotFoundError(
        "cannot find the ThreatLab repository (course/nbgrader_config.py and solutions/): "
        "install the package editable from its checkout or set THREATLAB_REPO."
    )


def lab_ids(root: Path | None = None) -> list[str]:
    """Every lab with an authored notebook ``solutions/<id>/<id>.ipynb``, in order."""
    root = root or repo_root()
    found = []
    for folder in sorted((root / "solutions").iterdir()):
        if folder.is_dir() and (folder / f"{folder.name}.ipynb").is_file():
            if not LAB_ID.match(folder.name):
                raise ValueError(
                    f"lab folder {folder.name!r} must be named NN-slug, e.g. 01-evasion."
                )
            found.append(folder.name)
    return found


def solution_path(lab: str, root: Path | None = None) -> Path:
    """The authored (instructor) notebook of a lab."""
    return (root or repo_root()) / "solutions" / lab / f"{lab}.ipynb"


def student_path(lab: str, root: Path | None = None) -> Path:
    """The generated student notebook of a lab."""
    return (root or repo_root()) / "labs" / lab / f"{lab}.ipynb"


@contextlib.contextmanager
def patched_environ(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of a block (kernels inherit them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def venv_path() -> str:
    """PATH with this interpreter's bin first: nbgrader shells out to alembic, kernels to python."""
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join([bin_dir, *[p for p in parts if p != bin_dir]])


def repository_slug(root: Path | None = None) -> str:
    """``owner/name`` of the public learners' repository (``[tool.threatlab] learner-repository``)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open((root or repo_root()) / "pyproject.toml", "rb") as handle:
        slug = (
            tomllib.load(handle).get("tool", {}).get("threatlab", {}).get("learner-repository", "")
        )
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        raise ValueError(
            f"[tool.threatlab] learner-repository in pyproject.toml must be 'owner/name', got {slug!r}."
        )
    return slug
