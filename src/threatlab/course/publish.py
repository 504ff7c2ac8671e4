"""Publishing flow: the learner release, a folder to push as the public learners' repository.

This repository is the instructors': it holds the solutions and the hidden tests, and stays private.
Learners (and Binder, and the JupyterHub image) get a release built from an **allow-list**:
the student notebooks, the support library, the dataset pins, Binder's environment, the learner
pages of the course and a learner README/Makefile/pyproject generated from templates in
``learner/``. Nothing else is copied, and before the release is written every file of it is
scanned for the hidden tests and solutions of every lab (:func:`leaks`): a leak stops the build.

    python -m threatlab.course release --out build/release   # make release

``--out`` may be a clone of the learners' repository: everything but its ``.git`` is replaced.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .layout import lab_ids, repo_root, solution_path
from .notebooks import read_notebook
from .readme import readme_table, readme_with_table

# What learners get, as globs relative to the repository root. Subpackages of src/threatlab are
# listed one by one: threatlab.course (this pipeline) and threatlab.grader stay with instructors.
LEARNER_FILES = (
    "LICENSE",
    "labs/*/*.ipynb",
    "datasets/manifest.json",
    "binder/runtime.txt",
    "binder/apt.txt",
    "binder/requirements.txt",
    "binder/postBuild",
    "binder/hide-instructor-tools",
    "mk/install.mk",
    "requirements/models.txt",
    "src/threatlab/*.py",
    "src/threatlab/llm/*.py",
    "src/threatlab/py.typed",
    "src/threatlab/threatmodel/*.py",
    "src/threatlab/threatmodel/data/*.json",
)
# Course pages learners read; blocks marked for instructors are cut, links to instructors' pages
# become plain text (:func:`learner_text`).
LEARNER_PAGES = (
    "course/syllabus.md",
    "course/prerequisites.md",
    "course/glossary.md",
    "course/local-llm.md",
)
INSTRUCTOR_PAGES = ("workshop-guide.md", "instructor-notes.md", "grader/README.md")
# Generated from the templates in learner/: (template, file in the release).
TEMPLATES = (
    ("learner/README.md", "README.md"),
    ("learner/Makefile", "Makefile"),
    ("learner/gitignore", ".gitignore"),
)
# Sections of the instructors' pyproject.toml that the learners' keeps (the rest is tooling for
# instructors and maintainers: threatlab-grade, dev extras, ruff, pytest).
LEARNER_PYPROJECT = (
    "build-system",
    "project",
    "project.urls",
    "tool.threatlab",
    "tool.setuptools.*",
)
MARKER = "RELEASE.json"  # written last; a folder holding it may be replaced by a new release
INSTRUCTORS_BLOCK = re.compile(
    r"<!-- instructors:start -->.*?<!-- instructors:end -->\n?", re.DOTALL
)
MIN_WINDOW = 3  # consecutive significant lines that make a leak
MIN_LINE_CHARS = 6  # shorter lines (`)`, `else:`, `pass`) are too common to be evidence
# Argument plumbing (`epochs=epochs,`, `model,`, `lr=lr)`) says nothing about an answer.
PLUMBING = re.compile(r"^[\w.]+(?:\s*=\s*[\w.]+)?\s*[,)\]}:]*$")


class ReleaseError(RuntimeError):
    """The learner release cannot be built (a leak, or an output folder it must not replace)."""


# ---------------------------------------------------------------- what may not leak


def _normalise(line: str) -> str:
    return " ".join(line.split())


def significant(lines: Iterable[str]) -> list[str]:
    """Lines that can be evidence of a copy: normalised, not blank, not comments, not trivial."""
    kept = []
    for line in lines:
        text = _normalise(line)
        if (
            len(text) >= MIN_LINE_CHARS
            and not text.startswith(("#", "//"))
            and not PLUMBING.match(text)
        ):
            kept.append(text)
    return kept


def _regions(source: str, begin: str, end: str) -> Iterator[list[str]]:
    inside, block = False, []
    for line in source.splitlines():
        if begin in line:
            inside, block = True, []
        elif end in line and inside:
            inside = False
            yield block
        elif inside:
            block.append(line)


def secret_blocks(nb: nbformat.NotebookNode) -> list[list[str]]:
    """A lab's secrets: every hidden-test block, solution region and written model answer."""
    blocks = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        blocks += _regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        if cell.cell_type == "code":
            blocks += _regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        elif meta.get("solution"):
            blocks.append(cell.source.splitlines())
    return blocks


def public_lines(nb: nbformat.NotebookNode) -> list[list[str]]:
    """What every learner sees of an authored notebook: each cell without its secret regions."""
    shown = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        lines, skipping = [], False
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line or "### BEGIN SOLUTION" in line:
                skipping = True
            elif "### END HIDDEN TESTS" in line or "### END SOLUTION" in line:
                skipping = False
            elif not skipping:
                lines.append(line)
        shown.append(lines)
    return shown


def secret_windows(root: Path | None = None) -> dict[tuple[str, ...], str]:
    """``{window: lab}``: windows of secret lines that no lab shows openly (a hidden test may
    repeat a visible assert, or share boilerplate with another lab's visible code: no secret)."""
    root = root or repo_root()
    notebooks = {lab: read_notebook(solution_path(lab, root)) for lab in lab_ids(root)}
    public: set[tuple[str, ...]] = set()
    for nb in notebooks.values():
        for lines in public_lines(nb):
            public |= _windows(significant(lines))
    secrets: dict[tuple[str, ...], str] = {}
    for lab, nb in notebooks.items():
        for block in secret_blocks(nb):
            for window in _windows(significant(block)) - public:
                secrets.setdefault(window, lab)
    return secrets


def _windows(lines: list[str]) -> set[tuple[str, ...]]:
    return {tuple(lines[i : i + MIN_WINDOW]) for i in range(len(lines) - MIN_WINDOW + 1)}


def text_lines(path: Path) -> list[str]:
    """The lines a file shows a reader: a notebook's cell sources and outputs, else its text."""
    data = path.read_bytes()
    if b"\0" in data[:8192]:
        return []  # binary
    text = data.decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        try:
            nb = nbformat.reads(text, as_version=4)
        except Exception:  # noqa: BLE001 - not a notebook after all: scan it as text
            return text.splitlines()
        lines = []
        for cell in nb.cells:
            lines += cell.source.splitlines()
            for output in cell.get("outputs", []):
                lines += str(output.get("text", "")).splitlines()
                for value in output.get("data", {}).values():
                    lines += str(value).splitlines()
        return lines
    return text.splitlines()


def leaks(folder: Path, root: Path | None = None) -> list[str]:
    """Files of ``folder`` that show any lab's hidden tests or solutions (3+ significant lines).

    Every hidden-test block, solution region and written model answer of every lab is cut into
    windows of ``MIN_WINDOW`` consecutive significant lines; a file leaks when it shows one of
    those windows as consecutive significant lines of its own.
    """
    secrets = secret_windows(root)
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        shown = _windows(significant(text_lines(path))) & secrets.keys()
        if shown:
            window = sorted(shown)[0]
            found.append(
                f"{path.relative_to(folder)}: {len(shown)} passage(s) of {secrets[window]}'s hidden "
                f"tests or solutions, e.g. {' / '.join(window)[:160]!r}"
            )
    return found


# ---------------------------------------------------------------- what learners get


def learner_text(markdown: str) -> str:
    """A course page for learners: instructors' blocks cut, links to instructors' pages unlinked."""
    text = INSTRUCTORS_BLOCK.sub("", markdown)
    pages = "|".join(re.escape(page) for page in INSTRUCTOR_PAGES)
    return re.sub(rf"\[([^\]]+)\]\((?:\.\./|course/)?(?:{pages})(?:#[^)]*)?\)", r"\1", text)


def learner_files(root: Path | None = None) -> list[Path]:
    """Every file of the allow-list, relative to the repository root, sorted."""
    root = root or repo_root()
    found = {
        path.relative_to(root)
        for pattern in LEARNER_FILES
        for path in root.glob(pattern)
        if path.is_file() and "__pycache__" not in path.parts
    }
    return sorted(found)


def learner_pyproject(instructors_pyproject: str) -> str:
    """The learners' pyproject.toml: the instructors' with only the ``LEARNER_PYPROJECT`` tables."""
    kept = []
    for section in re.split(r"(?m)^(?=\[)", instructors_pyproject):
        header = re.match(r"\[([^\]]+)\]", section)
        name = header.group(1) if header else ""
        if any(fnmatch.fnmatchcase(name, keep) for keep in LEARNER_PYPROJECT):
            kept.append(section.rstrip("\n") + "\n")
    if not any(section.startswith("[project]") for section in kept):
        raise ReleaseError("pyproject.toml has no [project] table to copy")
    return "\n".join(kept)


def _source_commit(root: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def stage_release(stage: Path, root: Path | None = None) -> list[str]:
    """Write the learner release into an empty folder; return its files, relative, sorted."""
    root = root or repo_root()
    written = []
    for relative in learner_files(root):
        target = stage / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relative, target)
        written.append(str(relative))
    for page in LEARNER_PAGES:
        target = stage / page
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(learner_text((root / page).read_text(encoding="utf-8")), "utf-8")
        written.append(page)
    for template, name in TEMPLATES:
        text = (root / template).read_text(encoding="utf-8")
        if name == "README.md":
            text = readme_with_table(text, readme_table(root))
        (stage / name).write_text(text, encoding="utf-8")
        written.append(name)
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    (stage / "pyproject.toml").write_text(learner_pyproject(pyproject), encoding="utf-8")
    return sorted([*written, "pyproject.toml"])


@dataclass(frozen=True)
class Release:
    """A built learner release."""

    folder: Path
    files: tuple[str, ...]
    source_commit: str


def _replaceable(out: Path) -> bool:
    """An output folder may be replaced when it is absent, empty, or an earlier release."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    entries = {p.name for p in out.iterdir()}
    return not entries or entries == {".git"} or MARKER in entries


def build_release(out: Path, root: Path | None = None) -> Release:
    """Build the learner release into ``out`` (an earlier release or a clone of one is updated).

    The release is staged in a temporary folder next to ``out`` and scanned for leaks first, so a
    failed build leaves ``out`` as it was.
    """
    root = root or repo_root()
    out = out.resolve()
    if root == out or root in out.parents and out.parts[len(root.parts)] not in ("build",):
        raise ReleaseError(f"{out}: build the release outside the repository (or under build/)")
    if not _replaceable(out):
        raise ReleaseError(
            f"{out} exists and is not a ThreatLab learner release (no {MARKER}): refusing to "
            "replace it. Choose an empty folder or a clone of the learners' repository."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}-staging-", dir=out.parent))
    try:
        files = stage_release(stage, root)
        found = leaks(stage, root)
        if found:
            raise ReleaseError(
                "the release would leak hidden tests or solutions:\n" + "\n".join(found)
            )
        commit = _source_commit(root)
        marker = {
            "source_commit": commit,
            "built": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "labs": lab_ids(root),
        }
        (stage / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        out.mkdir(exist_ok=True)
        for entry in out.iterdir():
            if entry.name != ".git":
                shutil.rmtree(
                    entry
                ) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        for entry in stage.iterdir():
            shutil.move(str(entry), out / entry.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return Release(out, tuple(files), commit)
