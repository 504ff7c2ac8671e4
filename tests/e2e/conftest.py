"""End-to-end fixtures: real servers on 127.0.0.1, random ports and tokens, nothing left running.

Tests marked ``e2e`` start a JupyterHub or a JupyterLab (and a browser). They run under
``make test-e2e``, which installs what they need (configurable-http-proxy, Chromium) and sets
``THREATLAB_E2E=1``; in a plain ``pytest`` run they are skipped with a pointer to it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHP = REPO / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "build" / "e2e"  # copies of screenshots and logs for a human to look at


@pytest.fixture(autouse=True)
def _e2e_only_when_asked(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("e2e") and os.environ.get("THREATLAB_E2E") != "1":
        pytest.skip("end-to-end test (real servers and a browser): run `make test-e2e`")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Set by tests/conftest.py for in-process tests; a learner's server has neither (with Agg, figures
# shown with display() would stay "<Figure ...>" text instead of images).
NOT_INHERITED = ("MPLBACKEND", "THREATLAB_QUIET")


def child_env(**extra: str) -> dict[str, str]:
    """This environment with the venv's bin first on PATH (nbgrader, jupyter, the culler)."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


_PRCTL = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None


def _terminate_with_parent() -> None:
    """In the child: get SIGTERM when pytest dies (killed, no teardown), so no server outlives it."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """A server process in its own session; ``stop`` ends it and every process it started."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str], cwd: Path) -> None:
        self.log = log
        self._log_handle = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_terminate_with_parent,
        )

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def log_tail(self, chars: int = 4000) -> str:
        self._log_handle.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def wait_http(self, url: str, timeout: float = 60, headers: dict | None = None) -> None:
        """Wait until ``url`` answers with a success (a proxy answers 404 before its routes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})):
                    return
            except OSError:  # HTTPError included
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{url} did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self, first: tuple[str, ...] = (), grace: float = 20) -> list[psutil.Process]:
        """SIGTERM the server (after its children whose command line contains a word of
        ``first``), wait up to ``grace`` seconds, SIGKILL whatever is left of it and of every
        process it had started; return those still alive after that (none expected)."""
        children = self.descendants()
        for child in children:
            try:
                if any(word in " ".join(child.cmdline()) for word in first):
                    child.terminate()
            except psutil.Error:
                pass
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        _, alive = psutil.wait_procs(children, timeout=5)
        for proc in alive:
            try:
                proc.kill()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(alive, timeout=5)
        self._log_handle.close()
        return alive


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """``start_server(command, name, env, cwd, first)`` -> Server; all stopped at teardown,
    even when the test failed, and none may leave a process behind."""
    servers: list[tuple[Server, tuple[str, ...]]] = []

    def start(
        command: list[str], name: str, env: dict[str, str], cwd: Path, first: tuple[str, ...] = ()
    ) -> Server:
        server = Server(command, tmp_path / f"{name}.log", env, cwd)
        servers.append((server, first))
        return server

    yield start
    leftovers = [proc for server, first in reversed(servers) for proc in server.stop(first)]
    assert not leftovers, f"processes left running after SIGKILL: {leftovers}"


def require(path: Path, what: str) -> None:
    """Fail (under make test-e2e, where it should have been installed) when a tool is missing."""
    if not (path.exists() and os.access(path, os.X_OK)):
        pytest.fail(f"{what} not found at {path}: `make test-e2e` installs it.")


def save_artifact(path: Path, name: str | None = None) -> Path:
    """Copy a file from a test's tmp folder to build/e2e/ (kept after the run)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / (name or path.name)
    shutil.copyfile(path, target)
    return target


def jupyter_lab_command(port: int, token: str, root: Path) -> list[str]:
    """The venv's JupyterLab on 127.0.0.1:port, serving root, token auth, no browser or update check."""
    command = [
        str(BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return command


@pytest.fixture
def e2e() -> SimpleNamespace:
    """The helpers above for the test modules (conftest modules are not importable by name)."""
    return SimpleNamespace(
        repo=REPO,
        bin=BIN,
        chp=CHP,
        chromium=CHROMIUM,
        artifacts=ARTIFACTS,
        free_port=free_port,
        child_env=child_env,
        jupyter_lab_command=jupyter_lab_command,
        require=require,
        save_artifact=save_artifact,
    )
