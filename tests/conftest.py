"""Shared fixtures: quiet, headless runs and a cache of executed solution notebooks."""

from __future__ import annotations

import os
import re

import pytest
import torch

os.environ["MPLBACKEND"] = "Agg"
os.environ["THREATLAB_QUIET"] = "1"
# `make test` runs two pytest-xdist workers side by side: each notebook kernel they start gets its
# share of the cores, so two kernels do not fight over the same ones (kernels inherit this).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    _share = str(max(1, len(os.sched_getaffinity(0)) // _WORKERS))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, _share)

from threatlab.course import execute  # noqa: E402 - after the environment is set

# Unit tests use tiny tensors: one thread avoids oversubscribing the 2-core machine.
# (Notebooks run in their own kernels and keep torch's default.)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def solution_metrics(tmp_path_factory):
    """``solution_metrics(lab, seed)``: run a solution once in FAST mode, return its report() metrics.

    Runs are cached for the session (a failure too, so a broken notebook is executed only once).
    """
    cache: dict[tuple[str, int], dict | BaseException] = {}

    def run(lab: str, seed: int = 0) -> dict:
        key = (lab, seed)
        if key not in cache:
            out = tmp_path_factory.mktemp(f"{lab}-seed{seed}")
            try:
                cache[key] = execute(lab, out, fast=True, seed=seed).metrics
            except Exception as error:  # noqa: BLE001 - re-raised for every test that asks
                cache[key] = error
        result = cache[key]
        if isinstance(result, BaseException):
            raise result
        return result

    return run


# One work unit per notebook execution, so that each solution runs once per (lab, seed) and each
# lab is graded once, whichever worker gets it; everything else is grouped by module, as
# ``--dist loadscope`` does. (pytest-xdist's own ``xdist_group`` mark does not group under pytest 9.)
_SCOPES = [
    # ``[seed0]``, and ``[seed0-fgsm]`` where a test adds its own parameters after the seed
    (re.compile(r"^(tests/test_lab_\w+\.py)::[^\[]+\[seed(\d+)(?:-[^\]]*)?\]$"), r"\1[seed\2]"),
    (
        re.compile(
            r"^tests/test_solutions\.py::test_solution_executes_and_reports\[(\d+)-(\w+)\]$"
        ),
        r"tests/test_lab_\1_\2.py[seed0]",
    ),
    (re.compile(r"^(tests/grader/test_grader_every_lab\.py)::[^\[]+\[([^\]]+)\]$"), r"\1[\2]"),
]


def notebook_scope(nodeid: str) -> str | None:
    """The notebook execution a test shares with others (``tests/test_lab_02_poisoning.py[seed1]``)."""
    for pattern, scope in _SCOPES:
        if pattern.match(nodeid):
            return pattern.sub(scope, nodeid)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``make test`` runs ``-n 2``: schedule by notebook execution, else by module."""
    from xdist.scheduler import LoadScopeScheduling

    class NotebookScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return notebook_scope(nodeid) or super()._split_scope(nodeid)

    return NotebookScheduling(config, log)
