"""One sandboxed grading run of many hostile Lab 00 submissions (``threatlab-grade --workers 2``).

Every student is asserted on its own, and every hostile student sits in the same run as correct
ones, which must keep full marks: one submission never changes another's result.
"""

from __future__ import annotations

import html
import re
import shutil
import socket
import threading
import time

import pytest
from hostile import (
    ANSWER,
    LAB,
    TEST,
    cell,
    grade,
    read_grades,
    save,
    solved,
    stub,
    with_answer_prefix,
)

from threatlab.course import hidden_test_lines, read_notebook, repo_root, solution_path

pytestmark = pytest.mark.notebook
TIMEOUT = 60  # a correct Lab 00 submission takes ~10 s on one core
SECRET = "CANARY-7f3a9c-never-in-any-output"
# A wrong answer plus an AST transformer that deletes every `assert`: all tests would pass. The
# static scan does not see it (no guarded name is assigned); the runtime probe does.
SNEAKY_ANSWER = """
import ast as _ast


class _NoAsserts(_ast.NodeTransformer):
    def visit_Assert(self, node):
        return _ast.Pass()


getattr(get_ipython(), "ast_" + "transformers").append(_NoAsserts())


def top1_accuracy(logits, labels):
    return 0.0
"""


class Listener:
    """A loopback TCP server on the host that counts connections from the sandbox."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen()
        self.server.settimeout(0.5)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.server.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.server.close()


def snoop_code(targets: dict[str, str], writes: list[str], port: int) -> str:
    """Student code that tries to read secrets, write outside its scratch and phone home."""
    return f"""
import os, socket
for _name, _path in {targets!r}.items():
    try:
        with open(_path, encoding="utf-8", errors="replace") as _h:
            print("LE" "AK", _name, _h.read()[:20000])
    except Exception as _e:
        print("blocked " "read", _name, type(_e).__name__)
for _path in {writes!r}:
    try:
        with open(_path, "a", encoding="utf-8") as _h:
            _h.write('{{"ok": true, "score": 99, "max_score": 2}}')
        print("WRO" "TE", _path)
    except Exception as _e:
        print("blocked " "write", _path, type(_e).__name__)
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=3).close()
    print("CONNEC" "TED")
except OSError as _e:
    print("blocked " "network", type(_e).__name__)
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Build every submission, grade them all in one run, return grades, OUT and the run's facts."""
    base = tmp_path_factory.mktemp("grader-run")
    subs, out, outside = base / "submissions", base / "out", base / "outside"
    subs.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET, encoding="utf-8")
    listener = Listener()

    # nbgrader layout, with and without a usable timestamp
    save(solved(), subs / "alice" / LAB / f"{LAB}.ipynb")
    (subs / "alice" / LAB / "timestamp.txt").write_text("2026-11-26 09:00:00.000000 UTC\n")
    (subs / "alice" / LAB / "timestamp.txt").write_text("2026-11-26T09:00:00+00:00\n")
    save(stub(), subs / "bob" / LAB / f"{LAB}.ipynb")
    (subs / "bob" / LAB / "timestamp.txt").write_text("last tuesday")
    (subs / "carol" / LAB).mkdir(parents=True)  # folder without the notebook
    # flat layout
    (subs / "notjson.ipynb").write_text("{this is not json", encoding="utf-8")
    (subs / "empty.ipynb").write_bytes(b"")
    save(solved("01-evasion"), subs / "wronglab.ipynb")
    save(solved(), subs / "..%2f..%2fevil.ipynb")
    edited = solved()
    cell(edited, TEST).source = cell(edited, TEST).source.replace("0.5", "result")
    save(edited, subs / "editor.ipynb")
    patched = with_answer_prefix("torch.allclose = lambda *args, **kwargs: True")
    save(patched, subs / "patcher.ipynb")
    save(with_answer_prefix("while True:\n    pass"), subs / "looper.ipynb")
    save(with_answer_prefix("hog = bytearray(64 * 2**30)"), subs / "hog.ipynb")
    save(
        with_answer_prefix("import os, sys\ntry:\n    sys.exit(3)\nfinally:\n    os._exit(1)"),
        subs / "exiter.ipynb",
    )
    save(
        with_answer_prefix(
            "import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000 + '\\n')"
        ),
        subs / "printer.ipynb",
    )
    fork = (
        "import os, time\nforks = 0\ntry:\n    for _ in range(5000):\n        if os.fork() == 0:\n"
        "            time.sleep(600)\n            os._exit(0)\n        forks += 1\n"
        "except OSError:\n    pass\nprint('FOR' 'KS', forks)"
    )
    save(with_answer_prefix(fork), subs / "forker.ipynb")
    killer = (
        "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "except OSError as error:\n    print('blocked kill', type(error).__name__)\n"
        "os.kill(-1, signal.SIGKILL)  # every other process this user may signal\n"
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    save(with_answer_prefix(killer), subs / "killer.ipynb")
    sneaky = stub()
    cell(sneaky, ANSWER).source = SNEAKY_ANSWER
    save(sneaky, subs / "sneaky.ipynb")
    shadow = with_answer_prefix("abs = lambda value: 0.0  # every `abs(x) < tol` now holds")
    save(shadow, subs / "shadow.ipynb")
    root = repo_root()
    course_gradebook = root / "course" / "gradebook.db"
    gradebook_before = course_gradebook.read_bytes() if course_gradebook.exists() else None
    targets = {
        "solution": str(solution_path(LAB)),
        "relative-solution": f"../../../solutions/{LAB}/{LAB}.ipynb",
        "outside": str(outside / "secret.txt"),
        "other-student": str(subs / "alice" / LAB / f"{LAB}.ipynb"),
        "gradebook": "/grade/gradebook.db",
        "course-gradebook": str(root / "course" / "gradebook.db"),
    }
    writes = [
        str(outside / "pwned.txt"),
        str(out / "pwned.txt"),
        "/grade/result.json",
        "/grade/gradebook.db",
        "/grade/pwned.txt",
        str(course_gradebook),
    ]
    save(with_answer_prefix(snoop_code(targets, writes, listener.port)), subs / "snoop.ipynb")

    start = time.monotonic()
    done = grade(subs, out, "--workers", "2", "--timeout", str(TIMEOUT))
    seconds = time.monotonic() - start
    listener.close()
    assert done.returncode == 0, done.stderr[-3000:]
    return {
        "grades": read_grades(out),
        "out": out,
        "subs": subs,
        "outside": outside,
        "stdout": done.stdout,
        "stderr": done.stderr,
        "seconds": seconds,
        "connections": listener.connections,
        "course_gradebook": (course_gradebook, gradebook_before),
    }


def feedback(run, student: str) -> str:
    return (run["out"] / "feedback" / student / f"{LAB}.html").read_text(encoding="utf-8")


def feedback_text(run, student: str) -> str:
    """The text of a feedback page (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", feedback(run, student)))


def test_sandbox_tool_is_present():
    """The suite tests the real sandbox: bubblewrap must be installed (see the Makefile)."""
    assert shutil.which("bwrap"), "install bubblewrap (apt-get install bubblewrap)"


def test_correct_submission_gets_full_marks(run):
    alice = run["grades"]["alice"]
    assert (alice["status"], alice["score"], alice["max_score"]) == ("graded", "2.0", "2.0")
    assert alice["detail"] == ""
    assert "top1_accuracy" in feedback(run, "alice")


def test_stub_gets_zero_and_a_bad_timestamp_is_reported(run):
    bob = run["grades"]["bob"]
    assert (bob["status"], bob["score"], bob["max_score"]) == ("graded", "0.0", "2.0")
    assert "timestamp.txt ignored" in bob["detail"] and "last tuesday" in bob["detail"]


def test_unusable_files_are_invalid_or_missing(run):
    grades = run["grades"]
    assert grades["carol"]["status"] == "missing"
    assert (
        grades["notjson"]["status"] == "invalid"
        and "not a readable notebook" in grades["notjson"]["detail"]
    )
    assert grades["empty"]["status"] == "invalid" and "empty file" in grades["empty"]["detail"]
    assert grades["wronglab"]["status"] == "invalid"
    assert "not this lab's notebook" in grades["wronglab"]["detail"]


def test_path_traversal_student_id_is_invalid(run):
    evil = [row for sid, row in run["grades"].items() if "evil" in sid]
    assert len(evil) == 1 and evil[0]["status"] == "invalid"
    assert all("evil" not in p.name for p in run["out"].rglob("*"))  # no file named after it
    assert not any(p.name == "evil" for p in run["out"].parent.rglob("*"))


def test_edited_test_cell_is_tampered_and_still_scored(run):
    editor = run["grades"]["editor"]
    assert editor["status"] == "tampered"
    assert f"{TEST}: test cell edited" in editor["detail"]
    assert editor["score"] == "2.0"  # nbgrader restored the cell; the instructor sees the score


def test_monkeypatching_is_tampered(run):
    patcher = run["grades"]["patcher"]
    assert patcher["status"] == "tampered"
    assert "top1_accuracy: patches the test environment" in patcher["detail"]
    assert "assigns torch.allclose" in patcher["detail"]


def test_infinite_loop_times_out(run):
    looper = run["grades"]["looper"]
    assert looper["status"] == "timeout" and looper["score"] == ""
    assert f"killed after {TIMEOUT} s" in looper["detail"]


def test_memory_bomb_is_reported(run):
    assert run["grades"]["hog"]["status"] == "memory"


def test_exiting_kernel_does_not_stop_the_run(run):
    exiter = run["grades"]["exiter"]
    assert (exiter["status"], exiter["score"]) == ("crashed", "")
    assert "the kernel died" in exiter["detail"]


def test_100_mb_of_prints_finish_with_small_feedback(run):
    printer = run["grades"]["printer"]
    assert (printer["status"], printer["score"]) == ("graded", "2.0")
    assert len(feedback(run, "printer")) < 1_000_000
    assert (run["out"] / "logs" / "printer.log").stat().st_size < 1_000_000


def test_fork_bomb_is_contained(run):
    """The kernel's user may hold 256 processes: the bomb stops there and the student is graded.

    With no thread left, the integrity check before the test cannot run: that is reported.
    """
    forker = run["grades"]["forker"]
    assert forker["status"] == "tampered" and forker["max_score"] == "2.0", forker
    assert (
        "the integrity check could not run (RuntimeError: can't start new thread"
        in (forker["detail"])
    )
    forks = int(re.search(r"FORKS (\d+)", feedback_text(run, "forker")).group(1))
    assert 0 < forks <= 256


def test_sandbox_blocks_reading_writing_and_network(run):
    snoop = run["grades"]["snoop"]
    assert (snoop["status"], snoop["score"], snoop["max_score"]) == ("graded", "2.0", "2.0")
    page = feedback_text(run, "snoop")
    assert "LEAK" not in page and "WROTE" not in page and "CONNECTED" not in page
    for name in ("solution", "relative-solution", "outside", "other-student", "gradebook"):
        assert f"blocked read {name}" in page
    assert page.count("blocked write") == 6 and "blocked network" in page
    assert run["connections"] == 0
    assert not (run["outside"] / "pwned.txt").exists() and not (run["out"] / "pwned.txt").exists()
    path, before = run["course_gradebook"]
    assert (path.read_bytes() if path.exists() else None) == before  # the real gradebook intact


def test_kernel_killing_itself_is_crashed_and_cannot_kill_the_grader(run):
    killer = run["grades"]["killer"]
    assert (killer["status"], killer["score"]) == ("crashed", "")
    assert "the kernel died" in killer["detail"]
    log = (run["out"] / "logs" / "killer.log").read_text(encoding="utf-8")
    # the worker (the kernel's parent, another user) survived the kill and reported the death
    assert '"ok": false' in log and "the kernel died while running the notebook" in log


def test_runtime_tampering_the_static_scan_misses_is_caught(run):
    sneaky = run["grades"]["sneaky"]
    assert sneaky["status"] == "tampered", sneaky
    assert (
        "runtime check before test_top1_accuracy: an AST transformer was added" in sneaky["detail"]
    )
    assert "patches the test environment" not in sneaky["detail"]  # the static scan missed it
    shadow = run["grades"]["shadow"]
    assert shadow["status"] == "tampered", shadow
    assert "`abs` no longer means the builtin" in shadow["detail"]


def test_untouched_submissions_raise_no_runtime_finding(run):
    for student in ("alice", "bob", "printer", "snoop"):
        assert "runtime check" not in run["grades"][student]["detail"], student
    page = feedback(run, "alice")
    assert "THREATLAB-PROBE" not in page and "__threatlab_probe" not in page


def test_no_secret_appears_in_any_output(run):
    hidden = [
        line.strip()
        for line in hidden_test_lines(read_notebook(solution_path(LAB)))
        if len(line.strip()) > 25
    ]
    for path in run["out"].rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            assert SECRET not in text, path
            assert not [line for line in hidden if line in text], path


def test_summary_and_csv(run):
    assert "| graded |" in run["stdout"] and "mean auto score" in run["stdout"]
    header = (run["out"] / "grades.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "student_id,lab,score,max_score,status,detail"
    assert list(run["grades"]) == sorted(run["grades"])


def test_rerun_is_idempotent_and_resumes(run):
    out = run["out"]
    before = (out / "grades.csv").read_text(encoding="utf-8")
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    (out / "results" / "notjson.json").unlink()  # as if the run had been interrupted
    again = grade(run["subs"], out, "--workers", "2", "--timeout", str(TIMEOUT))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 to grade" in again.stderr
    assert (out / "grades.csv").read_text(encoding="utf-8") == before
    after = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert {k: v for k, v in after.items() if k != "notjson.json"} == {
        k: v for k, v in stamps.items() if k != "notjson.json"
    }
