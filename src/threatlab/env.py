"""Settings read from the environment: FAST mode for tests and the grader, quiet progress bars."""

from __future__ import annotations

import os

FAST_ENV = "THREATLAB_FAST"
QUIET_ENV = "THREATLAB_QUIET"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (``1/true/yes/on`` or ``0/false/no/off``)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={raw!r}: expected 1/0, true/false, yes/no or on/off."
    )


def fast_default() -> bool:
    """Default for a lab's ``FAST`` parameter: true when ``THREATLAB_FAST`` is set (tests, grader)."""
    return env_flag(FAST_ENV)


def quiet() -> bool:
    """Whether progress bars should stay silent (``THREATLAB_QUIET`` set, or running under CI)."""
    ci = os.environ.get("CI", "").strip().lower()
    return env_flag(QUIET_ENV) or ci not in _FALSE
