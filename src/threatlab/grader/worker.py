"""Grade ONE submission inside its sandbox: ``python -m threatlab.grader.worker COURSE LAB STUDENT``.

``COURSE`` is a scratch nbgrader course prepared by the parent (release, gradebook, the submission
under ``submitted/``). The worker autogrades in-process with nbgrader, writes feedback HTML, and writes
its result to ``COURSE/result.json``. Student code runs in the kernel nbgrader starts; where the
parent set ``THREATLAB_KERNEL_UID``, that kernel runs as another, unprivileged user that cannot
write the gradebook, this worker's files or its result.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

import nbformat

PROBE_SPEC = "probe.json"  # written by the parent: the names the tests rely on (see probe.py)
MAX_OUTPUT_CHARS = 10_000  # per output, in the graded notebook and its feedback
HIDDEN_MARK = "BEGIN HIDDEN TESTS"
HIDDEN_EVALUE_CHARS = 300  # an assertion message, not a channel for the hidden test's source
MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "Cannot allocate memory", "std::bad_alloc")


def _install_kernelspec(course: Path, uid: int) -> None:
    """A ``python3`` kernelspec that drops to ``uid`` before starting ipykernel."""
    data = course / "jupyter"
    spec = data / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    script = (
        f'c=$(mktemp /tmp/kernel-XXXXXX.json) && install -o {uid} -g {uid} -m 600 "$1" "$c" && '
        f"mkdir -p /tmp/home && chown {uid}:{uid} /tmp/home && "
        f"HOME=/tmp/home MPLCONFIGDIR=/tmp/home IPYTHONDIR=/tmp/home/.ipython exec setpriv --reuid={uid} --regid={uid} --clear-groups "
        '--inh-caps=-all --bounding-set=-all --no-new-privs -- "$2" -m ipykernel_launcher -f "$c"'
    )
    argv = ["/bin/sh", "-c", script, "sh", "{connection_file}", sys.executable]
    kernel = {"argv": argv, "display_name": "Python 3 (sandboxed)", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    os.environ["JUPYTER_DATA_DIR"] = str(data)
    os.environ["JUPYTER_PATH"] = str(data)


def _errors(nb) -> list[dict]:
    """Every error output of the executed notebook, with the grade_id of its cell."""
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if output.get("output_type") == "error":
                gid = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                found.append(
                    {
                        "cell": gid,
                        "ename": output.get("ename", ""),
                        "evalue": output.get("evalue", "")[:300],
                    }
                )
    return found


def _truncate_outputs(nb) -> None:
    """Cap every text output so that megabytes of prints never reach the feedback.

    A failing test cell's traceback quotes the failing line, which may be a hidden test: keep only
    the error's name and message there. A cell holding hidden tests keeps nothing but that: its
    printed output could carry hidden-test source that the student's code read from the frame or a
    hook encoded (the scrub in the parent only recognises verbatim lines).
    """
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        test_cell = meta.get("grade") and not meta.get("solution")
        if test_cell and HIDDEN_MARK in cell.source and cell.cell_type == "code":
            cell.outputs = [
                nbformat.v4.new_output(
                    "error",
                    ename=str(o.get("ename", ""))[:100],
                    evalue=str(o.get("evalue", ""))[:HIDDEN_EVALUE_CHARS],
                    traceback=[
                        f"{o.get('ename', '')}: {str(o.get('evalue', ''))[:HIDDEN_EVALUE_CHARS]}"
                    ],
                )
                for o in cell.outputs
                if o.get("output_type") == "error"
            ]
            continue
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if test_cell and output.get("output_type") == "error":
                message = f"{output.get('ename', '')}: {output.get('evalue', '')}"
                output["traceback"] = [message[:MAX_OUTPUT_CHARS]]
            if "text" in output and len(output["text"]) > MAX_OUTPUT_CHARS:
                output["text"] = output["text"][:MAX_OUTPUT_CHARS] + "\n... [output truncated]\n"
            for value in list(output.get("data", {}).values()):
                if isinstance(value, str) and len(value) > MAX_OUTPUT_CHARS * 20:
                    output["data"] = {"text/plain": "[large output removed]"}
                    break
            if "traceback" in output:
                output["traceback"] = [line[:2000] for line in output["traceback"][-40:]]


def lost_points(cells, errors: list[dict]) -> list[dict]:
    """Every autograded cell that did not get full marks, with the reason its test gave."""
    reasons: dict[str, str] = {}
    for error in errors:
        reasons.setdefault(error["cell"], f"{error['ename']}: {error['evalue']}".strip(": "))
    return [
        {
            "grade_id": c.grade_id,
            "score": c.score,
            "max_score": c.max_score,
            "reason": reasons.get(c.grade_id)
            or "the cell raised no error: it was not run, or it printed a partial score",
        }
        for c in cells
        if c.cell_type == "code" and c.score < c.max_score
    ]


def lost_points_cell(lost: list[dict]) -> nbformat.NotebookNode:
    """A markdown cell for the top of the feedback: where points were lost and why (escaped)."""
    if not lost:
        text = "**Autograded tests:** full marks on every test cell."
    else:
        items = "\n".join(
            f"<li><code>{html.escape(item['grade_id'])}</code> {item['score']:g} / "
            f"{item['max_score']:g}: {html.escape(item['reason'])}</li>"
            for item in lost
        )
        text = (
            "**Autograded tests where points were lost**, and the message each test gave "
            f"(the cells below show the details):\n\n<ul>\n{items}\n</ul>"
        )
    return nbformat.v4.new_markdown_cell(text)


def plain_outputs(nb) -> None:
    """Reduce every output to plain text (streams, errors, text/plain): nothing left to render."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            kind = output.get("output_type")
            if kind == "stream":
                kept.append(nbformat.v4.new_output("stream", name="stdout", text=output["text"]))
            elif kind == "error":
                message = f"{output.get('ename', '')}: {output.get('evalue', '')}"
                kept.append(
                    nbformat.v4.new_output(
                        "error",
                        ename=str(output.get("ename", "")),
                        evalue=str(output.get("evalue", "")),
                        traceback=[message],
                    )
                )
            elif "text/plain" in output.get("data", {}):
                text = str(output["data"]["text/plain"])
                kept.append(nbformat.v4.new_output("stream", name="stdout", text=text))
        cell.outputs = kept


def minimal_feedback(lab: str, student: str, cells, lost: list[dict]) -> str:
    """A feedback page written without nbconvert: scores per cell and why points were lost."""
    rows = "\n".join(
        f"<tr><td>{html.escape(c.grade_id)}</td><td>{c.score:g} / {c.max_score:g}</td>"
        f"<td>{'to be graded by your instructor' if c.needs_manual_grade else ''}</td></tr>"
        for c in cells
    )
    why = "\n".join(
        f"<li>{html.escape(item['grade_id'])}: {html.escape(item['reason'])}</li>" for item in lost
    )
    return (
        f'<!doctype html>\n<meta charset="utf-8">\n<title>{html.escape(lab)}: feedback</title>\n'
        f"<h1>{html.escape(lab)}: feedback for {html.escape(student)}</h1>\n"
        "<p>Your notebook's outputs could not be rendered, so this page lists your scores only.</p>\n"
        f"<table>\n<tr><th>cell</th><th>score</th><th></th></tr>\n{rows}\n</table>\n"
        f"<h2>Where points were lost</h2>\n<ul>\n{why}\n</ul>\n"
    )


def write_feedback(lab: str, course: Path, student: str, nb, graded: Path, grade, lost) -> tuple:
    """Feedback HTML through nbgrader; if nbconvert cannot render what the notebook printed,
    again with plain-text outputs, and at last a page of scores written here. Never raises.

    Returns (path or None, a note for the instructor or "").
    """
    from threatlab.course import feedback

    try:
        return feedback(lab, course, student=student), ""
    except Exception as first:  # noqa: BLE001 - student output must not cost the feedback
        reason = f"{type(first).__name__}: {first}".splitlines()[0][:200]
    plain_outputs(nb)
    nbformat.write(nb, str(graded))
    try:
        path = feedback(lab, course, student=student)
        return path, f"feedback rendered with plain-text outputs ({reason})"
    except Exception:  # noqa: BLE001
        pass
    path = course / "feedback" / student / lab / f"{lab}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(minimal_feedback(lab, student, grade.cells, lost), encoding="utf-8")
    return path, f"feedback lists scores only: the notebook could not be rendered ({reason})"


def _failure(result: dict) -> str:
    """One line saying why nbgrader could not grade the notebook."""
    text = f"{result.get('log') or ''}\n{result.get('error') or ''}"
    if re.search(r"DeadKernel|[Kk]ernel died|kernel.*(dead|restart)", text):
        return "the kernel died while running the notebook (os._exit, a crash or a signal)"
    lines = [
        line.strip()
        for line in text.splitlines()
        if re.search(r"Error|Exception", line)
        and "NbGraderException" not in line
        and not line.strip().startswith(("File ", "Traceback"))
    ]
    return (lines[-1] if lines else "nbgrader autograde failed")[:300]


def grade(course: Path, lab: str, student: str) -> dict:
    """Autograde and generate feedback; the result dict the parent reads."""
    from threatlab.course import (
        nbgrader_api,
        poll_in_slices,
        read_grade,
        read_notebook,
    )
    from threatlab.grader import probe

    submitted = course / "submitted" / student / lab / f"{lab}.ipynb"
    spec = json.loads((course / PROBE_SPEC).read_text(encoding="utf-8"))
    with_probes = read_notebook(submitted)
    names = {k: tuple(v) for k, v in spec["names"].items()}
    probe.insert_probes(with_probes, names)
    nbformat.write(with_probes, str(submitted))
    api = nbgrader_api(course, source=course / "source", release=course / "release")
    started = time.monotonic()
    with poll_in_slices():  # a missed zmq wake-up must not turn into a `timeout` status
        result = api.autograde(lab, student, force=True, create=True)
    autograde_seconds = time.monotonic() - started
    graded = course / "autograded" / student / lab / f"{lab}.ipynb"
    if not result.get("success"):
        raise RuntimeError(_failure(result))
    grade = read_grade(api, lab, student)
    nb = read_notebook(graded)
    log = result.get("log") or ""
    kernel_died = "DeadKernelError" in log or "Kernel died" in log
    integrity = probe.probe_findings(nb, complete=not kernel_died)
    probe.remove_probes(nb)
    errors = _errors(nb)
    lost = lost_points(grade.cells, errors)
    _truncate_outputs(nb)
    nb.cells.insert(0, lost_points_cell(lost))
    nbformat.write(nb, str(graded))
    started = time.monotonic()
    page, feedback_note = write_feedback(lab, course, student, nb, graded, grade, lost)
    feedback_seconds = time.monotonic() - started
    return {
        "score": grade.auto_score,
        "max_score": grade.auto_max_score,
        "total_score": grade.score,
        "total_max_score": grade.max_score,
        "cells": [
            {
                "grade_id": c.grade_id,
                "score": c.score,
                "max_score": c.max_score,
                "type": c.cell_type,
                "needs_manual_grade": c.needs_manual_grade,
            }
            for c in grade.cells
        ],
        "errors": errors,
        "lost": lost,
        "feedback_note": feedback_note,
        "memory": any(sign in e["ename"] + e["evalue"] for e in errors for sign in MEMORY_SIGNS),
        "kernel_died": kernel_died,
        "integrity": integrity,
        "autograde_seconds": round(autograde_seconds, 2),  # nbgrader executing the notebook
        "feedback_seconds": round(feedback_seconds, 2),
        "feedback": str(page.relative_to(course)) if page.is_file() else None,
    }


def main(argv: list[str] | None = None) -> int:
    course, lab, student = (argv or sys.argv[1:])[:3]
    course = Path(course)
    out = course / "result.json"
    uid = os.environ.get("THREATLAB_KERNEL_UID")
    try:
        if uid:
            _install_kernelspec(course, int(uid))
        result = {"ok": True, **grade(course, lab, student)}
    except MemoryError:
        result = {"ok": False, "memory": True, "error": "MemoryError in the grader"}
    except Exception as error:  # noqa: BLE001 - reported to the parent
        traceback.print_exc()
        result = {"ok": False, "memory": False, "error": f"{type(error).__name__}: {error}"[:2000]}
    from threatlab.files import atomic_write_text

    atomic_write_text(out, json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
