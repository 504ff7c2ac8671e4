"""Runtime integrity probes: catch, inside the kernel, tampering that a static scan cannot see.

The static scan (:mod:`threatlab.grader.checks`) reads the submission's source, so an obfuscated
patch (``getattr(__import__("tor" + "ch"), "all" + "close")``) slips past it. Before every test
cell, and once at the end, the worker inserts a probe cell that checks, in the kernel, what the
tests rely on:

- IPython's execution path: no AST or input transformers added, no custom exception handler, no
  event callbacks from the notebook, no trace or profile function, ``showtraceback``/``run_cell``
  and friends still IPython's own;
- the names the tests use that the lab imports or that are builtins (``torch``, ``np``,
  ``accuracy``, ``abs``, ``isinstance`` ...): still the genuine objects, not the notebook's own;
- the assertion helpers' behaviour: ``torch.allclose``/``equal``, ``numpy.allclose``,
  ``numpy.testing.assert_*``, ``math.isclose`` give the right answer on unequal inputs.

Each probe prints one report tagged with a fresh random nonce; a missing or altered report is
itself a finding. The worker removes the probe cells before feedback is generated.

An attacker who reads this file and targets the probes specifically can still defeat any check
that runs in the kernel they control; the README's threat model says so and names the remedy
(hidden tests executed out of process).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import json
import secrets
from collections.abc import Iterator

import nbformat

MARK = "threatlab_probe"  # cell metadata key holding the probe's nonce
MAX_FINDINGS = 10

_KERNEL_CODE = r"""
def __threatlab_probe(nonce, where, expected):
    import builtins, importlib, importlib.machinery, inspect, json, math, os, sys, types
    found = []

    def note(what):
        if what not in found:
            found.append(what)

    def check(what, test):
        try:
            if not test():
                note(what)
        except Exception as error:  # the check itself was sabotaged
            note(f"{what} ({type(error).__name__})")

    def raises(call):
        try:
            call()
        except AssertionError:
            return True
        return False

    def library_file(path):
        return bool(path) and not path.startswith("<") and (
            "site-packages" in path or "dist-packages" in path or "/threatlab/" in path
            or path.startswith(sys.base_prefix) or path.startswith(sys.prefix))

    def genuine_module(m):
        spec = getattr(m, "__spec__", None)
        if getattr(spec, "origin", None) in ("frozen", "built-in"):  # os, io, sys, time ...
            machinery = importlib.machinery
            return (m.__name__.split(".")[0] in sys.stdlib_module_names
                    and spec.loader in (machinery.FrozenImporter, machinery.BuiltinImporter))
        return library_file(getattr(spec, "origin", None) or "")

    def genuine_function(obj):
        if isinstance(obj, types.BuiltinFunctionType):
            return True
        if isinstance(obj, type):
            home = getattr(sys.modules.get(obj.__module__), "__file__", "") or ""
            return not obj.__flags__ & (1 << 9) or library_file(home)
        code = getattr(getattr(obj, "__func__", obj), "__code__", None)
        return code is None or library_file(code.co_filename)

    ip = get_ipython()
    shell = type(ip)
    check("an AST transformer was added to IPython", lambda: not ip.ast_transformers)
    check("an input transformer was added to IPython", lambda: not ip.input_transformers_post)
    from IPython.core.inputtransformer2 import TransformerManager
    fresh = TransformerManager()
    check(
        "IPython's input transformers were changed",
        lambda: len(ip.input_transformer_manager.cleanup_transforms) == len(fresh.cleanup_transforms)
        and len(ip.input_transformer_manager.line_transforms) == len(fresh.line_transforms),
    )
    check("a custom exception handler was set (set_custom_exc)", lambda: not ip.custom_exceptions)
    for event, callbacks in ip.events.callbacks.items():
        for callback in callbacks:
            module = getattr(getattr(callback, "__func__", callback), "__module__", "") or ""
            if not module.startswith(("IPython", "ipykernel", "matplotlib", "ipywidgets")):
                note(f"an IPython '{event}' callback was registered by the notebook")
    check("a trace function is set (sys.settrace)", lambda: sys.gettrace() is None)
    check("a profile function is set (sys.setprofile)", lambda: sys.getprofile() is None)
    for method in ("run_cell", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
                   "showsyntaxerror", "run_cell_async", "transform_cell"):
        check(
            f"IPython's {method} was replaced",
            lambda m=method: genuine_function(getattr(shell, m, None))
            and genuine_function(getattr(ip, m, None))
            and getattr(getattr(ip, m, None), "__self__", ip) is ip,
        )
    check("sys.excepthook was replaced", lambda: genuine_function(sys.excepthook))

    user = ip.user_ns
    for name, (module, attr) in expected.items():
        if name not in user:
            continue
        value = user[name]
        if module == "builtins":
            real = getattr(builtins, name, None)
            check(f"`{name}` no longer means the builtin",
                  lambda v=value, r=real: v is r)
            check(f"the builtin `{name}` was replaced",
                  lambda r=real: isinstance(r, types.BuiltinFunctionType)
                  or (isinstance(r, type) and not r.__flags__ & (1 << 9)))
            continue
        try:
            mod = sys.modules.get(module) or importlib.import_module(module)
        except Exception as error:
            note(f"module {module} cannot be imported ({type(error).__name__})")
            continue
        check(f"module {module} was replaced",
              lambda m=mod: isinstance(m, types.ModuleType) and genuine_module(m))
        if attr is None:
            check(f"`{name}` is not the module {module}", lambda v=value, m=mod: v is m)
        else:
            check(f"`{name}` is not {module}.{attr}",
                  lambda v=value, m=mod, a=attr: v is getattr(m, a, None))
            check(f"{module}.{attr} was replaced",
                  lambda m=mod, a=attr: genuine_function(getattr(m, a, None)))


    check("`assert` no longer raises AssertionError",
          lambda: raises(lambda: exec("assert 1 == 2", {})))
    check("AssertionError was replaced",
          lambda: builtins.AssertionError.__module__ == "builtins"
          and not builtins.AssertionError.__flags__ & (1 << 9))
    check("math.isclose was altered", lambda: math.isclose(0.0, 1.0) is False)
    for what, test in (
        ("abs", lambda: builtins.abs(-2) == 2),
        ("all", lambda: builtins.all([True, False]) is False),
        ("any", lambda: builtins.any([False]) is False),
        ("len", lambda: builtins.len([1, 2]) == 2),
        ("isinstance", lambda: builtins.isinstance(1, str) is False),
        ("sum", lambda: builtins.sum([1, 2]) == 3),
        ("max", lambda: builtins.max(1, 2) == 2),
        ("min", lambda: builtins.min(1, 2) == 1),
        ("round", lambda: builtins.round(0.75, 1) == 0.8),
    ):
        check(f"the builtin {what} was altered", test)
    if "numpy" in sys.modules:
        np = sys.modules["numpy"]
        check("numpy.allclose was altered", lambda: not np.allclose([0.0], [1.0]))
        check("numpy.isclose was altered", lambda: not np.isclose(0.0, 1.0))
        check("numpy.array_equal was altered", lambda: not np.array_equal([0], [1]))
        for helper in ("assert_allclose", "assert_array_equal", "assert_equal",
                       "assert_almost_equal", "assert_array_almost_equal"):
            check(f"numpy.testing.{helper} was altered",
                  lambda h=helper: raises(lambda: getattr(np.testing, h)([0.0], [1.0])))
        check("numpy.testing.assert_array_less was altered",
              lambda: raises(lambda: np.testing.assert_array_less([1.0], [0.0])))
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        zero, one = torch.zeros(2), torch.ones(2)
        check("torch.allclose was altered", lambda: torch.allclose(zero, one) is False)
        check("torch.equal was altered", lambda: torch.equal(zero, one) is False)
        check("torch.isclose was altered", lambda: not bool(torch.isclose(zero, one).any()))
        check("torch.testing.assert_close was altered",
              lambda: raises(lambda: torch.testing.assert_close(zero, one)))
        check("torch.Tensor comparison was altered", lambda: not bool((zero == one).any()))
    sys.__stdout__.flush()
    sys.stdout.write(f"\n{nonce} " + json.dumps({"where": where, "found": found[:__MAX__]}) + "\n")
    sys.stdout.flush()


__threatlab_probe(__NONCE__, __WHERE__, __EXPECTED__)
del __threatlab_probe
"""


def _star_names(module: str) -> list[str]:
    """The names ``from module import *`` binds (the lab's own imports: trusted code)."""
    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - an unimportable module binds nothing we can check
        return []
    names = getattr(mod, "__all__", None)
    return list(names) if names is not None else [n for n in vars(mod) if not n.startswith("_")]


def _release_imports(released) -> Iterator[ast.Import | ast.ImportFrom]:
    """The absolute import statements in the release's own code cells (the lab's, not answers)."""
    for cell in released.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) or (
                isinstance(node, ast.ImportFrom) and node.module and not node.level
            ):
                yield node


def expected_names(test_sources: list[str], released) -> dict[str, tuple[str, str | None]]:
    """The names the tests use that the lab imports (or that are builtins), with their origin.

    ``{"np": ("numpy", None), "accuracy": ("threatlab.metrics", "accuracy"), "abs": ("builtins",
    "abs")}``: the probe checks each is still that object in the kernel.
    """
    used: set[str] = set()
    for source in test_sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    imported: dict[str, tuple[str, str | None]] = {}
    for node in _release_imports(released):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imported[alias.asname] = (alias.name, None)
                else:
                    root = alias.name.split(".")[0]
                    imported[root] = (root, None)
        else:
            for alias in node.names:
                if alias.name == "*":
                    for name in _star_names(node.module):
                        imported[name] = (node.module, name)
                else:
                    imported[alias.asname or alias.name] = (node.module, alias.name)
    expected = {name: imported[name] for name in used if name in imported}
    for name in used - set(imported):
        if hasattr(builtins, name) and not name.startswith("_"):
            expected[name] = ("builtins", name)
    return dict(sorted(expected.items()))


def probe_spec(test_sources: list[str], released) -> dict:
    """What the probes check for one lab: written by the grader, read by the worker."""
    return {
        "names": {k: list(v) for k, v in expected_names(test_sources, released).items()},
    }


def _probe_cell(where: str, expected: dict) -> nbformat.NotebookNode:
    nonce = f"THREATLAB-PROBE-{secrets.token_hex(16)}"
    source = (
        _KERNEL_CODE.replace("__NONCE__", repr(nonce))
        .replace("__WHERE__", repr(where))
        .replace("__EXPECTED__", repr({k: list(v) for k, v in expected.items()}))
        .replace("__MAX__", str(MAX_FINDINGS))
    )
    cell = nbformat.v4.new_code_cell(source.strip())
    cell.metadata[MARK] = nonce
    cell.metadata[f"{MARK}_where"] = where
    return cell


def is_test_cell(cell) -> bool:
    """An nbgrader autograder-test cell (graded, not a solution)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def insert_probes(nb, expected: dict) -> int:
    """Put a probe before every test cell and one at the end; returns how many."""
    cells = []
    for cell in nb.cells:
        if is_test_cell(cell):
            grade_id = cell.metadata["nbgrader"].get("grade_id", "a test cell")
            cells.append(_probe_cell(f"before {grade_id}", expected))
        cells.append(cell)
    cells.append(_probe_cell("at the end", expected))
    nb.cells = cells
    return sum(1 for c in cells if MARK in c.metadata)


def _report(cell) -> dict | None:
    nonce = cell.metadata[MARK]
    text = "".join(
        o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"
    )
    for line in text.splitlines():
        if line.startswith(nonce + " "):
            try:
                value = json.loads(line[len(nonce) + 1 :])
            except ValueError:
                return None
            return value if isinstance(value, dict) else None
    return None


def probe_findings(nb, *, complete: bool) -> list[str]:
    """What the probes found, ``"<where>: <finding>"``, first finding per probe location.

    ``complete`` is False when the kernel died or the run stopped early: probes that never ran then
    say nothing. When True, a probe without a report is a finding (output hijacked or probe altered).
    """
    findings: list[str] = []
    for cell in nb.cells:
        if MARK not in cell.get("metadata", {}):
            continue
        report = _report(cell)
        if report is None:
            where = cell.metadata.get(f"{MARK}_where", "?")
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                why = f"{errors[0].get('ename', '')}: {errors[0].get('evalue', '')}"[:200]
                findings.append(f"{where}: the integrity check could not run ({why})")
            elif complete:
                findings.append(f"{where}: the integrity check gave no report (output redirected?)")
            continue
        findings += [f"{report.get('where', '?')}: {what}" for what in report.get("found", [])]
    unique = list(dict.fromkeys(findings))
    return unique[:MAX_FINDINGS]


def remove_probes(nb) -> None:
    """Drop the probe cells (before the notebook becomes feedback)."""
    nb.cells = [c for c in nb.cells if MARK not in c.get("metadata", {})]
