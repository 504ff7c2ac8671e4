"""``make bench``: wall time and peak kernel memory of every solution, FAST and full, vs Binder's limits."""

from __future__ import annotations

import csv
import datetime
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path


def _bench_one(lab: str, mode: str, out_dir: Path) -> dict:
    """Run one solution in a fresh process; peak memory is the kernel's maximum resident set."""
    command = [sys.executable, "-m", "threatlab.course", "run", lab, "--mode", mode, "--json"]
    command += ["--out", str(out_dir)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{lab} ({mode}) failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# mybinder.org gives a session 2 GB of memory (the kernel is killed above it) and 1-2 CPU cores.
BINDER_MEMORY_MB = 2048


# A learner's full (non-FAST) run of a whole lab should take at most a few minutes on 2 cores.
BINDER_FULL_RUN_SECONDS = 300


def binder_verdict(row: dict) -> str:
    """Whether one benchmarked run fits Binder: kernel memory, and time for a full run."""
    problems = []
    if row["peak_mb"] >= BINDER_MEMORY_MB:
        problems.append(f"kernel peak {row['peak_mb']:.0f} MB >= {BINDER_MEMORY_MB} MB")
    if row["mode"] == "full" and row["seconds"] > BINDER_FULL_RUN_SECONDS:
        problems.append(f"full run {row['seconds']:.0f} s > {BINDER_FULL_RUN_SECONDS} s")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def bench_device() -> str:
    """The device the notebooks pick (``THREATLAB_DEVICE``, else CUDA > MPS > CPU)."""
    from ..device import get_device

    return get_device().type


def timing_rows(rows: list[dict], device: str) -> list[dict]:
    """Benchmark rows as ``course/timings.csv`` records (with the date and the load at start)."""
    today = datetime.date.today().isoformat()
    return [
        {
            "lab": r["lab"],
            "mode": r["mode"],
            "device": device,
            "seconds": f"{r['seconds']:.1f}",
            "peak_mb": f"{r['peak_mb']:.0f}",
            "measured": today,
            "note": f"{os.cpu_count()} CPUs, load {r.get('load', float('nan')):.1f} at start",
        }
        for r in rows
    ]


def bench(labs: Sequence[str], modes: Sequence[str], out: Path) -> list[dict]:
    """Wall time and peak kernel memory of every solution in every mode; writes CSV and Markdown.

    Each row also says whether the run fits Binder (kernel peak memory under 2 GB; a full run
    within ``BINDER_FULL_RUN_SECONDS`` on the benchmarking machine, meant to be 2 cores).
    """
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for lab in labs:
        for mode in modes:
            print(f"bench: {lab} {mode} ...", file=sys.stderr, flush=True)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
            row = _bench_one(lab, mode, out / "runs")
            rows.append(row | {"binder": binder_verdict(row), "load": round(load, 1)})
    fields = ["lab", "mode", "seconds", "peak_mb", "binder"]
    with open(out / "bench.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: row[k] for k in fields} for row in rows)
    with open(out / "bench.jsonl", "w", encoding="utf-8") as handle:  # with every run's metrics
        handle.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    table = [
        "| lab | mode | wall seconds | peak memory (MB) | fits Binder |",
        "|---|---|---:|---:|---|",
    ]
    table += [
        f"| {r['lab']} | {r['mode']} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {r['binder']} |"
        for r in rows
    ]
    misfits = sorted({r["lab"] for r in rows if r["binder"] != "yes"})
    table += [
        "",
        f"Binder limits: kernel peak memory < {BINDER_MEMORY_MB} MB; a full run within "
        f"{BINDER_FULL_RUN_SECONDS} s on {os.cpu_count()} CPU core(s) (this machine). "
        + (f"Over the limits: {', '.join(misfits)}." if misfits else "Every benchmarked lab fits."),
    ]
    (out / "bench.md").write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    return rows


def peak_child_mb() -> float:
    """Largest resident set of any finished child process (the kernel), in MB.

    ``run`` executes the notebook in a kernel subprocess and waits for it, so this is the kernel's
    peak: the number to hold against Binder's 2 GB limit (``BINDER_MEMORY_MB``).
    """
    import resource

    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / (1024 * 1024) if sys.platform == "darwin" else kb / 1024
