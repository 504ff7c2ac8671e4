"""``threatlab.reference`` holds answers to earlier labs: the library never loads it on its own."""

from __future__ import annotations

import subprocess
import sys


def test_the_star_import_does_not_load_the_reference_answers():
    """``from threatlab import *`` (every lab's setup) leaves threatlab.reference unloaded, so the
    grader can treat any loaded reference module as the learner's import (grader/probe.py)."""
    code = (
        "import sys\nfrom threatlab import *\n"
        "print(sorted(m for m in sys.modules if m.startswith('threatlab.reference')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
