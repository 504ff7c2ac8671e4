"""Tests for threatlab.env: boolean environment flags, FAST and quiet modes."""

from __future__ import annotations

import pytest

from threatlab import env_flag, fast_default, quiet

FLAG = "THREATLAB_TEST_FLAG"


@pytest.mark.parametrize(
    "raw", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On", " 1 ", "\ttrue\n"]
)
def test_true_spellings(monkeypatch, raw):
    monkeypatch.setenv(FLAG, raw)
    assert env_flag(FLAG) is True
    assert env_flag(FLAG, default=False) is True


@pytest.mark.parametrize("raw", ["0", "false", "FALSE", "no", "No", "off", "OFF", "", "  ", " 0 "])
def test_false_spellings(monkeypatch, raw):
    monkeypatch.setenv(FLAG, raw)
    assert env_flag(FLAG) is False
    assert env_flag(FLAG, default=True) is False


@pytest.mark.parametrize("default", [True, False])
def test_unset_gives_default(monkeypatch, default):
    monkeypatch.delenv(FLAG, raising=False)
    assert env_flag(FLAG, default=default) is default


def test_unset_default_is_false(monkeypatch):
    monkeypatch.delenv(FLAG, raising=False)
    assert env_flag(FLAG) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "t", "enabled", "-1"])
def test_invalid_value_names_variable_and_spellings(monkeypatch, raw):
    monkeypatch.setenv(FLAG, raw)
    with pytest.raises(ValueError) as info:
        env_flag(FLAG)
    message = str(info.value)
    assert FLAG in message
    assert repr(raw) in message
    for spelling in ("true/false", "yes/no", "on/off"):
        assert spelling in message


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("yes", True), ("0", False)])
def test_fast_default_follows_threatlab_fast(monkeypatch, raw, expected):
    monkeypatch.setenv("THREATLAB_FAST", raw)
    assert fast_default() is expected


def test_fast_default_off_when_unset(monkeypatch):
    monkeypatch.delenv("THREATLAB_FAST", raising=False)
    assert fast_default() is False


def test_fast_default_rejects_garbage(monkeypatch):
    monkeypatch.setenv("THREATLAB_FAST", "fast")
    with pytest.raises(ValueError, match="THREATLAB_FAST"):
        fast_default()


@pytest.mark.parametrize(
    ("quiet_env", "ci_env", "expected"),
    [
        (None, None, False),
        ("1", None, True),
        ("0", None, False),
        (None, "true", True),
        (None, "1", True),
        (None, "false", False),
        ("0", "true", True),
        ("true", "0", True),
    ],
)
def test_quiet_follows_threatlab_quiet_and_ci(monkeypatch, quiet_env, ci_env, expected):
    for name, value in (("THREATLAB_QUIET", quiet_env), ("CI", ci_env)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert quiet() is expected


@pytest.mark.parametrize("ci_value", ["woodpecker", "drone", "github"])
def test_quiet_tolerates_ci_values_it_does_not_own(monkeypatch, ci_value):
    """CI is set by the CI system, not by ThreatLab (Woodpecker sets CI=woodpecker): any
    non-false value means "running under CI". quiet() must not raise, or train() would crash."""
    monkeypatch.delenv("THREATLAB_QUIET", raising=False)
    monkeypatch.setenv("CI", ci_value)
    assert quiet() is True
