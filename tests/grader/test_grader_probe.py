"""The runtime integrity probe, run in an in-process IPython shell (no kernel, fast)."""

from __future__ import annotations

import copy

import nbformat
import pytest
from hostile import LAB, solved

from threatlab.course import read_notebook, solution_path, student_path
from threatlab.grader import probe, sandbox


@pytest.fixture(scope="module")
def expected():
    source = read_notebook(solution_path("01-evasion"))
    tests = [c.source for c in source.cells if probe.is_test_cell(c)]
    return probe.expected_names(tests, read_notebook(student_path("01-evasion")))


@pytest.fixture
def shell():
    import numpy
    import torch
    from IPython.core.interactiveshell import InteractiveShell

    import threatlab

    saved = [
        (torch, "allclose"),
        (numpy, "allclose"),
        (numpy.testing, "assert_allclose"),
        (threatlab, "accuracy"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in saved]
    ip = InteractiveShell.instance()
    ip.run_cell("import numpy as np\nimport torch\nfrom threatlab import *")
    yield ip
    for owner, name, value in saved:
        setattr(owner, name, value)
    ip.ast_transformers.clear()
    ip.custom_exceptions = ()
    ip.reset()
    InteractiveShell.clear_instance()


def run_probe(ip, expected, capsys) -> list[str]:
    cell = probe._probe_cell("before test_x", expected)
    capsys.readouterr()
    ip.run_cell(cell.source)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=capsys.readouterr().out)]
    nb = nbformat.v4.new_notebook(cells=[cell])
    return probe.probe_findings(nb, complete=True)


def test_expected_names_resolve_star_imports_and_builtins(expected):
    assert expected["torch"] == ("torch", None)
    assert expected["accuracy"] == ("threatlab", "accuracy")
    assert expected["isinstance"] == ("builtins", "isinstance")
    assert "fgsm" not in expected  # the student's own functions are not checked


def test_clean_shell_has_no_findings(shell, expected, capsys):
    assert run_probe(shell, expected, capsys) == []


@pytest.mark.parametrize(
    ("patch", "finding"),
    [
        ("torch.allclose = lambda *a, **k: True", "torch.allclose was altered"),
        ('setattr(__import__("nu" + "mpy").testing, "assert_allclose", print)', "assert_allclose"),
        ("isinstance = lambda value, kind: True", "`isinstance` no longer means the builtin"),
        ("def accuracy(*args):\n    return 1.0", "`accuracy` is not threatlab.accuracy"),
        (
            "import threatlab\nthreatlab.accuracy = lambda *a: 1.0",
            "threatlab.accuracy was replaced",
        ),
        ("get_ipython().set_custom_exc((AssertionError,), lambda *a, **k: None)", "set_custom_exc"),
        (
            "import ast\nclass T(ast.NodeTransformer):\n    pass\n"
            "get_ipython().ast_transformers.append(T())",
            "an AST transformer was added",
        ),
        (
            "getattr(get_ipython(), 'eve' + 'nts').register('pre_run_cell', lambda *a: None)",
            "'pre_run_cell' callback was registered",
        ),
        ("import numpy\nnumpy.allclose = lambda *a, **k: True", "numpy.allclose was altered"),
        ("get_ipython().showtraceback = lambda *a, **k: None", "showtraceback was replaced"),
    ],
)
def test_each_patch_is_found(shell, expected, capsys, patch, finding):
    shell.run_cell(patch)
    found = run_probe(shell, expected, capsys)
    assert any(finding in f and f.startswith("before test_x: ") for f in found), found
    for event in shell.events.callbacks.values():
        event[:] = [cb for cb in event if "lambda" not in getattr(cb, "__qualname__", "")]


def test_frozen_and_builtin_standard_modules_are_genuine(shell, capsys):
    """os, io (frozen) and sys, time (built-in) have no file: still the genuine modules."""
    shell.run_cell("import io, os, sys, time")
    names = {m: (m, None) for m in ("io", "os", "sys", "time")}
    assert run_probe(shell, names, capsys) == []
    shell.run_cell("import types\nos = types.ModuleType('os')")
    assert run_probe(shell, names, capsys) == ["before test_x: `os` is not the module os"]


def test_missing_report_is_a_finding_only_when_the_run_completed():
    cell = probe._probe_cell("at the end", {})
    nb = nbformat.v4.new_notebook(cells=[cell])
    assert probe.probe_findings(nb, complete=False) == []
    assert probe.probe_findings(nb, complete=True) == [
        "at the end: the integrity check gave no report (output redirected?)"
    ]
    cell.outputs = [nbformat.v4.new_output("error", ename="RuntimeError", evalue="no threads")]
    assert probe.probe_findings(nb, complete=False) == [
        "at the end: the integrity check could not run (RuntimeError: no threads)"
    ]
    forged = "THREATLAB-PROBE-0000 " + '{"where": "x", "found": []}'
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=forged)]
    assert probe.probe_findings(nb, complete=True) != []  # a report without this cell's nonce


def test_insert_and_remove_probes_round_trip():
    nb = solved(LAB)
    before = copy.deepcopy(nb)
    tests = sum(probe.is_test_cell(c) for c in nb.cells)
    assert probe.insert_probes(nb, {}) == tests + 1
    for index, cell in enumerate(nb.cells):
        if probe.is_test_cell(cell):
            assert probe.MARK in nb.cells[index - 1].metadata
    nonces = [c.metadata[probe.MARK] for c in nb.cells if probe.MARK in c.metadata]
    assert len(set(nonces)) == len(nonces)  # a fresh nonce per probe
    probe.remove_probes(nb)
    assert nb == before


def test_slots_split_the_cpus_and_the_default_fits_memory():
    cpus = sandbox.available_cpus()
    slots = sandbox.make_slots(len(cpus), 61000)
    assert [s.uid for s in slots] == [61000 + i for i in range(len(cpus))]
    assert sorted(c for s in slots for c in s.cpus) == cpus  # each CPU to exactly one slot
    assert sandbox.make_slots(1, 61000)[0].cpus == tuple(cpus)
    assert 1 <= sandbox.default_workers(4096) <= len(cpus)
    assert sandbox.default_workers(10**9) == 1  # more memory per worker than the machine has
