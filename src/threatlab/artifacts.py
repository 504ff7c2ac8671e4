"""Model-artifact helpers for Lab 07 that are not graded: the isolated loader demonstration, byte flips.

The learners of Lab 07 write the pickle scanner, the safe loader and the manifest verification
themselves; this module only holds the plumbing around them:

- :func:`demonstrate_loaders` runs four common loaders on the lab's own (harmless) malicious
  checkpoint **in a child process** whose working directory is the lab's scratch folder, and reports
  which of them executed the payload. The kernel that runs the notebook never unpickles the file.
  The child is an ordinary process of the same user, not a security sandbox: what makes the
  demonstration safe is that the payload is built by the lab and only writes a marker file.
- :func:`flip_byte` makes the one-byte tampering experiments short to write.

Run as ``python -I -m threatlab.artifacts FOLDER`` it is that child (see :func:`_child_main`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SENTINEL = ".threatlab-loader-demo"  # a folder must carry this file before the child loads anything
MARKER = "PAYLOAD_RAN"  # the file the lab's payload writes, in the scratch folder
PICKLE_FILE = "model.pkl"  # the malicious checkpoint as a plain pickle (pickle.dump)
TORCH_FILE = "model.pt"  # the same payload inside a torch.save zip checkpoint
LOADERS = (
    "pickle.load",
    "torch.load(weights_only=False)",
    "torch.load() (weights_only=True, the default)",
    "safetensors.torch.load_file",
)

__all__ = [
    "LOADERS",
    "MARKER",
    "PICKLE_FILE",
    "SENTINEL",
    "TORCH_FILE",
    "demonstrate_loaders",
    "flip_byte",
    "prepare_scratch",
]


def prepare_scratch(folder: str | os.PathLike[str]) -> Path:
    """Mark ``folder`` (an existing folder inside the system temp dir) as the demonstration's scratch.

    Raises ``ValueError`` if the folder does not exist or is not under ``tempfile.gettempdir()``.
    """
    folder = Path(folder).resolve()
    _check_scratch(folder, need_sentinel=False)
    (folder / SENTINEL).write_text(
        "Lab 07 scratch folder: the loader demonstration may run here.\n"
    )
    return folder


def _check_scratch(folder: Path, *, need_sentinel: bool) -> None:
    temp = Path(tempfile.gettempdir()).resolve()
    if not folder.is_dir():
        raise ValueError(f"the scratch folder {folder} does not exist.")
    if temp not in folder.parents:
        raise ValueError(
            f"the scratch folder must be inside the system temp folder {temp} (make it with "
            f"tempfile.mkdtemp()), got {folder}."
        )
    if need_sentinel and not (folder / SENTINEL).is_file():
        raise ValueError(f"{folder} was not prepared with prepare_scratch(): refusing to load.")


def demonstrate_loaders(
    folder: str | os.PathLike[str], timeout: float = 120.0
) -> dict[str, dict[str, object]]:
    """Try every loader of :data:`LOADERS` on the checkpoints in ``folder``, in a child process.

    ``folder`` must have been prepared with :func:`prepare_scratch` and hold ``model.pkl`` and
    ``model.pt``. The child runs ``python -I -m threatlab.artifacts folder`` with ``folder`` as its
    working directory; before each loader it deletes the marker file, after it records whether the
    marker appeared. Returns ``{loader: {"payload_ran": bool, "error": "Type: message" or ""}}``.
    """
    folder = Path(folder).resolve()
    _check_scratch(folder, need_sentinel=True)
    for name in (PICKLE_FILE, TORCH_FILE):
        if not (folder / name).is_file():
            raise ValueError(f"{folder} has no {name}: build the checkpoints first.")
    env = {key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG"}}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
        [sys.executable, "-I", "-m", "threatlab.artifacts", str(folder)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"the loader demonstration failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    return json.loads(lines[-1])


def _child_main(folder: Path) -> dict[str, dict[str, object]]:
    """The child side: load the lab's own harmless checkpoints with each loader, watch the marker.

    This is the ONLY place in ThreatLab that unpickles a file it does not trust, and it runs only
    in the child process started by :func:`demonstrate_loaders`, in a prepared scratch folder.
    """
    import pickle

    import torch
    from safetensors.torch import load_file

    _check_scratch(folder, need_sentinel=True)
    os.chdir(folder)

    def plain_pickle() -> object:
        with open(PICKLE_FILE, "rb") as handle:
            # The demonstration itself: a plain unpickler runs the payload. The file is the lab's
            # own (its payload only writes MARKER here), and this runs in a child process.
            return pickle.load(handle)  # noqa: S301

    def torch_unsafe() -> object:
        return torch.load(TORCH_FILE, weights_only=False)  # the same: runs the payload

    def torch_default() -> object:
        return torch.load(TORCH_FILE)  # weights_only=True since PyTorch 2.6: refuses

    def safetensors_file() -> object:
        return load_file(TORCH_FILE)  # a safetensors loader reads a JSON header, never code

    results: dict[str, dict[str, object]] = {}
    for name, load in zip(
        LOADERS, (plain_pickle, torch_unsafe, torch_default, safetensors_file), strict=True
    ):
        marker = folder / MARKER
        marker.unlink(missing_ok=True)
        try:
            load()
            error = ""
        except Exception as caught:  # noqa: BLE001 - the error IS the result we report
            error = f"{type(caught).__name__}: {caught}"
        results[name] = {"payload_ran": marker.exists(), "error": error}
        marker.unlink(missing_ok=True)
    return results


def flip_byte(data: bytes, offset: int) -> bytes:
    """A copy of ``data`` with the byte at ``offset`` changed (XOR 0x01): the smallest tampering."""
    if not isinstance(data, bytes | bytearray):
        raise ValueError(f"data must be bytes, got {type(data).__name__}.")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset < len(data):
        raise ValueError(f"offset must be an int in 0..{len(data) - 1}, got {offset!r}.")
    changed = bytearray(data)
    changed[offset] ^= 0x01
    return bytes(changed)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -I -m threatlab.artifacts SCRATCH_FOLDER")
    print(json.dumps(_child_main(Path(sys.argv[1]).resolve())))
