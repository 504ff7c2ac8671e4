"""The course site: Jupyter Book (Sphinx-based 1.x) sources generated from ``course/`` and the labs.

::

    python -m threatlab.course.site build                 # learners' site -> build/site/html
    python -m threatlab.course.site build --instructors   # + executed solutions -> build/site-instructors/

The hand-written pages live in ``course/`` (``_config.yml``, ``_toc.yml``, ``intro.md``,
``prerequisites.md``, ``glossary.md``, ``workshop-guide.md``, plus ``syllabus.md`` and
``instructor-notes.md``). Everything that depends on the labs is generated into ``build/`` at build
time and never committed: the lab index, one page per lab (title, topic, ATLAS/OWASP ids, estimated
time, launch link, and the notebook's own learning-goals and threat-model sections), the learning
objectives, and, for the instructors' build only, the solution notebooks. A new lab in
``solutions/`` appears without a change here. The build runs Sphinx with warnings as errors and
nitpicky references, so a broken internal link fails it; it downloads nothing.
"""

from __future__ import annotations

import argparse
import csv
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import nbformat

from .execution import execute, executed_path
from .layout import lab_ids, repo_root, repository_slug, solution_path, student_path
from .notebooks import lab_metadata, notebook_sections, read_notebook
from .publish import learner_text
from .readme import binder_link, ids_cell, lab_table

# Hand-written pages copied from course/ into the site source. Learners' build: through
# publish.learner_text (instructors' blocks cut); the "Teaching" part only in the instructors' build.
COURSE_PAGES = ("intro.md", "syllabus.md", "prerequisites.md", "glossary.md", "local-llm.md")
TEACHING_PAGES = ("workshop-guide.md", "instructor-notes.md")
TEACHING_CAPTION = "Teaching"
SECTIONS = ("learning goals", "threat model")  # taken from each notebook, verbatim
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # executed solutions keep figures


def github_link(path: str, root: Path | None = None) -> str:
    """A link to a file of the repository on GitHub (the site does not host notebooks itself)."""
    return f"https://github.com/{repository_slug(root)}/blob/main/{path}"


def _section(sections: Mapping[str, str], name: str) -> str:
    """The section whose heading starts with ``name`` (e.g. "threat model of this lab: ...")."""
    for key, text in sections.items():
        if key.startswith(name):
            return text
    return ""


def _title(nb: nbformat.NotebookNode, lab: str, meta: Mapping) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^# (.+)$", cell.source, re.MULTILINE)
            if match:
                return match.group(1).strip()
    return f"Lab {lab[:2]} — {meta.get('title', lab)}"


def _prerequisites(nb: nbformat.NotebookNode) -> str:
    """The ``**Prerequisites:**`` sentence of the notebook's first cell, if it has one."""
    first = nb.cells[0].source if nb.cells else ""
    match = re.search(r"\*\*Prerequisites:\*\*\s*(.+?)(?:\n\n|\n\*\*|$)", first, re.DOTALL)
    return " ".join(match.group(1).split()) if match else ""


def read_timings(bench_csv: Path) -> dict[tuple[str, str], tuple[float, float]]:
    """``{(lab, mode): (seconds, peak_mb)}`` from ``make bench``'s CSV (empty if there is none)."""
    if not bench_csv.is_file():
        return {}
    with open(bench_csv, encoding="utf-8") as handle:
        return {
            (row["lab"], row["mode"]): (float(row["seconds"]), float(row["peak_mb"]))
            for row in csv.DictReader(handle)
        }


def _measured(lab: str, timings: Mapping) -> str:
    parts = []
    for mode, label in (("fast", "FAST"), ("full", "full")):
        if (lab, mode) in timings:
            seconds, peak = timings[lab, mode]
            parts.append(f"{label} {seconds:.0f} s, peak {peak:.0f} MB")
    return "; ".join(parts) + " (`make bench`, 2 CPU cores)" if parts else "not benchmarked yet"


def lab_page(lab: str, root: Path | None = None, timings: Mapping | None = None) -> str:
    """The site page of one lab, from its metadata and its student notebook's own sections."""
    root = root or repo_root()
    meta = lab_metadata(lab, root)
    path = student_path(lab, root)
    nb = read_notebook(path if path.is_file() else solution_path(lab, root))
    sections = notebook_sections(nb)
    rows = [
        ("Topic", meta.get("topic", "")),
        ("MITRE ATLAS", ", ".join(meta.get("atlas", [])) or "—"),
        ("OWASP", ", ".join(meta.get("owasp", [])) or "—"),
        ("Estimated time", f"{meta.get('minutes', '?')} minutes of learner work"),
        ("Notebook run time", _measured(lab, timings or {})),
        ("Prerequisites", _prerequisites(nb) or "Lab 00"),
        (
            "Launch",
            f"[Open on Binder]({binder_link(lab, root)}) · "
            f"[student notebook on GitHub]({github_link(f'labs/{lab}/{lab}.ipynb', root)})",
        ),
    ]
    lines = [f"# {_title(nb, lab, meta)}", "", "| | |", "|---|---|"]
    lines += [f"| **{key}** | {value} |" for key, value in rows]
    for name in SECTIONS:
        text = _section(sections, name)
        if text:
            lines += ["", f"## {name.capitalize()}", "", text]
    lines += [
        "",
        "## Run it",
        "",
        f"On Binder, nothing to install: [launch Lab {lab[:2]}]({binder_link(lab, root)}). Binder "
        "sessions are temporary; download your notebook regularly. Locally: `make lab` and open "
        f"`{lab}/{lab}.ipynb`. See [the prerequisites](../prerequisites.md).",
        "",
    ]
    return "\n".join(lines)


def labs_index_page(root: Path | None = None, timings: Mapping | None = None) -> str:
    """The table of every lab, linking each lab's page and its Binder launch."""
    root = root or repo_root()
    lines = [
        "# The labs",
        "",
        "Each lab is one Jupyter notebook. Open it on Binder (nothing to install) or locally with "
        "`make lab`. Times are learner work time; the notebooks themselves run in under a minute "
        "in FAST mode on 2 CPU cores.",
        "",
    ]

    def row(lab: str, meta: dict) -> list[str]:
        return [
            f"[{lab[:2]} {meta.get('title', lab)}]({lab}.md)",
            meta.get("topic", ""),
            ids_cell(meta, "atlas"),
            ids_cell(meta, "owasp"),
            f"{meta.get('minutes', '?')} min",
            f"[Binder]({binder_link(lab, root)})",
        ]

    lines.append(lab_table(["Lab", "Topic", "MITRE ATLAS", "OWASP", "Time", "Launch"], row, root))
    return "\n".join(lines) + "\n"


def objectives_page(root: Path | None = None) -> str:
    """Every lab's learning goals on one page (the course's learning objectives)."""
    root = root or repo_root()
    lines = [
        "# Learning objectives",
        "",
        "What a learner can do after each lab, taken from the lab notebooks themselves. The "
        "syllabus groups them into course-level outcomes.",
    ]
    for lab in lab_ids(root):
        path = student_path(lab, root)
        nb = read_notebook(path if path.is_file() else solution_path(lab, root))
        goals = _section(notebook_sections(nb), "learning goals")
        if goals:
            title = lab_metadata(lab, root).get("title", lab)
            lines += ["", f"## [Lab {lab[:2]}: {title}](labs/{lab}.md)", "", goals]
    return "\n".join(lines) + "\n"


def executed_solutions(out: Path, root: Path | None = None) -> dict[str, Path]:
    """Every solution executed in FAST mode with its figures, for the instructors' build.

    A run is reused while it is newer than its notebook. ``make bench``'s runs are not used: they
    run with matplotlib's Agg backend, so they hold no figures.
    """
    root = root or repo_root()
    out = out.resolve()
    found = {}
    for lab in lab_ids(root):
        source, target = solution_path(lab, root), executed_path(out, lab, fast=True, seed=0)
        if not target.is_file() or target.stat().st_mtime < source.stat().st_mtime:
            print(f"site: executing {lab} (FAST) ...", file=sys.stderr, flush=True)
            execute(lab, out, fast=True, seed=0, root=root, mpl_backend=INLINE_BACKEND)
        found[lab] = target
    return found


def site_source(
    out: Path,
    *,
    instructors: bool = False,
    executed: Mapping[str, Path] | None = None,
    root: Path | None = None,
) -> Path:
    """Write the Jupyter Book source to ``out`` (replaced), return it.

    ``instructors`` adds a section with every lab's solution notebook: the executed ones in
    ``executed`` (with outputs), else the authored notebook as it is (no outputs).
    """
    import yaml

    root = root or repo_root()
    course = root / "course"
    if out.exists():
        shutil.rmtree(out)
    (out / "labs").mkdir(parents=True)
    for page in COURSE_PAGES:
        text = (course / page).read_text(encoding="utf-8")
        (out / page).write_text(text if instructors else learner_text(text), encoding="utf-8")
    for page in TEACHING_PAGES if instructors else ():
        shutil.copyfile(course / page, out / page)
    timings = read_timings(root / "build" / "bench" / "bench.csv")
    (out / "objectives.md").write_text(objectives_page(root), encoding="utf-8")
    (out / "labs" / "index.md").write_text(labs_index_page(root, timings), encoding="utf-8")
    for lab in lab_ids(root):
        (out / "labs" / f"{lab}.md").write_text(lab_page(lab, root, timings), encoding="utf-8")
    config = yaml.safe_load((course / "_config.yml").read_text(encoding="utf-8"))
    toc = yaml.safe_load((course / "_toc.yml").read_text(encoding="utf-8"))
    if not instructors:
        toc["parts"] = [p for p in toc["parts"] if p.get("caption") != TEACHING_CAPTION]
    if instructors:
        config["title"] = f"{config.get('title', 'ThreatLab')} — instructors' edition"
        (out / "solutions").mkdir()
        for lab in lab_ids(root):
            source = (executed or {}).get(lab, solution_path(lab, root))
            shutil.copyfile(source, out / "solutions" / f"{lab}.ipynb")
        (out / "solutions" / "index.md").write_text(
            "# Solutions (instructors only)\n\nThe authored notebooks with their solutions, "
            "executed. Do not publish this build where learners can reach it.\n",
            encoding="utf-8",
        )
        toc.setdefault("parts", []).append(
            {
                "caption": "Instructors only",
                "chapters": [{"file": "solutions/index", "sections": [{"glob": "solutions/*"}]}],
            }
        )
    (out / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return out


def build_site(source: Path, out: Path) -> Path:
    """Build HTML with Jupyter Book, warnings (broken internal links included) as errors."""
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    command = [str(jupyter_book if jupyter_book.exists() else "jupyter-book"), "build"]
    command += [str(source), "--path-output", str(out), "--builder", "html"]
    command += ["--warningiserror", "--nitpick", "--keep-going", "--all"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed (exit {done.returncode}):\n"
            f"{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
        )
    return out / "_build" / "html"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m threatlab.course.site``."""
    parser = argparse.ArgumentParser(prog="python -m threatlab.course.site", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="generate the site source and build HTML")
    p_build.add_argument("--instructors", action="store_true", help="add executed solutions")
    p_build.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    root = repo_root()
    name = "site-instructors" if args.instructors else "site"
    out = (args.out or root / "build" / name).resolve()
    executed = executed_solutions(out / "runs", root) if args.instructors else None
    source = site_source(out / "src", instructors=args.instructors, executed=executed, root=root)
    html = build_site(source, out)
    print(f"site built: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
