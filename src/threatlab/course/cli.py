"""``python -m threatlab.course``: the maintainers' commands behind ``make``; a thin layer over the flows."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .benchmark import bench, bench_device, peak_child_mb, timing_rows
from .check import course_problems
from .execution import execute
from .generate import generate_labs
from .layout import lab_ids, repo_root, repository_slug, solution_path
from .notebooks import read_notebook, write_notebook
from .publish import ReleaseError, build_release
from .readme import record_timings, write_readme


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m threatlab.course``."""
    parser = argparse.ArgumentParser(
        prog="python -m threatlab.course", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_labs = sub.add_parser("labs", help="regenerate labs/ from solutions/")
    p_labs.add_argument("lab", nargs="*")
    sub.add_parser("format", help="rewrite solutions/ notebooks in canonical form")
    sub.add_parser("check", help="notebooks clean, labs/ and README in sync")
    sub.add_parser("readme", help="rewrite the README lab table")
    p_run = sub.add_parser("run", help="execute one solution notebook")
    p_run.add_argument("lab")
    p_run.add_argument("--mode", choices=["fast", "full"], default="fast")
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--out", type=Path, default=Path("build/runs"))
    p_run.add_argument("--json", action="store_true", help="print one JSON line with the results")
    p_bench = sub.add_parser("bench", help="time every solution in FAST and full mode")
    p_bench.add_argument("--modes", default="fast,full")
    p_bench.add_argument("--out", type=Path, default=Path("build/bench"))
    p_bench.add_argument("lab", nargs="*")
    p_bench.add_argument(
        "--record",
        action="store_true",
        help="merge the results into course/timings.csv (then `make readme` updates the docs)",
    )
    p_release = sub.add_parser("release", help="build the learner release (no solutions)")
    p_release.add_argument("--out", type=Path, default=Path("build/release"))
    args = parser.parse_args(argv)
    root = repo_root()

    if args.command == "labs":
        for path in generate_labs(root, labs=args.lab or None):
            print(f"generated {path.relative_to(root)}")
    elif args.command == "format":
        for lab in lab_ids(root):
            write_notebook(read_notebook(solution_path(lab, root)), solution_path(lab, root))
    elif args.command == "readme":
        write_readme(root)
    elif args.command == "check":
        problems = course_problems(root)
        print("\n".join(problems) or "all notebooks clean and in sync")
        return 1 if problems else 0
    elif args.command == "run":
        run = execute(args.lab, args.out, fast=args.mode == "fast", seed=args.seed, root=root)
        result = asdict(run) | {"output": str(run.output), "peak_mb": peak_child_mb()}
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    elif args.command == "bench":
        rows = bench(args.lab or lab_ids(root), args.modes.split(","), args.out)
        if args.record:
            path = record_timings(timing_rows(rows, bench_device()), root)
            write_readme(root)
            print(f"recorded in {path.relative_to(root)}; the docs' timing tables are updated")
    elif args.command == "release":
        try:
            release = build_release(args.out, root)
        except ReleaseError as error:
            print(f"release not built: {error}", file=sys.stderr)
            return 1
        print(f"learner release: {len(release.files)} files in {release.folder}")
        print(f"push it to https://github.com/{repository_slug(root)} (see README, 'Publishing')")
    return 0
