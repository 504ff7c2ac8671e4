"""Shared fixtures: quiet, headless runs and a cache of executed solution notebooks."""

from __future__ import annotations

import os

import pytest
import torch

os.environ["MPLBACKEND"] = "Agg"
os.environ["THREATLAB_QUIET"] = "1"

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
