"""The similarity report: planted copies are found, independent correct answers are not.

Only sources are compared (nothing is executed), so these tests build answer cells as text.
"""

from __future__ import annotations

import csv

import pytest
from hostile import ANSWER, LAB, cell, save, solved, stub

from threatlab.course import read_notebook, solution_path, student_path
from threatlab.grader import similarity
from threatlab.grader.cli import discover, similarity_report

pytest.importorskip("copydetect")

# One student's answer with two helpers; the copies below disguise it.
ORIGINAL = '''
def _check_shapes(logits, labels):
    """Raise ValueError unless logits is (N, C) and labels is (N,), N > 0."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        raise ValueError("logits must be 2-D")
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError("labels must be 1-D")
    if labels.shape[0] != logits.shape[0] or logits.shape[0] == 0:
        raise ValueError("need as many labels as rows, and at least one row")


def _count_hits(logits, labels):
    best = logits.detach().argmax(dim=1).cpu()
    return int((best == labels.detach().cpu()).sum())


def top1_accuracy(logits, labels):
    _check_shapes(logits, labels)
    total = logits.shape[0]
    return _count_hits(logits, labels) / total
'''

# The same code: helpers reordered, every name changed, comments and blank lines added, messages
# reworded, formatting changed.
DISGUISED = """
# helper 1: counts how many predictions are right
def n_correct(scores,   y):
    predicted = scores.detach().argmax(dim=1).cpu()   # argmax over classes
    return int((predicted == y.detach().cpu()).sum())

# helper 2: validation
def validate(scores, y):
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2:
        raise ValueError('Expected a 2-D tensor of scores!')
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise ValueError('Expected 1-D labels!')

    if y.shape[0] != scores.shape[0] or scores.shape[0] == 0:
        raise ValueError('Label count mismatch or empty input')


def top1_accuracy(scores, y):
    # my own implementation
    validate(scores, y)
    n = scores.shape[0]
    return n_correct(scores, y) / n
"""

# Correct answers written independently from the contract: never reported.
INDEPENDENT = {
    "loops": """
def top1_accuracy(logits, labels):
    if logits.ndim != 2 or labels.ndim != 1 or len(labels) != len(logits) or len(logits) == 0:
        raise ValueError(f"bad shapes {tuple(logits.shape)} and {tuple(labels.shape)}")
    hits = 0
    for row, label in zip(logits.tolist(), labels.tolist()):
        hits += max(range(len(row)), key=row.__getitem__) == label
    return hits / len(labels)
""",
    "numpy": """
import numpy as np


def top1_accuracy(logits, labels):
    scores = np.asarray(logits.detach().cpu())
    truth = np.asarray(labels.detach().cpu())
    if scores.ndim != 2:
        raise ValueError("logits must be (N, C)")
    if truth.shape != (scores.shape[0],):
        raise ValueError("labels must be (N,)")
    if scores.shape[0] == 0:
        raise ValueError("empty batch")
    return float(np.mean(np.argmax(scores, axis=1) == truth))
""",
    "torch-max": """
def top1_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    try:
        n, _ = logits.shape
    except ValueError:
        raise ValueError("logits is not 2-D") from None
    if labels.shape != (n,) or n == 0:
        raise ValueError("labels do not match the logits")
    _, predicted = torch.max(logits, dim=1)
    correct = predicted.eq(labels.to(logits.device)).sum().item()
    return correct / n
""",
}


def released_cells() -> dict[str, str]:
    return similarity.answer_cells(read_notebook(student_path(LAB)))


def published() -> dict[str, str]:
    return similarity.answer_cells(read_notebook(solution_path(LAB)))


def test_normalisation_removes_what_a_copier_changes_cheaply():
    assert similarity.normalise(ORIGINAL) == similarity.normalise(DISGUISED)
    assert similarity.normalise(ORIGINAL) != similarity.normalise(INDEPENDENT["numpy"])
    assert "argmax" in similarity.normalise(ORIGINAL)  # names the cell does not bind stay
    handler = "try:\n    f()\nexcept ValueError as {}:\n    raise TypeError() from {}\n"
    assert similarity.normalise(handler.format("e", "e")) == similarity.normalise(
        handler.format("error", "error")
    )
    assert similarity.normalise("x = 1 +  # not python\n\n  y") == "x = 1 +\ny"  # no AST: lines


def test_planted_copies_are_found_and_independent_answers_are_not():
    solution = published()[ANSWER]
    copy_of_solution = "# I wrote this\n" + solution.replace("predictions", "preds").replace(
        "shape", "form"
    ).replace("logits", "scores")
    students = {
        "alice": {ANSWER: ORIGINAL},
        "bob": {ANSWER: DISGUISED},
        "carol": {ANSWER: copy_of_solution},
        "dave": {ANSWER: released_cells()[ANSWER]},  # unanswered: never a match
        "erin": {ANSWER: released_cells()[ANSWER]},
    } | {name: {ANSWER: source} for name, source in INDEPENDENT.items()}
    matches = similarity.compare(students, released_cells(), published())
    found = {(m.kind, m.student_a, m.student_b) for m in matches}
    assert found == {
        ("pair", "alice", "bob"),
        ("solution", "carol", similarity.SOLUTION),
    }, [(m.student_a, m.student_b, round(m.score, 3)) for m in matches]
    assert all(m.score >= similarity.PAIR_THRESHOLD for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert all(m.cells == [(ANSWER, pytest.approx(m.score))] for m in matches)
    # the independent answers are well below the threshold, against each other and the solution
    everything = similarity.compare(
        students, released_cells(), published(), threshold=0.0, prefilter=0.0
    )
    independent = [
        m.score
        for m in everything
        if {m.student_a, m.student_b} <= set(INDEPENDENT) | {"alice", similarity.SOLUTION}
        and not {m.student_a, m.student_b} <= {"alice", similarity.SOLUTION}
    ]
    assert independent and max(independent) < 0.75, sorted(independent)


def test_report_runs_on_submitted_sources_and_changes_no_score(tmp_path):
    subs = tmp_path / "submissions"
    subs.mkdir()
    for name, source in {
        "alice": ORIGINAL,
        "bob": DISGUISED,
        "carol": INDEPENDENT["numpy"],
    }.items():
        nb = stub()
        cell(nb, ANSWER).source = source
        save(nb, subs / f"{name}.ipynb")
    save(solved(), subs / "dave.ipynb")
    save(solved(), subs / "mallory.ipynb")  # invalid in the results below: not compared
    rows = [
        {"student_id": s, "status": "graded", "score": 2.0}
        for s in ("alice", "bob", "carol", "dave")
    ] + [{"student_id": "mallory", "status": "invalid"}]
    before = [dict(r) for r in rows]
    out = tmp_path / "out"
    out.mkdir()
    text = similarity_report(out, LAB, discover(LAB, subs), rows)
    assert rows == before
    with open(out / "similarity.csv", encoding="utf-8") as handle:
        report = list(csv.DictReader(handle))
    assert [(r["kind"], r["student_a"], r["student_b"]) for r in report] == [
        ("pair", "alice", "bob"),  # both 1.000: pairs first on a tie
        ("solution", "dave", similarity.SOLUTION),
    ]
    assert report[0]["cells"].startswith(ANSWER) and float(report[0]["score"]) >= 0.9
    assert "4 submissions compared, 1 near-identical pairs, 1 matching" in text
    assert "alice ~ bob" in text and "mallory" not in text
