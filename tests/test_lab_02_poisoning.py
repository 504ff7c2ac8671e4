"""Regression bands for Lab 02 (poisoning), read from the solution notebook's report() metrics.

The `solution_metrics` fixture (tests/conftest.py) runs solutions/02-poisoning/02-poisoning.ipynb
with papermill in FAST mode (THREATLAB_FAST=1) for one SEED and returns the merged metrics. Every
model is the same SmallCNN trained on MNIST-5k (4,000 training images; 1,000 test images, 900 of
them not of the backdoor's target class, so one test image is 0.001 of accuracy and 0.0011 of
attack success). Each band mirrors a published result at laptop scale; the comment above each
assertion names the paper.

Calibration (FAST: 4 epochs, batch 32; torch 2.13 CPU, 2 cores), seeds 0 / 1 / 2, then mean (sample sd):
clean accuracy 0.956 / 0.951 / 0.947, 0.951 (0.005). Trigger on the clean model 0.003 / 0.001 / 0.012.
Attack success at 0.25% / 1% / 5% poisoned: 0.681 / 0.699 / 0.928, 0.769 (0.138); 0.963 / 0.960 / 0.989,
0.971 (0.016); 1.000 / 0.990 / 1.000, 0.997 (0.006). Largest clean-accuracy drop of any backdoored model
0.001 / 0.003 / 0.004. Spectral signatures (last conv layer standardized, top 15% of every class): caught
1.00 on every seed; on the penultimate layer 0.125 / 0.225 / 0.375, 0.242 (0.126). After removal and
retraining: attack success 0.004 / 0.001 / 0.003, clean accuracy 0.947 / 0.943 / 0.947 (0.009 / 0.008 /
0.000 below the clean model). Label flipping, random vs targeted: at 5% 0.953 (0.002) vs 0.897 (0.005),
at 10% 0.950 (0.008) vs 0.856 (0.009). Provenance: exactly the 3 altered shards and the added one,
on every seed; untouched shards verify; poison made before the manifest verifies too.
Full mode, seed 0, one run: clean 0.965; attack success 0.37 / 0.70 / 0.84 / 0.95 / 0.98 / 1.00 / 1.00
at 0.1 / 0.25 / 0.5 / 1 / 2 / 5 / 10%; spectral caught 1.00, after retraining 0.003 and clean 0.946.
"""

from __future__ import annotations

import pytest

from threatlab.report import curve as report_curve

LAB = "02-poisoning"
SEEDS = [0, 1]
BACKDOOR_NOISE = 0.05  # ASR wobble between two poisoning rates whose poisons differ by a handful

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def metrics(request, solution_metrics):
    return solution_metrics(LAB, request.param)


def by_rate(metrics: dict, prefix: str) -> list[tuple[float, float]]:
    """(rate, value) pairs of one reported curve, e.g. ``backdoor_asr_rate_0_0100``, by rate."""
    return report_curve(metrics, f"{prefix}_rate")


def test_reports_the_headline_metrics(metrics):
    required = {
        "fast",
        "clean_accuracy",
        "clean_model_trigger_asr",
        "attack_rate",
        "n_poisons",
        "attack_asr",
        "attack_clean_accuracy_drop",
        "spectral_caught",
        "spectral_penultimate_caught",
        "spectral_asr_after",
        "spectral_clean_accuracy_after",
        "spectral_removed_clean_fraction",
        "ac_caught",
        "provenance_exact",
        "provenance_clean_verifies",
        "provenance_sees_preexisting_poison",
    }
    missing = sorted(required - set(metrics))
    assert not missing, f"the notebook no longer reports {missing}"
    asr = by_rate(metrics, "backdoor_asr")
    assert len(asr) >= 4 and asr[0][0] == 0.0, (
        f"expected attack success at rate 0 (the clean model) and at least 3 poisoning rates, got {asr}"
    )
    assert [r for r, _ in asr] == [r for r, _ in by_rate(metrics, "backdoor_clean_accuracy")]
    flips = [r for r, _ in by_rate(metrics, "flip_random_accuracy")]
    assert flips and flips == [r for r, _ in by_rate(metrics, "flip_targeted_accuracy")], (
        "random and targeted label flipping must be measured at the same budgets"
    )


def test_runs_the_fast_version(metrics):
    # The bands below were calibrated in FAST mode.
    assert metrics["fast"] is True, (
        "the regression run must execute in FAST mode (THREATLAB_FAST=1)"
    )
    assert metrics["n_train"] == 4000


def test_clean_model_is_accurate(metrics):
    # Gu et al. 2017 backdoor an accurate MNIST network; ours is small but accurate too, or a
    # "clean accuracy drop" would mean little.
    assert metrics["clean_accuracy"] >= 0.93, (
        f"clean model test accuracy {metrics['clean_accuracy']:.3f} < 0.93"
    )


def test_backdoor_succeeds_at_a_small_rate_without_hurting_clean_accuracy(metrics):
    # Gu, Dolan-Gavitt & Garg 2017 (BadNets), MNIST: the backdoored network keeps the baseline's
    # clean accuracy and sends almost every triggered image to the target. Here: at some poisoning
    # rate of at most 10%, attack success >= 0.90 with a clean-accuracy drop <= 0.03 against the
    # unpoisoned model; and no backdoored model at <= 10% loses more than 0.03 clean accuracy.
    asr = by_rate(metrics, "backdoor_asr")
    clean = dict(by_rate(metrics, "backdoor_clean_accuracy"))
    drops = {rate: metrics["clean_accuracy"] - clean[rate] for rate, _ in asr}
    working = [rate for rate, a in asr if 0 < rate <= 0.10 and a >= 0.90 and drops[rate] <= 0.03]
    assert working, f"no poisoning rate <= 10% gave attack success >= 0.90: {asr}"
    too_costly = {rate: round(d, 3) for rate, d in drops.items() if 0 < rate <= 0.10 and d > 0.03}
    assert not too_costly, f"the backdoor cost more than 0.03 clean accuracy at rates {too_costly}"


def test_the_defended_attack_is_a_working_backdoor(metrics):
    # The attack the defenses face (Sections 3-4) is 1% of the training set, 40 images (BadNets'
    # point that a small poisoned share suffices); it must work, or catching it proves nothing.
    rate = metrics["attack_rate"]
    assert 0 < rate <= 0.10, f"the attack the defenses face poisons {rate:.1%} of the data"
    assert metrics["n_poisons"] == round(rate * metrics["n_train"])
    assert metrics["attack_asr"] >= 0.85, (
        f"backdoor attack success {metrics['attack_asr']:.3f} < 0.85 at poisoning rate {rate}"
    )
    assert metrics["attack_clean_accuracy_drop"] <= 0.03


def test_trigger_alone_does_not_fool_the_clean_model(metrics):
    # Gu et al. 2017: the behaviour is learned from the poison, not a property of the patch. On the
    # unpoisoned model the trigger sends at most 15% of non-target images to the target class.
    assert metrics["clean_model_trigger_asr"] <= 0.15, (
        f"the trigger alone gives attack success {metrics['clean_model_trigger_asr']:.3f} on the clean model"
    )
    asr = dict(by_rate(metrics, "backdoor_asr"))
    assert asr[0.0] == pytest.approx(metrics["clean_model_trigger_asr"])


def test_attack_success_rises_with_the_poisoning_rate(metrics):
    # Gu et al. 2017 and the backdoor literature since: more poisoned examples, a stronger backdoor.
    # Monotone within noise, and the curve must actually rise from the clean model to the top rate.
    points = by_rate(metrics, "backdoor_asr")
    for (rate_a, asr_a), (rate_b, asr_b) in zip(points, points[1:], strict=False):
        assert asr_b >= asr_a - BACKDOOR_NOISE, (
            f"attack success fell from {asr_a:.3f} at rate {rate_a} to {asr_b:.3f} at rate {rate_b}"
        )
    assert points[-1][1] >= points[0][1] + 0.7, (
        f"attack success barely rose with the rate: {points}"
    )


def test_spectral_signatures_catch_the_poisons(metrics):
    # Tran, Li & Madry 2018: per-class SVD of the centred learned representations separates the
    # poisons; removing the top 1.5 eps of scores in every class catches (nearly) all of them.
    # Band: >= 80%, on the representation the lab settles on (last conv layer, standardized).
    assert metrics["spectral_caught"] >= 0.80, (
        f"spectral signatures caught only {metrics['spectral_caught']:.0%} of the poisons"
    )
    # Tran et al.'s condition: the poisons' mean shift must dominate the clean class's own
    # spread. On this small CNN's 128-unit penultimate layer it does not, and the lab says so;
    # if that ever changes, the lab's text must change with it.
    assert metrics["spectral_penultimate_caught"] <= 0.60, (
        f"the penultimate layer now catches {metrics['spectral_penultimate_caught']:.0%}: "
        "update Section 3's 'first attempt' text"
    )


def test_retraining_after_removal_removes_the_backdoor(metrics):
    # Tran, Li & Madry 2018: retraining on the filtered data removes the backdoor; the cost is
    # the clean data removed with the poisons. Bands: ASR <= 0.20, clean accuracy within 0.03 of
    # the clean model.
    assert metrics["spectral_asr_after"] <= 0.20, (
        f"after removal and retraining the backdoor still succeeds {metrics['spectral_asr_after']:.3f}"
    )
    drift = abs(metrics["spectral_clean_accuracy_after"] - metrics["clean_accuracy"])
    assert drift <= 0.03, (
        f"clean accuracy after retraining {metrics['spectral_clean_accuracy_after']:.3f} vs the "
        f"clean model {metrics['clean_accuracy']:.3f} (differ by more than 0.03)"
    )
    # The removal budget is 1.5 eps of every class: it costs clean data, and the test says so.
    assert 0.05 <= metrics["spectral_removed_clean_fraction"] <= metrics["spectral_remove_fraction"]


def test_targeted_flipping_hurts_more_than_random_flipping(metrics):
    # Biggio, Nelson & Laskov 2012; Steinhardt, Koh & Liang 2017: where the budget is spent matters
    # more than its size. At every budget, flipping one class into another costs more accuracy than
    # flipping the same number of random labels; at the largest budget (10%: every 4 becomes a 9)
    # by at least 0.05.
    random = by_rate(metrics, "flip_random_accuracy")
    targeted = dict(by_rate(metrics, "flip_targeted_accuracy"))
    for rate, acc_random in random:
        assert targeted[rate] < acc_random, (
            f"rate {rate}: targeted flips left accuracy {targeted[rate]:.3f}, random {acc_random:.3f}"
        )
    top_rate, top_random = random[-1]
    assert top_rate >= 0.10 and targeted[top_rate] <= top_random - 0.05, (
        f"at rate {top_rate}: targeted {targeted[top_rate]:.3f} vs random {top_random:.3f}"
    )
    # Random label noise is absorbed by the network (it barely hurts).
    assert metrics["clean_accuracy"] - top_random <= 0.03


def test_provenance_flags_exactly_the_altered_shards(metrics):
    # MITRE ATLAS AML.M0025 Maintain AI Dataset Provenance; Carlini et al. 2024 (hashes defeat
    # split-view poisoning): a per-shard SHA-256 manifest flags exactly the shards changed after it
    # was made, and nothing on untouched data; it cannot see poison that predates the manifest.
    assert metrics["provenance_clean_verifies"] is True, "untouched shards must verify"
    assert metrics["provenance_exact"] is True, (
        f"flagged {metrics['provenance_altered_flagged']} altered shards, "
        f"{metrics['provenance_altered_true']} were altered"
    )
    assert metrics["provenance_altered_flagged"] == metrics["provenance_altered_true"] == 3
    assert metrics["provenance_added_flagged"] == 1
    assert metrics["provenance_sees_preexisting_poison"] is False
