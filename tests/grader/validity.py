"""Grading validity: submissions written from the student's contract, graded by ``threatlab-grade``.

Each lab has ``tests/grader/test_validity_NN_slug.py`` with a list of :class:`Variant` s. A variant
is the released notebook with some answer cells replaced (by ``grade_id``); every answer cell it
does not name holds the instructor's solution. Two kinds:

* **alternative-correct** (``loses`` empty): a different, correct implementation of the contract,
  written from the docstring, not from the solution. It must get full marks, with no finding.
* **mistake** (``loses`` names test cells): a plausible wrong implementation. It must lose points
  on every test cell named there, and each lost cell must say why (an error with a message) in
  what the grader records for the feedback.

The stub (no answers) scoring 0 is checked for every lab by ``test_grader_every_lab.py``.

All variants of a lab are graded in ONE ``threatlab-grade`` run (sandboxed, FAST mode), so a lab
costs about (number of variants) x (one FAST run of its notebook). Keep a lab to about 8 variants:
combine mistakes into one variant only where their test cells do not call each other's functions
(a wrong ``fgsm`` also fails a ``pgd`` test that compares against FGSM).

Run with ``make test-grading`` (``pytest -m validity``); ``make test`` leaves these out.
"""

from __future__ import annotations

import ast
import json
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import grade, read_grades, save, solved

from threatlab.course import read_notebook, solution_path

WORKERS = os.environ.get("THREATLAB_VALIDITY_WORKERS", "1")  # per lab; pytest -n runs labs apart
TIMEOUT = os.environ.get("THREATLAB_VALIDITY_TIMEOUT", "900")


@dataclass(frozen=True)
class Variant:
    """One submission: ``answers`` replace answer cells (``grade_id`` -> the cell's whole source).

    ``loses``: the test cells (``grade_id``) that must lose points; empty for a correct variant.
    ``why``: the mistake in words (or what makes the correct variant different).
    """

    name: str
    answers: dict[str, str]
    loses: tuple[str, ...] = ()
    why: str = ""

    @property
    def correct(self) -> bool:
        return not self.loses


def answer(source: str) -> str:
    """A cell source written as an indented triple-quoted string, dedented and stripped."""
    return textwrap.dedent(source).strip("\n") + "\n"


def code_answer_cells(lab: str) -> list[str]:
    """``grade_id`` of every code answer (solution) cell of a lab, in order."""
    return [
        c.metadata["nbgrader"]["grade_id"]
        for c in read_notebook(solution_path(lab)).cells
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
    ]


def _shape(source: str) -> str | None:
    """A cell's code without comments, docstrings and formatting (None: not Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def copies_of_the_solution(lab: str, variants: list[Variant]) -> list[str]:
    """Correct answers that are the instructor's solution again, up to comments and formatting."""
    solution = {
        c.metadata["nbgrader"]["grade_id"]: _shape(c.source)
        for c in read_notebook(solution_path(lab)).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    return [
        f"{v.name}: {gid}"
        for v in variants
        if v.correct
        for gid, source in v.answers.items()
        if _shape(source) is not None and _shape(source) == solution.get(gid)
    ]


def submission(lab: str, variant: Variant):
    """The released notebook answered by the instructor's solution, then by the variant's cells."""
    nb = solved(lab)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for gid, source in variant.answers.items():
        if gid not in cells or not cells[gid].metadata["nbgrader"].get("solution"):
            raise KeyError(f"{lab}: {variant.name} answers {gid!r}, which is not an answer cell")
        cells[gid].source = source
    return nb


def grade_variants(lab: str, variants: list[Variant], base: Path) -> dict[str, dict]:
    """Grade every variant in one ``threatlab-grade`` run: ``{name: result}``."""
    names = [v.name for v in variants]
    assert len(set(names)) == len(names), f"variant names must be unique: {names}"
    for variant in variants:
        save(submission(lab, variant), base / "submissions" / f"{variant.name}.ipynb")
    out = base / "out"
    done = grade(base / "submissions", out, "--workers", WORKERS, "--timeout", TIMEOUT, lab=lab)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_grades(out)
    results = {}
    for name in names:
        result = json.loads((out / "results" / f"{name}.json").read_text(encoding="utf-8"))
        result["row"] = rows[name]
        feedback = out / "feedback" / name / f"{lab}.html"
        result["feedback"] = feedback.read_text(encoding="utf-8") if feedback.is_file() else ""
        results[name] = result
    return results


def check_variant(variant: Variant, result: dict) -> None:
    """Correct: full marks, no finding. Mistake: loses on every named cell, each saying why."""
    row = result["row"]
    assert row["status"] == "graded", f"{variant.name}: {row['status']} ({row['detail']})"
    assert "Score" in result["feedback"] or "score" in result["feedback"], (
        f"{variant.name}: no feedback page"
    )
    cells = {c["grade_id"]: c for c in result.get("cells", []) if c["type"] == "code"}
    lost = {gid: c for gid, c in cells.items() if c["score"] < c["max_score"]}
    if variant.correct:
        assert not lost, (
            f"{variant.name} ({variant.why}) is correct by the contract but loses points on "
            + ", ".join(f"{g} {c['score']}/{c['max_score']}" for g, c in lost.items())
            + f"; errors: {result.get('errors')}"
        )
        assert row["detail"] == "", f"{variant.name}: unexpected finding {row['detail']!r}"
        return
    unknown = [gid for gid in variant.loses if gid not in cells]
    assert not unknown, f"{variant.name}: no graded code cell {unknown}"
    kept = [gid for gid in variant.loses if gid not in lost]
    assert not kept, (
        f"{variant.name} ({variant.why}) keeps full marks on {kept}: the tests cannot tell "
        f"this mistake from a correct answer (score {row['score']}/{row['max_score']})"
    )
    assert float(row["score"]) < float(row["max_score"])
    errors = {e["cell"]: e for e in result.get("errors", [])}
    silent = [gid for gid in lost if not (errors.get(gid) or {}).get("evalue", "").strip()]
    assert not silent, (
        f"{variant.name}: {silent} lost points without a message saying what was expected "
        f"(errors recorded: {result.get('errors')})"
    )


def validity_tests(lab: str, variants: list[Variant], *, ungraded: frozenset[str] = frozenset()):
    """The fixture and tests of one lab's validity module: bind them to module-level names.

    ``ungraded``: answer cells that no test grades (say why where the set is defined).
    """

    @pytest.fixture(scope="module")
    def results(tmp_path_factory):
        return grade_variants(lab, variants, tmp_path_factory.mktemp(f"validity-{lab}"))

    @pytest.mark.parametrize("variant", variants, ids=[v.name for v in variants])
    def test_variant_is_graded_as_expected(variant, results):
        check_variant(variant, results[variant.name])

    def test_every_answer_cell_has_a_correct_alternative_and_a_mistake():
        cells = set(code_answer_cells(lab)) - set(ungraded)
        alternative = {gid for v in variants if v.correct for gid in v.answers}
        mistaken = {gid for v in variants if not v.correct for gid in v.answers}
        assert cells <= alternative, (
            f"{lab}: no correct alternative for {sorted(cells - alternative)}"
        )
        assert cells <= mistaken, f"{lab}: no plausible mistake for {sorted(cells - mistaken)}"

    def test_alternatives_are_not_copies_of_the_solution():
        copies = copies_of_the_solution(lab, variants)
        assert not copies, f"write alternatives from the contract, not the solution: {copies}"

    return (
        results,
        test_variant_is_graded_as_expected,
        (test_every_answer_cell_has_a_correct_alternative_and_a_mistake),
        test_alternatives_are_not_copies_of_the_solution,
    )
