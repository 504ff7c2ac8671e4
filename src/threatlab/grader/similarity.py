"""Similarity report: submissions whose answer cells are near-copies of each other or of the
published solution. It runs in the trusted parent on the submitted sources (no code is executed),
flags pairs for the instructor's judgement and never changes a score.

Each code answer cell is first normalised through Python's AST, so that what a copier changes
cheaply does not count: comments, docstrings, formatting, string contents, the names the cell
binds (variables, arguments, helpers: all become ``v``) and the order of top-level definitions.
Names the cell uses but does not bind (``torch``, ``argmax``, ``len``) stay, since they carry the
method. The normalised sources are compared with copydetect's MOSS-style winnowing (k-gram
fingerprints, the released stub's fingerprints removed as boilerplate).
"""

from __future__ import annotations

import ast
import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from threatlab.files import atomic_write_text

from .checks import _nbgrader

SOLUTION = "(published solution)"
NOISE = 25  # k-gram length in characters of normalised source (copydetect's default)
WINDOW = 4  # winnowing window: a shared run of NOISE + WINDOW - 1 characters is always seen
PAIR_THRESHOLD = 0.9  # pair score at and above which a pair is reported (see README: measured)
CELL_THRESHOLD = 0.9  # a cell is named as involved at and above this score
PREFILTER = 0.5  # share of fingerprints a pair must have in common to be compared in full
MIN_CHARS = 120  # cells shorter than this (normalised, stub removed) are too generic to compare
FIELDS = ("kind", "student_a", "student_b", "score", "compared_chars", "cells")
PLACEHOLDER = "v"


def _strip_magics(source: str) -> str:
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


class _Normalise(ast.NodeTransformer):
    """Docstrings out, strings emptied, bound names to one placeholder."""

    def __init__(self, bound: set[str]) -> None:
        self.bound = bound

    def _body(self, node):
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
        return node

    def visit_FunctionDef(self, node):
        node = self._body(node)
        node.name = PLACEHOLDER if node.name in self.bound else node.name
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        node = self._body(node)
        node.name = PLACEHOLDER if node.name in self.bound else node.name
        return self.generic_visit(node)

    def visit_Module(self, node):
        return self.generic_visit(self._body(node))

    def visit_Name(self, node):
        if node.id in self.bound:
            node.id = PLACEHOLDER
        return node

    def visit_ExceptHandler(self, node):
        if node.name in self.bound:
            node.name = PLACEHOLDER
        return self.generic_visit(node)

    def visit_arg(self, node):
        node.arg = PLACEHOLDER
        return self.generic_visit(node)

    def visit_Constant(self, node):
        return ast.Constant("") if isinstance(node.value, str) else node

    def visit_JoinedStr(self, node):
        return ast.Constant("")

    def visit_keyword(self, node):
        if node.arg in self.bound:  # an argument of the cell's own function, renamed with it
            node.arg = PLACEHOLDER
        return self.generic_visit(node)


def _bound_names(tree: ast.AST) -> set[str]:
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound


def normalise(source: str) -> str:
    """A cell's code with comments, docstrings, formatting, string contents, its own names and
    the order of its top-level definitions removed. Not Python: whitespace and comments only."""
    text = _strip_magics(source)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        lines = (re.sub(r"#.*", "", line).strip() for line in text.splitlines())
        return "\n".join(line for line in lines if line)
    tree = _Normalise(_bound_names(tree)).visit(tree)
    # top-level definitions sorted by their normalised text; other statements keep their order
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    rest = [n for n in tree.body if not isinstance(n, ast.FunctionDef | ast.ClassDef)]
    tree.body = rest + sorted(defs, key=ast.unparse)
    return ast.unparse(ast.fix_missing_locations(tree))


@dataclass
class _Doc:
    text: str
    fingerprint: object  # copydetect.CodeFingerprint
    chars: float  # characters covered by its fingerprints (copydetect's token coverage)


def _fingerprint(text: str, boilerplate) -> _Doc:
    from copydetect import CodeFingerprint

    print_ = CodeFingerprint(
        "cell.py", NOISE, WINDOW, boilerplate=boilerplate, filter=False, fp=io.StringIO(text)
    )
    return _Doc(text, print_, float(print_.token_coverage))


def _boilerplate(text: str):
    import numpy as np
    from copydetect import CodeFingerprint

    if len(text) < NOISE:
        return np.array([], dtype=np.int64)
    print_ = CodeFingerprint("stub.py", NOISE, 1, filter=False, fp=io.StringIO(text))
    return np.array(sorted(print_.hashes), dtype=np.int64)


def _cell_score(a: _Doc, b: _Doc) -> tuple[float, float]:
    """(score in [0, 1], characters compared): the mean share of each cell found in the other."""
    from copydetect.detector import compare_files

    if not a.fingerprint.hashes & b.fingerprint.hashes:
        return 0.0, min(a.chars, b.chars)
    _, (share_a, share_b), _ = compare_files(a.fingerprint, b.fingerprint)
    return float(share_a + share_b) / 2, min(a.chars, b.chars)


def _may_match(a: dict[str, set], b: dict[str, set], common: list[str], share: float) -> bool:
    """A cheap bound: a near-identical pair shares most fingerprints of its smaller side. Most
    pairs of independent work share few, and skip copydetect's slower comparison."""
    shared = sum(len(a[gid] & b[gid]) for gid in common)
    smaller = sum(min(len(a[gid]), len(b[gid])) for gid in common)
    return smaller > 0 and shared >= share * smaller


@dataclass
class Match:
    """One reported pair: two students, or a student and the published solution."""

    kind: str  # "pair" or "solution"
    student_a: str
    student_b: str
    score: float
    compared_chars: int
    cells: list[tuple[str, float]] = field(default_factory=list)

    def row(self) -> dict:
        return {
            "kind": self.kind,
            "student_a": self.student_a,
            "student_b": self.student_b,
            "score": f"{self.score:.3f}",
            "compared_chars": self.compared_chars,
            "cells": "; ".join(f"{gid} {score:.2f}" for gid, score in self.cells),
        }


def answer_cells(nb) -> dict[str, str]:
    """grade_id -> source of every code answer (solution) cell of a notebook."""
    found = {}
    for cell in nb.get("cells", []):
        meta = _nbgrader(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            found.setdefault(str(meta["grade_id"]), str(cell.get("source", "")))
    return found


def compare(
    submissions: dict[str, dict[str, str]],
    released: dict[str, str],
    solution: dict[str, str] | None = None,
    threshold: float = PAIR_THRESHOLD,
    prefilter: float = PREFILTER,
) -> list[Match]:
    """Pairs of submissions (and submissions against ``solution``) scoring ``threshold`` or more.

    ``submissions`` maps a student id to {grade_id: source} of their answer cells; ``released``
    is the stub each cell starts from (unchanged cells and the stub's own code do not count).
    A pair's score is the mean of its cell scores weighted by the characters compared, over the
    cells both answered with at least ``MIN_CHARS`` characters of their own. Sorted by score,
    highest first.
    """
    stubs = {gid: normalise(src) for gid, src in released.items()}
    boiler = {gid: _boilerplate(text) for gid, text in stubs.items()}
    docs: dict[str, dict[str, _Doc]] = {}
    sources = dict(submissions)
    if solution:
        sources[SOLUTION] = solution
    for student, cells in sources.items():
        docs[student] = {}
        for gid, src in cells.items():
            if gid not in stubs:
                continue
            text = normalise(src)
            if text == stubs[gid]:
                continue  # unanswered
            doc = _fingerprint(text, boiler[gid])
            if doc.chars >= MIN_CHARS:
                docs[student][gid] = doc
    matches = []
    students = sorted(submissions)
    pairs = list(itertools.combinations(students, 2))
    if solution:
        pairs += [(s, SOLUTION) for s in students]
    prints = {
        student: {gid: doc.fingerprint.hashes for gid, doc in cells.items()}
        for student, cells in docs.items()
    }
    for a, b in pairs:
        common = sorted(set(docs[a]) & set(docs[b]))
        if not common or not _may_match(prints[a], prints[b], common, prefilter):
            continue
        scored = [(gid, *_cell_score(docs[a][gid], docs[b][gid])) for gid in common]
        weight = sum(chars for _, _, chars in scored)
        score = sum(s * chars for _, s, chars in scored) / weight if weight else 0.0
        if score >= threshold:
            cells = sorted(
                ((gid, s) for gid, s, _ in scored if s >= CELL_THRESHOLD),
                key=lambda item: -item[1],
            )
            kind = "solution" if b == SOLUTION else "pair"
            matches.append(Match(kind, a, b, score, int(weight), cells))
    matches.sort(key=lambda m: (-m.score, m.kind, m.student_a, m.student_b))
    return matches


def write_report(out: Path, matches: list[Match]) -> None:
    """``OUT/similarity.csv``: one row per reported pair, highest score first."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for match in matches:
        writer.writerow(match.row())
    atomic_write_text(out / "similarity.csv", buffer.getvalue())


def summary(matches: list[Match], students: int, top: int = 10) -> str:
    """The similarity section of a run's summary."""
    pairs = [m for m in matches if m.kind == "pair"]
    solution = [m for m in matches if m.kind == "solution"]
    lines = [
        f"\nsimilarity (flags for your judgement; scores unchanged): {students} submissions "
        f"compared, {len(pairs)} near-identical pairs, {len(solution)} matching the published "
        "solution (similarity.csv)"
    ]
    for match in matches[:top]:
        cells = ", ".join(gid for gid, _ in match.cells) or "-"
        lines.append(f"  {match.score:.2f}  {match.student_a} ~ {match.student_b}  ({cells})")
    if len(matches) > top:
        lines.append(f"  ... {len(matches) - top} more in similarity.csv")
    return "\n".join(lines)
