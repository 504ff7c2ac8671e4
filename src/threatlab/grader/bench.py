"""Benchmark: ``threatlab-grade --workers N`` against plain ``nbgrader autograde`` on one set.

    python -m threatlab.grader.bench --lab 01-evasion --n 40 --workers 2

Builds ``n`` submissions (correct, partial and stub in turn), grades them both ways on this
machine and writes ``OUT/grader.md`` / ``grader.json``: total wall times, their ratio, and the
per-submission overhead of ``threatlab-grade``: its wall time per submission minus the time
nbgrader spent executing that notebook inside the sandbox.
"""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from threatlab.course import (
    autograde,
    read_notebook,
    solution_path,
    student_path,
    with_solutions,
    write_notebook,
)
from threatlab.grader.sandbox import available_cpus

KINDS = ("correct", "partial", "stub")


def make_submissions(lab: str, n: int, folder: Path) -> dict[str, str]:
    """``n`` flat-layout submissions ``<id>.ipynb``; returns id -> kind."""
    folder.mkdir(parents=True, exist_ok=True)
    stub = read_notebook(student_path(lab))
    solved = with_solutions(stub, read_notebook(solution_path(lab)))
    answers = [c for c in stub.cells if c.metadata.get("nbgrader", {}).get("solution")]
    partial = copy.deepcopy(solved)
    first_answer = answers[0].metadata["nbgrader"]["grade_id"]
    for cell in partial.cells:  # the first graded function left unanswered
        if cell.metadata.get("nbgrader", {}).get("grade_id") == first_answer:
            cell.source = answers[0].source
    notebooks = {"correct": solved, "partial": partial, "stub": stub}
    kinds = {}
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        student = f"s{i:03d}-{kind}"
        write_notebook(notebooks[kind], folder / f"{student}.ipynb")
        kinds[student] = kind
    return kinds


def time_threatlab_grade(lab: str, submissions: Path, out: Path, workers: int) -> float:
    """Wall seconds of one ``threatlab-grade`` run (a fresh output folder)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "threatlab.grader.cli", lab, str(submissions)]
    command += ["--out", str(out), "--workers", str(workers), "--no-progress"]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 - fixed command
    return time.perf_counter() - start


def time_nbgrader(lab: str, submissions: Path, work: Path) -> tuple[float, list[float]]:
    """Plain nbgrader: in-process autograde, one submission after another, no sandbox."""
    shutil.rmtree(work, ignore_errors=True)
    each = []
    start = time.perf_counter()
    for path in sorted(submissions.glob("*.ipynb")):
        begin = time.perf_counter()
        autograde(lab, path, work, student=path.stem)
        each.append(time.perf_counter() - begin)
    return time.perf_counter() - start, each


def main(argv: list[str] | None = None) -> int:
    """Entry point: build the set, grade it both ways, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lab", default="01-evasion")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    args = parser.parse_args(argv)
    out = args.out.resolve()
    work = out / "grader-bench"
    kinds = make_submissions(args.lab, args.n, work / "submissions")
    print(f"grader bench: {args.n} submissions of {args.lab} ...", file=sys.stderr, flush=True)
    ours = time_threatlab_grade(args.lab, work / "submissions", work / "out", args.workers)
    results = [
        json.loads(p.read_text(encoding="utf-8")) for p in (work / "out" / "results").glob("*.json")
    ]
    per_student = [r.get("seconds", 0.0) for r in results]
    overheads = [
        r["seconds"] - r["autograde_seconds"] for r in results if r.get("autograde_seconds")
    ]
    theirs, each = time_nbgrader(args.lab, work / "submissions", work / "nbgrader")
    result = {
        "lab": args.lab,
        "submissions": args.n,
        "kinds": {k: list(kinds.values()).count(k) for k in KINDS},
        "workers": args.workers,
        "threatlab_grade_seconds": round(ours, 1),
        "nbgrader_autograde_seconds": round(theirs, 1),
        "ratio": round(ours / theirs, 3),
        "cpus": len(available_cpus()),
        "mean_sandboxed_submission_seconds": round(statistics.mean(per_student), 2),
        "mean_nbgrader_submission_seconds": round(statistics.mean(each), 2),
        # Everything but nbgrader executing the notebook: sandbox, worker start-up, copies,
        # integrity probes' parsing, feedback. (Per-submission wall times of the two columns
        # above differ mostly in threads: each sandboxed kernel gets cpus/workers of the CPUs.)
        "overhead_per_submission_seconds": round(statistics.mean(overheads), 2)
        if overheads
        else None,
    }
    (out / "grader.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    table = "\n".join(
        ["| measure | value |", "|---|---:|", *(f"| {k} | {v} |" for k, v in result.items())]
    )
    (out / "grader.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
