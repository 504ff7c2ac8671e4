"""threatlab.monitoring: Prometheus exposition of client-monitor results, structured log events."""

from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from threatlab.monitoring import client_registry, exposition, log_event, parse_exposition

RESULTS = {
    "alice": {"queries": 120, "p_value": 0.4, "rate_alert": False, "distribution_alert": False},
    "mallory": {"queries": 785, "p_value": 1e-150, "rate_alert": True, "distribution_alert": True},
    'odd "name"\\': {"queries": 3},
}


def test_exposition_parses_as_prometheus_text_format():
    text = exposition(client_registry(RESULTS))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["threatlab_client_queries"].type == "gauge"
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in families.values()
        for s in family.samples
    }
    assert values[("threatlab_client_queries", (("client", "mallory"),))] == 785
    assert values[("threatlab_client_distribution_p_value", (("client", "alice"),))] == 0.4
    assert values[("threatlab_client_alert", (("client", "mallory"), ("rule", "rate")))] == 1
    assert values[("threatlab_client_alert", (("client", "alice"), ("rule", "distribution")))] == 0
    # Label values are escaped: an awkward client name survives the round trip.
    assert values[("threatlab_client_queries", (("client", 'odd "name"\\'),))] == 3
    assert parse_exposition(text) == values


def test_registry_is_fresh_and_namespaced():
    first = client_registry({"a": {"queries": 1}}, namespace="svc")
    assert isinstance(first, CollectorRegistry)
    text = exposition(first)
    assert "svc_client_queries" in text and "threatlab_" not in text
    # A second registry does not clash with the first (no global default registry).
    assert "svc_client_queries" in exposition(
        client_registry({"b": {"queries": 2}}, namespace="svc")
    )


@pytest.mark.parametrize(
    "results",
    [
        [("alice", {})],
        {"": {"queries": 1}},
        {"a": 5},
        {"a": {"queries": -1}},
        {"a": {"queries": float("nan")}},
        {"a": {"p_value": 1.5}},
        {"a": {"rate_alert": "yes"}},
    ],
)
def test_bad_results_raise_value_error(results):
    with pytest.raises(ValueError):
        client_registry(results)


def test_parse_exposition_rejects_garbage():
    with pytest.raises(ValueError, match="exposition"):
        parse_exposition("this is { not prometheus")
    with pytest.raises(ValueError):
        exposition("not a registry")


def test_log_event_writes_one_sorted_json_line():
    stream = io.StringIO()
    when = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)
    line = log_event("model_abuse_alert", file=stream, timestamp=when, client="m", queries=785)
    assert stream.getvalue() == line + "\n"
    record = json.loads(line)
    assert record == {
        "client": "m",
        "event": "model_abuse_alert",
        "queries": 785,
        "ts": "2026-11-26T06:00:00+00:00",
    }
    assert list(record) == sorted(record)
    # Values JSON cannot hold are written as strings; file=None only returns the line.
    assert json.loads(log_event("x", file=None, obj=object()))["obj"].startswith("<object")


def test_log_event_rejects_bad_input():
    with pytest.raises(ValueError):
        log_event("", file=None)
    with pytest.raises(ValueError, match="reserved"):
        log_event("x", file=None, ts="now")
    with pytest.raises(ValueError, match="timezone"):
        log_event("x", file=None, timestamp=datetime(2026, 1, 1))
