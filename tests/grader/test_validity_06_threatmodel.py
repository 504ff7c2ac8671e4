"""Grading validity of Lab 06: the threat model's tasks graded from their contracts (validity.py).

The contracts (labs/06-threatmodel): ``build_model`` completes the given fraud-detection model
(vendor and hub in boundaries of their own, deployment, a public client, feedback), checked as
properties, not names; ``triage`` decides keep/dismiss for every threat that fired, with a reason
that says why *for this system*; ``framework_mapping`` gives valid ATLAS technique and OWASP ids for
every kept threat, covering the six required threats on the right elements, each required one with
an OWASP ML Top 10 entry that describes it; ``risk_scores`` scores every kept threat 1..5;
``build_register`` makes one Risk per kept finding; ``top_mitigations`` picks three mitigations
of the five highest risks, each with a lab that demonstrates it (any such lab).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from validity import Variant, answer, validity_tests

LAB = "06-threatmodel"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

# The part of build_model that the notebook gives (every answer repeats it).
GIVEN = """
def build_model():
    tm = new_model(
        "Fraud detection",
        "Card-fraud model: partner feed and labeling vendor, training on a pretrained base model, "
        "a model registry, a public prediction API and monitoring.",
    )
    platform = Boundary("ML platform")
    serving = Boundary("Production serving")
    partner = Boundary("Partner bank")

    feed = ExternalEntity("Partner transaction feed", inBoundary=partner, ml_role="data_feed")
    training_data = Datastore(
        "Training data",
        inBoundary=platform,
        ml_role="training_data",
        storesPII=True,
        storesSensitiveData=True,
    )
    training = Process("Training pipeline", inBoundary=platform, ml_role="training")
    registry = Datastore("Model registry", inBoundary=platform, ml_role="model_registry")
    api = Process("Prediction API", inBoundary=serving, ml_role="inference", implementsAPI=True)
    monitoring = Process("Monitoring", inBoundary=serving, ml_role="monitoring")

    Dataflow(feed, training_data, "Daily transactions")
    Dataflow(training_data, training, "Training set")
    Dataflow(training, registry, "Trained model")
    Dataflow(api, monitoring, "Predictions and inputs")
"""

CORRECT = Variant(
    "own-names-other-mappings",
    {
        "build_model": answer(
            GIVEN
            + """
    contractor = Boundary("Annotation contractor")
    internet = Boundary("Internet model repository")
    reviewers = Actor("Contract reviewers", inBoundary=contractor, ml_role="labeler")
    repository = ExternalEntity("Open checkpoint repository", inBoundary=internet, ml_role="model_hub")
    gateway = Actor("Merchant acquirer gateway")
    for source, sink, name in [
        (training_data, reviewers, "Cases sent for review"),
        (reviewers, training_data, "Reviewed fraud labels"),
        (repository, registry, "Mirrored base checkpoint"),
        (registry, training, "Checkpoint to fine-tune"),
        (registry, api, "Release to production"),
        (gateway, api, "Transaction to score"),
        (api, gateway, "Risk score"),
        (monitoring, training_data, "Chargebacks confirmed as fraud"),
    ]:
        Dataflow(source, sink, name)
    return tm
"""
        ),
        "triage": answer(
            '''
            def triage():
                """Written for our card-fraud system."""
                why = {
                    "ML-POISON-LABEL": "Contract reviewers we never meet decide what counts as fraud, "
                    "so a bribed reviewer can whitewash a fraud ring before we train.",
                    "ML-POISON-FEED": "Most rows come from the partner bank and we cannot audit their "
                    "systems; injected transactions land straight in our training set.",
                    "ML-BACKDOOR-BASE": "We fine-tune a checkpoint downloaded from an open repository "
                    "and anyone can publish there, trigger included.",
                    "ML-UNSAFE-LOAD": "Training and serving both deserialise files out of the registry, "
                    "including the mirrored download, so a pickle runs code on our hosts.",
                    "ML-REGISTRY-TAMPER": "Many CI jobs hold write access to the registry and whatever "
                    "sits there is released to production unchecked.",
                    "ML-EVASION": "Fraudsters are our users: they retry amounts and merchants "
                    "against the scoring endpoint until a stolen card goes through.",
                    "ML-EXTRACTION": "The gateway can send unlimited scoring requests, enough to copy "
                    "the classifier and rehearse evasions offline.",
                    "ML-MEMBERSHIP": "Cardholders' payment histories are personal, and a confident "
                    "score can reveal that someone's card was in the fraud cases.",
                    "ML-INVERSION": "Dismissed: a merchant gets one number per payment it already "
                    "knows, too little to rebuild other cardholders' records.",
                    "ML-FEEDBACK-SKEW": "Dismissed for now: only chargebacks confirmed by the issuer's "
                    "investigators re-enter training, and no outsider can confirm one.",
                    "ML-LM-LEAKAGE": "Dismissed: the scorer is a tabular classifier with one number "
                    "as output; it has no text generation that could recite records.",
                }
                return {sid: ("dismiss" if text.startswith("Dismissed") else "keep", text)
                        for sid, text in why.items()}
            '''
        ),
        "mapping": answer(
            '''
            def framework_mapping():
                """Fewer ids; registry tampering filed as a supply-chain attack (ML06), as Lab 07 does."""
                entries = [
                    ("ML-POISON-LABEL", "AML.T0020", "Poison Training Data", "ML02:2023", "Data Poisoning Attack"),
                    ("ML-POISON-FEED", "AML.T0010.002", "Data", "ML02:2023", "Data Poisoning Attack"),
                    ("ML-BACKDOOR-BASE", "AML.T0018", "Manipulate AI Model", "ML10:2023", "Model Poisoning"),
                    ("ML-UNSAFE-LOAD", "AML.T0011.000", "Unsafe AI Artifacts", "ML06:2023", "AI Supply Chain Attacks"),
                    ("ML-REGISTRY-TAMPER", "AML.T0018", "Manipulate AI Model", "ML06:2023", "AI Supply Chain Attacks"),
                    ("ML-EVASION", "AML.T0015", "Evade AI Model", "ML01:2023", "Input Manipulation Attack"),
                    ("ML-EXTRACTION", "AML.T0024.002", "Extract AI Model", "ML05:2023", "Model Theft"),
                    ("ML-MEMBERSHIP", "AML.T0024.000", "Infer Training Data Membership", "ML04:2023", "Membership Inference Attack"),
                ]
                return {sid: {"atlas": {a: an}, "owasp": {o: on}} for sid, a, an, o, on in entries}
            '''
        ),
        "scores": answer(
            """
            def risk_scores():
                pairs = {
                    "ML-EVASION": [5, 5],
                    "ML-EXTRACTION": [5, 4],
                    "ML-POISON-LABEL": [3, 4],
                    "ML-UNSAFE-LOAD": [2, 5],
                    "ML-BACKDOOR-BASE": [2, 4],
                    "ML-REGISTRY-TAMPER": [2, 4],
                    "ML-POISON-FEED": [2, 3],
                    "ML-MEMBERSHIP": [2, 3],
                }
                return {sid: tuple(pair) for sid, pair in pairs.items()}
            """
        ),
        "build_register": answer(
            """
            def build_register(findings, triage, mapping, scores):
                kept = [f for f in findings if f.sid in triage and triage[f.sid][0] == "keep"]
                for f in kept:
                    for table, what in ((mapping, "mapping"), (scores, "score")):
                        if f.sid not in table:
                            raise ValueError(f"kept threat {f.sid} has no {what}")
                rows = []
                for f in kept:
                    rows.append(
                        {
                            "threat": f.description,
                            "element": f.element_name,
                            "likelihood": scores[f.sid][0],
                            "impact": scores[f.sid][1],
                            "atlas": list(mapping[f.sid]["atlas"].keys()),
                            "owasp": list(mapping[f.sid]["owasp"].keys()),
                            "mitigations": list(f.threat.atlas_mitigations),
                        }
                    )
                return RiskRegister.from_rows(rows)
            """
        ),
        "top_mitigations": answer(
            '''
            def top_mitigations():
                """Query limits and detection as Lab 08 runs them, then verified artifacts."""
                return [
                    ("AML.M0004", "08-monitoring"),
                    ("AML.M0015", "08-monitoring"),
                    ("AML.M0014", "00-orientation"),
                ]
            '''
        ),
    },
    why="own element names, reasons, minimal mapping with registry tampering -> ML06:2023, "
    "scores as lists, a register from rows, AML.M0004 -> 08-monitoring",
)

VARIANTS = [
    CORRECT,
    Variant(
        "templated-reasons-and-one-risk-per-threat",
        {
            "triage": answer(
                """
                def triage():
                    dismissed = {"ML-INVERSION", "ML-LM-LEAKAGE"}
                    return {
                        f.sid: (
                            "dismiss" if f.sid in dismissed else "keep",
                            f"{f.description}: this applies to our system, so we decided on it.",
                        )
                        for f in findings
                    }
                """
            ),
            "build_register": answer(
                """
                def build_register(findings, triage, mapping, scores):
                    first = {}
                    for f in findings:
                        if triage.get(f.sid, ("dismiss",))[0] == "keep":
                            first.setdefault(f.sid, f)
                    risks = []
                    for sid, f in first.items():
                        if sid not in mapping or sid not in scores:
                            raise ValueError(f"{sid}: no mapping or score")
                        risks.append(Risk(f.description, f.element_name, *scores[sid],
                                          atlas=tuple(mapping[sid]["atlas"]),
                                          owasp=tuple(mapping[sid]["owasp"]),
                                          mitigations=f.threat.atlas_mitigations))
                    return RiskRegister(risks)
                """
            ),
        },
        loses=("test_triage", "test_build_register"),
        why="the threat's description + 'this applies to our system' as every reason; one risk "
        "per threat instead of per finding (a threat on two elements counted once)",
    ),
    Variant(
        "llm-owasp-id-and-undemonstrated-lab",
        {
            "mapping": answer(
                """
                def framework_mapping():
                    m = {
                        "ML-POISON-LABEL": ({"AML.T0020": "Poison Training Data"}, {"LLM04:2025": "Data and Model Poisoning"}),
                        "ML-POISON-FEED": ({"AML.T0020": "Poison Training Data"}, {"LLM04:2025": "Data and Model Poisoning"}),
                        "ML-BACKDOOR-BASE": ({"AML.T0010.003": "AI Supply Chain Compromise: Model"}, {"ML06:2023": "AI Supply Chain Attacks"}),
                        "ML-UNSAFE-LOAD": ({"AML.T0011.000": "Unsafe AI Artifacts"}, {"ML06:2023": "AI Supply Chain Attacks"}),
                        "ML-REGISTRY-TAMPER": ({"AML.T0018": "Manipulate AI Model"}, {"ML10:2023": "Model Poisoning"}),
                        "ML-EVASION": ({"AML.T0015": "Evade AI Model"}, {"ML01:2023": "Input Manipulation Attack"}),
                        "ML-EXTRACTION": ({"AML.T0024.002": "Extract AI Model"}, {"ML05:2023": "Model Theft"}),
                        "ML-MEMBERSHIP": ({"AML.T0024.000": "Infer Training Data Membership"}, {"ML04:2023": "Membership Inference Attack"}),
                        "ML-FEEDBACK-SKEW": ({"AML.T0020": "Poison Training Data"}, {"ML08:2023": "Model Skewing"}),
                    }
                    return {sid: {"atlas": a, "owasp": o} for sid, (a, o) in m.items()}
                """
            ),
            "top_mitigations": answer(
                """
                def top_mitigations():
                    return [
                        ("AML.M0015", "01-evasion"),
                        ("AML.M0014", "07-supplychain"),
                        ("AML.M0007", "02-poisoning"),
                    ]
                """
            ),
        },
        loses=("test_mapping", "test_top_mitigations"),
        why="label poisoning filed under the LLM list (LLM04:2025) for a model that is not an LLM; "
        "adversarial input detection credited to Lab 01, which does not demonstrate it",
    ),
    Variant(
        "scores-only-the-required-six",
        {
            "scores": answer(
                """
                def risk_scores():
                    return {
                        "ML-EVASION": (5, 4),
                        "ML-UNSAFE-LOAD": (3, 5),
                        "ML-POISON-LABEL": (3, 4),
                        "ML-BACKDOOR-BASE": (2, 5),
                        "ML-EXTRACTION": (3, 3),
                        "ML-MEMBERSHIP": (2, 3),
                    }
                """
            ),
        },
        loses=("test_risk_scores",),
        why="scores only the six required threats, not every kept one",
    ),
    Variant(
        "vendor-inside-our-boundary",
        {
            "build_model": answer(
                GIVEN
                + """
    hub_zone = Boundary("Model hub")
    vendor = Actor("Labeling vendor", inBoundary=platform, ml_role="labeler")
    hub = ExternalEntity("Hub", inBoundary=hub_zone, ml_role="model_hub")
    client = Actor("Merchant")
    Dataflow(training_data, vendor, "To review")
    Dataflow(vendor, training_data, "Labels")
    Dataflow(hub, registry, "Base model")
    Dataflow(registry, training, "Base weights")
    Dataflow(registry, api, "Deploy")
    Dataflow(client, api, "Request")
    Dataflow(api, client, "Score")
    Dataflow(monitoring, training_data, "Feedback")
    return tm
"""
            ),
        },
        loses=("test_build_model",),
        why="puts the labeling vendor inside the ML platform's trust boundary",
    ),
]

# Each of these answer cells ends with the line that the notebook gives after the function.
ENDS = {
    "triage": "TRIAGE = triage()",
    "mapping": "MAPPING = framework_mapping()",
    "scores": "SCORES = risk_scores()",
    "top_mitigations": "TOP_MITIGATIONS = top_mitigations()",
}
VARIANTS = [
    replace(
        v,
        answers={
            gid: source + (f"\n\n{ENDS[gid]}\n" if gid in ENDS else "")
            for gid, source in v.answers.items()
        },
    )
    for v in VARIANTS
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
