"""The grader's property checks: a different-but-correct model passes, an incomplete one fails.

Lab 06's hidden tests grade properties of the learner's pytm model (which element plays which ML
role, which trust boundary it sits in, which dataflows cross a boundary, what reaches what) and
where each required threat is attached. These tests build the scenario in several correct ways
(other names, extra elements, another order, an extra hop) and in incomplete ways, and check that
the verdict follows the properties, not the names.
"""

from __future__ import annotations

import random

import pytest
from pytm import Actor, Boundary, Dataflow, Datastore, ExternalEntity, Process

from threatlab.threatmodel import (
    REQUIRED_THREATS,
    ModelView,
    attachments_from_findings,
    attachments_from_mapping,
    coverage,
    coverage_problems,
    ml_findings,
    new_model,
    structure_problems,
)

NAMES = {
    "plain": {},
    "renamed": {
        "Labeling vendor": "Annotation partner GmbH",
        "Vendor": "Crowd workers",
        "Training data": "Feature store",
        "Registry": "MLflow",
        "API": "Scoring service",
        "Client": "Merchant",
        "labels": "annotated batches",
        "request": "POST /score",
    },
}


def build(
    names: dict | None = None,
    *,
    extra: bool = False,
    shuffle_seed: int | None = None,
    vendor_via_ingest: bool = False,
    drop: frozenset = frozenset(),
):
    """The lab's scenario as a pytm model, with variations.

    ``names`` renames elements; ``extra`` adds unrelated elements and flows; ``shuffle_seed``
    creates the dataflows in another order; ``vendor_via_ingest`` routes the vendor's labels
    through an ingestion process inside our boundary; ``drop`` leaves out named pieces.
    """
    n = {**(names or {})}

    def name(x):
        return n.get(x, x)

    tm = new_model("Fraud detection", "A fraud model with a labeling vendor and a public API.")
    vendor_b = Boundary(name("Labeling vendor"))
    feed_b = Boundary(name("Partner"))
    hub_b = Boundary(name("Model hub"))
    corp = Boundary(name("ML platform"))
    serving = corp if "serving_boundary" in drop else Boundary(name("Serving"))
    vendor = Actor(
        name("Vendor"),
        inBoundary=None if "vendor_boundary" in drop else vendor_b,
        ml_role="labeler",
    )
    feed = ExternalEntity(name("Partner feed"), inBoundary=feed_b, ml_role="data_feed")
    hub = ExternalEntity(name("Hub"), inBoundary=hub_b, ml_role="model_hub")
    data = Datastore(name("Training data"), inBoundary=corp, ml_role="training_data")
    train = Process(name("Training"), inBoundary=corp, ml_role="training")
    reg = Datastore(name("Registry"), inBoundary=corp, ml_role="model_registry")
    api = Process(name("API"), inBoundary=serving, ml_role="inference")
    mon = Process(name("Monitoring"), inBoundary=serving, ml_role="monitoring")
    client = Actor(name("Client"))
    flows = []
    if "vendor_flow" not in drop:
        if vendor_via_ingest:
            ingest = Process(name("Label ingestion"), inBoundary=corp)
            flows += [(vendor, ingest, name("labels")), (ingest, data, name("validated labels"))]
        else:
            flows.append((vendor, data, name("labels")))
    flows += [(feed, data, name("transactions")), (data, train, name("training set"))]
    if "hub_flow" not in drop:
        flows.append((hub, reg, name("base model")))
    flows += [(reg, train, name("base weights")), (train, reg, name("trained model"))]
    if "deploy_flow" not in drop:
        flows.append((reg, api, name("deployed model")))
    if "client_flow" not in drop:
        flows.append((client, api, name("request")))
    flows += [(api, client, name("score")), (api, mon, name("prediction logs"))]
    if extra:
        dash = Process("Analyst dashboard", inBoundary=corp)
        wiki = Datastore("Docs wiki", inBoundary=corp)
        auditor = Actor("Auditor")
        flows += [(mon, dash, "alerts"), (auditor, wiki, "reads"), (dash, wiki, "reports")]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(flows)
    for source, sink, label in flows:
        Dataflow(source, sink, label)
    return tm


CORRECT = {
    "plain": {},
    "renamed": {"names": NAMES["renamed"]},
    "extra elements": {"extra": True},
    "reordered": {"shuffle_seed": 3},
    "vendor through an ingestion step": {"vendor_via_ingest": True},
    "all at once": {
        "names": NAMES["renamed"],
        "extra": True,
        "shuffle_seed": 7,
        "vendor_via_ingest": True,
    },
}


@pytest.mark.parametrize("variant", list(CORRECT))
def test_a_different_but_correct_model_passes(variant):
    tm = build(**CORRECT[variant])
    assert structure_problems(tm) == []
    findings = ml_findings(tm)
    assert coverage_problems(tm, attachments_from_findings(findings)) == []


INCOMPLETE = {
    "no vendor boundary": ({"vendor_boundary"}, "labeler"),
    "no vendor dataflow": ({"vendor_flow"}, "labeler"),
    "no base model dataflow": ({"hub_flow"}, "model_hub"),
    "model never deployed": ({"deploy_flow"}, "model_registry"),
    "no public client": ({"client_flow"}, "client"),
}


@pytest.mark.parametrize("variant", list(INCOMPLETE))
def test_an_incomplete_model_fails_with_a_useful_message(variant):
    dropped, word = INCOMPLETE[variant]
    tm = build(drop=frozenset(dropped))
    problems = structure_problems(tm)
    assert problems, f"{variant}: the structure check passed an incomplete model"
    assert any(word in p for p in problems), problems


def test_a_missing_role_is_named():
    tm = new_model("partial", "only some elements")
    Datastore("Training data", ml_role="training_data")
    problems = structure_problems(tm)
    for role in ("labeler", "model_hub", "inference"):
        assert any(repr(role) in p for p in problems), problems


def test_a_misspelled_role_is_caught_with_a_suggestion():
    tm = new_model("typo", "a typo")
    element = Datastore("Training data", ml_role="training-data")
    problems = structure_problems(ModelView.of([element]))
    assert any("'training_data'" in p for p in problems), problems
    with pytest.raises(ValueError, match="training_data"):
        ml_findings(tm)


def test_the_same_threat_on_the_wrong_element_does_not_count():
    tm = build()
    view = ModelView.of(tm)
    (registry,) = view.with_role("model_registry")
    (api,) = view.with_role("inference")
    everything = frozenset(i for ids in REQUIRED_THREATS.values() for i in ids)
    # Every required id, but all of them on the registry: nothing is where it belongs ...
    wrong = coverage(tm, [(registry, everything)])
    assert not wrong["poisoning via the labeling vendor"]
    assert not wrong["evasion at the prediction API"]
    assert not wrong["unsafe model loading from the registry"]
    # ... and on the API only the API threats count.
    on_api = coverage(tm, [(api, everything)])
    assert on_api["evasion at the prediction API"] and on_api["model extraction through the API"]
    assert not on_api["poisoning via the labeling vendor"]


def test_a_threat_without_the_right_id_does_not_count():
    tm = build()
    findings = ml_findings(tm)
    # A learner's mapping that puts the wrong ATLAS ids on the label-poisoning threat.
    mapping = {f.sid: {"atlas": list(f.threat.atlas)} for f in findings}
    mapping["ML-POISON-LABEL"] = {"atlas": ["AML.T0019"]}
    problems = coverage_problems(tm, attachments_from_mapping(findings, mapping))
    assert len(problems) == 1 and "AML.T0020" in problems[0], problems
    # Dismissing it in triage removes it too.
    kept = {f.sid for f in findings} - {"ML-MEMBERSHIP"}
    full = {f.sid: {"atlas": list(f.threat.atlas)} for f in findings}
    problems = coverage_problems(tm, attachments_from_mapping(findings, full, keep=kept))
    assert len(problems) == 1 and "membership" in problems[0]


def test_a_model_stays_usable_after_another_one_is_built():
    tm = build(extra=True)
    view = ModelView.of(tm)
    count = len(view.elements)
    other = build(drop=frozenset({"client_flow"}))  # resets pytm's global state
    assert len(view.elements) == count
    assert len(ModelView.of(tm).elements) == count
    assert structure_problems(tm) == []
    assert structure_problems(other) != []
    # findings of the first model are about the first model's elements
    findings = ml_findings(tm)
    assert coverage_problems(tm, attachments_from_findings(findings)) == []
    assert all(any(f.element is e for e in view.elements) for f in findings)
    assert coverage_problems(other, attachments_from_findings(ml_findings(other)))
