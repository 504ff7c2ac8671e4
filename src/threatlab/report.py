"""The metrics channel: a lab's headline numbers, shown to the learner and read by tests.

``report(clean_accuracy=0.95, ...)`` shows a small table. When the environment variable
``THREATLAB_METRICS`` names a file, the same numbers are appended to it as one JSON object per
line, which is how the regression tests and ``make bench`` read a notebook's results.
"""

from __future__ import annotations

import json
import math
import os
import re
from numbers import Real

METRICS_ENV = "THREATLAB_METRICS"
Metric = float | int | bool | str


def _clean(name: str, value: object) -> Metric:
    """Turn numpy/torch scalars into plain Python values; reject what JSON cannot hold."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (ValueError, RuntimeError) as error:
            raise ValueError(
                f"report: metric {name!r} must be a single number, got an array."
            ) from error
    if isinstance(value, bool | str):
        return value
    if isinstance(value, Real):
        number = float(value) if not isinstance(value, int) else value
        if isinstance(number, float) and not math.isfinite(number):
            raise ValueError(f"report: metric {name!r} is {number}; expected a finite number.")
        return number
    raise ValueError(
        f"report: metric {name!r} must be a number, bool or string, got {type(value).__name__}."
    )


def report(**metrics: object) -> dict[str, Metric]:
    """Show a lab's headline metrics and record them for tests; returns the cleaned metrics."""
    if not metrics:
        raise ValueError("report() needs at least one metric, e.g. report(clean_accuracy=0.95).")
    cleaned = {name: _clean(name, value) for name, value in metrics.items()}
    _display(cleaned)
    path = os.environ.get(METRICS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(cleaned, sort_keys=True) + "\n")
    return cleaned


def read_metrics(path: str | os.PathLike[str]) -> dict[str, Metric]:
    """Merge every ``report()`` line in a metrics file into one dict (later lines win)."""
    merged: dict[str, Metric] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                merged.update(json.loads(line))
    return merged


def curve(metrics: dict[str, Metric], prefix: str) -> list[tuple[float, float]]:
    """The (x, y) points a notebook reported as ``<prefix>_<x>``, sorted by x.

    ``x`` is written with ``_`` for the decimal point: ``pgd_accuracy_eps_0_15`` is the point
    (0.15, value) of the curve ``pgd_accuracy_eps``; ``agreement_indist_label_400`` is (400, value).
    """
    pattern = re.compile(rf"^{re.escape(prefix)}_(\d+)(?:_(\d+))?$")
    points = []
    for name, value in metrics.items():
        match = pattern.match(name)
        if match:
            x = float(f"{match[1]}.{match[2]}") if match[2] else float(match[1])
            points.append((x, float(value)))
    return sorted(points)


def _format(value: Metric) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _display(metrics: dict[str, Metric]) -> None:
    """An HTML table inside Jupyter, plain text elsewhere."""
    rows = [(name, _format(value)) for name, value in metrics.items()]
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display

        if get_ipython() is not None:
            body = "".join(f"<tr><td>{n}</td><td>{v}</td></tr>" for n, v in rows)
            display(HTML(f"<table><tr><th>metric</th><th>value</th></tr>{body}</table>"))
            return
    except ImportError:  # pragma: no cover - IPython is a dependency
        pass
    width = max(len(name) for name, _ in rows)
    print("\n".join(f"{name:<{width}}  {value}" for name, value in rows))
