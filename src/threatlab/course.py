"""The course pipeline: discover labs, generate student versions, check, execute and grade notebooks.

Maintainers use it through ``make``::

    python -m threatlab.course labs     # regenerate labs/ from solutions/ (nbgrader generate_assignment)
    python -m threatlab.course check    # notebooks clean, labs/ in sync, README table in sync
    python -m threatlab.course readme   # rewrite the README's lab table from notebook metadata
    python -m threatlab.course run 01-evasion --mode fast --seed 0   # execute one solution
    python -m threatlab.course bench    # wall time and peak memory of every solution, FAST and full

Adding a lab needs no change here: put ``solutions/NN-slug/NN-slug.ipynb`` in place.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import json
import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat

from .env import FAST_ENV, QUIET_ENV
from .files import atomic_write_text
from .report import METRICS_ENV, read_metrics

LAB_ID = re.compile(r"^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")
NB_VERSION = 4
# nbgrader markup, papermill's tags, and the read-only flags nbgrader sets on locked cells.
KEEP_CELL_METADATA = ("nbgrader", "tags", "editable", "deletable")
LANGUAGE_INFO = {"file_extension": ".py", "mimetype": "text/x-python", "name": "python"}
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
REQUIRED_LAB_METADATA = ("title", "topic", "atlas", "owasp", "minutes")
README_START, README_END = "<!-- labs:start -->", "<!-- labs:end -->"


# ---------------------------------------------------------------- where things are


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


def _venv_path() -> str:
    """PATH with this interpreter's bin first: nbgrader shells out to alembic, kernels to python."""
    bin_dir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join([bin_dir, *[p for p in parts if p != bin_dir]])


# ---------------------------------------------------------------- notebooks


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


# ---------------------------------------------------------------- nbgrader


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

    os.environ["PATH"] = _venv_path()
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


# ---------------------------------------------------------------- execution


@dataclass(frozen=True)
class Run:
    """One executed solution: its metrics and how long it took."""

    lab: str
    mode: str
    seed: int
    seconds: float
    metrics: dict
    output: Path


@contextlib.contextmanager
def poll_in_slices(slice_seconds: float = 1.0) -> Iterator[None]:
    """Wait for kernel messages in short polls instead of one long one, while inside the block.

    A zmq wake-up is sometimes missed: the kernel's reply sits in the socket and is noticed only
    when the poll times out, so a cell that finished in seconds "took" the whole per-cell timeout
    (seen here: Lab 03's widget cell, 900.01 s, then success). Re-polling every ``slice_seconds``
    bounds such a stall to about that long; a real timeout still raises at the same deadline.
    """
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_seconds if deadline is None else deadline - time.monotonic()
            try:
                return await original(self, timeout=max(0.0, min(slice_seconds, left)))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    AsyncZMQSocketChannel.get_msg = get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


class _ComputedParameterDefaults(logging.Filter):
    """papermill cannot parse ``FAST = fast_default()`` (a computed default), so it warns that it
    cannot parse the line and that FAST is unknown; it still injects FAST. Expected: drop both."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Unable to parse line")
            or message.startswith("Passed unknown parameter: FAST")
        )


@contextlib.contextmanager
def _quiet_computed_defaults() -> Iterator[None]:
    """Inside the block, papermill's loggers drop the two expected warnings (see above)."""
    quiet = _ComputedParameterDefaults()
    loggers = [logging.getLogger(name) for name in ("papermill", "papermill.translators")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def executed_path(out_dir: Path, lab: str, *, fast: bool, seed: int) -> Path:
    """Where :func:`execute` writes a lab's executed notebook: ``<lab>-<fast|full>-seed<seed>.ipynb``."""
    return out_dir / f"{lab}-{'fast' if fast else 'full'}-seed{seed}.ipynb"


def execute(
    lab: str,
    out_dir: Path,
    *,
    fast: bool = True,
    seed: int = 0,
    notebook: Path | None = None,
    timeout: int = 900,
    root: Path | None = None,
    mpl_backend: str = "Agg",
) -> Run:
    """Execute a lab notebook with papermill and return the metrics it reported.

    ``mpl_backend`` "Agg" (tests, bench) draws no figures into the executed notebook; the
    instructors' site passes the inline backend to keep them.
    """
    import papermill

    root = root or repo_root()
    notebook = notebook or solution_path(lab, root)
    out_dir = out_dir.resolve()  # the kernel runs in the notebook's folder, not ours
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = "fast" if fast else "full"
    output = executed_path(out_dir, lab, fast=fast, seed=seed)
    metrics_file = output.with_suffix(".metrics.jsonl")
    metrics_file.unlink(missing_ok=True)
    env = {
        METRICS_ENV: str(metrics_file),
        FAST_ENV: "1" if fast else "0",
        QUIET_ENV: "1",
        "PATH": _venv_path(),
        "MPLBACKEND": mpl_backend,
    }
    start = time.perf_counter()
    with patched_environ(**env), poll_in_slices(), _quiet_computed_defaults():
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"FAST": fast, "SEED": seed},
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
        )
    seconds = time.perf_counter() - start
    metrics = read_metrics(metrics_file) if metrics_file.exists() else {}
    return Run(lab, mode, seed, seconds, metrics, output)


# ---------------------------------------------------------------- README and benchmark


def binder_link(lab: str, root: Path | None = None) -> str:
    """The mybinder.org launch link that opens a lab's student notebook in JupyterLab."""
    slug = repository_slug(root)
    return f"https://mybinder.org/v2/gh/{slug}/HEAD?labpath=labs/{lab}/{lab}.ipynb"


def readme_table(root: Path | None = None) -> str:
    """The README's lab table, from each lab's notebook metadata."""
    root = root or repo_root()
    rows = [
        "| Lab | Topic | MITRE ATLAS | OWASP | Time | Launch |",
        "|---|---|---|---|---|---|",
    ]
    for lab in lab_ids(root):
        meta = lab_metadata(lab, root)
        badge = f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_link(lab, root)})"
        rows.append(
            f"| [{lab}](labs/{lab}/{lab}.ipynb) — {meta.get('title', '')} | {meta.get('topic', '')} "
            f"| {', '.join(meta.get('atlas', [])) or '—'} | {', '.join(meta.get('owasp', [])) or '—'} "
            f"| {meta.get('minutes', '?')} min | {badge} |"
        )
    return "\n".join(rows)


def repository_slug(root: Path | None = None) -> str:
    """``owner/name`` of the public repository, from ``[tool.threatlab]`` in pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open((root or repo_root()) / "pyproject.toml", "rb") as handle:
        slug = tomllib.load(handle).get("tool", {}).get("threatlab", {}).get("repository", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", slug):
        raise ValueError(
            f"[tool.threatlab] repository in pyproject.toml must be 'owner/name', got {slug!r}."
        )
    return slug


def readme_with_table(text: str, table: str) -> str:
    """README text with the block between the lab-table markers replaced."""
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the markers {README_START} ... {README_END}.")
    return pattern.sub(lambda _: f"{README_START}\n{table}\n{README_END}", text)


def _bench_one(lab: str, mode: str, out_dir: Path) -> dict:
    """Run one solution in a fresh process; peak memory is the kernel's maximum resident set."""
    command = [sys.executable, "-m", "threatlab.course", "run", lab, "--mode", mode, "--json"]
    command += ["--out", str(out_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{lab} ({mode}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# mybinder.org gives a session 2 GB of memory (the kernel is killed above it) and 1-2 CPU cores.
BINDER_MEMORY_MB = 2048
# A learner's full (non-FAST) run of a whole lab should take at most a few minutes on 2 cores.
BINDER_FULL_RUN_SECONDS = 300


def binder_verdict(row: dict) -> str:
    """Whether one benchmarked run fits Binder: kernel memory, and time for a full run."""
    problems = []
    if row["peak_mb"] >= BINDER_MEMORY_MB:
        problems.append(f"kernel peak {row['peak_mb']:.0f} MB >= {BINDER_MEMORY_MB} MB")
    if row["mode"] == "full" and row["seconds"] > BINDER_FULL_RUN_SECONDS:
        problems.append(f"full run {row['seconds']:.0f} s > {BINDER_FULL_RUN_SECONDS} s")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def bench(labs: Sequence[str], modes: Sequence[str], out: Path) -> list[dict]:
    """Wall time and peak kernel memory of every solution in every mode; writes CSV and Markdown.

    Each row also says whether the run fits Binder (kernel peak memory under 2 GB; a full run
    within ``BINDER_FULL_RUN_SECONDS`` on the benchmarking machine, meant to be 2 cores).
    """
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lab in labs:
        for mode in modes:
            print(f"bench: {lab} {mode} ...", file=sys.stderr, flush=True)
            row = _bench_one(lab, mode, out / "runs")
            rows.append(row | {"binder": binder_verdict(row)})
    fields = ["lab", "mode", "seconds", "peak_mb", "binder"]
    with open(out / "bench.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: row[k] for k in fields} for row in rows)
    with open(out / "bench.jsonl", "w", encoding="utf-8") as handle:  # with every run's metrics
        handle.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    table = [
        "| lab | mode | wall seconds | peak memory (MB) | fits Binder |",
        "|---|---|---:|---:|---|",
    ]
    table += [
        f"| {r['lab']} | {r['mode']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['binder']} |"
        for r in rows
    ]
    misfits = sorted({r["lab"] for r in rows if r["binder"] != "yes"})
    table += [
        "",
        f"Binder limits: kernel peak memory < {BINDER_MEMORY_MB} MB; a full run within "
        f"{BINDER_FULL_RUN_SECONDS} s on {os.cpu_count()} CPU core(s) (this machine). "
        + (f"Over the limits: {', '.join(misfits)}." if misfits else "Every benchmarked lab fits."),
    ]
    (out / "bench.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    return rows


# ---------------------------------------------------------------- command line


def _peak_child_mb() -> float:
    """Largest resident set of any finished child process (the kernel), in MB.

    ``run`` executes the notebook in a kernel subprocess and waits for it, so this is the kernel's
    peak: the number to hold against Binder's 2 GB limit (``BINDER_MEMORY_MB``).
    """
    import resource

    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m threatlab.course``."""
    parser = argparse.ArgumentParser(
        prog="python -m threatlab.course", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_labs = sub.add_parser("labs", help="regenerate labs/ from solutions/")
    p_labs.add_argument("lab", nargs="*")
    sub.add_parser("format", help="rewrite solutions/ notebooks in canonical form")
    sub.add_parser("check", help="notebooks clean, labs/ and README in sync")
    sub.add_parser("readme", help="rewrite the README lab table")
    p_run = sub.add_parser("run", help="execute one solution notebook")
    p_run.add_argument("lab")
    p_run.add_argument("--mode", choices=["fast", "full"], default="fast")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--out", type=Path, default=Path("build/runs"))
    p_run.add_argument("--json", action="store_true", help="print one JSON line with the results")
    p_bench = sub.add_parser("bench", help="time every solution in FAST and full mode")
    p_bench.add_argument("--modes", default="fast,full")
    p_bench.add_argument("--out", type=Path, default=Path("build/bench"))
    p_bench.add_argument("lab", nargs="*")
    args = parser.parse_args(argv)
    root = repo_root()

    if args.command == "labs":
        for path in generate_labs(root, labs=args.lab or None):
            print(f"generated {path.relative_to(root)}")
    elif args.command == "format":
        for lab in lab_ids(root):
            write_notebook(read_notebook(solution_path(lab, root)), solution_path(lab, root))
    elif args.command == "readme":
        readme = root / "README.md"
        readme.write_text(
            readme_with_table(readme.read_text(encoding="utf-8"), readme_table(root)),
            encoding="utf-8",
        )
    elif args.command == "check":
        problems = [
            *(
                p
                for lab in lab_ids(root)
                for p in notebook_problems(solution_path(lab, root), authored=True)
            ),
            *(
                p
                for lab in lab_ids(root)
                for p in notebook_problems(student_path(lab, root), authored=False)
            ),
            *labs_out_of_sync(root),
        ]
        readme = (root / "README.md").read_text(encoding="utf-8")
        if readme_with_table(readme, readme_table(root)) != readme:
            problems.append("README.md: lab table out of date (run `make readme`)")
        print("\n".join(problems) or "all notebooks clean and in sync")
        return 1 if problems else 0
    elif args.command == "run":
        run = execute(args.lab, args.out, fast=args.mode == "fast", seed=args.seed, root=root)
        result = asdict(run) | {"output": str(run.output), "peak_mb": _peak_child_mb()}
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    elif args.command == "bench":
        bench(args.lab or lab_ids(root), args.modes.split(","), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
