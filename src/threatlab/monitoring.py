"""Plumbing for monitoring a deployed model: Prometheus metrics and structured log events.

Lab 08's learners decide *what* to monitor and *when* to alert; this module only ships their
per-client results in the two formats a real monitoring stack ingests::

    registry = client_registry({"alice": {"queries": 120, "p_value": 0.4,
                                          "rate_alert": False, "distribution_alert": False}})
    print(exposition(registry))          # Prometheus text format, what /metrics would serve
    log_event("model_abuse_alert", client="mallory", rule="rate", queries=785)  # one JSON line

Nothing here is graded.
"""

from __future__ import annotations

import json
import math
import numbers
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import IO

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

#: The per-client fields ``client_registry`` exports, and the alert rules it labels.
ALERT_FIELDS = {"rate": "rate_alert", "distribution": "distribution_alert"}


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}.")
    return name


def client_registry(
    results: Mapping[str, Mapping[str, object]], *, namespace: str = "threatlab"
) -> CollectorRegistry:
    """A fresh Prometheus registry holding one client monitor's results as gauges.

    Args:
        results: client name -> fields. Every field is optional: ``queries`` (a number >= 0),
            ``p_value`` (a number in [0, 1]), ``rate_alert`` and ``distribution_alert`` (bools).
        namespace: prefix of the metric names.

    Exports ``<namespace>_client_queries{client}``, ``<namespace>_client_distribution_p_value
    {client}`` and ``<namespace>_client_alert{client, rule}`` (1 firing, 0 not; rule is
    ``rate`` or ``distribution``) for the fields each client has.
    """
    _check_name(namespace, "namespace")
    if not isinstance(results, Mapping):
        raise ValueError(
            f"results must map client names to dicts of fields, got {type(results).__name__}."
        )
    registry = CollectorRegistry()
    queries = Gauge(
        f"{namespace}_client_queries",
        "Queries answered for the client in the monitored period.",
        ["client"],
        registry=registry,
    )
    p_values = Gauge(
        f"{namespace}_client_distribution_p_value",
        "p-value of the test that the client's queries follow the reference distribution.",
        ["client"],
        registry=registry,
    )
    alerts = Gauge(
        f"{namespace}_client_alert",
        "1 when a monitor rule fires for the client, else 0.",
        ["client", "rule"],
        registry=registry,
    )
    for client, fields in results.items():
        _check_name(client, "a client name")
        if not isinstance(fields, Mapping):
            raise ValueError(f"results[{client!r}] must be a dict of fields, got {fields!r}.")
        if "queries" in fields:
            value = fields["queries"]
            if not _is_number(value) or value < 0:
                raise ValueError(
                    f"results[{client!r}]['queries'] must be a number >= 0, got {value!r}."
                )
            queries.labels(client=client).set(float(value))
        if "p_value" in fields:
            value = fields["p_value"]
            if not _is_number(value) or not 0 <= value <= 1:
                raise ValueError(
                    f"results[{client!r}]['p_value'] must be in [0, 1], got {value!r}."
                )
            p_values.labels(client=client).set(float(value))
        for rule, key in ALERT_FIELDS.items():
            if key in fields:
                value = fields[key]
                if not isinstance(value, bool) and not (_is_number(value) and value in (0, 1)):
                    raise ValueError(f"results[{client!r}][{key!r}] must be a bool, got {value!r}.")
                alerts.labels(client=client, rule=rule).set(float(bool(value)))
    return registry


def _is_number(value: object) -> bool:
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def exposition(registry: CollectorRegistry) -> str:
    """The registry in the Prometheus text exposition format (what a /metrics endpoint serves)."""
    if not isinstance(registry, CollectorRegistry):
        raise ValueError(
            f"registry must be a prometheus_client CollectorRegistry, got {registry!r}."
        )
    return generate_latest(registry).decode("utf-8")


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse Prometheus text format back into {(sample name, sorted labels): value}.

    Raises ValueError when the text is not valid exposition format (what a scraper would reject).
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}.")
    samples = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    except Exception as error:  # the parser raises several types; one clear error for callers
        raise ValueError(f"not valid Prometheus exposition format: {error}") from error
    return samples


def log_event(
    event: str,
    *,
    file: IO[str] | None = sys.stdout,
    timestamp: datetime | None = None,
    **fields: object,
) -> str:
    """Write one structured log event as a JSON line, and return the line (without newline).

    The line holds ``ts`` (ISO 8601, UTC), ``event`` and the fields, keys sorted, so that a log
    pipeline (Loki, Elasticsearch, a SIEM) can filter on them. Values that JSON cannot hold are
    written as strings. ``file=None`` only returns the line.
    """
    _check_name(event, "event")
    reserved = {"ts", "event"} & set(fields)
    if reserved:
        raise ValueError(f"field names {sorted(reserved)} are reserved; rename them.")
    when = timestamp or datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware, e.g. datetime.now(timezone.utc).")
    record = {"ts": when.astimezone(timezone.utc).isoformat(), "event": event, **fields}
    line = json.dumps(record, sort_keys=True, default=str)
    if file is not None:
        print(line, file=file)
    return line
