"""atomic_write_text: all or nothing."""

from __future__ import annotations

import stat

import pytest

from threatlab.files import atomic_write_text


def test_writes_text_creating_parents(tmp_path):
    path = tmp_path / "a" / "b" / "grades.csv"
    atomic_write_text(path, "id,score\nalice,2\n")
    assert path.read_text(encoding="utf-8") == "id,score\nalice,2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["grades.csv"]


def test_replaces_and_keeps_newlines_and_mode(tmp_path):
    path = tmp_path / "x.txt"
    atomic_write_text(path, "old")
    atomic_write_text(path, "new\r\nline", mode=0o600)
    assert path.read_bytes() == b"new\r\nline"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_failure_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "result.json"
    atomic_write_text(path, '{"ok": true}')
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "half \ud800 written")  # a lone surrogate cannot be encoded
    assert path.read_text(encoding="utf-8") == '{"ok": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]
