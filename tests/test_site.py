"""The course site builds offline with Jupyter Book, has a page per lab, and fails on broken links.

The learner build (``make site``) and the instructors' build (``make site-instructors``, which adds
the solutions) both run here. The instructors' build here embeds the authored solution notebooks
without executing them: executing them (FAST, with figures, reused while newer than the notebook)
is what ``make site-instructors`` adds, and the regression tests already execute every solution.
Each build took 15-40 s on 2 cores with other jobs running (about 10 s of CPU).
"""

from __future__ import annotations

import re
import shutil

import pytest

from threatlab.course import lab_ids, lab_metadata, read_notebook, student_path
from threatlab.course.site import (
    binder_link,
    build_site,
    lab_page,
    labs_index_page,
    notebook_sections,
    objectives_page,
    site_source,
)

LABS = lab_ids()


@pytest.fixture(scope="module")
def learner_site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    source = site_source(out / "src")
    return source, build_site(source, out)


def test_sections_come_from_the_notebook():
    sections = notebook_sections(read_notebook(student_path(LABS[-1])))
    assert any(key.startswith("learning goals") for key in sections)
    assert any(key.startswith("threat model") for key in sections)


@pytest.mark.parametrize("lab", LABS)
def test_lab_page_has_threat_model_ids_time_and_launch_link(lab):
    page, meta = lab_page(lab), lab_metadata(lab)
    for framework_id in [*meta["atlas"], *meta["owasp"]]:
        assert framework_id in page
    assert f"{meta['minutes']} minutes" in page
    assert f"?labpath=labs/{lab}/{lab}.ipynb" in binder_link(lab) and binder_link(lab) in page
    assert "## Learning goals" in page and "## Threat model" in page, (
        f"{lab}: the notebook needs '## Learning goals' and '## Threat model...' sections"
    )


def test_index_and_objectives_list_every_lab():
    index, objectives = labs_index_page(), objectives_page()
    for lab in LABS:
        assert f"]({lab}.md)" in index and binder_link(lab) in index
        assert f"(labs/{lab}.md)" in objectives


def test_learner_site_builds_with_every_lab_and_no_solutions(learner_site):
    source, html = learner_site
    for page in ("index", "syllabus", "objectives", "prerequisites", "glossary"):
        assert (html / f"{page}.html").is_file(), page
    for page in ("workshop-guide", "instructor-notes"):  # instructors' pages: not for learners
        assert not (html / f"{page}.html").exists(), page
    for lab in LABS:
        text = (html / "labs" / f"{lab}.html").read_text(encoding="utf-8")
        assert f"labpath=labs/{lab}/{lab}.ipynb" in text
    assert not (source / "solutions").exists() and not (html / "solutions").exists()
    assert "BEGIN SOLUTION" not in " ".join(
        p.read_text(encoding="utf-8", errors="replace") for p in html.rglob("*.html")
    )
    glossary = (html / "glossary.html").read_text(encoding="utf-8")
    assert 'id="term-Threat-model"' in glossary


def test_a_broken_internal_link_or_glossary_term_fails_the_build(learner_site, tmp_path):
    """One build with both mistakes: --keep-going reports every warning before failing."""
    source = tmp_path / "src"
    shutil.copytree(learner_site[0], source)
    for name, mistake in (
        ("prerequisites.md", "See [the old page](labs/99-missing.md)."),
        ("intro.md", "A {term}`not a defined term`."),
    ):
        page = source / name
        page.write_text(page.read_text(encoding="utf-8") + f"\n{mistake}\n", encoding="utf-8")
    with pytest.raises(RuntimeError) as failed:
        build_site(source, tmp_path)
    assert "99-missing" in str(failed.value) and "not a defined term" in str(failed.value)


def test_instructors_build_adds_every_solution(tmp_path):
    source = site_source(tmp_path / "src", instructors=True)
    html = build_site(source, tmp_path)
    for lab in LABS:
        text = (html / "solutions" / f"{lab}.html").read_text(encoding="utf-8")
        assert re.search(r"BEGIN\s+SOLUTION|END\s+SOLUTION", text), lab
    assert "instructors" in (html / "intro.html").read_text(encoding="utf-8").lower()
    for page in ("workshop-guide", "instructor-notes"):
        assert (html / f"{page}.html").is_file(), page
