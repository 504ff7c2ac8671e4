"""nbgrader preprocessors of the course (configured in ``course/nbgrader_config.py``).

nbgrader scores a test cell 0 when it printed anything on stderr, as if it had raised. A library
warning (NumPy's ``DeprecationWarning``, a ``UserWarning`` from torch) is not a failed assertion:
a correct answer whose test cell printed "passes" lost all its points, silently. Grading here
scores the assertions; the warning stays visible in the feedback as ordinary output.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

WARNING_PREFIX = "[stderr] "


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell: nbgrader ``grade`` without ``solution``, holding code."""
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def stderr_as_output(cell: NotebookNode) -> NotebookNode:
    """The cell with each stderr stream turned into a stdout stream marked ``[stderr]``."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            output["name"] = "stdout"
            lines = output.get("text", "").splitlines(keepends=True)
            output["text"] = "".join(WARNING_PREFIX + line for line in lines)
    return cell


class WarningsAreNotFailures(NbGraderPreprocessor):
    """After execution, before scoring: stderr in a test cell no longer counts as a failure.

    A test cell still scores 0 when it raised (an ``error`` output): the assertions decide.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if is_test_cell(cell):
            stderr_as_output(cell)
        return cell, resources
