"""Run one worker in a sandbox: bubblewrap when present, resource limits and a timeout always."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from threatlab.course import repo_root

# Inside the sandbox the scratch course is always here.
SANDBOX_COURSE = "/grade"
ETC_FILES = (
    "passwd",
    "group",
    "nsswitch.conf",
    "hosts",
    "localtime",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "ssl",
    "matplotlibrc",
)
NOT_ENFORCED_WITHOUT_BWRAP = (
    "bubblewrap (`bwrap`) not found: student code will run WITHOUT network isolation, WITH a full "
    "view of this machine's files (solutions/ with hidden tests, the output folder, other students' "
    "submissions), AS the grading user (so the process-count limit is not enforced for root), and in "
    "the same kernel user as the grader. Only the wall-clock timeout, the memory limit and the output "
    "caps are enforced. Install it (Debian/Ubuntu: apt-get install bubblewrap) before grading real "
    "submissions."
)


SAME_USER_AS_KERNEL = (
    "not running as root: kernels run as YOUR user, not a separate unprivileged one. The sandbox "
    "still hides the course, other students and the network, but student code can then write its "
    "own scratch gradebook and result (forge its score) and the process-count limit is not "
    "enforced. Grade real submissions as root (sudo, or in a container)."
)


DEFAULT_MEMORY_MB = 4096
# A lab whose kernel needs more address space than the default declares it in its notebook's
# metadata, e.g. "threatlab": {"grading_memory_mb": 6144}; threatlab-grade uses it unless --memory
# is given. RLIMIT_AS counts address space, mmap'd files included: Lab 09's kernel (torch, the
# 491 MB Qwen GGUF mmap'd by llama.cpp, SmolLM2, matplotlib) peaked at 3.4 GB of VmPeak (RSS 1.15 GB).
MEMORY_KEY = "grading_memory_mb"


def lab_memory_mb(meta: dict) -> int:
    """The address-space limit (MB) for a lab: its metadata's ``grading_memory_mb``, at least the default."""
    declared = meta.get(MEMORY_KEY, 0)
    if not isinstance(declared, int) or isinstance(declared, bool) or declared < 0:
        raise ValueError(
            f"notebook metadata {MEMORY_KEY} must be a whole number of MB, got {declared!r}"
        )
    return max(DEFAULT_MEMORY_MB, declared)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission."""

    timeout: float = 600.0
    memory_mb: int = DEFAULT_MEMORY_MB
    processes: int = 256
    file_mb: int = 512


@dataclass(frozen=True)
class Slot:
    """One worker's place: the kernel's user id and the CPUs its threads may use."""

    uid: int
    cpus: tuple[int, ...]


def available_cpus() -> list[int]:
    """The CPUs this process may run on (its affinity mask, not the machine's total)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def make_slots(workers: int, first_uid: int) -> list[Slot]:
    """Split the available CPUs evenly between ``workers`` slots.

    Each kernel's thread pools are sized to its share: two PyTorch kernels that each spin up one
    OpenMP thread per core on a 2-core machine slow each other down more than tenfold (measured: a
    38 s notebook did not finish in 600 s). With more workers than CPUs, slots share CPUs.
    """
    cpus = available_cpus()
    share = max(1, len(cpus) // workers)
    return [
        Slot(first_uid + i, tuple(cpus[(i * share + j) % len(cpus)] for j in range(share)))
        for i in range(workers)
    ]


def default_workers(memory_mb: int) -> int:
    """One worker per available CPU, as many as the machine's memory holds at ``memory_mb`` each."""
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (AttributeError, ValueError, OSError):
        total_mb = memory_mb
    return max(1, min(len(available_cpus()), total_mb // max(1, memory_mb)))


@dataclass(frozen=True)
class Outcome:
    """How the worker process ended."""

    returncode: int | None
    timed_out: bool
    seconds: float


def bwrap_path() -> str | None:
    """bubblewrap's executable, or None; ``THREATLAB_NO_BWRAP=1`` pretends it is missing."""
    if os.environ.get("THREATLAB_NO_BWRAP") == "1":
        return None
    return shutil.which("bwrap")


def can_switch_user() -> bool:
    """Kernels run as a separate unprivileged user only when the grader runs as root.

    ``THREATLAB_NO_USER_SWITCH=1`` behaves as an ordinary user would (kernel = grader's user).
    """
    if os.environ.get("THREATLAB_NO_USER_SWITCH") == "1":
        return False
    return hasattr(os, "geteuid") and os.geteuid() == 0


def model_dirs() -> list[Path]:
    """Local LLM files the kernel reads (Lab 09), when they live outside the Python roots.

    The default place, ``<venv>/share/threatlab/models`` and the model packages in site-packages,
    is inside ``sys.prefix`` (bound read-only already); ``$THREATLAB_MODELS_DIR`` moves it.
    """
    override = os.environ.get("THREATLAB_MODELS_DIR")
    return [Path(override).resolve()] if override and Path(override).is_dir() else []


def _python_roots() -> list[Path]:
    """Interpreter and library folders the worker and kernel need (venv, base install, src)."""
    roots = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.executable).resolve().parent.parent}
    return sorted(r for r in roots if r.exists() and str(r) not in ("/", "/usr"))


def bwrap_command(bwrap: str, scratch: Path, inner: list[str]) -> list[str]:
    """The bubblewrap command line: nothing but what grading needs, read-only, no network."""
    root = repo_root()
    cmd = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    cmd += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    cmd += ["--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64", "lib32"):
        target = Path("/") / link
        if target.is_symlink():
            cmd += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            cmd += ["--ro-bind", str(target), str(target)]
    cmd += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        cmd += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # The private /tmp first: the checkout or venv may itself live under /tmp, and binds made
    # before the tmpfs would be hidden by it.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
    binds = [*_python_roots(), *model_dirs()]  # read-only: the model file cannot be altered
    binds += [
        root / rel for rel in ("src", "datasets", "course/nbgrader_config.py", "pyproject.toml")
    ]
    binds = [path for path in binds if path.exists()]
    made: set[Path] = set()
    for path in binds:  # parents readable by the kernel's user (bwrap would make them 0700)
        for parent in reversed(path.parents):
            keep = parent in (Path("/"), Path("/tmp")) or str(parent).startswith("/usr")
            if not keep and parent not in made:
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
    for path in binds:
        cmd += ["--ro-bind", str(path), str(path)]
    cmd += ["--bind", str(scratch), SANDBOX_COURSE, "--chdir", SANDBOX_COURSE]
    if can_switch_user():
        cmd += ["--cap-add", "CAP_SETUID,CAP_SETGID,CAP_CHOWN,CAP_SETPCAP"]
    return [*cmd, "--", *inner]


def _limit(limits: Limits, processes: bool, cpus: tuple[int, ...] | None = None):
    """preexec_fn: resource limits (and CPU affinity) inherited by the sandbox, worker and kernel.

    The process-count limit counts per user, so it is set only when the kernel runs as its own
    unprivileged user (root ignores it, and a shared user would count the grader's own processes).
    """

    def apply() -> None:
        mem = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        if processes:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        size = limits.file_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, cpus)

    return apply


def run_worker(
    scratch: Path,
    lab: str,
    student: str,
    *,
    limits: Limits,
    log: Path,
    kernel_uid: int | None,
    sandboxed: bool,
    cpus: tuple[int, ...] | None = None,
) -> Outcome:
    """Run ``threatlab.grader.worker`` on a prepared scratch course; kill its whole group on timeout."""
    env = {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "THREATLAB_REPO": str(repo_root()),
        "THREATLAB_FAST": "1",
        "THREATLAB_QUIET": "1",
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
        "HOME": "/tmp/home" if sandboxed else str(scratch / "home"),
        "MPLCONFIGDIR": "/tmp/home" if sandboxed else str(scratch / "home"),
        "JUPYTER_RUNTIME_DIR": "/tmp/runtime" if sandboxed else str(scratch / "runtime"),
        "JUPYTER_DATA_DIR": f"{SANDBOX_COURSE}/jupyter" if sandboxed else str(scratch / "jupyter"),
        "JUPYTER_CONFIG_DIR": "/tmp/jupyter-config" if sandboxed else str(scratch / "config"),
        "IPYTHONDIR": "/tmp/ipython" if sandboxed else str(scratch / "ipython"),
    }
    threads = str(len(cpus)) if cpus else "1"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = threads  # one thread per CPU of this slot: no oversubscription
    # Idle OpenMP threads sleep instead of spinning: on a loaded machine spinning threads of
    # several processes starve each other (a 40 s Lab 01 run then hit a 600 s timeout).
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    if kernel_uid is not None:
        env["THREATLAB_KERNEL_UID"] = str(kernel_uid)
    # Lab 09's model: the same verified file, read-only. THREATLAB_LLM_ENDPOINT is never passed:
    # the sandbox has no network, and grades must not depend on a remote model.
    for folder in model_dirs():
        env["THREATLAB_MODELS_DIR"] = str(folder)
    course = SANDBOX_COURSE if sandboxed else str(scratch)
    inner = [sys.executable, "-m", "threatlab.grader.worker", course, lab, student]
    bwrap = bwrap_path()
    command = bwrap_command(bwrap, scratch, inner) if sandboxed and bwrap else inner
    start = time.monotonic()
    with open(log, "ab") as handle:
        process = subprocess.Popen(  # noqa: S603 - a fixed command line, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(scratch),
            start_new_session=True,
            preexec_fn=_limit(limits, kernel_uid is not None, cpus),  # noqa: PLW1509 - resource limits need a pre-exec hook
        )
        timed_out = False
        try:
            code = process.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            code = None
        finally:
            try:
                os.killpg(
                    process.pid, signal.SIGKILL
                )  # the worker, its kernel, anything they forked
            except ProcessLookupError:
                pass
            process.wait()
    return Outcome(code, timed_out, time.monotonic() - start)
