"""The README's lab table and the launch links, generated from each lab's notebook metadata."""

from __future__ import annotations

import re
from pathlib import Path

from .layout import lab_ids, repo_root, repository_slug
from .notebooks import lab_metadata

README_START, README_END = "<!-- labs:start -->", "<!-- labs:end -->"


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


def readme_with_table(text: str, table: str) -> str:
    """README text with the block between the lab-table markers replaced."""
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"README.md lacks the markers {README_START} ... {README_END}.")
    return pattern.sub(lambda _: f"{README_START}\n{table}\n{README_END}", text)


def write_readme(root: Path | None = None) -> Path:
    """Rewrite the README's lab table in place (``make readme``)."""
    readme = (root or repo_root()) / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(readme_with_table(text, readme_table(root)), encoding="utf-8")
    return readme


def readme_problems(root: Path | None = None) -> list[str]:
    """``["README.md: lab table out of date ..."]`` when the table is stale, else nothing."""
    text = ((root or repo_root()) / "README.md").read_text(encoding="utf-8")
    if readme_with_table(text, readme_table(root)) != text:
        return ["README.md: lab table out of date (run `make readme`)"]
    return []
