"""Regression bands for Lab 10 (capstone: a ship-or-block release gate), from the solution's metrics.

The `solution_metrics` fixture (tests/conftest.py) runs solutions/10-capstone/10-capstone.ipynb with
papermill in FAST mode for one SEED. The notebook builds one release candidate of every kind of
``threatlab.candidates`` with that seed, runs the solution's gate on each, runs the gate as a pytest
suite in a subprocess (CI) on a good and a bad release, and builds the red-team reference release.
Its hidden tests run too (the solution notebook carries them): they build fresh candidates with
seeds SEED + 1000 and SEED + 1001, assert the gate's verdict on every kind, and run the hidden
reference gate on the red-team release. A failing hidden assert fails the papermill run, so these
tests also cover the reference gate on the grading seeds 1000/1001 and 1001/1002.

Calibration (seeds 0-6, FAST, threatlab.candidates as merged at cand10 a72a2f3; gate_support's
batched trigger search: 300 Adam steps, the paper's lambda schedule, 200 evaluation images, success
0.9). Neural Cleanse's anomaly index (Wang et al., S&P 2019; the official code,
mad_outlier_detection.py, flags labels below the median with index > 2, the MAD scaled by 1.4826) is
NOT a reliable decision rule with 10 labels on these 8x8 MLPs: the largest index of a GOOD release
exceeded 2 on four of seven seeds (2.62 / 3.69 / 2.28 / 2.83 on seeds 1 / 4 / 5 / 6) and the
BACKDOOR of seed 0 scored only 2.30. The ratio of the smallest trigger norm to the median separated
every seed: good 0.63-0.81, backdoor 0.18-0.26 (before the merge, with 10% poison: backdoor up to
0.43 on seed 3); the gate blocks at a ratio <= 0.5 and records an index > 2 without a small trigger as
a warning.

Asserted on seeds 0 / 1 (measured after the choice): good ratio 0.702 / 0.691, backdoor 0.186 /
0.207 (index 2.30 / 7.77); ART PGD at eps 0.15 (20 steps): good 0.569 / 0.549, non-robust 0.071 /
0.055, gradient-masked 0.962 / 0.957 under PGD but 0.778 / 0.746 under PGD at eps 0.5; membership
advantage (loss threshold, best threshold, 200 + 200 audit examples): good 0.085 / 0.085, overfit
0.320 / 0.250 (limit 0.18); red team (the photographic negative as trigger, adversarially trained,
clean shards shipped): trigger success 1.000 / 1.000, 0.226 / 0.176 on the good model, smallest-
trigger ratio 0.665 / 0.622. Every verdict right on both seeds and, in the hidden tests, on the fresh
seeds 1000-1002. FAST wall time (papermill cells): 163 s (seed 0) and 213 s (seed 1, 37 s of it
building this seed's candidates, about as much again for the hidden fresh ones), measured while
other jobs kept the 2-core machine at load average 5-9.

Unseen seeds 101 / 202 (FAST, measured after everything above was fixed; the hidden fresh seeds
1101-1102 and 1202-1203 passed too): 8 of 8 verdicts right on both, each bad kind blocked by its own
check; good ratio 0.751 / 0.762 (largest index 1.87 / 2.49: on seed 202 Neural Cleanse's rule alone
would have blocked the good release), backdoor 0.170 / 0.170 (index 3.08 / 3.25); PGD good 0.584 /
0.544, non-robust 0.015 / 0.038, masked 0.935 / 0.960 (eps 0.5: 0.743 / 0.768); membership
advantage good 0.105 / 0.060, overfit 0.375 / 0.260; red team 1.000 / 1.000, 0.182 / 0.162 on the
good model, ratio 0.684 / 0.716 (index 3.23 / 3.43); CI exit 0 on the good release. 244 s / 238 s
(cold caches, load average about 8); kernel peak 534 / 535 MB.

The data screen (check_data, added with the poisoned_data kind; calibrated on seeds 0-3, then
measured on 11, 29, 1000-1002): per class of the shipped shards, the release model's penultimate
features; the mean spectral score (Tran et al., NeurIPS 2018) along the class's top singular
direction over the mean squared projection of the gate's clean digits of the class on it. The
poisoned class scored 4.6-89 (seed 1 lowest, 4.57); no class of a good or backdoor release above
1.97, no other class of a poisoned release above 2.06; the policy blocks above 3.0. Asserted on
seeds 0 / 1: poisoned 18.77 / 4.57 (48 / 55 samples on the far side, 50 poisoned), good 1.45 /
1.46, backdoor 1.59 / 1.71, the red-team release (clean shards) 1.55 / 1.76. The gate's trigger
search blocks the poisoned_data release too on both seeds (it learned a stamp).

The monitoring check also runs Lab 08's drift test (per-pixel KS, Bonferroni) of the reference
against the gate's clean digits, so the unrepresentative_reference kind (two classes) is in
BAD_KINDS: p 0.0 on seeds 0 / 1 where the good reference gives 1.0 (library measurement, seeds 0-3,
11, 29, 101, 202, 303, 404, 1000-1002: bad at most 2.3e-9, good at least 0.093; alpha 0.01).

Unseen seeds 303 / 404 (FAST, measured after all of the above): 10 of 10 verdicts right, each bad
kind blocked by its own check (poisoned_data by the data screen and the trigger search); spectral
ratio of the poisoned class 6.74 / 17.23 (42 / 50 samples on the far side), largest ratio of the good
release 2.03 / 1.59, backdoor 1.76 / 1.23, red team 1.75 / 1.55; drift p good 1.0, unrepresentative
0.0; the hidden tests passed on the fresh seeds 1303-1304 and 1404-1405. 74 s / 69 s (papermill),
kernel peak 540 MB, on 2 cores shared with another job.
"""

from __future__ import annotations

import ast
import re

import pytest

from threatlab.candidates import KINDS
from threatlab.course import read_notebook, solution_path, student_path

LAB = "10-capstone"
SEEDS = [0, 1]
BLOCKED_BY = {
    "altered_shard": "provenance",
    "unknown_signer": "provenance",
    "pickle_payload": "artifacts",
    "backdoor": "backdoor",
    "poisoned_data": "data",
    "non_robust": "robustness",
    "gradient_masked": "robustness",
    "overfit": "privacy",
    "unrepresentative_reference": "monitoring",
}


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def metrics(request, solution_metrics):
    return solution_metrics(LAB, request.param)


@pytest.mark.notebook
def test_reports_the_headline_metrics(metrics):
    required = {"fast", "verdicts_right", "good_shipped", "bad_blocked", "red_asr", "ci_exit_good"}
    required |= {f"verdict_{k}" for k in KINDS} | {f"blocked_by_{k}" for k in KINDS}
    missing = sorted(required - set(metrics))
    assert not missing, f"the notebook no longer reports {missing}"
    assert metrics["fast"] is True, "the bands were calibrated in FAST mode"


@pytest.mark.notebook
def test_every_verdict_is_right_for_the_right_reason(metrics):
    # Ten candidates, one of each kind: the good one ships, each bad one is blocked by the check
    # built for it (and the tampered ones before any weight is loaded: see the notebook's tests).
    assert metrics["n_candidates"] == len(KINDS)
    assert metrics["verdicts_right"] == len(KINDS), {k: metrics[f"verdict_{k}"] for k in KINDS}
    assert metrics["verdict_good"] == "ship" and metrics["blocked_by_good"] == ""
    for kind, check in BLOCKED_BY.items():
        assert metrics[f"verdict_{kind}"] == "block", f"{kind} shipped"
        assert check in metrics[f"blocked_by_{kind}"].split(","), (
            f"{kind} blocked by {metrics[f'blocked_by_{kind}']!r}, expected {check}"
        )


@pytest.mark.notebook
def test_trigger_search_separates_backdoor_by_size(metrics):
    # Neural Cleanse (Wang et al. 2019): the backdoor's target needs a much smaller trigger. The
    # size ratio separates; the anomaly index alone does not on 10 labels (see the docstring).
    assert metrics["nc_min_ratio_backdoor"] <= 0.45, metrics["nc_min_ratio_backdoor"]
    assert metrics["nc_min_ratio_good"] >= 0.55, metrics["nc_min_ratio_good"]


@pytest.mark.notebook
def test_spectral_signatures_find_the_poisoned_class_only(metrics):
    # Tran et al. 2018: in the model's features the poisoned class varies far more along its top
    # singular direction than clean digits of the class (policy max_spectral_ratio 3.0); clean
    # shards (the good and backdoor releases, the red team's) stay below it with a margin.
    assert metrics["spectral_target_ratio_poisoned_data"] >= 3.6
    assert (
        metrics["spectral_max_ratio_poisoned_data"]
        == metrics["spectral_target_ratio_poisoned_data"]
    )
    assert 35 <= metrics["spectral_outliers_poisoned_data"] <= 65, "about the 50 poisoned samples"
    for kind in ("good", "backdoor", "red"):
        assert metrics[f"spectral_max_ratio_{kind}"] <= 2.5, (
            kind,
            metrics[f"spectral_max_ratio_{kind}"],
        )


@pytest.mark.notebook
def test_drift_test_rejects_an_unrepresentative_reference(metrics):
    # Lab 08's drift test (per-pixel KS, Bonferroni) of the reference against the gate's clean
    # digits: quiet for a good release's reference, an alarm for one of two classes (alpha 0.01).
    assert metrics["drift_p_value_good"] >= 0.05, metrics["drift_p_value_good"]
    assert metrics["drift_p_value_unrepresentative_reference"] <= 1e-6


@pytest.mark.notebook
def test_robustness_floor_and_masking_checks(metrics):
    # Madry et al. 2018 (PGD), Athalye et al. 2018 / Carlini et al. 2019 (masking sanity checks).
    assert metrics["pgd_good"] >= 0.45 and metrics["clean_good"] >= 0.85
    assert metrics["pgd_large_eps_good"] <= 0.05, "PGD at eps 0.5 breaks a sound model"
    assert metrics["pgd_non_robust"] <= 0.2, "a standard model falls far below the floor"
    assert metrics["pgd_gradient_masked"] >= 0.8, "the masked model LOOKS robust under PGD"
    assert metrics["pgd_large_eps_gradient_masked"] >= 0.3, "...and survives eps 0.5: masking"


@pytest.mark.notebook
def test_membership_audit_separates_overfit(metrics):
    # Yeom et al. 2018: the loss-threshold advantage tracks the generalisation gap.
    assert metrics["membership_advantage_good"] <= 0.15, "well inside the policy's limit"
    assert metrics["membership_advantage_overfit"] >= 0.2


@pytest.mark.notebook
def test_ci_exit_status_is_the_verdict(metrics):
    assert metrics["ci_exit_good"] == 0, "pytest passes on the good release"
    # FAST runs CI on the good release only (the grader's time); full mode on the altered one too.
    assert metrics["ci_exit_altered"] in (-1, 1), (
        "pytest fails (exit status 1) on the altered release"
    )


@pytest.mark.notebook
def test_red_team_reference_release_keeps_its_trigger(metrics):
    # The hidden test ran the reference gate on this release and it shipped (else papermill failed).
    assert metrics["red_own_gate_ships"] is True
    assert metrics["red_asr"] >= 0.9, metrics["red_asr"]
    assert metrics["red_trigger_on_good"] <= 0.3, metrics["red_trigger_on_good"]
    assert metrics["nc_min_ratio_red"] > 0.5, "a global trigger does not look like a small stamp"


def _functions(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                node.body = body[1:]
            found[node.name] = ast.dump(node)
    return found


def test_hidden_reference_gate_is_the_solution():
    """The reference gate of the hidden red-team test is exactly the solution's functions."""
    nb = read_notebook(solution_path(LAB))
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}
    match = re.search(r"_REFERENCE_SOURCE = r'''\n(.*?)\n'''", cells["test_red_team"], re.S)
    assert match, "the red-team test cell holds the reference gate"
    reference = _functions(match.group(1))
    solution = {}
    for gid in ("anomaly_index", "check_provenance", "check_artifacts", "check_backdoor",
                "check_data", "check_robustness", "check_privacy", "check_monitoring",
                "gate"):  # fmt: skip
        solution.update(_functions(cells[gid]))
    assert set(reference) == set(solution)
    different = [name for name in solution if reference[name] != solution[name]]
    assert not different, f"the hidden reference gate differs from the solution in {different}"


def test_student_version_holds_no_reference_gate():
    """The reference gate and the hidden tests never reach the learners."""
    text = "\n".join(c.source for c in read_notebook(student_path(LAB)).cells)
    assert "_REFERENCE" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "_FRESH" not in text
    assert "def check_provenance" in text and "raise NotImplementedError()" in text
    assert "publisher_key(0).sign" not in text
