"""Without bubblewrap the grader still runs, and says loudly what it does not enforce."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import LAB

pytestmark = pytest.mark.notebook  # generates the assignment with nbgrader


def test_missing_bwrap_prints_what_is_not_enforced(tmp_path: Path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    (subs / "empty.ipynb").write_bytes(b"")
    (subs / "gus").mkdir()
    env = os.environ | {
        "THREATLAB_NO_BWRAP": "1",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    command = [sys.executable, "-m", "threatlab.grader.cli", LAB, str(subs), "--out", str(out)]
    done = subprocess.run(
        [*command, "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "WARNING" in done.stderr
    for unprotected in ("network", "solutions/", "process-count limit", "timeout"):
        assert unprotected in done.stderr
    with open(out / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student_id"]: row["status"] for row in csv.DictReader(handle)}
    assert rows == {"empty": "invalid", "gus": "missing"}
    assert (out / "logs" / "gus.log").read_text(encoding="utf-8").startswith("missing:")
