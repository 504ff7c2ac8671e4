"""`make lab` really starts JupyterLab on labs/, with every lab and the widgets extension there."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from threatlab.course import lab_ids, repo_root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return response.status, response.read()


@pytest.fixture
def jupyterlab():
    """Run `make lab` (install step already done) on a loopback port; yield its base URL."""
    port, token = _free_port(), secrets.token_hex(16)
    options = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    process = subprocess.Popen(
        [
            "make",
            "--no-print-directory",
            "-o",
            ".venv/.threatlab-installed",
            "lab",
            f"LAB_OPTS={options}",
        ],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "JUPYTER_NO_CONFIG": "1"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = (
                        process.stdout.read().decode(errors="replace") if process.stdout else ""
                    )
                    pytest.fail(f"make lab did not start JupyterLab:\n{output[-3000:]}")
                time.sleep(0.5)
        yield base, token
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_make_lab_serves_the_labs(jupyterlab):
    """The server's root is labs/: every lab folder is listed and the JupyterLab page loads."""
    base, token = jupyterlab
    status, body = _get(f"{base}/api/contents?token={token}")
    assert status == 200
    listed = {item["name"] for item in json.loads(body)["content"]}
    assert set(lab_ids()) <= listed, f"JupyterLab root lists {sorted(listed)}"
    status, page = _get(f"{base}/lab?token={token}")
    assert status == 200 and b"JupyterLab" in page
    status, body = _get(f"{base}/api/contents/{lab_ids()[-1]}/{lab_ids()[-1]}.ipynb?token={token}")
    assert json.loads(body)["type"] == "notebook"
