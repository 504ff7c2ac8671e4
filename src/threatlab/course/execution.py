"""Regression flow: execute a lab notebook with papermill (FAST or full, one seed), read its metrics."""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..env import FAST_ENV, QUIET_ENV
from ..report import METRICS_ENV, read_metrics
from .layout import patched_environ, repo_root, solution_path, venv_path


@dataclass(frozen=True)
class Run:
    """One executed solution: its metrics and how long it took."""

    lab: str
    mode: str
    seed: int
    seconds: float
    metrics: dict
    output: Path


@contextlib.contextmanager
def poll_in_slices(slice_seconds: float = 1.0) -> Iterator[None]:
    """Wait for kernel messages in short polls instead of one long one, while inside the block.

    A zmq wake-up is sometimes missed: the kernel's reply sits in the socket and is noticed only
    when the poll times out, so a cell that finished in seconds "took" the whole per-cell timeout
    (seen here: Lab 03's widget cell, 900.01 s, then success). Re-polling every ``slice_seconds``
    bounds such a stall to about that long; a real timeout still raises at the same deadline.
    """
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_seconds if deadline is None else deadline - time.monotonic()
            try:
                return await original(self, timeout=max(0.0, min(slice_seconds, left)))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    AsyncZMQSocketChannel.get_msg = get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


class _ComputedParameterDefaults(logging.Filter):
    """papermill cannot parse ``FAST = fast_default()`` (a computed default), so it warns that it
    cannot parse the line and that FAST is unknown; it still injects FAST. Expected: drop both."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (
            message.startswith("Unable to parse line")
            or message.startswith("Passed unknown parameter: FAST")
        )


@contextlib.contextmanager
def _quiet_computed_defaults() -> Iterator[None]:
    """Inside the block, papermill's loggers drop the two expected warnings (see above)."""
    quiet = _ComputedParameterDefaults()
    loggers = [logging.getLogger(name) for name in ("papermill", "papermill.translators")]
    for logger in loggers:
        logger.addFilter(quiet)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(quiet)


def executed_path(out_dir: Path, lab: str, *, fast: bool, seed: int) -> Path:
    """Where :func:`execute` writes a lab's executed notebook: ``<lab>-<fast|full>-seed<seed>.ipynb``."""
    return out_dir / f"{lab}-{'fast' if fast else 'full'}-seed{seed}.ipynb"


def execute(
    lab: str,
    out_dir: Path,
    *,
    fast: bool = True,
    seed: int = 0,
    notebook: Path | None = None,
    timeout: int = 900,
    root: Path | None = None,
    mpl_backend: str = "Agg",
) -> Run:
    """Execute a lab notebook with papermill and return the metrics it reported.

    ``mpl_backend`` "Agg" (tests, bench) draws no figures into the executed notebook; the
    instructors' site passes the inline backend to keep them.
    """
    import papermill

    root = root or repo_root()
    notebook = notebook or solution_path(lab, root)
    out_dir = out_dir.resolve()  # the kernel runs in the notebook's folder, not ours
    out_dir.mkdir(parents=True, exist_ok=True)
    mode = "fast" if fast else "full"
    output = executed_path(out_dir, lab, fast=fast, seed=seed)
    metrics_file = output.with_suffix(".metrics.jsonl")
    metrics_file.unlink(missing_ok=True)
    env = {
        METRICS_ENV: str(metrics_file),
        FAST_ENV: "1" if fast else "0",
        QUIET_ENV: "1",
        "PATH": venv_path(),
        "MPLBACKEND": mpl_backend,
    }
    start = time.perf_counter()
    with patched_environ(**env), poll_in_slices(), _quiet_computed_defaults():
        papermill.execute_notebook(
            str(notebook),
            str(output),
            parameters={"FAST": fast, "SEED": seed},
            cwd=str(notebook.parent),
            kernel_name="python3",
            progress_bar=False,
            execution_timeout=timeout,
        )
    seconds = time.perf_counter() - start
    metrics = read_metrics(metrics_file) if metrics_file.exists() else {}
    return Run(lab, mode, seed, seconds, metrics, output)
