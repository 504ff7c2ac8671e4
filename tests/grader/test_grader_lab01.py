"""Hostile Lab 01 submissions, graded in one sandboxed run (``threatlab-grade --workers 2``).

Lab 01 trains models in the kernel, so these are the expensive cases: a correct and a stub
submission, an edited test cell, and a notebook that shadows a library function the tests call.
"""

from __future__ import annotations

import copy

import pytest
from hostile import cell, grade, read_grades, save, solved, stub

pytestmark = [pytest.mark.notebook, pytest.mark.grading]  # make test-grading
LAB = "01-evasion"
TIMEOUT = 300  # a correct Lab 01 submission takes ~50 s on one core


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("grader-lab01")
    subs, out = base / "submissions", base / "out"
    save(solved(LAB), subs / "dana" / LAB / f"{LAB}.ipynb")  # nbgrader layout
    save(stub(LAB), subs / "erin.ipynb")  # flat layout
    edited = solved(LAB)
    test = cell(edited, "test_fgsm")
    test.source = "\n".join(
        line for line in test.source.splitlines() if "eps-ball" not in line and "<= 0.1" not in line
    )
    save(edited, subs / "frank.ipynb")
    shadow = copy.deepcopy(solved(LAB))
    answer = cell(shadow, "fgsm")
    answer.source += (
        "\n\n\ndef accuracy(model, x, y, *args, **kwargs):  # what robust_accuracy is checked with\n"
        "    return 0.5\n"
    )
    save(shadow, subs / "grace.ipynb")
    done = grade(subs, out, "--workers", "2", "--timeout", str(TIMEOUT), lab=LAB)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"grades": read_grades(out), "out": out}


def test_correct_lab01_submission_gets_full_marks(run):
    dana = run["grades"]["dana"]
    assert (dana["status"], dana["score"], dana["max_score"]) == ("graded", "13.0", "13.0"), dana
    assert dana["detail"] == ""


def test_lab01_stub_gets_zero(run):
    erin = run["grades"]["erin"]
    assert (erin["status"], erin["score"], erin["max_score"]) == ("graded", "0.0", "13.0"), erin
    assert "runtime check" not in erin["detail"]


def test_lab01_edited_test_cell_is_tampered(run):
    frank = run["grades"]["frank"]
    assert frank["status"] == "tampered" and "test_fgsm: test cell edited" in frank["detail"]
    assert frank["score"] == "13.0"  # nbgrader restored the cell before running it


def test_lab01_shadowed_library_function_is_tampered(run):
    grace = run["grades"]["grace"]
    assert grace["status"] == "tampered", grace
    assert "`accuracy` is not threatlab.accuracy" in grace["detail"]


def test_lab01_feedback_has_no_probe_cells(run):
    page = (run["out"] / "feedback" / "dana" / f"{LAB}.html").read_text(encoding="utf-8")
    assert "fgsm" in page and "THREATLAB-PROBE" not in page
