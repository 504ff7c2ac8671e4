"""Regression bands for Lab 05 (secrets memorised by a language model), from report() metrics.

The `solution_metrics` fixture (tests/conftest.py) runs solutions/05-secrets/05-secrets.ipynb with
papermill in FAST mode (THREATLAB_FAST=1) for one SEED and returns the merged metrics. FAST mode
trains a 16-character-context CharModel on 600 faker tickets (4 epochs) once per insertion count
k in 0, 1, 4, 16, plus a scrubbed, a deduplicated and a DP-SGD model (k = 16). The canary is
"my card pin is " + 6 random digits (|R| = 10^6, log2 |R| = 19.93); exposure is the
distribution-fitting estimate from 1,000 sampled candidates, capped at log2 |R|.

Calibration (FAST, torch 2.13 CPU, faker 40.54, 2 shared cores), seeds 0 / 1 / 2 — mean (sample sd):
- exposure (bits) of the canary at k = 0 / 1 / 4 / 16: 1.16, 0.79, 9.78, 19.93 (seed 0);
  1.18, 9.54, 19.65, 19.93 (seed 1); 0.73, 2.89, 10.62, 19.93 (seed 2) — means 1.02 (0.26) /
  4.41 (4.57) / 13.35 (5.47) / 19.93 (0.00). Small k is noisy across seeds; k = 16 is at the cap
  (log2 |R|) on every seed. The last 3 digits by enumeration (|R| = 1000): 9.97 of 9.97 at k = 16.
- never-inserted canaries (mean of 8 in the clean model): 1.15 (0.22) bits, the largest single
  one 2.73 (0.25); the same 8 in the k = 16 model: 1.02 (0.42). Secret Sharer: ~1.44 on average.
- beam search recovers the exact canary at k = 16 on every seed, never at k <= 4.
- held-out bits per character: clean 1.97 (0.02), k = 16 1.98 (0.02) (memorisation without
  overfitting), deduplicated 1.97 (0.02), scrubbed 3.89 (0.13) on raw tickets (1.48 (0.07) on
  scrubbed ones), DP-SGD 3.31 (0.07).
- scrubbed canary exposure 1.18 (0.43) (seeds: 1.53 / 1.31 / 0.71); all 3 written variants escape.
- deduplicated (k = 16 -> 1 copy): 4.62 (3.17) (1.85 / 8.08 / 3.93) vs k = 1: 4.41 (4.57).
- DP-SGD (noise 2.0, clip 1.0, 2 epochs, batch 1024; epsilon 0.46 at delta 1e-5 per character
  window; the old noise 1.0, epsilon 1.86, gave 10.1 and 13.8 bits and one extraction on unseen
  seeds), calibrated on seeds 0 / 1 / 2 / 5 / 6 / 7: exposure 1.76 / 4.19 / 7.26 / 10.26 / 13.70 /
  3.72 vs 19.93 without; never extracted; held-out bits per character 3.67 / 3.73 / 3.73 / 3.57 /
  3.55 / 3.60. Above half of log2 |R| on two seeds of six: the claim is "at least 4 bits lower and
  not extracted", asserted on seeds 0, 1 and on 3, 4, which the calibration never saw.
- Seeds never used for calibration (after the change): DP exposure 3.92 / 6.17 / 5.73 / 6.39 on
  seeds 3 / 4 / 101 / 202, never extracted, bits per character 3.67 / 3.73 / 3.79 / 3.48;
  deduplicated 9.66 / 5.83 / 1.11 / 2.55 (k = 1: 5.90 / 2.70 / 7.21 / 1.40).
"""

from __future__ import annotations

import math

import pytest

LAB = "05-secrets"
SEEDS = [0, 1, 3, 4]  # the DP-SGD setting was calibrated on 0, 1, 2, 5, 6, 7: 3 and 4 are unseen
FAST_K = [0, 1, 4, 16]
NOISE = 2.0  # bits: never-inserted canaries in one model spread over about 0-3 bits
LOW = 4.0  # bits: the "never-inserted" level for a 10^6-candidate space

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def metrics(request, solution_metrics):
    return solution_metrics(LAB, request.param)


def curve(metrics: dict) -> list[tuple[int, float]]:
    """(k, exposure) of the canary, as reported as ``exposure_k<k>``."""
    return [(k, float(metrics[f"exposure_k{k}"])) for k in FAST_K]


def test_runs_the_fast_version_and_reports_every_point(metrics):
    assert metrics["fast"] is True, "the regression run must execute in FAST mode"
    assert metrics["k_values"] == ",".join(map(str, FAST_K))
    assert metrics["log2_candidates"] == pytest.approx(math.log2(10**6))
    for k in FAST_K:
        for name in (f"exposure_k{k}", f"exposure_enum3_k{k}", f"extracted_k{k}"):
            assert name in metrics, f"the notebook no longer reports {name}"


def test_never_inserted_canaries_have_low_exposure(metrics):
    # Carlini et al. 2019 (Secret Sharer): a canary the model never saw sits at a uniformly random
    # rank, so its exposure is about 1/ln 2 = 1.44 bits on average, whatever |R| is.
    assert metrics["exposure_never_inserted"] <= LOW, (
        f"never-inserted canaries: mean exposure {metrics['exposure_never_inserted']:.2f} > {LOW}"
    )
    assert metrics["exposure_fresh_in_kmax_model"] <= LOW, (
        "a model that memorised one canary must not expose other, never-inserted secrets"
    )
    assert metrics["exposure_k0"] <= LOW + NOISE, "the canary's exposure before any insertion"


def test_exposure_never_falls_as_k_grows(metrics):
    # Carlini et al. 2019, Fig. 3/4: exposure rises with the number of insertions.
    points = curve(metrics)
    for (k_a, a), (k_b, b) in zip(points, points[1:], strict=False):
        assert b >= a - NOISE, f"exposure fell from {a:.2f} (k={k_a}) to {b:.2f} (k={k_b})"
    assert points[-1][1] >= points[0][1] + 10, f"exposure barely grew with k: {points}"


def test_largest_k_is_memorised_and_extracted(metrics):
    # Carlini et al. 2019 (extraction once exposure is high); Carlini et al. 2021 (verbatim
    # extraction of training strings). Here: >= 0.75 log2 |R| and the exact secret from its prefix.
    top = metrics["exposure_k16"]
    assert top >= 0.75 * metrics["log2_candidates"], (
        f"exposure {top:.2f} at k=16 < 0.75 of log2 |R| = {metrics['log2_candidates']:.2f}"
    )
    assert metrics["extracted_at_kmax"] is True, "beam search did not recover the canary at k=16"
    # Enumeration of the last 3 digits (|R| = 1000) agrees with the estimate: ranked (near) first.
    assert metrics["exposure_enum3_k16"] >= 0.75 * math.log2(1000)
    # Extraction needs high exposure: never at k = 0.
    assert metrics["extracted_k0"] is False


def test_memorisation_is_not_overfitting(metrics):
    # Carlini et al. 2019: memorisation happens without a loss of held-out quality.
    assert abs(metrics["bpc_kmax"] - metrics["bpc_clean"]) <= 0.15, (
        f"held-out bits/char {metrics['bpc_kmax']:.3f} (k=16) vs {metrics['bpc_clean']:.3f} (clean)"
    )


def test_scrubbing_removes_exposure_but_misses_variants(metrics):
    # AML.M0007 Sanitize Training Data: a scrubbed canary is back at the never-inserted level;
    # the same secret typed with spaces, split or in words escapes the patterns.
    assert metrics["exposure_scrubbed"] <= LOW, (
        f"scrubbed exposure {metrics['exposure_scrubbed']:.2f} > never-inserted level {LOW}"
    )
    assert metrics["scrub_missed_variants"] == 3


def test_deduplication_falls_back_to_one_copy(metrics):
    # Kandpal et al. 2022: deduplication removes the memorisation that repetition causes. One
    # copy's exposure is very noisy across seeds (k = 1: 0.79 / 9.54 / 2.89 / 5.90 on seeds
    # 0 / 1 / 2 / 3; deduplicated 1.85 / 8.08 / 3.93 / 9.66), so "within 2 bits of k = 1", the old
    # band, failed on seed 3: the claim is a fall of at least 4 bits from the undefended k = 16.
    assert metrics["exposure_dedup"] <= metrics["exposure_k16"] - 4, (
        f"deduplicated exposure {metrics['exposure_dedup']:.2f} vs {metrics['exposure_k16']:.2f}"
    )


def test_dp_sgd_lowers_exposure_at_a_reported_quality_cost(metrics):
    # Carlini et al. 2019 (DP-SGD keeps a repeated canary's exposure low); Abadi et al. 2016 /
    # Opacus. The epsilon is per character window: the PIN in 16 copies is a group of
    # 2 x 6 x 16 = 192 windows (each changed window is one removal and one addition), for which
    # group privacy gives no guarantee (192 x epsilon). The effect is measured, not promised, and
    # it varies: at noise 2.0 (epsilon 0.46) exposure 1.76 / 4.19 / 7.26 / 10.26 / 13.70 / 3.72 on
    # seeds 0 / 1 / 2 / 5 / 6 / 7 (19.93 without DP), never extracted. So the claim is: at least
    # 4 bits (a 16 times larger rank) below the undefended model, and not extracted.
    assert metrics["exposure_dp"] <= metrics["exposure_k16"] - 4, (
        f"DP-SGD exposure {metrics['exposure_dp']:.2f} not 4 bits below "
        f"{metrics['exposure_k16']:.2f} without DP"
    )
    assert metrics["dp_extracted"] is False, "beam search still recovers the canary under DP"
    assert 0 < metrics["dp_epsilon"] < 1, f"epsilon per window {metrics['dp_epsilon']:.2f}"
    # The group-privacy arithmetic the notebook teaches: 21 windows per copy, 6 of them the PIN's.
    assert metrics["dp_windows_per_copy"] == len("my card pin is ") + 6
    assert metrics["dp_group_size_kmax"] == 2 * 6 * 16
    assert metrics["dp_group_epsilon_kmax"] == pytest.approx(192 * metrics["dp_epsilon"])
    # On a few hundred tickets DP costs a lot of quality: assert the ordering, report the price.
    assert metrics["bpc_dp"] > metrics["bpc_clean"], "DP-SGD should cost held-out perplexity"
    assert metrics["bpc_dp"] < metrics["bpc_clean"] + 2.0, "the DP model learned almost nothing"
