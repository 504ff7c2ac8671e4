"""Tamper detection and the static monkeypatch scan run in the parent, on JSON only (fast)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hostile import ANSWER, LAB, TEST, cell, solved, stub, with_answer_prefix

from threatlab.grader.checks import (
    NotThisLab,
    check_lab,
    patch_findings,
    scan_source,
    tamper_findings,
)
from threatlab.grader.cli import discover, read_timestamp, scrub


def _details(findings) -> str:
    return "; ".join(str(f) for f in findings)


def test_untouched_submissions_are_not_tampered():
    """A solved or unanswered notebook gives no finding, though hidden tests differ from the source."""
    for lab in (LAB, "01-evasion"):
        for nb in (solved(lab), stub(lab)):
            assert tamper_findings(nb, stub(lab)) == []
            assert patch_findings(nb, stub(lab)) == []


def test_edited_test_cell_is_named():
    nb = solved()
    cell(nb, TEST).source = cell(nb, TEST).source.replace("0.5", "result")
    assert f"{TEST}: test cell edited" in _details(tamper_findings(nb, stub()))


def test_whitespace_only_edits_are_not_tampering():
    nb = solved()
    cell(nb, TEST).source = cell(nb, TEST).source.replace("\n", "  \r\n") + "\n\n"
    assert tamper_findings(nb, stub()) == []


def test_deleted_test_cell_is_named():
    nb = solved()
    nb.cells = [c for c in nb.cells if c is not cell(nb, TEST)]
    assert f"{TEST}: test cell deleted" in _details(tamper_findings(nb, stub()))


def test_stripped_metadata_counts_as_deleted():
    nb = solved()
    del cell(nb, TEST).metadata["nbgrader"]
    assert f"{TEST}: test cell deleted" in _details(tamper_findings(nb, stub()))


@pytest.mark.parametrize(
    ("key", "value"), [("points", 20), ("grade", False), ("locked", False), ("solution", True)]
)
def test_changed_nbgrader_metadata_is_named(key, value):
    nb = solved()
    cell(nb, TEST).metadata["nbgrader"][key] = value
    assert f"{TEST}: nbgrader metadata changed ({key})" in _details(tamper_findings(nb, stub()))


def test_changed_grade_id_is_a_deleted_cell():
    nb = solved()
    cell(nb, TEST).metadata["nbgrader"]["grade_id"] = "test_mine"
    assert f"{TEST}: test cell deleted" in _details(tamper_findings(nb, stub()))


def test_new_cell_claiming_a_grade_id():
    nb = solved()
    nb.cells.append(copy.deepcopy(cell(nb, TEST)))
    assert f"2 cells claim grade_id {TEST}" in _details(tamper_findings(nb, stub()))


def test_another_labs_notebook_is_refused():
    with pytest.raises(NotThisLab, match="not this lab's notebook"):
        check_lab(solved("01-evasion"), stub(LAB), LAB)
    check_lab(solved(LAB), stub(LAB), LAB)


@pytest.mark.parametrize(
    ("code", "pattern"),
    [
        ("torch.allclose = lambda *a, **k: True", "assigns torch.allclose"),
        ("import builtins\nbuiltins.isinstance = lambda *a: True", "assigns builtins.isinstance"),
        ("np.testing.assert_allclose = print", "assigns np.testing.assert_allclose"),
        ("setattr(torch, 'equal', lambda *a: True)", "setattr() on torch"),
        ("__builtins__['abs'] = lambda x: 0", "edits __builtins__[...]"),
        ("import sys\nsys.modules['torch'] = None", "edits sys.modules[...]"),
        ("import sys\nsys.settrace(lambda *a: None)", "calls sys.settrace"),
        ("get_ipython().set_custom_exc((Exception,), print)", "set_custom_exc"),
        ("get_ipython().events.register('pre_run_cell', print)", "events.register"),
        ("import ctypes", "imports ctypes"),
        ("top1_accuracy.__code__ = len.__code__", "touches .__code__"),
    ],
)
def test_scan_finds_monkeypatching(code, pattern):
    assert any(pattern in found for found in scan_source(code)), scan_source(code)
    nb = with_answer_prefix(code)
    details = _details(patch_findings(nb, stub()))
    assert f"{ANSWER}: patches the test environment" in details and pattern in details


def test_scan_ignores_ordinary_code():
    code = (
        "x = torch.zeros(3)\nx.requires_grad = True\nmodel.fc = None\nimport os\nprint(os.path.sep)"
    )
    assert scan_source(code) == []
    assert scan_source("def broken(:\n") == []


def test_timestamps():
    assert read_timestamp(None) == (None, None)


def test_bad_timestamp_is_reported(tmp_path):
    good, bad = tmp_path / "good.txt", tmp_path / "bad.txt"
    good.write_text("2026-11-26 10:00:00.123456 \n")
    bad.write_text("yesterday at noon")
    assert read_timestamp(good) == ("2026-11-26T10:00:00.123456", None)
    stamp, note = read_timestamp(bad)
    assert stamp is None and "not an ISO 8601 time" in note and "yesterday" in note
    exchange = tmp_path / "exchange.txt"  # what nbgrader submit/collect write
    exchange.write_text("2026-11-26 14:03:00.123456 UTC\n")
    assert read_timestamp(exchange) == ("2026-11-26T14:03:00.123456+00:00", None)


def test_discovery_of_both_layouts(tmp_path: Path):
    (tmp_path / "ann" / LAB).mkdir(parents=True)
    (tmp_path / "ann" / LAB / f"{LAB}.ipynb").write_text("{}")
    (tmp_path / "ben" / "other").mkdir(parents=True)
    (tmp_path / "cat.ipynb").write_text("{}")
    (tmp_path / "-rf .ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("ignored")
    found = {s.student_id: s for s in discover(LAB, tmp_path)}
    assert sorted(found) == ["-rf ", "ann", "ben", "cat"]
    assert found["ann"].problem is None and found["cat"].problem is None
    assert found["ben"].problem[0] == "missing"
    assert found["-rf "].problem[0] == "invalid" and found["-rf "].key.startswith("invalid-id-")


def test_scrub_removes_hidden_lines_or_withholds_the_page():
    hidden = ["assert top1_accuracy(wrong, labels) == 0.0, 'secret'"]
    page = "<pre>assert top1_accuracy(wrong, labels) == 0.0, &#x27;secret&#x27;</pre>"
    assert "secret" not in scrub(page, hidden) and "removed" in scrub(page, hidden)
    spans = (
        "<pre><span>assert top1_accuracy(wrong, labels)</span> == 0.0, 'secret'</pre>\n<p>2/2</p>"
    )
    assert "secret" not in scrub(spans, hidden) and "2/2" in scrub(spans, hidden)
    split = (
        "<pre><span\nclass='k'>assert top1_accuracy(wrong, labels) == 0.0, 'secret'</span></pre>"
    )
    assert "withheld" in scrub(split, hidden)
    assert scrub("<p>score 2/2</p>", hidden) == "<p>score 2/2</p>"


def test_scrub_matches_whole_lines_only():
    page = "<pre>adv_losses = adversarial_training(</pre>"
    assert scrub(page, ["losses = adversarial_training("]) == page


def test_symlinked_submissions_are_refused(tmp_path: Path):
    secret = tmp_path / "elsewhere.ipynb"
    secret.write_text("{}")
    subs = tmp_path / "subs"
    (subs / "dan" / LAB).mkdir(parents=True)
    (subs / "dan" / LAB / f"{LAB}.ipynb").symlink_to(secret)
    (subs / "eve.ipynb").symlink_to(secret)
    (subs / "fay").symlink_to(tmp_path)
    found = {s.student_id: s for s in discover(LAB, subs)}
    assert {sid: s.problem[0] for sid, s in found.items()} == {
        "dan": "invalid",
        "eve": "invalid",
        "fay": "invalid",
    }


def test_scrub_ignores_short_common_lines():
    """`return out` or `with torch.no_grad():` in a hidden test must not withhold a student's page."""
    page = "<pre>with torch.no_grad():\n    return out</pre>"
    assert scrub(page, ["with torch.no_grad():", "return out"]) == page
