"""Regression checks for Lab 06 (threat modeling as code), read from the solution's report() metrics.

The `solution_metrics` fixture (tests/conftest.py) runs solutions/06-threatmodel/06-threatmodel.ipynb
with papermill in FAST mode for one SEED. Nothing in this lab is random or trained: the numbers are
properties of the solution's pytm model, of the ML threat library's conditions and of the learner's
(here the instructor's) triage, mapping and scores, so they are exact, the same for every seed and in
FAST and full mode. A change in them means the library (threatlab.threatmodel) or pytm changed what
the model finds, and the lab's text must be checked.

Calibration (pytm 1.4.0, Graphviz 2.43 `dot`, 2 cores under load ~8 from other jobs), seeds 0 / 1 / 2,
identical: 9 elements, 12 dataflows, 5 trust boundaries; 12 findings of 11 threats; 9 kept, 2
dismissed; 22 distinct ids mapped, 0 invalid; 6 of 6 required threats covered; 10 risks, top risk
evasion at the API with score 20. Papermill wall time ~16 s (kernel start and imports; the lab's
own cells ~1.5 s), FAST and full alike.
"""

from __future__ import annotations

import pytest

LAB = "06-threatmodel"
SEEDS = [0, 1]

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def metrics(request, solution_metrics):
    return solution_metrics(LAB, request.param)


def test_reports_the_headline_metrics(metrics):
    required = {
        "fast",
        "n_elements",
        "n_dataflows",
        "n_boundaries",
        "structure_problems",
        "n_findings",
        "n_threats_fired",
        "n_kept",
        "n_dismissed",
        "mapping_id_problems",
        "required_threats",
        "required_covered",
        "n_risks",
        "top_risk_score",
        "top_mitigations",
        "dfd_rendered",
        "exports_written",
    }
    missing = sorted(required - set(metrics))
    assert not missing, f"the notebook no longer reports {missing}"
    assert metrics["fast"] is True


def test_the_solution_model_is_complete(metrics):
    # Shostack 2014: a DFD with its trust boundaries is the base of the model. The scenario has a
    # vendor, a partner, a model hub, our platform and serving: five boundaries, every role present.
    assert metrics["structure_problems"] == 0
    assert metrics["n_boundaries"] >= 5
    assert metrics["n_elements"] >= 9 and metrics["n_dataflows"] >= 10


def test_the_library_finds_the_scenarios_threats(metrics):
    # The ML threat library fires on the shape of the system: label and feed poisoning, the base
    # model, unsafe loading (twice: into training and into serving), registry tampering, the four
    # API threats, feedback skew and LM leakage; prompt injection does not (no LLM here).
    assert metrics["n_threats_fired"] == 11
    assert metrics["n_findings"] == 12


def test_triage_keeps_the_required_threats_and_dismisses_some(metrics):
    # The required threats (poisoning via the vendor, backdoored base model, evasion,
    # extraction, membership inference, unsafe loading) are kept and attached to the right
    # elements; triage dismisses what does not apply to a non-generative classifier.
    assert metrics["required_covered"] == metrics["required_threats"] == 6
    assert metrics["n_kept"] + metrics["n_dismissed"] == metrics["n_threats_fired"]
    assert metrics["n_dismissed"] >= 1


def test_every_mapped_id_is_valid(metrics):
    # MITRE ATLAS 5.6.0 / OWASP ML Top 10 2023 / LLM Top 10 2025, as in the course catalogue.
    assert metrics["mapping_id_problems"] == 0


def test_register_and_exports(metrics):
    # One risk per kept finding, scored likelihood x impact in 1..25; the top risk is evasion at a
    # public API used by fraudsters (5 x 4); the CSV and Markdown exports exist.
    assert metrics["n_risks"] >= metrics["n_kept"]
    assert 1 <= metrics["top_risk_score"] <= 25
    assert metrics["top_risk_score"] == 20
    assert metrics["exports_written"] is True
    assert len(metrics["top_mitigations"].split(",")) == 3


def test_the_dfd_renders_where_graphviz_is_installed(metrics):
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed here")
    assert metrics["dfd_rendered"] is True


def _hidden_literal(grade_id: str, name: str):
    """The value of the literal ``name = {...}`` in a hidden test of the solution notebook."""
    import ast

    from threatlab.course import read_notebook, solution_path

    cell = next(
        c
        for c in read_notebook(solution_path(LAB)).cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )
    for node in ast.walk(ast.parse(cell.source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{grade_id} assigns no {name}")


def test_the_mitigation_map_is_the_labs_metadata():
    # Task 4c accepts every lab that demonstrates a mitigation: the hidden map must credit exactly
    # the labs whose metadata (and threat-model table) list that mitigation, no more, no fewer.
    from threatlab.course import lab_ids
    from threatlab.course.notebooks import lab_metadata

    expected: dict[str, set[str]] = {}
    for lab in lab_ids():
        if lab == LAB:
            continue
        for ident in lab_metadata(lab).get("atlas", []):
            if ident.startswith("AML.M"):
                expected.setdefault(ident, set()).add(lab)
    assert _hidden_literal("test_top_mitigations", "demonstrated") == expected


def test_every_threat_mitigation_can_be_linked_to_a_lab():
    # A learner may fund any mitigation of a top-five risk: each needs a lab that demonstrates it.
    from threatlab.threatmodel import ml_threats

    demonstrated = _hidden_literal("test_top_mitigations", "demonstrated")
    offered = {m for t in ml_threats().values() for m in t.atlas_mitigations}
    assert offered <= set(demonstrated), sorted(offered - set(demonstrated))
