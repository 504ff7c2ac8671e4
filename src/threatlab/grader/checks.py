"""Checks that run in the trusted parent, on notebook JSON only: no student code runs here."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import nbformat

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The nbgrader metadata that decides what is graded and how much it is worth.
GRADED_KEYS = ("grade_id", "grade", "locked", "points", "solution", "task", "cell_type")
# Modules whose attributes the tests rely on: assigning to them from student code is tampering.
GUARDED_MODULES = {
    "torch",
    "numpy",
    "np",
    "builtins",
    "math",
    "threatlab",
    "nn",
    "F",
    "testing",
    "unittest",
    "pytest",
    "random",
    "sys",
    "os",
    "IPython",
}
GUARDED_CALLS = {
    "settrace": "sys.settrace",
    "setprofile": "sys.setprofile",
    "set_custom_exc": "IPython set_custom_exc",
    "register": "IPython events.register",
    "register_magic_function": "IPython magic registration",
}


class NotThisLab(ValueError):
    """The notebook is readable but is not a submission of this lab."""


@dataclass(frozen=True)
class Finding:
    """One piece of evidence of tampering, for the ``detail`` column."""

    cell: str
    what: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.what}"


def normalised(source: str) -> str:
    """Source compared for tampering: line endings and trailing whitespace do not count."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_ids(nb: nbformat.NotebookNode) -> list[str]:
    """Every nbgrader grade_id of a notebook, in order."""
    return [str(_nbgrader(c)["grade_id"]) for c in nb.cells if _nbgrader(c).get("grade_id")]


def check_lab(submitted: nbformat.NotebookNode, released: nbformat.NotebookNode, lab: str) -> None:
    """Raise :class:`NotThisLab` unless most of the release's grade_ids are in the submission."""
    expected, found = set(grade_ids(released)), set(grade_ids(submitted))
    if not found or len(expected & found) * 2 < len(expected):
        raise NotThisLab(f"not this lab's notebook ({lab}): grade_ids {sorted(found)[:6]}")


def tamper_findings(
    submitted: nbformat.NotebookNode, released: nbformat.NotebookNode
) -> list[Finding]:
    """Locked or graded cells of the release that the submission deleted, edited or re-labelled.

    Compared with the *released* student notebook, so hidden tests (absent from the release) never
    give a false positive (nbgrader issue #1961).
    """
    findings = []
    by_id: dict[str, list] = {}
    for cell in submitted.cells:
        gid = _nbgrader(cell).get("grade_id")
        if gid:
            by_id.setdefault(str(gid), []).append(cell)
    for cell in released.cells:
        meta = _nbgrader(cell)
        gid = meta.get("grade_id")
        if not gid:
            continue
        guarded = meta.get("locked") or meta.get("grade")
        kind = "test cell" if meta.get("grade") and not meta.get("solution") else "cell"
        copies = by_id.get(gid, [])
        if not copies:
            if guarded or meta.get("solution"):
                findings.append(Finding(gid, f"{kind} deleted (or its nbgrader metadata removed)"))
            continue
        if len(copies) > 1:
            findings.append(Finding(gid, f"{len(copies)} cells claim grade_id {gid}"))
        mine = copies[0]
        changed = [
            key for key in GRADED_KEYS if _nbgrader(mine).get(key) != meta.get(key) and key in meta
        ]
        if mine.get("cell_type") != cell.cell_type:
            changed.append("cell type")
        if changed:
            findings.append(Finding(gid, f"nbgrader metadata changed ({', '.join(changed)})"))
        if meta.get("locked") and normalised(mine.get("source", "")) != normalised(cell.source):
            findings.append(Finding(gid, f"{kind} edited"))
    return findings


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a Name/Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):  # get_ipython().events...
        inner = _dotted(node.func)
        return ".".join([f"{inner}()", *reversed(parts)]) if inner else ""
    return ""


def _guarded(target: str) -> bool:
    root = target.split(".")[0]
    return root in GUARDED_MODULES or root in {"__builtins__", "get_ipython()"}


def scan_source(source: str) -> list[str]:
    """Patterns in student code that patch what the tests rely on (a static, best-effort scan)."""
    text = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []  # it will fail when run; nothing to patch
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            for target in targets:
                for item in target.elts if isinstance(target, ast.Tuple | ast.List) else [target]:
                    if isinstance(item, ast.Subscript):
                        name = _dotted(item.value)
                        if name in {"sys.modules", "__builtins__"} or name.endswith("__dict__"):
                            found.append(f"line {node.lineno}: edits {name}[...]")
                    elif isinstance(item, ast.Attribute):
                        name = _dotted(item)
                        if name and _guarded(name):
                            found.append(f"line {node.lineno}: assigns {name}")
                    elif isinstance(item, ast.Name) and item.id == "__builtins__":
                        found.append(f"line {node.lineno}: rebinds __builtins__")
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            last = name.rsplit(".", 1)[-1]
            if last in {"setattr", "delattr"} and node.args:
                obj = _dotted(node.args[0])
                if not obj or _guarded(obj) or last == "delattr":
                    found.append(f"line {node.lineno}: {last}() on {obj or 'an expression'}")
            elif last in GUARDED_CALLS and (
                last in {"settrace", "setprofile"} or "get_ipython" in name or "events" in name
            ):
                found.append(f"line {node.lineno}: calls {name} ({GUARDED_CALLS[last]})")
            elif name.startswith("sys.modules.") and last in {"update", "pop", "setdefault"}:
                found.append(f"line {node.lineno}: edits sys.modules")
            elif last in {"run_cell", "run_code", "showtraceback"} and "get_ipython" in name:
                found.append(f"line {node.lineno}: calls {name}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] + (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            if any(n.split(".")[0] in {"ctypes", "gc", "inspect"} for n in names):
                found.append(f"line {node.lineno}: imports {', '.join(names)}")
        elif isinstance(node, ast.Attribute) and node.attr in {
            "set_custom_exc",
            "run_cell",
            "__code__",
            "__globals__",
            "f_globals",
            "f_locals",
            "f_back",
        }:
            if node.attr in {"__code__", "__globals__", "f_globals", "f_locals", "f_back"}:
                found.append(f"line {node.lineno}: touches .{node.attr}")
    return sorted(set(found), key=lambda s: int(s.split()[1].rstrip(":")))


def patch_findings(
    submitted: nbformat.NotebookNode, released: nbformat.NotebookNode
) -> list[Finding]:
    """Monkeypatching found by :func:`scan_source` in every code cell a student can edit."""
    locked = {
        _nbgrader(c)["grade_id"]
        for c in released.cells
        if _nbgrader(c).get("locked") and _nbgrader(c).get("grade_id")
    }
    findings = []
    for index, cell in enumerate(submitted.cells):
        if cell.get("cell_type") != "code":
            continue
        gid = _nbgrader(cell).get("grade_id")
        if gid in locked:
            continue  # restored from the gradebook before it runs
        name = gid or f"cell {index + 1}"
        findings += [
            Finding(name, f"patches the test environment ({p})")
            for p in scan_source(cell.get("source", ""))
        ]
    return findings
