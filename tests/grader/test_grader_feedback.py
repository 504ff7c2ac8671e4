"""Feedback and scoring rules of the grader's worker, without running a kernel.

- A warning printed on stderr in a test cell is not a failed test (nbgrader alone scores it 0).
- Every autograded cell that lost points says why, at the top of the feedback, escaped.
- Whatever the student's code printed, feedback is written: nbconvert first, then plain-text
  outputs, then a page of scores.
"""

from __future__ import annotations

import nbformat
import pytest

from threatlab.course import CellGrade, Grade
from threatlab.grader import worker
from threatlab.grader.preprocessors import WarningsAreNotFailures, stderr_as_output


def _test_cell(*outputs) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("assert True")
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "t", "points": 2}
    cell.outputs = list(outputs)
    return cell


def _score(cell) -> float:
    from nbgrader.utils import determine_grade

    return determine_grade(cell)[0]


def test_a_warning_in_a_test_cell_no_longer_scores_zero():
    warning = nbformat.v4.new_output(
        "stream", name="stderr", text="DeprecationWarning: use np.asarray\n"
    )
    cell = _test_cell(nbformat.v4.new_output("stream", name="stdout", text="passes\n"), warning)
    assert _score(cell) == 0, "nbgrader on its own fails a cell that printed to stderr"
    WarningsAreNotFailures().preprocess_cell(cell, {}, 0)
    assert _score(cell) == 2
    assert "[stderr] DeprecationWarning" in cell.outputs[1]["text"], "the warning stays visible"


def test_an_error_in_a_test_cell_still_scores_zero():
    error = nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong", traceback=[])
    cell = _test_cell(nbformat.v4.new_output("stream", name="stderr", text="warn\n"), error)
    WarningsAreNotFailures().preprocess_cell(cell, {}, 0)
    assert _score(cell) == 0


def test_answer_cells_are_left_alone():
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "a"}
    cell.outputs = [nbformat.v4.new_output("stream", name="stderr", text="w\n")]
    WarningsAreNotFailures().preprocess_cell(cell, {}, 0)
    assert cell.outputs[0]["name"] == "stderr"
    assert stderr_as_output(_test_cell())["outputs"] == []


CELLS = (
    CellGrade("test_a", "code", 0.0, 3.0, False),
    CellGrade("test_b", "code", 2.0, 2.0, False),
    CellGrade("test_c", "code", 0.0, 1.0, False),
    CellGrade("answer", "markdown", 0.0, 3.0, True),
)


def test_every_lost_cell_says_why_and_markup_is_escaped():
    errors = [{"cell": "test_a", "ename": "AssertionError", "evalue": "<script>x</script> wrong"}]
    lost = worker.lost_points(CELLS, errors)
    assert [item["grade_id"] for item in lost] == ["test_a", "test_c"]
    assert lost[0]["reason"] == "AssertionError: <script>x</script> wrong"
    assert "raised no error" in lost[1]["reason"]
    text = worker.lost_points_cell(lost).source
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "full marks" in worker.lost_points_cell([]).source


def test_feedback_falls_back_to_plain_outputs_then_to_a_score_page(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"image/png": "not base64", "text/plain": "img"}
        )
    ]
    nb.cells.append(cell)
    graded = tmp_path / "graded.ipynb"
    calls = []

    def failing(lab, course, student):
        calls.append(len(calls))
        raise ValueError("cannot render\nsecond line")

    monkeypatch.setattr("threatlab.course.feedback", failing)
    grade = Grade(0.0, 4.0, CELLS)
    lost = worker.lost_points(CELLS, [])
    page, note = worker.write_feedback("00-lab", tmp_path, "sam", nb, graded, grade, lost)
    assert len(calls) == 2, "nbconvert is tried twice: as is, then with plain-text outputs"
    assert nb.cells[0].outputs[0]["output_type"] == "stream", "outputs reduced to plain text"
    assert page == tmp_path / "feedback" / "sam" / "00-lab" / "00-lab.html"
    text = page.read_text(encoding="utf-8")
    assert "test_a" in text and "0 / 3" in text and "to be graded by your instructor" in text
    assert note.startswith("feedback lists scores only") and "cannot render" in note


def test_feedback_second_try_succeeds(tmp_path, monkeypatch):
    attempts = iter([ValueError("bad svg"), None])
    target = tmp_path / "out.html"

    def flaky(lab, course, student):
        error = next(attempts)
        if error:
            raise error
        return target

    monkeypatch.setattr("threatlab.course.feedback", flaky)
    nb = nbformat.v4.new_notebook()
    page, note = worker.write_feedback(
        "00-lab", tmp_path, "sam", nb, tmp_path / "g.ipynb", Grade(0, 1, ()), []
    )
    assert page == target and note.startswith("feedback rendered with plain-text outputs")


@pytest.mark.parametrize("kind", ["execute_result", "display_data"])
def test_plain_outputs_keep_text(kind):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    extra = {"execution_count": 1} if kind == "execute_result" else {}
    cell.outputs = [
        nbformat.v4.new_output(kind, data={"text/html": "<b>x</b>", "text/plain": "x"}, **extra)
    ]
    nb.cells.append(cell)
    worker.plain_outputs(nb)
    assert cell.outputs == [nbformat.v4.new_output("stream", name="stdout", text="x")]
