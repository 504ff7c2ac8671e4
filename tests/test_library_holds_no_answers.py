"""Nothing a learner can import answers a graded exercise: no module of the installed ``threatlab``
package defines a function or class with the name of any lab's graded answer.

(Until 2026-12 ``threatlab.reference`` shipped Lab 01's FGSM/PGD and Lab 02's poisoning for later
labs; those now take their attacks from IBM's Adversarial Robustness Toolbox.)
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil

import threatlab
from threatlab.course import lab_ids, read_notebook, solution_path


def graded_answer_names() -> dict[str, list[str]]:
    """Top-level functions and classes defined in the solution regions of every lab's answer cells."""
    names: dict[str, list[str]] = {}
    for lab in lab_ids():
        for cell in read_notebook(solution_path(lab)).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("solution"):
                continue
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.setdefault(node.name, []).append(lab)
    return names


def library_definitions() -> dict[str, str]:
    """Every function and class defined in a module of the threatlab package: name -> module."""
    defined: dict[str, str] = {}
    for info in pkgutil.walk_packages(threatlab.__path__, "threatlab."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            home = getattr(value, "__module__", "") or ""
            if (inspect.isfunction(value) or inspect.isclass(value)) and home.startswith(
                "threatlab"
            ):
                defined[name] = home
    return defined


def test_graded_answers_are_found():
    names = graded_answer_names()
    assert {"fgsm", "pgd", "poison_dataset", "top1_accuracy"} <= names.keys(), sorted(names)


def test_no_library_module_defines_a_graded_answer():
    library = library_definitions()
    clashes = {
        name: (labs, library[name])
        for name, labs in graded_answer_names().items()
        if name in library
    }
    assert not clashes, (
        "the threatlab package defines functions a lab grades (name: (labs, module)); a later lab "
        f"takes such an attack from a field-standard library (ART), never from the course: {clashes}"
    )
