"""Lab 09 in the grader's sandbox: the local model is readable, read-only, and fits the memory limit.

The sandbox binds the venv read-only (the joined model lives in ``<venv>/share/threatlab/models``)
and limits address space (``RLIMIT_AS``), which counts the 491 MB GGUF that llama.cpp maps. Here a
process started exactly as the grader starts its worker (bubblewrap command line, resource limits
of :class:`Limits` for the lab) verifies the model, fails to open it for writing, loads it and chats.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from threatlab.course import read_notebook, solution_path
from threatlab.grader import sandbox

PROBE = """
import errno, resource
from threatlab.llm import load_chat_model, model_path
path = model_path()
try:
    open(path, "r+b")
except OSError as error:
    print("write refused:", errno.errorcode[error.errno])
else:
    raise SystemExit("the model file is writable inside the sandbox")
reply = load_chat_model().chat([{"role": "user", "content": "Say OK."}], max_tokens=4)
assert reply.strip(), "an empty reply"
peak = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmPeak")][0]
print("limit MB", resource.getrlimit(resource.RLIMIT_AS)[0] >> 20, "VmPeak MB", int(peak) >> 10)
"""


def test_lab_memory_comes_from_notebook_metadata_and_never_lowers_the_default():
    assert sandbox.lab_memory_mb({}) == sandbox.DEFAULT_MEMORY_MB
    assert sandbox.lab_memory_mb({"grading_memory_mb": 6144}) == 6144
    assert sandbox.lab_memory_mb({"grading_memory_mb": 512}) == sandbox.DEFAULT_MEMORY_MB
    for bad in ("6 GB", -1, True, 6.5):
        with pytest.raises(ValueError, match="grading_memory_mb"):
            sandbox.lab_memory_mb({"grading_memory_mb": bad})


def test_a_models_dir_outside_the_venv_is_bound_read_only(tmp_path, monkeypatch):
    monkeypatch.setenv("THREATLAB_MODELS_DIR", str(tmp_path))
    cmd = sandbox.bwrap_command("bwrap", tmp_path / "scratch", ["true"])
    pairs = list(zip(cmd, cmd[1:], cmd[2:], strict=False))
    assert ("--ro-bind", str(tmp_path), str(tmp_path)) in pairs
    assert ("--bind", str(tmp_path), str(tmp_path)) not in pairs


def _lab09_limits() -> sandbox.Limits:
    """The limits threatlab-grade uses for Lab 09 (its metadata, else the default)."""
    try:
        meta = read_notebook(solution_path("09-llmapps")).metadata.get("threatlab", {})
    except (FileNotFoundError, ValueError):
        meta = {}
    return sandbox.Limits(timeout=120, memory_mb=sandbox.lab_memory_mb(meta))


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap is not installed")
def test_the_model_loads_read_only_within_the_sandbox_limits(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    limits = _lab09_limits()
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "HOME": "/tmp/home",
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = sandbox.bwrap_command(shutil.which("bwrap"), scratch, [sys.executable, "-c", PROBE])
    done = subprocess.run(  # noqa: S603 - a fixed command line
        command,
        env=env,
        capture_output=True,
        text=True,
        timeout=limits.timeout,
        preexec_fn=sandbox._limit(limits, processes=False),  # noqa: PLW1509 - the grader's limits
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "write refused: EROFS" in done.stdout, done.stdout
    assert f"limit MB {limits.memory_mb}" in done.stdout, done.stdout
