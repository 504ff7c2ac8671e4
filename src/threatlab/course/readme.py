"""Generated blocks of the course documents, and the launch links: one source for each fact.

Every fact a lab's notebook metadata or the recorded benchmark already holds is written into the
documents between markers (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``), never by hand:
the README's and the syllabus' lab tables (titles, topics, ATLAS/OWASP ids, learner time, launch
links) and the timing table of the instructor notes and the workshop guide (``course/timings.csv``,
written by ``make bench``). ``make readme`` rewrites them; ``make check`` fails when one is stale.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

from .layout import lab_ids, repo_root, repository_slug
from .notebooks import lab_metadata

README_START, README_END = "<!-- labs:start -->", "<!-- labs:end -->"
TIMINGS = (
    "course/timings.csv"  # make bench --record: lab, mode, device, seconds, peak_mb, measured, note
)
TIMING_FIELDS = ("lab", "mode", "device", "seconds", "peak_mb", "measured", "note")


def binder_link(lab: str, root: Path | None = None) -> str:
    """The mybinder.org launch link that opens a lab's student notebook in JupyterLab."""
    slug = repository_slug(root)
    return f"https://mybinder.org/v2/gh/{slug}/HEAD?labpath=labs/{lab}/{lab}.ipynb"


def ids_cell(meta: dict, key: str) -> str:
    """A metadata id list as one table cell (— when empty)."""
    return ", ".join(meta.get(key, [])) or "—"


def lab_table(
    header: list[str], row: Callable[[str, dict], list[str]], root: Path | None = None
) -> str:
    """A markdown table with one row per lab: ``row(lab, metadata)`` gives its cells."""
    root = root or repo_root()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for lab in lab_ids(root):
        lines.append("| " + " | ".join(row(lab, lab_metadata(lab, root))) + " |")
    return "\n".join(lines)


def readme_table(root: Path | None = None) -> str:
    """The README's lab table, from each lab's notebook metadata."""

    def row(lab: str, meta: dict) -> list[str]:
        badge = f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_link(lab, root)})"
        return [
            f"[{lab}](labs/{lab}/{lab}.ipynb) — {meta.get('title', '')}",
            meta.get("topic", ""),
            ids_cell(meta, "atlas"),
            ids_cell(meta, "owasp"),
            f"{meta.get('minutes', '?')} min",
            badge,
        ]

    return lab_table(["Lab", "Topic", "MITRE ATLAS", "OWASP", "Time", "Launch"], row, root)


def syllabus_table(root: Path | None = None) -> str:
    """The syllabus' lab table: number, title, topic, ids and learner time, from the metadata."""

    def row(lab: str, meta: dict) -> list[str]:
        return [
            lab[:2],
            meta.get("title", lab),
            meta.get("topic", ""),
            ids_cell(meta, "atlas"),
            ids_cell(meta, "owasp"),
            f"{meta.get('minutes', '?')} min",
        ]

    header = ["#", "Lab", "Topic", "MITRE ATLAS", "OWASP", "Learner time"]
    return lab_table(header, row, root)


def id_names(root: Path | None = None) -> str:
    """The name of every framework id the labs declare, from the course's catalogue."""
    from ..threatmodel import catalogue

    root = root or repo_root()
    names = catalogue()
    ids = {
        i
        for lab in lab_ids(root)
        for key in ("atlas", "owasp")
        for i in lab_metadata(lab, root).get(key, [])
    }
    order = {"atlas-technique": 0, "atlas-mitigation": 1, "owasp-ml": 2, "owasp-llm": 3}
    ranked = sorted(ids, key=lambda i: (order.get(names[i].kind, 9), i))
    return "Names of the ids above: " + "; ".join(f"{i} {names.full_name(i)}" for i in ranked) + "."


def read_timings(root: Path | None = None) -> dict[tuple[str, str, str], dict]:
    """``{(lab, mode, device): row}`` from ``course/timings.csv`` (empty when there is none)."""
    path = (root or repo_root()) / TIMINGS
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as handle:
        return {(r["lab"], r["mode"], r["device"]): r for r in csv.DictReader(handle)}


def record_timings(rows: list[dict], root: Path | None = None) -> Path:
    """Merge benchmark rows (lab, mode, device, seconds, peak_mb, measured, note) into the file."""
    path = (root or repo_root()) / TIMINGS
    merged = read_timings(root)
    for row in rows:
        merged[row["lab"], row["mode"], row["device"]] = {k: row.get(k, "") for k in TIMING_FIELDS}
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=TIMING_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(merged[key] for key in sorted(merged))
    return path


def _cell(timings: dict, key: tuple[str, str, str], field: str, unit: str) -> str:
    row = timings.get(key)
    if not row or not row.get(field):
        return "—"
    value = float(row[field])
    return f"{value / 1024:.1f} GB" if unit == "GB" else f"{value:.0f} s"


def timing_table(root: Path | None = None) -> str:
    """Learner time (metadata) and measured run time and memory (``course/timings.csv``) per lab."""
    root = root or repo_root()
    timings = read_timings(root)
    rows = [
        "| Lab | Learner time | FAST, 2-core CPU | Full, 2-core CPU | FAST, GPU | Full, GPU "
        "| Kernel peak (CPU, full) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for lab in lab_ids(root):
        meta = lab_metadata(lab, root)
        rows.append(
            f"| {lab[:2]} {meta.get('title', lab)} | {meta.get('minutes', '?')} min "
            f"| {_cell(timings, (lab, 'fast', 'cpu'), 'seconds', 's')} "
            f"| {_cell(timings, (lab, 'full', 'cpu'), 'seconds', 's')} "
            f"| {_cell(timings, (lab, 'fast', 'cuda'), 'seconds', 's')} "
            f"| {_cell(timings, (lab, 'full', 'cuda'), 'seconds', 's')} "
            f"| {_cell(timings, (lab, 'full', 'cpu'), 'peak_mb', 'GB')} |"
        )
    dates = sorted({r["measured"] for r in timings.values() if r.get("measured")})
    if dates:
        rows.append(
            f"\nMeasured with `make bench` ({dates[0]} to {dates[-1]}; `{TIMINGS}`): a whole notebook, "
            "kernel start included; — means not measured."
        )
    return "\n".join(rows)


# document -> [(block name, generator)]
BLOCKS: dict[str, list[tuple[str, Callable[[Path], str]]]] = {
    "README.md": [("labs", readme_table)],
    "course/syllabus.md": [("labs", syllabus_table), ("ids", id_names)],
    "course/instructor-notes.md": [("timings", timing_table)],
    "course/workshop-guide.md": [("timings", timing_table)],
}


def with_block(text: str, name: str, content: str, where: str = "the document") -> str:
    """``text`` with the block between ``<!-- name:start -->`` and ``<!-- name:end -->`` replaced."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{where} lacks the markers {start} ... {end}.")
    return pattern.sub(lambda _: f"{start}\n{content}\n{end}", text)


def readme_with_table(text: str, table: str) -> str:
    """README text with the block between the lab-table markers replaced."""
    return with_block(text, "labs", table, "README.md")


def _regenerated(root: Path, document: str) -> tuple[str, str]:
    text = (root / document).read_text(encoding="utf-8")
    new = text
    for name, generate in BLOCKS[document]:
        new = with_block(new, name, generate(root), document)
    return text, new


def write_readme(root: Path | None = None) -> list[Path]:
    """Rewrite every generated block in place (``make readme``); returns the documents changed."""
    root = root or repo_root()
    changed = []
    for document in BLOCKS:
        text, new = _regenerated(root, document)
        if new != text:
            (root / document).write_text(new, encoding="utf-8")
            changed.append(root / document)
    return changed


def readme_problems(root: Path | None = None) -> list[str]:
    """Documents whose generated blocks are stale (or lack their markers), and labs never timed."""
    root = root or repo_root()
    problems = []
    for document in BLOCKS:
        try:
            text, new = _regenerated(root, document)
        except ValueError as error:
            problems.append(str(error))
            continue
        if new != text:
            problems.append(f"{document}: a generated table is out of date (run `make readme`)")
    timings = read_timings(root)
    for lab in lab_ids(root):
        missing = [m for m in ("fast", "full") if (lab, m, "cpu") not in timings]
        if missing:
            problems.append(
                f"{TIMINGS}: no {'/'.join(missing)} CPU timing for {lab} "
                "(run `python -m threatlab.course bench --record " + lab + "`)"
            )
    return problems
