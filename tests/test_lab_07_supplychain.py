"""Regression bands for Lab 07 (model supply chain), read from the solution's report() metrics.

The `solution_metrics` fixture (tests/conftest.py) runs solutions/07-supplychain/07-supplychain.ipynb
with papermill in FAST mode for one SEED. The "published" model is Lab 02's SmallCNN on MNIST-5k
(4,000 training / 1,000 test images; 900 test images are not of the backdoor's target class 0, so
one image is 0.001 of accuracy and 0.0011 of attack success). Most properties here are exact
(a loader runs the payload or not, a scanner flags a file or not, a flipped byte is caught or not);
only the backdoor swap has a band.

Safety: this module only reads the metrics. The malicious files exist only inside the notebook's
temp scratch folder, are read as bytes by the scanner, and are loaded only by the child process
of threatlab.artifacts.demonstrate_loaders; the notebook deletes the folder at the end.

Backdoor: IBM's Adversarial Robustness Toolbox (ART 1.20), PoisoningAttackBackdoor with
add_pattern_bd (four white pixels two pixels from the bottom-right corner), not Lab 02's 3x3 square.
With Lab 02's square, 10% poisoned fine-tuning data and lr 5e-4 gave trigger success 0.942 / 0.986 /
0.992 (seeds 0 / 1 / 2); with ART's sparser pattern the same setting gave 0.678 (seed 3), so the
attacker's setting was recalibrated on seeds 3 and 4 (published model 4 FAST epochs; fine-tune one
epoch, batch 32): 20% poisoned at lr 5e-4 gave 0.867 / 0.986 (not robust); 10% at lr 1e-3 gave 0.999
/ 0.993 but a clean-accuracy gap of +0.011 on seed 4; 20% at lr 1e-3 (chosen) gave 0.997 / 0.988,
gaps +0.006 / +0.004, published-model trigger success 0.006 / 0.004. The bands below are asserted on
seeds 0 and 1, which were not used for that choice: gap -0.003 / +0.001, trigger success 0.997 /
0.982, published-model trigger success 0.004 / 0.001, published accuracy 0.956 / 0.951. The registry's accuracy gate is one-sided: at
most 2 points below the pinned model (on 1,000 test images one point is 10 images, and 20% poisoning
at lr 1e-3 cost up to 0.008 on the seeds seen so far; a 1-point gate would sit at the noise).
Unseen seeds 101 / 202 (FAST, measured after the choice): gap -0.003 / -0.008, trigger success
0.976 / 0.998, published-model trigger success 0.006 / 0.001.

Identical on every seed: the payload ran under pickle.load and torch.load(weights_only=False), not
under the default torch.load (UnpicklingError naming exec) or safetensors (SafetensorError); scanner
deny-list 8/9 malicious flagged (missed only the nested zlib-compressed pickle), allow-list 9/9, both
4/4 clean passed; every one-byte change caught (manifest, signature, config, model sample) and the
two altered files named exactly; the swap flagged by its hash on every seed.
FAST wall time (python -m threatlab.course run, before ART): 140 s / 230 s / 543 s, measured while
other jobs kept the 2-core machine at load average 5-16 (37 s on 2 idle CPUs, course/timings.csv);
the 4-epoch training of the published model is most of it.
"""

from __future__ import annotations

import pytest

LAB = "07-supplychain"
SEEDS = [0, 1]

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module", params=SEEDS, ids=[f"seed{s}" for s in SEEDS])
def metrics(request, solution_metrics):
    return solution_metrics(LAB, request.param)


def test_reports_the_headline_metrics(metrics):
    required = {
        "fast",
        "payload_ran_pickle_load",
        "payload_ran_torch_unsafe",
        "payload_ran_torch_default",
        "payload_ran_safetensors",
        "safe_loaders_raised",
        "weights_only_refused_exec",
        "kernel_marker_absent",
        "scan_n_malicious",
        "scan_n_clean",
        "scan_deny_flagged",
        "scan_allow_flagged",
        "scan_deny_clean_passed",
        "scan_allow_clean_passed",
        "scan_deny_missed_obfuscated",
        "release_verifies",
        "altered_flagged_exact",
        "byte_flips_total",
        "byte_flips_caught",
        "published_accuracy",
        "swapped_accuracy",
        "accuracy_gap",
        "published_asr",
        "swapped_asr",
        "swap_passes_accuracy_gate",
        "swap_flagged_by_hash",
    }
    missing = sorted(required - set(metrics))
    assert not missing, f"the notebook no longer reports {missing}"
    assert metrics["fast"] is True, "the bands were calibrated in FAST mode"


def test_unsafe_loaders_run_the_payload_and_safe_ones_refuse(metrics):
    # Python's pickle docs ("not secure"); PyTorch 2.6 made weights_only=True the default: the
    # marker appears under pickle.load and torch.load(weights_only=False), never under the default
    # torch.load or safetensors, which raise a clear error instead (UnpicklingError naming exec).
    assert metrics["payload_ran_pickle_load"] is True
    assert metrics["payload_ran_torch_unsafe"] is True
    assert metrics["payload_ran_torch_default"] is False
    assert metrics["payload_ran_safetensors"] is False
    assert metrics["safe_loaders_raised"] is True
    assert metrics["weights_only_refused_exec"] is True
    # The demonstration ran in a child process: the notebook's kernel never ran the payload.
    assert metrics["kernel_marker_absent"] is True


def test_scanner_flags_every_payload_and_passes_clean_state_dicts(metrics):
    # picklescan/modelscan-style opcode scanning: the allow-list (what weights_only=True enforces)
    # flags every malicious pickle of the corpus, including the obfuscated nested one; the
    # deny-list flags every payload that names a dangerous global and misses exactly the
    # obfuscated one (Trail of Bits 2021; the 2025 "nullifAI" scanner bypasses). Both pass every
    # clean state dict and checkpoint.
    n_bad, n_clean = metrics["scan_n_malicious"], metrics["scan_n_clean"]
    assert n_bad >= 8 and n_clean >= 3, "the corpus shrank"
    assert metrics["scan_allow_flagged"] == n_bad
    assert metrics["scan_deny_flagged"] == n_bad - 1
    assert metrics["scan_deny_missed_obfuscated"] is True
    assert metrics["scan_allow_clean_passed"] == n_clean
    assert metrics["scan_deny_clean_passed"] == n_clean
    assert metrics["safetensors_same_accuracy"] is True


def test_verification_names_exactly_the_altered_files_and_catches_every_byte(metrics):
    # ATLAS AML.M0014 Verify AI Artifacts: SHA-256 pins plus an Ed25519 signature over the
    # manifest's exact bytes. Every one-byte change of the manifest, the signature, the config and
    # a sample of the model's bytes is caught and named; two altered files are named exactly.
    assert metrics["release_verifies"] is True
    assert metrics["altered_flagged_exact"] is True
    assert metrics["byte_flips_total"] >= 500
    assert metrics["byte_flips_caught"] == metrics["byte_flips_total"]
    assert metrics["manifest_flips_caught_fraction"] == 1.0


def test_swapped_backdoor_passes_the_accuracy_gate_but_not_the_hash(metrics):
    # Gu, Dolan-Gavitt & Garg 2017 (BadNets, "the ML model supply chain"): a backdoored model keeps
    # the clean accuracy of the original, so accuracy checks cannot see it. Here the attacker's
    # one-epoch fine-tune with ART's BadNets pattern stays within 0.02 clean accuracy of the published
    # model either way (the gate: at most 2 points lost), sends >= 90% of triggered non-target images to class 0, and
    # only the pinned hash catches it.
    assert metrics["published_accuracy"] >= 0.93, "the published model must be accurate"
    assert abs(metrics["accuracy_gap"]) <= 0.02, (
        f"clean accuracy gap {metrics['accuracy_gap']:+.3f} outside [-0.02, +0.02]"
    )
    assert metrics["swap_passes_accuracy_gate"] is True
    assert metrics["swapped_asr"] >= 0.9, f"trigger success {metrics['swapped_asr']:.3f} < 0.9"
    assert metrics["published_asr"] <= 0.05, "the trigger alone must not fool the published model"
    assert metrics["swap_flagged_by_hash"] is True
