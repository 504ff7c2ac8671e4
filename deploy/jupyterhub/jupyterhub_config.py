"""A JupyterHub on one machine with the workshop's settings, for trying them out and for the test.

    jupyterhub -f deploy/jupyterhub/jupyterhub_config.py      # then open http://127.0.0.1:8000

The settings that make sense outside Kubernetes are read from the Helm values in ``config.yaml``
next to this file (the single place to edit them): the single-user environment, default URL,
start timeout, memory and CPU sizes (only exported as ``MEM_LIMIT``, ``CPU_LIMIT`` ... here; local
processes are not confined), the admin users, the idle culler and the nbgrader exchange config.
What differs on purpose: any user name logs in with any password (``DummyAuthenticator``), servers are local processes of the hub's user with their homes
under the state folder, and everything listens on 127.0.0.1 only.

Environment (all optional): ``THREATLAB_HUB_DIR`` state folder (default ``build/jupyterhub``),
``THREATLAB_HUB_PORT`` public port (8000), ``THREATLAB_HUB_API_PORT`` hub port (8081),
``THREATLAB_PROXY_API_PORT`` proxy API port (8001), ``THREATLAB_CHP`` the configurable-http-proxy
executable (default: the one ``make test-e2e`` installs in ``.venv/node``),
``THREATLAB_HUB_SERVICE_TOKEN`` an API token for a ``threatlab-test`` service allowed to manage
users and reach their servers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VALUES = HERE / "config.yaml"

# hub.config sections that mean the same outside Kubernetes. The authenticator (OAuth) does not.
PORTABLE_HUB_SECTIONS = ("Authenticator",)


def load_values(path: Path = VALUES) -> dict:
    """The Helm values file as a dict."""
    with open(path, encoding="utf-8") as handle:
        values = yaml.safe_load(handle)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a YAML mapping of Helm values.")
    return values


def culler_command(cull: dict) -> list[str]:
    """The jupyterhub-idle-culler service command that z2jh's ``cull`` values stand for."""
    command = [sys.executable, "-m", "jupyterhub_idle_culler"]
    command += [f"--timeout={int(cull['timeout'])}", f"--cull-every={int(cull['every'])}"]
    if cull.get("maxAge"):
        command.append(f"--max-age={int(cull['maxAge'])}")
    if cull.get("users"):
        command.append("--cull-users")
    return command


def write_extra_files(singleuser: dict, config_dir: Path) -> None:
    """Write ``singleuser.extraFiles`` bound for ``/etc/jupyter`` into ``config_dir`` instead."""
    config_dir.mkdir(parents=True, exist_ok=True)
    for name, spec in (singleuser.get("extraFiles") or {}).items():
        mount = Path(spec["mountPath"])
        if mount.parent != Path("/etc/jupyter"):
            raise ValueError(f"extraFiles.{name}: only /etc/jupyter files are used locally.")
        (config_dir / mount.name).write_text(spec["stringData"], encoding="utf-8")


def apply_values(c, values: dict, state: Path) -> None:
    """Set on the traitlets config ``c`` what ``values`` say and a local hub can honour."""
    singleuser = values.get("singleuser", {})
    for section in PORTABLE_HUB_SECTIONS:
        for key, value in (values.get("hub", {}).get("config", {}).get(section) or {}).items():
            if value not in (None, [], {}):
                setattr(c[section], key, value)
    c.Spawner.default_url = singleuser.get("defaultUrl", "/lab")
    c.Spawner.start_timeout = int(singleuser.get("startTimeout", 60))
    memory, cpu = singleuser.get("memory", {}), singleuser.get("cpu", {})
    c.Spawner.mem_guarantee = memory.get("guarantee")
    c.Spawner.mem_limit = memory.get("limit")
    c.Spawner.cpu_guarantee = float(cpu["guarantee"]) if "guarantee" in cpu else None
    c.Spawner.cpu_limit = float(cpu["limit"]) if "limit" in cpu else None
    # /etc/jupyter in the pod: a config folder that the single-user servers (and nbgrader) read.
    etc_jupyter = state / "etc-jupyter"
    write_extra_files(singleuser, etc_jupyter)
    exchange = state / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(exchange, 0o777)
    env = {str(k): str(v) for k, v in (singleuser.get("extraEnv") or {}).items()}
    env["JUPYTER_CONFIG_PATH"] = str(etc_jupyter)
    env["NBGRADER_EXCHANGE_ROOT"] = str(exchange)
    c.Spawner.environment = env
    cull = values.get("cull", {})
    if cull.get("enabled", True):
        c.JupyterHub.services.append({"name": "idle-culler", "command": culler_command(cull)})
        scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
        if cull.get("users"):
            scopes.append("admin:users")
        c.JupyterHub.load_roles.append(
            {"name": "idle-culler", "scopes": scopes, "services": ["idle-culler"]}
        )


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def configure(c) -> None:
    """The whole local configuration."""
    state = Path(os.environ.get("THREATLAB_HUB_DIR", REPO / "build" / "jupyterhub")).resolve()
    state.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    apply_values(c, load_values(), state)

    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = _port("THREATLAB_HUB_PORT", 8000)
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = _port("THREATLAB_HUB_API_PORT", 8081)
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{_port('THREATLAB_PROXY_API_PORT', 8001)}"
    default_chp = REPO / ".venv" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = [os.environ.get("THREATLAB_CHP", str(default_chp))]
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(state / "jupyterhub.pid")

    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True  # any name, any password: loopback only, for trials

    c.JupyterHub.spawner_class = "simple"  # local processes, no system users needed
    c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]  # the single-user server refuses root otherwise
    # The single-user servers and kernels use this Python environment (the repository's venv).
    c.Spawner.env_keep = ["PATH", "VIRTUAL_ENV", "LANG", "LC_ALL"]

    token = os.environ.get("THREATLAB_HUB_SERVICE_TOKEN")
    if token:
        c.JupyterHub.services.append({"name": "threatlab-test", "api_token": token})
        c.JupyterHub.load_roles.append(
            {
                "name": "threatlab-test",
                "scopes": [
                    "admin:users",
                    "admin:servers",
                    "access:servers",
                    "read:services",
                    "list:services",
                ],
                "services": ["threatlab-test"],
            }
        )
    c.JupyterHub.log_level = os.environ.get("THREATLAB_HUB_LOG_LEVEL", "INFO")


if "get_config" in globals():  # loaded by JupyterHub as its config file
    configure(get_config())  # noqa: F821 - defined by traitlets when it loads a config file
