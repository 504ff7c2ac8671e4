"""The workshop's JupyterHub settings (deploy/jupyterhub/config.yaml), checked and run for real.

The first tests are fast and run in ``make test``: the Helm values parse, their memory sizes
hold the measured kernel peaks, and the local hub config reads them from the values file. The
last one (``e2e``, in ``make test-e2e``) starts a real JupyterHub on 127.0.0.1 with
deploy/jupyterhub/jupyterhub_config.py: a learner logs in through the login form, their server
spawns, the Lab page loads through the hub's OAuth, a cell runs through the kernel REST and
websocket API (and fetches the released Lab 01 from the nbgrader exchange), the idle culler runs
as a hub service, and everything is shut down again.

Measured on the 2-core reference machine while other test runs kept its load average at 4-10:
the e2e test takes 36-55 s (hub ready 7-10 s, login and spawn 11-17 s, the cell 15-19 s because
it imports torch and runs nbgrader twice, server stop 5-7 s, hub shutdown 2-3 s); the
single-user server's resident memory was 146 MiB before its kernel started.
"""

from __future__ import annotations

import csv
import json
import re
import secrets
import shutil
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
import requests
import websocket
import yaml
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from threatlab.course.readme import TIMINGS, read_timings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "jupyterhub"
VALUES = DEPLOY / "config.yaml"
LOCAL_CONFIG = DEPLOY / "jupyterhub_config.py"
BENCH = REPO / "build" / "bench" / "bench.csv"  # written by `make bench` (not committed)
MIB = 1024**2
# Resident memory of a single-user Jupyter server without kernels, with margin (measured 146 MiB
# by the e2e test below, which also checks it).
SERVER_MIB = 200
UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def values() -> dict:
    with open(VALUES, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def to_bytes(size: str | int) -> int:
    """JupyterHub's (and so z2jh's) byte sizes: 1G is 1024**3 bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])?", str(size))
    assert match, f"memory size {size!r}: write it like 1G or 512M"
    return int(float(match[1]) * UNITS.get(match[2] or "", 1))


def measured_peaks_mib() -> dict[str, float]:
    """Peak kernel memory per lab and mode on the CPU: course/timings.csv, and build/bench if run."""
    peaks = {
        f"{lab} {mode}": float(row["peak_mb"])
        for (lab, mode, device), row in read_timings(REPO).items()
        if device == "cpu" and row.get("peak_mb")
    }
    if BENCH.exists():
        with open(BENCH, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                key = f"bench {row['lab']} {row['mode']}"
                peaks[key] = float(row["peak_mb"])
    return peaks


def test_values_parse_and_have_what_the_guide_relies_on():
    v = values()
    single = v["singleuser"]
    assert v["hub"]["config"]["Authenticator"]["admin_users"], "name the instructor as admin"
    assert single["image"]["name"] and single["defaultUrl"].startswith("/")
    assert to_bytes(single["memory"]["guarantee"]) <= to_bytes(single["memory"]["limit"])
    assert 0 < float(single["cpu"]["guarantee"]) <= float(single["cpu"]["limit"])
    # PyTorch sizes its thread pools from the node's cores, not the pod's CPU quota.
    threads = int(single["extraEnv"]["OMP_NUM_THREADS"])
    assert threads == int(float(single["cpu"]["limit"])), "OMP_NUM_THREADS must match cpu.limit"
    cull = v["cull"]
    assert cull["enabled"] and 1800 <= cull["timeout"] <= 4 * 3600, "cull after 0.5-4 idle hours"
    assert 0 < cull["every"] < cull["timeout"]
    mount = single["storage"]["extraVolumeMounts"][0]
    assert mount["mountPath"] == "/srv/nbgrader/exchange" and mount["readOnly"] is True
    nbgrader_config = single["extraFiles"]["nbgrader-config"]
    assert nbgrader_config["mountPath"] == "/etc/jupyter/nbgrader_config.py"
    compile(nbgrader_config["stringData"], "nbgrader_config.py", "exec")
    assert 'course_id = "threatlab"' in nbgrader_config["stringData"]


def test_memory_sizes_hold_the_measured_kernel_peaks():
    peaks = measured_peaks_mib()
    assert len(peaks) >= 2, f"no CPU peak memory recorded in {TIMINGS}"
    worst_lab, worst = max(peaks.items(), key=lambda item: item[1])
    memory = values()["singleuser"]["memory"]
    guarantee, limit = to_bytes(memory["guarantee"]) / MIB, to_bytes(memory["limit"]) / MIB
    # The scheduler reserves one lab kernel at its peak (the server's own memory may come out of
    # the node's slack); the limit holds the server and two kernels at their peak.
    assert guarantee >= worst, (
        f"singleuser.memory.guarantee {memory['guarantee']} is below the measured peak of "
        f"{worst_lab} ({worst:.0f} MiB): raise it in {VALUES.name}"
    )
    assert limit >= SERVER_MIB + 2 * worst, (
        f"singleuser.memory.limit {memory['limit']} holds fewer than two kernels at the peak of "
        f"{worst_lab} ({worst:.0f} MiB) plus the server ({SERVER_MIB} MiB)"
    )


def test_local_hub_config_reads_the_helm_values(tmp_path, monkeypatch):
    monkeypatch.setenv("THREATLAB_HUB_DIR", str(tmp_path))
    monkeypatch.setenv("THREATLAB_HUB_SERVICE_TOKEN", secrets.token_hex(16))
    c = PyFileConfigLoader(LOCAL_CONFIG.name, path=str(DEPLOY)).load_config()
    single = values()["singleuser"]
    assert c.Spawner.mem_limit == single["memory"]["limit"]
    assert c.Spawner.mem_guarantee == single["memory"]["guarantee"]
    assert c.Spawner.cpu_limit == float(single["cpu"]["limit"])
    assert c.Spawner.default_url == single["defaultUrl"]
    for key, value in single["extraEnv"].items():
        assert c.Spawner.environment[key] == str(value)
    written = tmp_path / "etc-jupyter" / "nbgrader_config.py"
    assert written.read_text() == single["extraFiles"]["nbgrader-config"]["stringData"]
    culler = next(s for s in c.JupyterHub.services if s["name"] == "idle-culler")
    cull = values()["cull"]
    assert f"--timeout={cull['timeout']}" in culler["command"]
    assert f"--cull-every={cull['every']}" in culler["command"]
    assert c.JupyterHub.ip == "127.0.0.1" and c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.Authenticator.admin_users == values()["hub"]["config"]["Authenticator"]["admin_users"]


def test_instructors_get_the_exchange_read_write_learners_read_only():
    code = values()["hub"]["extraConfig"]["threatlab-instructor-exchange"]
    c = Config()
    # z2jh executes hub.extraConfig the same way, with the hub's config object as ``c``.
    exec(compile(code, "hub.extraConfig", "exec"), {"c": c})  # noqa: S102 - our own values file
    hook = c.KubeSpawner.pre_spawn_hook
    mounts = [
        {"name": "home", "mountPath": "/home/jovyan"},
        *values()["singleuser"]["storage"]["extraVolumeMounts"],
    ]

    def spawned(admin: bool) -> dict:
        spawner = SimpleNamespace(user=SimpleNamespace(admin=admin), volume_mounts=mounts)
        hook(spawner)
        return {m["name"]: m for m in spawner.volume_mounts}

    assert spawned(admin=True)["nbgrader-exchange"]["readOnly"] is False
    assert spawned(admin=False)["nbgrader-exchange"]["readOnly"] is True
    assert mounts[1]["readOnly"] is True, "the hook must not change the shared mount list"


# ---------------------------------------------------------------- the real hub (make test-e2e)

CELL = """
import json, os, subprocess, sys
import torch, threatlab
home = os.path.expanduser("~")
listed = subprocess.run([sys.executable, "-m", "nbgrader", "list"], capture_output=True, text=True)
fetched = subprocess.run([sys.executable, "-m", "nbgrader", "fetch_assignment", "01-evasion"],
                         capture_output=True, text=True, cwd=home)
print(json.dumps({
    "env": {k: os.environ.get(k) for k in ("MEM_LIMIT", "MEM_GUARANTEE", "CPU_LIMIT",
            "CPU_GUARANTEE", "OMP_NUM_THREADS", "THREATLAB_DEVICE", "JUPYTERHUB_USER")},
    "torch_threads": torch.get_num_threads(),
    "threatlab": threatlab.__file__,
    "list": listed.stdout + listed.stderr,
    "fetch_rc": fetched.returncode, "fetch": fetched.stderr[-2000:],
    "fetched": os.path.exists(os.path.join(home, "01-evasion", "01-evasion.ipynb")),
}))
"""


def execute(ws_url: str, headers: dict[str, str], code: str, timeout: float = 120) -> list[dict]:
    """Run ``code`` in a kernel through its websocket; return the iopub outputs of that cell."""
    conn = websocket.create_connection(ws_url, header=headers, timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        conn.send(
            json.dumps(
                {
                    "header": {
                        "msg_id": msg_id,
                        "msg_type": "execute_request",
                        "username": "alice",
                        "session": uuid.uuid4().hex,
                        "date": datetime.now(timezone.utc).isoformat(),
                        "version": "5.3",
                    },
                    "parent_header": {},
                    "metadata": {},
                    "content": {"code": code, "silent": False, "store_history": True},
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        outputs, replied, idle = [], False, False
        deadline = time.monotonic() + timeout
        while not (replied and idle) and time.monotonic() < deadline:
            msg = json.loads(conn.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "execute_reply":
                replied = True
                assert msg["content"]["status"] == "ok", msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif kind in ("stream", "execute_result", "error"):
                outputs.append(msg["content"])
        assert replied and idle, "the kernel did not finish the cell in time"
        return outputs
    finally:
        conn.close()


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.e2e
def test_learner_logs_in_spawns_and_runs_a_cell(e2e, start_server, tmp_path):
    e2e.require(e2e.chp, "configurable-http-proxy")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    ports = set()
    while len(ports) < 3:
        ports.add(e2e.free_port())
    port, hub_port, proxy_api_port = sorted(ports)
    token, password = secrets.token_hex(32), secrets.token_urlsafe(16)
    state = tmp_path / "hub"
    state.mkdir()
    env = e2e.child_env(
        THREATLAB_HUB_DIR=str(state),
        THREATLAB_HUB_PORT=str(port),
        THREATLAB_HUB_API_PORT=str(hub_port),
        THREATLAB_PROXY_API_PORT=str(proxy_api_port),
        THREATLAB_CHP=str(e2e.chp),
        THREATLAB_HUB_SERVICE_TOKEN=token,
    )
    hub = start_server(
        [str(e2e.bin / "jupyterhub"), "-f", str(LOCAL_CONFIG)],
        "jupyterhub",
        env,
        state,
        first=("jupyterhub_idle_culler",),  # it ignores SIGINT for 20 s; the hub then waits
    )
    base = f"http://127.0.0.1:{port}"
    hub.wait_http(f"{base}/hub/api/", timeout=60)
    timings["hub ready"] = time.perf_counter() - start
    api = requests.Session()
    api.headers["Authorization"] = f"token {token}"

    # The idle culler runs as a hub service, with the values' settings.
    cull = values()["cull"]
    services = api.get(f"{base}/hub/api/services", timeout=10)
    assert services.status_code == 200, (services.status_code, services.text[:500])
    culler = services.json()["idle-culler"]
    assert f"--timeout={cull['timeout']}" in culler["command"], culler
    assert culler["pid"] and psutil.pid_exists(culler["pid"])

    # The instructor has released Lab 01 into the exchange (what `nbgrader release_assignment`
    # leaves in <exchange>/threatlab/outbound/<lab>/).
    outbound = state / "exchange" / "threatlab" / "outbound" / "01-evasion"
    shutil.copytree(REPO / "labs" / "01-evasion", outbound)

    # A learner logs in through the form (DummyAuthenticator: any password).
    browser = requests.Session()
    browser.get(f"{base}/hub/login", timeout=10).raise_for_status()
    form = {"username": "alice", "password": password, "_xsrf": browser.cookies.get("_xsrf")}
    mark = time.perf_counter()
    browser.post(f"{base}/hub/login", data=form, timeout=60)
    assert browser.cookies.get("jupyterhub-session-id"), "the login did not create a session"

    # Logging in spawns the learner's server (default: no options form).
    def ready():
        user = api.get(f"{base}/hub/api/users/alice", timeout=10).json()
        server = user.get("servers", {}).get("")
        return server if server and server.get("ready") else None

    server = wait_for(ready, 120, "alice's server")
    timings["login + spawn"] = time.perf_counter() - mark
    server_pid = server["state"]["pid"]
    server_mib = psutil.Process(server_pid).memory_info().rss / MIB
    assert server_mib < SERVER_MIB, f"the single-user server uses {server_mib:.0f} MiB"

    # The Lab page, through the hub's OAuth (redirects followed with the login cookie).
    lab = browser.get(f"{base}/user/alice/lab", timeout=60)
    assert lab.status_code == 200 and lab.url.startswith(f"{base}/user/alice/lab"), lab.url
    assert "JupyterLab" in lab.text

    # A cell through the kernel REST and websocket API.
    mark = time.perf_counter()
    kernels = f"{base}/user/alice/api/kernels"
    kernel = api.post(kernels, json={"name": "python3"}, timeout=60)
    assert kernel.status_code == 201, kernel.text
    kernel_id = kernel.json()["id"]
    ws_url = f"ws://127.0.0.1:{port}/user/alice/api/kernels/{kernel_id}/channels"
    outputs = execute(ws_url, {"Authorization": f"token {token}"}, CELL)
    timings["cell"] = time.perf_counter() - mark
    text = "".join(o.get("text", "") for o in outputs if "text" in o)
    report = json.loads(text.strip().splitlines()[-1])
    single = values()["singleuser"]
    assert report["env"]["JUPYTERHUB_USER"] == "alice"
    assert report["env"]["MEM_LIMIT"] == str(to_bytes(single["memory"]["limit"]))
    assert report["env"]["MEM_GUARANTEE"] == str(to_bytes(single["memory"]["guarantee"]))
    assert float(report["env"]["CPU_LIMIT"]) == float(single["cpu"]["limit"])
    assert report["env"]["OMP_NUM_THREADS"] == single["extraEnv"]["OMP_NUM_THREADS"]
    assert report["torch_threads"] == int(single["extraEnv"]["OMP_NUM_THREADS"])
    assert report["threatlab"].startswith(str(REPO / "src")), report["threatlab"]
    assert "01-evasion" in report["list"], report["list"]
    assert report["fetch_rc"] == 0 and report["fetched"], report["fetch"]

    # Shut the server down through the API, then the hub (the fixture checks nothing is left).
    mark = time.perf_counter()
    assert api.delete(f"{kernels}/{kernel_id}", timeout=30).status_code == 204
    stopped = api.delete(f"{base}/hub/api/users/alice/server", timeout=60)
    assert stopped.status_code in (202, 204), stopped.text
    wait_for(lambda: not psutil.pid_exists(server_pid), 30, "the server to stop")
    timings["server stop"] = time.perf_counter() - mark
    timings["total (before hub shutdown)"] = time.perf_counter() - start
    print({k: round(v, 1) for k, v in timings.items()}, f"server RSS {server_mib:.0f} MiB")
