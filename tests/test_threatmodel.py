"""threatlab.threatmodel: the ATLAS/OWASP catalogue and validator, the ML threat library, DFD rendering, the risk register."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib
import pytest
from pytm import Actor, Boundary, Dataflow, Datastore, ExternalEntity, Process

from threatlab.threatmodel import (
    FrameworkIdError,
    GraphvizMissingError,
    Risk,
    RiskRegister,
    catalogue,
    dfd_source,
    id_problems,
    ml_findings,
    ml_threats,
    model_elements,
    new_model,
    render_dfd,
    validate_id,
)

matplotlib.use("Agg")

FRAMEWORKS = Path("/work/shared/frameworks.md")


# --- catalogue and validator ---------------------------------------------------------------


def test_every_catalogue_id_resolves_to_itself_and_its_name():
    cat = catalogue()
    assert len(cat) >= 60
    for entry in cat:
        assert validate_id(entry.id) is entry
        assert validate_id(entry.id, entry.name) is entry
        assert validate_id(entry.id, cat.full_name(entry.id)) is entry
        if entry.parent:
            assert entry.parent in cat, f"{entry.id}: parent {entry.parent} missing"
            assert entry.id.startswith(entry.parent + ".")


def test_catalogue_has_a_version_stamp():
    version = catalogue().version
    assert version["atlas"].startswith("5.6")
    assert "2023" in version["owasp_ml"] and "2025" in version["owasp_llm"]
    assert version["curated"]


@pytest.mark.parametrize(
    "ident, name",
    [
        ("AML.T0020", "Poison Training Data"),
        ("AML.T0024.000", "Infer Training Data Membership"),
        ("AML.T0018", "Manipulate AI Model"),
        ("AML.T0010.002", "AI Supply Chain Compromise: Data"),
        ("AML.T0010.002", "Data"),
        ("AML.M0007", "Sanitize Training Data"),
        ("ML02:2023", "Data Poisoning Attack"),
        ("ML06:2023", "AI Supply Chain Attacks"),
        ("ML06:2023", "ML Supply Chain Attacks"),
        ("LLM04:2025", "Data and Model Poisoning"),
        ("LLM10:2025", "Unbounded Consumption"),
    ],
)
def test_issue_examples_validate(ident, name):
    assert validate_id(ident, name).id == ident
    assert validate_id(ident, name.upper()).id == ident  # case and spacing do not matter


def test_names_agree_with_frameworks_md():
    # The shared fact sheet is the source of the ids and names; every "ID Name" pair it states
    # for a top-level technique, mitigation or OWASP entry must be the catalogue's.
    if not FRAMEWORKS.is_file():
        pytest.skip("frameworks.md is not on this machine")
    text = FRAMEWORKS.read_text(encoding="utf-8")
    import re

    pairs = re.findall(
        r"\b(AML\.[TM]\d{4}(?:\.\d{3})?|ML\d{2}:2023|LLM\d{2}:2025) ([A-Z][A-Za-z\- ]+?)(?=[;(\n.]|$)",
        text,
    )
    assert len(pairs) >= 40
    cat = catalogue()
    for ident, name in pairs:
        if ident == "AML.T0049":
            continue  # quoted as the example of a wrong citation
        assert ident in cat, f"{ident} from frameworks.md is not in the catalogue"
        # (a name wrapped across lines in the fact sheet is compared by its first part)
        accepted = [n.lower() for n in cat.accepted_names(ident)]
        assert any(n.startswith(name.strip().lower()) for n in accepted), (ident, name)


def test_a_renamed_technique_is_rejected_with_the_rename():
    with pytest.raises(FrameworkIdError, match=r"ATLAS 4\.9 renamed it 'Manipulate AI Model'"):
        validate_id("AML.T0018", "Backdoor ML Model")
    with pytest.raises(FrameworkIdError, match="Evade AI Model"):
        validate_id("AML.T0015", "Evade ML Model")


def test_the_known_wrong_citation_is_caught():
    # One public course cites "AML.T0049 (Develop ML Backdoor)": AML.T0049 is something else.
    with pytest.raises(FrameworkIdError) as error:
        validate_id("AML.T0049", "Develop ML Backdoor")
    message = str(error.value)
    assert "Exploit Public-Facing Application" in message and "AML.T0018" in message


def test_an_invented_id_is_rejected_with_a_suggestion():
    with pytest.raises(FrameworkIdError, match="not in the course's ATLAS catalogue"):
        validate_id("AML.T9999")
    with pytest.raises(FrameworkIdError, match="'Poison Training Data' is AML.T0020"):
        validate_id("AML.T0021", "Poison Training Data")
    with pytest.raises(FrameworkIdError, match="Nearest ids: ML02:2023"):
        validate_id("ML02:2024")
    with pytest.raises(FrameworkIdError, match="ATT&CK"):
        validate_id("T1059")
    with pytest.raises(FrameworkIdError, match="not an ATLAS or OWASP id"):
        validate_id("CWE-502")
    with pytest.raises(FrameworkIdError, match="Did you mean ML02:2023"):
        validate_id("AML.T0020", "Data Poisoning")


def test_spellings_are_normalised_or_explained():
    cat = catalogue()
    assert cat.normalize("aml.m7") == "AML.M0007"
    assert cat.normalize("M0007") == "AML.M0007"
    assert cat.normalize("AML.T24.2") == "AML.T0024.002"
    assert cat.normalize("ml2") == "ML02:2023"
    with pytest.raises(FrameworkIdError, match="write it as 'AML.M0007'"):
        validate_id("AML.M007")
    assert validate_id("AML.M007", strict=False).id == "AML.M0007"
    with pytest.raises(FrameworkIdError, match="give the year"):
        validate_id("LLM04", strict=False)
    with pytest.raises(FrameworkIdError, match="LLM02:2025"):
        validate_id("LLM06:2023")
    with pytest.raises(FrameworkIdError, match="must be a string"):
        validate_id(20)


def test_id_problems_lists_every_problem():
    assert id_problems(["AML.T0020", "ML02:2023"]) == []
    problems = id_problems(
        {"AML.T0020": "Poison Training Data", "AML.T0018": "Backdoor ML Model", "AML.X1": None}
    )
    assert len(problems) == 2


def test_search_finds_entries_by_words():
    cat = catalogue()
    assert [e.id for e in cat.search("membership", "atlas")] == ["AML.T0024.000"]
    assert "ML04:2023" in [e.id for e in cat.search("membership")]
    assert "AML.T0018" in [e.id for e in cat.search("backdoor")]  # through its former name


# --- the ML threat library -----------------------------------------------------------------


def test_every_library_threat_has_valid_ids_and_a_condition():
    threats = ml_threats()
    assert {
        "ML-POISON-LABEL",
        "ML-BACKDOOR-BASE",
        "ML-EVASION",
        "ML-EXTRACTION",
        "ML-MEMBERSHIP",
        "ML-UNSAFE-LOAD",
        "ML-LM-LEAKAGE",
        "ML-PROMPT-INJECTION",
    } <= set(threats)
    cat = catalogue()
    for threat in threats.values():
        assert threat.atlas and threat.owasp and threat.atlas_mitigations, threat.sid
        for ident in threat.atlas:
            assert cat[ident].kind == "atlas-technique", (threat.sid, ident)
        for ident in threat.owasp:
            assert cat[ident].kind.startswith("owasp"), (threat.sid, ident)
        for ident in threat.atlas_mitigations:
            assert cat[ident].kind == "atlas-mitigation", (threat.sid, ident)
        assert threat.condition and threat.mitigations and threat.stage


def small_model():
    tm = new_model("t", "test model")
    vendor_b, corp, serving = Boundary("Vendor"), Boundary("Corp"), Boundary("Serving")
    vendor = Actor("Vendor", inBoundary=vendor_b, ml_role="labeler")
    data = Datastore("Data", inBoundary=corp, ml_role="training_data")
    reg = Datastore("Registry", inBoundary=corp, ml_role="model_registry")
    api = Process("API", inBoundary=serving, ml_role="inference")
    client = Actor("Client")
    return tm, vendor, data, reg, api, client, corp


def sids_on(findings, element):
    return {f.sid for f in findings if f.element is element}


def test_conditions_fire_where_they_should():
    tm, vendor, data, reg, api, client, corp = small_model()
    labels = Dataflow(vendor, data, "labels")
    request = Dataflow(client, api, "request")
    deploy = Dataflow(reg, api, "deploy")
    findings = ml_findings(tm)
    assert sids_on(findings, labels) == {"ML-POISON-LABEL"}
    assert sids_on(findings, request) == {
        "ML-EVASION",
        "ML-EXTRACTION",
        "ML-MEMBERSHIP",
        "ML-INVERSION",
    }
    # the deployment flow crosses a boundary into the API, but it is not a client's request
    assert sids_on(findings, deploy) == {"ML-UNSAFE-LOAD"}
    assert sids_on(findings, reg) == {"ML-REGISTRY-TAMPER"}
    assert sids_on(findings, data) == set()  # no personal data: no LM leakage finding


def test_conditions_do_not_fire_inside_one_boundary_or_without_roles():
    tm, vendor, data, reg, api, client, corp = small_model()
    insider = Actor("Internal labeler", inBoundary=corp, ml_role="labeler")
    internal = Dataflow(insider, data, "labels")  # same boundary: not a vendor crossing
    stranger = Actor("Stranger")
    unlabeled = Datastore("Some store", inBoundary=corp)
    other = Dataflow(stranger, unlabeled, "upload")  # no ML roles: no ML threats
    pii = Datastore("PII data", inBoundary=corp, ml_role="training_data", storesPII=True)
    llm = Process("Chat assistant", inBoundary=corp, ml_role="llm")
    findings = ml_findings(tm)
    assert sids_on(findings, internal) == set()
    assert sids_on(findings, other) == set()
    assert sids_on(findings, pii) == {"ML-LM-LEAKAGE"}
    assert sids_on(findings, llm) == {"ML-PROMPT-INJECTION"}


def test_feedback_and_feed_and_hub_conditions():
    tm, vendor, data, reg, api, client, corp = small_model()
    feed = ExternalEntity("Feed", inBoundary=Boundary("Partner"), ml_role="data_feed")
    hub = ExternalEntity("Hub", inBoundary=Boundary("Hub"), ml_role="model_hub")
    monitor = Process("Monitor", inBoundary=corp, ml_role="monitoring")
    ingest = Dataflow(feed, data, "feed")
    pull = Dataflow(hub, reg, "pull")
    feedback = Dataflow(monitor, data, "confirmed fraud")
    findings = ml_findings(tm)
    assert sids_on(findings, ingest) == {"ML-POISON-FEED"}
    assert sids_on(findings, pull) == {"ML-BACKDOOR-BASE"}
    assert sids_on(findings, feedback) == {"ML-FEEDBACK-SKEW"}


def test_a_misspelled_role_stops_the_analysis():
    tm = new_model("t", "typo")
    Datastore("Registry", ml_role="registry")
    with pytest.raises(ValueError, match="model_registry"):
        ml_findings(tm)


def test_new_model_resets_so_cells_can_be_rerun():
    for _ in range(3):
        tm, *_ = small_model()
        assert len(model_elements(tm)) == 8  # 3 boundaries + 5 elements, not 8, 16, 24
    assert len(ml_findings(tm)) == 1  # only the registry
    with pytest.raises(ValueError, match="name"):
        new_model("", "x")
    with pytest.raises(ValueError, match="description"):
        new_model("x", "")


# --- DFD rendering ---------------------------------------------------------------------------


def test_render_dfd_writes_an_svg_with_the_elements(tmp_path):
    tm, vendor, data, reg, api, client, corp = small_model()
    Dataflow(vendor, data, "labels")
    assert "digraph" in dfd_source(tm)
    svg = render_dfd(tm, tmp_path / "dfd.svg")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg[:500]
    assert "Vendor" in svg and "labels" in svg
    assert (tmp_path / "dfd.svg").read_text(encoding="utf-8") == svg


def test_render_dfd_explains_a_missing_graphviz(monkeypatch, tmp_path):
    tm, *_ = small_model()
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot
    with pytest.raises(GraphvizMissingError, match="apt-get install graphviz"):
        render_dfd(tm)
    assert "digraph" in dfd_source(tm)  # the text form still works


# --- risk register ---------------------------------------------------------------------------


def rows():
    return [
        {
            "threat": "label poisoning",
            "element": "labels",
            "likelihood": 3,
            "impact": 4,
            "atlas": ["AML.T0020"],
            "owasp": ["ML02:2023"],
            "mitigations": ["AML.M0007"],
        },
        {
            "threat": "evasion",
            "element": "request",
            "likelihood": 5,
            "impact": 4,
            "atlas": ["AML.T0015"],
            "owasp": ["ML01:2023"],
        },
        {"threat": "inversion", "element": "request", "likelihood": 2, "impact": 2},
        {
            "threat": "extraction",
            "element": "request",
            "likelihood": 4,
            "impact": 3,
            "owasp": "ML05:2023",
        },
    ]


def test_register_sorts_by_score_then_impact():
    register = RiskRegister.from_rows(rows())
    assert [r.threat for r in register] == ["evasion", "label poisoning", "extraction", "inversion"]
    assert [r.score for r in register.top(2)] == [20, 12]
    assert register.rows()[0]["rank"] == 1 and register.rows()[0]["atlas"] == "AML.T0015"


def test_register_exports_csv_and_markdown(tmp_path):
    register = RiskRegister.from_rows(rows())
    csv_path = register.write(tmp_path / "out" / "register.csv")
    parsed = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8"))))
    assert [p["threat"] for p in parsed] == [r.threat for r in register]
    assert parsed[0]["score"] == "20"
    md = register.write(tmp_path / "register.md").read_text(encoding="utf-8")
    assert md.startswith("| rank | threat |") and md.count("\n") == 2 + len(register)
    assert not list(tmp_path.glob("**/.*.tmp")), "atomic writes leave no temporary files"
    with pytest.raises(ValueError, match=".csv or .md"):
        register.write(tmp_path / "register.xlsx")


def test_register_heatmap_places_every_risk():
    register = RiskRegister.from_rows(rows())
    fig = register.heatmap()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sorted(texts) == ["1", "2", "3", "4"]
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"likelihood": 6}, "likelihood must be an integer from 1"),
        ({"impact": 2.5}, "impact must be an integer from 1"),
        ({"likelihood": True}, "likelihood must be an integer"),
        ({"atlas": ["AML.T0018"], "threat": "x"}, None),
        ({"atlas": ["AML.M0007"]}, "not an atlas-technique id"),
        ({"mitigations": ["AML.T0020"]}, "not an atlas-mitigation id"),
        ({"owasp": ["ML11:2023"]}, "not in the course's OWASP catalogue"),
        ({"threat": ""}, "threat description"),
    ],
)
def test_register_rejects_bad_rows(change, message):
    row = {**rows()[0], **change}
    if message is None:
        assert Risk(**row).atlas == ("AML.T0018",)
        return
    with pytest.raises(ValueError, match=message):
        RiskRegister.from_rows([row])
    with pytest.raises(ValueError, match="lacks"):
        RiskRegister.from_rows([{"threat": "x"}])


def test_package_data_is_json():
    from importlib import resources

    for name in ("catalogue.json", "ml_threats.json"):
        json.loads(
            resources.files("threatlab.threatmodel").joinpath("data", name).read_text("utf-8")
        )
