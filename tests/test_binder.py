"""binder/ installs into a fresh virtual environment, as repo2docker would, and the labs import there."""

from __future__ import annotations

import os
import subprocess
import venv

import pytest

from threatlab.course import repo_root

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = repo_root()
BINDER = ROOT / "binder"


def test_binder_pins_every_requirement():
    """A launch is reproducible: every requirement is pinned with ==, torch to a CPU build."""
    lines = [
        line.strip()
        for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "--"))
    ]
    assert lines and all("==" in line for line in lines), "pin every Binder requirement with =="
    assert any(line.startswith("torch==") and line.endswith("+cpu") for line in lines)


def test_binder_covers_the_package_dependencies():
    """Every runtime dependency of the package is pinned for Binder (postBuild adds --no-deps)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    names = {
        d.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip().lower() for d in deps
    }
    names -= {"tomli"}  # only for Python 3.10; Binder runs 3.11 (binder/runtime.txt)
    pinned = {
        line.split("==")[0].strip().lower()
        for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
        if "==" in line
    }
    assert names <= pinned, f"pin these in binder/requirements.txt: {sorted(names - pinned)}"


@pytest.mark.notebook
def test_binder_environment_installs_and_runs_the_labs(tmp_path):
    """Fresh venv <- binder/requirements.txt, then postBuild; lab imports and data work there."""
    env_dir = tmp_path / "binder-venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bin_dir = env_dir / "bin"
    # This machine reaches PyPI only; its local torch wheel is the same +cpu build that Binder
    # gets from the PyTorch index, so the index line is dropped here and nowhere else.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "\n".join(
            line
            for line in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if not line.startswith("--extra-index-url")
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", str(requirements)], env)
    _run(["bash", str(BINDER / "postBuild")], env)
    probe = (
        "import threatlab, torch; from threatlab import *; "
        "s = load_mnist(); d = load_digits(); m = SmallCNN(); "
        "assert m(s.x_test[:2]).shape == (2, 10); "
        f"assert threatlab.__file__.startswith({str(ROOT)!r}); print(torch.__version__)"
    )
    out = _run([str(bin_dir / "python"), "-c", probe], env)
    assert "+cpu" in out, f"Binder must get the CPU build of torch, got {out!r}"
    extensions = _run([str(bin_dir / "jupyter"), "server", "extension", "list"], env)
    assert "nbgrader.server_extensions.formgrader disabled" in _squash(extensions)
    labext = _run([str(bin_dir / "jupyter"), "labextension", "list"], env)
    assert "@jupyter/nbgrader:formgrader" in labext  # listed among the disabled plugins


def _squash(text: str) -> str:
    """Drop ANSI colours and repeated spaces from jupyter's listings."""
    import re

    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


def _run(command: list[str], env: dict) -> str:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout + done.stderr
