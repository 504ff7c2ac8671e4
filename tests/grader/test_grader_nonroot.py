"""Grading as an ordinary user would: the kernel runs as the grader's own user (no user switch).

bubblewrap still isolates the submission, and the grader says loudly what it cannot enforce. Run as
root, ``THREATLAB_NO_USER_SWITCH=1`` takes the same code path (this machine's Python lives under a
0700 /root, so a real second user could not run the venv at all).
"""

from __future__ import annotations

import pytest
from hostile import LAB, grade, read_grades, save, solved, stub, with_answer_prefix

from threatlab.course import solution_path

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("no-user-switch")
    subs, out = base / "submissions", base / "out"
    save(solved(), subs / "hana.ipynb")
    targets = [str(solution_path(LAB)), str(subs / "hana.ipynb")]
    snoop = (
        f"for _path in {targets!r}:\n"
        "    try:\n        open(_path).read()\n        print('LE' 'AK', _path)\n"
        "    except OSError as _e:\n        print('blocked', type(_e).__name__)\n"
    )
    save(with_answer_prefix(snoop), subs / "ivan.ipynb")
    save(stub(), subs / "jo.ipynb")
    done = grade(
        subs, out, "--workers", "2", "--timeout", "120", env={"THREATLAB_NO_USER_SWITCH": "1"}
    )
    return {"done": done, "out": out}


def test_same_user_grading_works_and_warns(run):
    done = run["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not running as root" in done.stderr and "forge its score" in done.stderr
    grades = read_grades(run["out"])
    assert (grades["hana"]["status"], grades["hana"]["score"]) == ("graded", "2.0")
    assert (grades["jo"]["status"], grades["jo"]["score"]) == ("graded", "0.0")


def test_same_user_sandbox_still_hides_the_course_and_other_students(run):
    ivan = read_grades(run["out"])["ivan"]
    assert (ivan["status"], ivan["score"]) == ("graded", "2.0")
    page = (run["out"] / "feedback" / "ivan" / f"{LAB}.html").read_text(encoding="utf-8")
    assert "LEAK" not in page and page.count("blocked FileNotFoundError") == 2
