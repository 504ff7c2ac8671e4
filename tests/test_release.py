"""The learner release (``make release``): what learners, Binder and JupyterHub get, and nothing more.

Built once per session (tests/test_binder.py builds Binder's environment from it, and
tests/test_student_notebooks.py runs every student notebook of it). Here: no file of it shows a
hidden test or a solution (the scan is shown to catch planted copies first), it is the allow-list,
its README/pyproject/pages are the learners', the build never replaces a folder that is not a
release, and the learners' ``make lab`` opens JupyterLab without nbgrader's instructor tools.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_binder import BinderEnv, build_binder_env, build_learner_release

from threatlab.course import (
    binder_link,
    lab_ids,
    read_notebook,
    repo_root,
    repository_slug,
    solution_path,
)
from threatlab.course.publish import (
    MARKER,
    ReleaseError,
    build_release,
    leaks,
    learner_text,
    secret_blocks,
)

ROOT = repo_root()
LABS = lab_ids()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    return build_learner_release(tmp_path_factory)


def _longest_secret(lab: str) -> list[str]:
    blocks = secret_blocks(read_notebook(solution_path(lab)))
    return max(blocks, key=lambda b: len([line for line in b if line.strip()]))


# ------------------------------------------------ the scan catches copies


@pytest.fixture(scope="module")
def clean_copy(release, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("planted") / "release"
    shutil.copytree(release, copy)
    return copy


@pytest.mark.parametrize("lab", LABS)
def test_the_scan_finds_a_secret_planted_in_a_source_file(lab, clean_copy, tmp_path):
    """Each lab's longest hidden-test block or solution, re-indented, in a library module."""
    target = tmp_path / "release"
    shutil.copytree(clean_copy, target)
    block = "\n".join("        " + line.strip() for line in _longest_secret(lab))
    module = target / "src" / "threatlab" / "helpers.py"
    module.write_text(f'"""Helpers."""\n\n\ndef f():\n{block}\n', encoding="utf-8")
    found = leaks(target)
    assert any("helpers.py" in f and lab in f for f in found), found


def test_the_scan_finds_secrets_in_notebooks_and_pages(clean_copy, tmp_path):
    """A hidden test pasted into a student notebook's cell, a model answer into a course page."""
    import nbformat

    target = tmp_path / "release"
    shutil.copytree(clean_copy, target)
    nb_path = target / "labs" / LABS[1] / f"{LABS[1]}.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    hidden = [b for b in secret_blocks(read_notebook(solution_path(LABS[1]))) if len(b) > 5]
    nb.cells.append(nbformat.v4.new_code_cell("\n".join(hidden[0])))
    nbformat.write(nb, nb_path)
    answers = [
        c.source
        for c in read_notebook(solution_path(LABS[0])).cells
        if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")
    ]
    page = target / "course" / "glossary.md"
    page.write_text(page.read_text(encoding="utf-8") + "\n" + answers[0], encoding="utf-8")
    found = "\n".join(leaks(target))
    assert f"labs/{LABS[1]}/{LABS[1]}.ipynb" in found and "course/glossary.md" in found, found


# ------------------------------------------------ the real release


def test_the_release_shows_no_hidden_test_or_solution(release):
    assert leaks(release) == []


def test_the_release_is_the_allow_list(release):
    top = {p.name for p in release.iterdir()}
    assert top == {
        ".gitignore",
        "LICENSE",
        "Makefile",
        "README.md",
        MARKER,
        "binder",
        "course",
        "datasets",
        "labs",
        "mk",
        "pyproject.toml",
        "requirements",
        "src",
    }, top
    assert sorted(p.name for p in (release / "labs").iterdir()) == LABS
    assert {p.name for p in (release / "course").iterdir()} == {
        "syllabus.md",
        "prerequisites.md",
        "glossary.md",
        "local-llm.md",
    }, "instructor notes, the workshop guide and nbgrader's config stay with instructors"
    package = release / "src" / "threatlab"
    for private in ("course", "grader", "reference"):
        assert not (package / private).exists(), f"threatlab.{private} is for instructors only"
    assert not list(release.rglob("*gradebook*")) and not list(release.rglob("solutions"))
    marker = json.loads((release / MARKER).read_text(encoding="utf-8"))
    assert marker["labs"] == LABS and re.fullmatch(r"[0-9a-f]{40}|unknown", marker["source_commit"])


def test_learner_readme_pyproject_and_pages(release):
    readme = (release / "README.md").read_text(encoding="utf-8")
    for lab in LABS:
        assert f"(labs/{lab}/{lab}.ipynb)" in readme and binder_link(lab) in readme
    assert f"/gh/{repository_slug()}/HEAD" in readme
    assert "make lab" in readme and "make test" not in readme and "threatlab-grade" not in readme
    pyproject = (release / "pyproject.toml").read_text(encoding="utf-8")
    assert "threatlab-grade" not in pyproject and "[tool.pytest" not in pyproject
    ours = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    deps = re.search(r"^dependencies = \[.*?^\]", ours, re.DOTALL | re.MULTILINE).group(0)
    assert deps in pyproject, "learners install exactly the instructors' runtime dependencies"
    for page in ("syllabus.md", "prerequisites.md", "glossary.md"):
        text = (release / "course" / page).read_text(encoding="utf-8")
        assert not re.search(r"\]\((?:\.\./)?(?:workshop-guide|instructor-notes)\.md", text), page


def test_learner_text_cuts_instructor_blocks_and_links():
    text = (
        "See the [workshop guide](workshop-guide.md) and [notes](instructor-notes.md#x).\n"
        "<!-- instructors:start -->\nGrade with threatlab-grade.\n<!-- instructors:end -->\n"
        "Keep [the syllabus](syllabus.md)."
    )
    assert learner_text(text) == (
        "See the workshop guide and notes.\nKeep [the syllabus](syllabus.md)."
    )


# ------------------------------------------------ the build itself


def test_a_folder_that_is_not_a_release_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work", encoding="utf-8")
    with pytest.raises(ReleaseError, match="not a ThreatLab learner release"):
        build_release(out)
    assert (out / "thesis.tex").read_text(encoding="utf-8") == "years of work"


def test_a_clone_of_the_learners_repository_is_updated_in_place(release, tmp_path):
    out = tmp_path / "clone"
    shutil.copytree(release, out)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (out / "labs" / "99-removed").mkdir()
    (out / "labs" / "99-removed" / "old.ipynb").write_text("{}", encoding="utf-8")
    built = build_release(out)
    assert (out / ".git" / "HEAD").is_file(), "the clone's history is kept"
    assert not (out / "labs" / "99-removed").exists(), "files no longer released are removed"
    assert {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {
        ".git/HEAD",
        MARKER,
    } == set(built.files)


def test_a_leak_stops_the_build_and_leaves_the_output_alone(monkeypatch, tmp_path):
    import threatlab.course.publish as publish

    monkeypatch.setattr(publish, "LEARNER_FILES", (*publish.LEARNER_FILES, "solutions/*/*.ipynb"))
    out = tmp_path / "release"
    with pytest.raises(ReleaseError, match="would leak") as failed:
        build_release(out)
    assert "solutions/" in str(failed.value)
    assert not out.exists() and not list(tmp_path.iterdir()), "no staging folder left behind"


# ------------------------------------------------ the learners' make lab


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.notebook
def test_learners_make_lab_hides_nbgrader_instructor_tools(tmp_path_factory, tmp_path):
    """The release's `make lab` (its install step, then JupyterLab on labs/) in Binder's env."""
    env: BinderEnv = build_binder_env(tmp_path_factory)
    venv = env.python.parent.parent
    port, token = _free_port(), secrets.token_hex(16)
    options = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    log = tmp_path / "make-lab.log"
    with open(log, "wb") as handle:  # a file, not a pipe: pip's output must never block make
        process = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"VENV={venv}", f"LAB_OPTS={options}"],
            cwd=env.release,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # An empty user config folder (no settings of this machine's user); the venv's own
            # (sys-prefix) config is what learners get: JUPYTER_NO_CONFIG would skip it too.
            env={**env.env, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config")},
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 900  # the install step first; generous on a loaded machine
        while True:
            try:
                with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=5) as reply:  # noqa: S310 - loopback
                    page = reply.read().decode("utf-8")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"make lab did not start:\n{log.read_text(errors='replace')[-3000:]}"
                    )
                time.sleep(1)
        disabled = json.loads(re.search(r'"disabledExtensions":\s*(\[[^\]]*\])', page).group(1))
        for plugin in ("formgrader", "create-assignment", "course-list"):
            assert f"@jupyter/nbgrader:{plugin}" in disabled, disabled
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=5)  # noqa: S310
        assert missing.value.code == 404
        with urllib.request.urlopen(f"{base}/api/contents?token={token}", timeout=5) as reply:  # noqa: S310
            listed = {item["name"] for item in json.loads(reply.read())["content"]}
        assert set(LABS) <= listed
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert "No nbgrader_config.py" not in output, output[-2000:]
