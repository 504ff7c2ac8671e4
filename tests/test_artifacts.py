"""Tests for threatlab.artifacts: the isolated loader demonstration of Lab 07, and flip_byte.

No test here unpickles anything in the test process. The demonstration test builds the lab's
harmless payload (it only writes a marker file in a temp folder) and lets demonstrate_loaders run
it in a child process, exactly as the notebook does.
"""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import pytest
import torch

from threatlab.artifacts import (
    LOADERS,
    MARKER,
    SENTINEL,
    demonstrate_loaders,
    flip_byte,
    prepare_scratch,
)


class _MarkerPayload:
    """Unpickling this calls exec on one line that writes the marker file; nothing else."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('ran')"

    def __reduce__(self):
        return (exec, (self.code,))


def test_flip_byte_changes_exactly_one_byte():
    data = bytes(range(10))
    for offset in range(10):
        changed = flip_byte(data, offset)
        assert len(changed) == 10
        assert [i for i in range(10) if changed[i] != data[i]] == [offset]
    assert flip_byte(bytearray(b"ab"), 1) == b"ac"


@pytest.mark.parametrize(("data", "offset"), [(b"abc", 3), (b"abc", -1), (b"", 0), ("abc", 0)])
def test_flip_byte_rejects_bad_input(data, offset):
    with pytest.raises(ValueError):
        flip_byte(data, offset)


def test_prepare_scratch_only_inside_the_temp_folder(tmp_path, monkeypatch):
    temp, outside = tmp_path / "temp", tmp_path / "outside"
    temp.mkdir(), outside.mkdir()
    with monkeypatch.context() as patched:
        patched.setattr(tempfile, "gettempdir", lambda: str(temp))
        with pytest.raises(ValueError, match="temp"):
            prepare_scratch(outside)  # wherever the checkout lives, even under /tmp
        (temp / "scratch").mkdir()
        assert prepare_scratch(temp / "scratch") == (temp / "scratch").resolve()
    assert not (outside / SENTINEL).exists()
    with pytest.raises(ValueError, match="does not exist"):
        prepare_scratch(Path(tempfile.gettempdir()) / "threatlab-no-such-folder-xyz")
    folder = Path(tempfile.mkdtemp(prefix="threatlab-test-"))
    try:
        assert prepare_scratch(folder) == folder.resolve()
        assert (folder / SENTINEL).is_file()
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


def test_demonstrate_loaders_refuses_an_unprepared_folder():
    folder = Path(tempfile.mkdtemp(prefix="threatlab-test-"))
    try:
        (folder / "model.pkl").write_bytes(b"")
        (folder / "model.pt").write_bytes(b"")
        with pytest.raises(ValueError, match="prepare_scratch"):
            demonstrate_loaders(folder)
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


@pytest.mark.notebook  # starts a Python child that imports torch: a few seconds
def test_demonstration_runs_the_payload_only_in_unsafe_loaders():
    folder = prepare_scratch(tempfile.mkdtemp(prefix="threatlab-test-"))
    try:
        marker = folder / MARKER
        checkpoint = {"weights": torch.zeros(3), "extra": _MarkerPayload(marker)}
        (folder / "model.pkl").write_bytes(pickle.dumps(checkpoint))
        torch.save(checkpoint, folder / "model.pt")
        results = demonstrate_loaders(folder)
        assert list(results) == list(LOADERS)
        ran = {name: outcome["payload_ran"] for name, outcome in results.items()}
        assert ran == {
            "pickle.load": True,
            "torch.load(weights_only=False)": True,
            "torch.load() (weights_only=True, the default)": False,
            "safetensors.torch.load_file": False,
        }
        assert results["torch.load() (weights_only=True, the default)"]["error"].startswith(
            "UnpicklingError"
        )
        assert results["safetensors.torch.load_file"]["error"].startswith("SafetensorError")
        assert results["pickle.load"]["error"] == ""
        assert not marker.exists(), "the child removes the marker after each loader"
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
