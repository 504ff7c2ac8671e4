"""``threatlab-grade LAB SUBMISSIONS --out OUT``: grade a folder of submissions, sandboxed.

Only this (trusted) parent process reads the course's sources and writes ``OUT``; student code runs
in one sandboxed worker per submission (:mod:`threatlab.grader.sandbox`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import datetime
import hashlib
import html
import io
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from threatlab.course import (
    check_nbgrader_result,
    hidden_test_lines,
    lab_ids,
    nbgrader_api,
    read_notebook,
    repo_root,
    solution_path,
    student_path,
)
from threatlab.files import atomic_write_text

from . import gradebook, probe, sandbox, similarity
from .checks import (
    STUDENT_ID,
    NotThisLab,
    check_lab,
    patch_findings,
    tamper_findings,
)
from .worker import PROBE_SPEC

STATUSES = ("graded", "tampered", "timeout", "memory", "crashed", "invalid", "missing")
GRADER_VERSION = "6"  # part of each submission's hash: a new grader re-grades everything
FIRST_KERNEL_UID = 61000
NBGRADER_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC$")
MAX_FEEDBACK_BYTES = 5 * 1024 * 1024
MAX_LOG_BYTES = 200 * 1024
MAX_SUBMISSION_BYTES = 50 * 1024 * 1024
CSV_FIELDS = ("student_id", "lab", "score", "max_score", "status", "detail")


@dataclass
class Submission:
    """One discovered submission (the notebook may be absent or unusable)."""

    student_id: str
    notebook: Path | None
    timestamp: Path | None = None
    problem: tuple[str, str] | None = None  # (status, detail) decided at discovery
    notes: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        """A file-name-safe key: the id itself when valid, else a hash of it."""
        if STUDENT_ID.match(self.student_id):
            return self.student_id
        return (
            "invalid-id-"
            + hashlib.sha256(self.student_id.encode("utf-8", "replace")).hexdigest()[:12]
        )


# ---------------------------------------------------------------- discovery


def discover(lab: str, submissions: Path) -> list[Submission]:
    """nbgrader's ``<id>/<lab>/<lab>.ipynb`` layout or a flat folder of ``<id>.ipynb``."""
    found: dict[str, Submission] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.is_dir() and entry.name.startswith("."):
            continue  # .ipynb_checkpoints and the like
        if entry.suffix == ".ipynb" and (entry.is_file() or entry.is_symlink()):
            found[entry.stem] = Submission(entry.stem, entry)
        elif entry.is_symlink():
            found[entry.name] = Submission(entry.name, entry)  # refused below
        elif entry.is_dir():
            notebook = entry / lab / f"{lab}.ipynb"
            stamp = entry / lab / "timestamp.txt"
            if notebook.is_file() or notebook.is_symlink():
                found[entry.name] = Submission(
                    entry.name,
                    notebook,
                    stamp if stamp.is_file() and not stamp.is_symlink() else None,
                )
            else:
                found[entry.name] = Submission(
                    entry.name, None, problem=("missing", f"no {lab}/{lab}.ipynb")
                )
    for sub in found.values():
        if not STUDENT_ID.match(sub.student_id):
            sub.problem = ("invalid", "student id not allowed (letters, digits, . _ - only)")
        elif sub.notebook is not None and sub.notebook.is_symlink():
            sub.problem = ("invalid", "the submission is a symbolic link")
        elif sub.notebook is not None and sub.notebook.parent.is_symlink():
            sub.problem = ("invalid", "the submission's folder is a symbolic link")
    return [found[k] for k in sorted(found)]


def read_timestamp(path: Path | None) -> tuple[str | None, str | None]:
    """(ISO timestamp, None) or (None, why it was ignored)."""
    if path is None:
        return None, None
    text = ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()[:100]
        return datetime.datetime.fromisoformat(text).isoformat(), None
    except (OSError, ValueError):
        pass
    match = NBGRADER_STAMP.match(text)  # nbgrader's exchange: "2026-11-26 14:03:00.123456 UTC"
    if match:
        try:
            stamp = datetime.datetime.fromisoformat(match.group(1))
            return stamp.replace(tzinfo=datetime.timezone.utc).isoformat(), None
        except ValueError:
            pass
    return None, f"timestamp.txt ignored (not an ISO 8601 time: {text[:40]!r})"


def submission_hash(sub: Submission, lab: str, limits: sandbox.Limits) -> str:
    """What decides a result: the notebook's bytes, its timestamp, the lab and the grader."""
    digest = hashlib.sha256(f"{GRADER_VERSION}|{lab}|{limits.memory_mb}|".encode())
    for path in (sub.notebook, sub.timestamp):
        if path is not None and path.is_file():
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(block)
        digest.update(b"|")
    return digest.hexdigest()


# ---------------------------------------------------------------- the run


class Run:
    """One grading run: the template course, the output folder and the slots of kernel users."""

    def __init__(self, lab: str, out: Path, limits: sandbox.Limits, workers: int) -> None:
        self.lab, self.out, self.limits = lab, out, limits
        self.root = repo_root()
        self.work = Path(tempfile.mkdtemp(prefix="threatlab-grade-"))
        os.chmod(self.work, 0o711)  # kernels (another user) traverse it, never list it
        self.bwrap = sandbox.bwrap_path()
        self.separate_kernel_user = bool(self.bwrap) and sandbox.can_switch_user()
        self.slots: queue.Queue[sandbox.Slot] = queue.Queue()
        for slot in sandbox.make_slots(workers, FIRST_KERNEL_UID):
            self.slots.put(slot)
        self.released = read_notebook(self._released_path())
        visible = {line.strip() for c in self.released.cells for line in c.source.splitlines()}
        source = read_notebook(solution_path(lab, self.root))
        tests = [c.source for c in source.cells if probe.is_test_cell(c)]
        self.probe_spec = json.dumps(probe.probe_spec(tests, self.released))
        self.hidden = sorted(  # hidden-test lines that the student's own copy does not show
            {line.strip() for line in hidden_test_lines(source)} - visible - {""},
            key=len,
            reverse=True,
        )
        self.template = self.work / "template"
        try:
            self._make_template()
        except BaseException:
            self.close()
            raise
        self.lock = threading.Lock()

    def _released_path(self) -> Path:
        return student_path(self.lab, self.root)

    def _make_template(self) -> None:
        """generate_assignment once: the release and a gradebook every submission copies."""
        self.template.mkdir(parents=True)
        api = nbgrader_api(
            self.template, source=self.root / "solutions", release=self.template / "release"
        )
        check_nbgrader_result(
            api.generate_assignment(self.lab, force=True, create=True), "generate_assignment"
        )
        if not (self.template / "gradebook.db").is_file():
            raise RuntimeError("generate_assignment made no gradebook")

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    # ------------------------------------------------ per submission

    def grade(self, sub: Submission) -> dict:
        """The result of one submission (never raises for a bad submission)."""
        result = {"student_id": sub.student_id, "lab": self.lab, "score": "", "max_score": ""}
        if sub.problem:
            return result | {"status": sub.problem[0], "detail": sub.problem[1]}
        stamp, note = read_timestamp(sub.timestamp)
        notes = [note] if note else []
        try:
            if sub.notebook.stat().st_size == 0:
                raise ValueError("empty file")
            if sub.notebook.stat().st_size > MAX_SUBMISSION_BYTES:
                raise ValueError(f"larger than {MAX_SUBMISSION_BYTES // 2**20} MB")
            nb = read_notebook(sub.notebook)
            if not isinstance(nb.get("cells"), list):
                raise ValueError("no cells")
            check_lab(nb, self.released, self.lab)
        except NotThisLab as error:
            return result | {"status": "invalid", "detail": str(error)}
        except Exception as error:  # noqa: BLE001 - any unreadable file is `invalid`
            reason = str(error).split("\n")[0].replace(str(sub.notebook), sub.notebook.name)[:200]
            return result | {"status": "invalid", "detail": f"not a readable notebook: {reason}"}
        findings = tamper_findings(nb, self.released) + patch_findings(nb, self.released)
        own = {line.strip() for c in nb.cells for line in str(c.get("source", "")).splitlines()}
        executed = self._execute(sub, stamp, own)
        result |= executed
        findings += [str(f) for f in executed.pop("integrity", [])]
        if findings:
            result["status"] = "tampered"
            notes.insert(0, "; ".join(str(f) for f in findings))
        notes += [executed.pop("note")] if executed.get("note") else []
        result.pop("note", None)
        result["detail"] = "; ".join(n for n in notes if n)
        return result

    def _execute(self, sub: Submission, stamp: str | None, own: set[str]) -> dict:
        scratch = self.work / "students" / sub.key
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        shutil.copytree(self.template / "release", scratch / "release")
        shutil.copyfile(self.template / "gradebook.db", scratch / "gradebook.db")
        target = scratch / "submitted" / sub.key / self.lab
        target.mkdir(parents=True)
        shutil.copyfile(sub.notebook, target / f"{self.lab}.ipynb")
        if stamp:
            (target / "timestamp.txt").write_text(stamp, encoding="utf-8")
        (scratch / PROBE_SPEC).write_text(self.probe_spec, encoding="utf-8")
        if self.separate_kernel_user:  # hidden tests and what they use: not for the kernel
            for private in ("gradebook.db", PROBE_SPEC):
                os.chmod(scratch / private, 0o600)
        log = self.work / "logs" / f"{sub.key}.log"
        log.parent.mkdir(exist_ok=True)
        slot = self.slots.get()
        try:
            outcome = sandbox.run_worker(
                scratch,
                self.lab,
                sub.key,
                limits=self.limits,
                log=log,
                kernel_uid=slot.uid if self.separate_kernel_user else None,
                sandboxed=bool(self.bwrap),
                cpus=slot.cpus,
            )
        finally:
            self.slots.put(slot)
        reply = _read_json(scratch / "result.json")
        executed = {"seconds": round(outcome.seconds, 2)}
        if outcome.timed_out:
            executed |= {"status": "timeout", "note": f"killed after {self.limits.timeout:.0f} s"}
        elif reply.get("memory"):
            executed |= {
                "status": "memory",
                "note": f"over the {self.limits.memory_mb} MB memory limit",
            }
        elif not reply.get("ok"):
            why = reply.get("error") or f"grader exited with code {outcome.returncode}"
            executed |= {"status": "crashed", "note": why.splitlines()[0][:300]}
        else:
            executed |= {"status": "graded", "note": ""}
            if reply.get("kernel_died"):
                executed["note"] = "the kernel died during grading"
        if reply.get("ok"):
            executed |= {"score": reply["score"], "max_score": reply["max_score"]}
            executed["autograde_seconds"] = reply.get("autograde_seconds")
            executed["cells"] = reply.get("cells", [])
            executed["errors"] = reply.get("errors", [])[:20]
            executed["lost"] = reply.get("lost", [])
            if reply.get("feedback_note"):
                executed["note"] = "; ".join(
                    n for n in (executed.get("note"), reply["feedback_note"]) if n
                )
            executed["integrity"] = [f"runtime check {f}" for f in reply.get("integrity", [])]
            self._feedback(sub, scratch, reply.get("feedback"), own)
            self._autograded(sub, scratch)
        else:
            shutil.rmtree(self.out / "autograded" / sub.key, ignore_errors=True)
        self._log(sub, log, outcome, reply)
        shutil.rmtree(scratch, ignore_errors=True)
        return executed

    def _feedback(
        self, sub: Submission, scratch: Path, relative: str | None, own: set[str]
    ) -> None:
        if not relative:
            return
        path = (scratch / relative).resolve()
        if scratch.resolve() not in path.parents or not path.is_file() or path.is_symlink():
            return
        with open(path, "rb") as handle:
            page = handle.read(MAX_FEEDBACK_BYTES).decode("utf-8", "replace")
        page = scrub(page, [line for line in self.hidden if line not in own])
        atomic_write_text(self.out / "feedback" / sub.key / f"{self.lab}.html", page)

    def _autograded(self, sub: Submission, scratch: Path) -> None:
        """Keep the worker's autograded notebook for the gradebook, probe cells and hidden tests
        removed (:func:`gradebook.record` restores the tests from the course's gradebook)."""
        path = scratch / "autograded" / sub.key / self.lab / f"{self.lab}.ipynb"
        target = self.out / "autograded" / sub.key / f"{self.lab}.ipynb"
        try:
            if path.is_symlink() or path.stat().st_size > MAX_SUBMISSION_BYTES:
                raise ValueError("not a plain notebook file")
            nb = read_notebook(path)
            probe.remove_probes(nb)
            for cell in nb.cells:  # OUT holds no hidden test; the course's copy gets them back
                cell.source = gradebook.without_hidden_tests(str(cell.get("source", "")))
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(target, nbformat.writes(nb))
        except Exception:  # noqa: BLE001 - the gradebook then gets the submission itself
            target.unlink(missing_ok=True)

    def _log(self, sub: Submission, log: Path, outcome: sandbox.Outcome, reply: dict) -> None:
        size = log.stat().st_size if log.is_file() else 0
        with open(log, "rb") if log.is_file() else io.BytesIO() as handle:
            handle.seek(max(0, size - MAX_LOG_BYTES))
            tail = handle.read().decode("utf-8", "replace")
        head = (
            f"student {sub.key} lab {self.lab}: exit {outcome.returncode}, "
            f"{outcome.seconds:.1f} s, timed out {outcome.timed_out}, sandbox "
            f"{'bwrap' if self.bwrap else 'NONE (rlimits only)'}\n"
            f"worker result: {json.dumps({k: v for k, v in reply.items() if k != 'cells'})[:4000]}\n"
            f"--- worker output ({size} bytes, last {min(size, MAX_LOG_BYTES)} kept) ---\n"
        )
        atomic_write_text(self.out / "logs" / f"{sub.key}.log", head + tail)


MIN_SECRET_LINE = 25  # shorter lines (`return out`, `try:`) are common code, not a giveaway


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def scrub(page: str, hidden: list[str]) -> str:
    """Feedback HTML without hidden-test source: lines whose text is a hidden-test line are removed;
    if one still shows (markup spread over several lines), the page is withheld.

    Whole lines are compared, not substrings, so `adv_losses = f(` is not mistaken for `losses = f(`.
    ``hidden`` should not hold lines the student wrote themselves (their own code is no leak).
    """
    secret = {line for line in hidden if len(line) >= MIN_SECRET_LINE}
    if not secret:
        return page
    lines = page.split("\n")
    for index, line in enumerate(lines):
        if _text(line).strip() in secret:
            lines[index] = "[hidden test line removed]"
    page = "\n".join(lines)
    if any(line.strip() in secret for line in _text(page).splitlines()):
        return (
            "<html><body><p>Feedback withheld: it contained hidden-test source. "
            "Ask your instructor for your scores.</p></body></html>"
        )
    return page


def _read_json(path: Path) -> dict:
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size < 1_000_000:
            value = json.loads(path.read_text(encoding="utf-8"))
            return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        pass
    return {}


def _safe_id(row: dict) -> str:
    """A result's student id as written to CSV/HTML: as is when valid, else its ``ascii()`` repr."""
    sid = str(row.get("student_id", ""))
    return sid if STUDENT_ID.match(sid) else ascii(sid)


def write_grades(out: Path, lab: str) -> list[dict]:
    """Rebuild ``OUT/grades.csv`` from every stored result of this lab, sorted by student id."""
    rows = []
    for path in sorted((out / "results").glob("*.json")):
        result = _read_json(path)
        if result.get("lab") == lab:
            rows.append(result)
    rows.sort(key=lambda r: str(r.get("student_id")))
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row | {"student_id": _safe_id(row)})
    atomic_write_text(out / "grades.csv", buffer.getvalue())
    return rows


def summary(rows: list[dict]) -> str:
    """Counts per status and the mean score of graded submissions."""
    lines = ["| status | students |", "|---|---:|"]
    for status in STATUSES:
        count = sum(1 for r in rows if r.get("status") == status)
        if count:
            lines.append(f"| {status} | {count} |")
    scored = [r for r in rows if isinstance(r.get("score"), int | float)]
    if scored:
        mean = sum(r["score"] for r in scored) / len(scored)
        top = max(r["max_score"] for r in scored)
        lines.append(
            f"\nmean auto score {mean:.2f} / {top:g} over {len(scored)} scored submissions"
        )
    return "\n".join(lines)


def similarity_report(out: Path, lab: str, subs: list[Submission], rows: list[dict]) -> str:
    """``OUT/similarity.csv`` over every graded submission's answer cells (sources only, nothing
    runs) and the summary's section on it. Flags only: no result or score changes."""
    try:
        import copydetect  # noqa: F401 - the instructors' install (make install: the dev extra)
    except ImportError:
        return "\nsimilarity report skipped: copydetect is not installed (pip install copydetect)"
    graded = {r["student_id"] for r in rows if r.get("status") not in ("invalid", "missing", None)}
    sources = {}
    for sub in subs:
        if sub.student_id not in graded or sub.problem or sub.notebook is None:
            continue
        try:
            if sub.notebook.stat().st_size > MAX_SUBMISSION_BYTES:
                continue
            sources[sub.key] = similarity.answer_cells(read_notebook(sub.notebook))
        except Exception:  # noqa: BLE001,S112 - changed or unreadable since grading: not compared
            continue
    root = repo_root()
    released = similarity.answer_cells(read_notebook(student_path(lab, root)))
    published = similarity.answer_cells(read_notebook(solution_path(lab, root)))
    matches = similarity.compare(sources, released, published)
    similarity.write_report(out, matches)
    return similarity.summary(matches, len(sources))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``threatlab-grade``."""
    parser = argparse.ArgumentParser(prog="threatlab-grade", description=__doc__.split("\n")[0])
    parser.add_argument("lab")
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="submissions graded at once (default: one per CPU, within memory); each gets its "
        "share of the CPUs",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per submission")
    parser.add_argument(
        "--memory",
        type=int,
        default=None,
        help="MB of address space per process (default: the lab's grading_memory_mb metadata, "
        f"at least {sandbox.DEFAULT_MEMORY_MB})",
    )
    parser.add_argument(
        "--course",
        type=Path,
        default=None,
        help="an nbgrader course folder (with its nbgrader_config.py, e.g. course/): write every "
        "result into its gradebook for formgrader, feedback and nbgrader export",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.lab not in lab_ids():
        parser.error(f"unknown lab {args.lab!r}; labs: {', '.join(lab_ids())}")
    if args.memory is None:
        args.memory = sandbox.lab_memory_mb(
            read_notebook(solution_path(args.lab)).metadata.get("threatlab", {})
        )
    if args.workers is None:
        args.workers = sandbox.default_workers(args.memory)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    out = args.out.resolve()
    submissions_dir = args.submissions.resolve()
    if out == submissions_dir or submissions_dir in out.parents:
        parser.error("--out must not be inside the submissions folder")
    if args.course and not (args.course / "nbgrader_config.py").is_file():
        parser.error(f"{args.course} has no nbgrader_config.py: not an nbgrader course folder")
    limits = sandbox.Limits(timeout=args.timeout, memory_mb=args.memory)
    weaker = (
        sandbox.NOT_ENFORCED_WITHOUT_BWRAP
        if not sandbox.bwrap_path()
        else None
        if sandbox.can_switch_user()
        else sandbox.SAME_USER_AS_KERNEL
    )
    if weaker:
        print("\n" + "!" * 78 + "\nWARNING: " + weaker + "\n" + "!" * 78, file=sys.stderr)
    (out / "results").mkdir(parents=True, exist_ok=True)
    subs = discover(args.lab, submissions_dir)
    todo, skipped = [], 0
    for sub in subs:
        digest = submission_hash(sub, args.lab, limits)
        old = _read_json(out / "results" / f"{sub.key}.json")
        if old.get("hash") == digest and old.get("lab") == args.lab:
            skipped += 1
        else:
            todo.append((sub, digest))
    print(
        f"{len(subs)} submissions of {args.lab}: {len(todo)} to grade, {skipped} unchanged",
        file=sys.stderr,
    )
    run = Run(args.lab, out, limits, max(1, args.workers)) if todo else None
    try:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="student", disable=args.no_progress, file=sys.stderr)

        def job(item):
            sub, digest = item
            result = run.grade(sub) | {"hash": digest}
            log = out / "logs" / f"{sub.key}.log"
            if result["status"] in ("invalid", "missing") or not log.is_file():
                atomic_write_text(log, f"{result['status']}: {result['detail']} (not executed)\n")
            atomic_write_text(out / "results" / f"{sub.key}.json", json.dumps(result, indent=1))
            return result

        with concurrent.futures.ThreadPoolExecutor(max(1, args.workers)) as pool:
            for future in concurrent.futures.as_completed([pool.submit(job, t) for t in todo]):
                result = future.result()
                bar.set_postfix_str(f"{result['student_id'][:20]}: {result['status']}")
                bar.update()
        bar.close()
    finally:
        if run:
            run.close()
    rows = write_grades(out, args.lab)
    print(summary(rows))
    print(similarity_report(out, args.lab, subs, rows))
    if args.course:
        notebooks = {
            s.key: (s.notebook, read_timestamp(s.timestamp)[0])
            for s in subs
            if not s.problem and s.notebook is not None
        }
        written, unchanged = gradebook.fill(args.course, out, args.lab, rows, notebooks)
        print(
            f"\ngradebook of {args.course}: {written} submissions written, {unchanged} unchanged "
            "or not gradable; grade written answers in formgrader, then nbgrader export"
        )
    print(f"grades: {out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
