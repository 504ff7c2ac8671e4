"""Release candidates for the Lab 10 capstone: folders in one documented format, good and bad.

The capstone's learners write a *release gate* — may this model ship? — and it is graded against
release candidates it has never seen. This module is the plumbing that builds those folders; it
judges nothing. The checks (signature and hashes, artifact safety, backdoor screening, the
robustness floor, the privacy audit, monitoring readiness) are the learner's, composed from the
earlier labs; the attacks used to build the bad releases come from IBM's Adversarial Robustness
Toolbox (ART). See ``course/release-format.md`` for the same description in prose.

The release-candidate format (``threatlab-release-candidate/1``)
-----------------------------------------------------------------
A release is one folder::

    config.json               the pinned architecture and where everything is (below)
    model.safetensors         the weights (safetensors: a JSON header and raw tensors, no code)
    data/shard-000.npy ...    the training data, threatlab.shards format (plain .npy, no pickle)
    audit/members.npy         audit split for the privacy check: training examples ...
    audit/non-members.npy     ... and examples from the same distribution never trained on
    monitoring/reference.npy  reference inputs for the drift test (Lab 08), shard format
    monitoring/reference-stats.json   summary statistics of that reference sample
    MODEL_CARD.md             the publisher's model card (markdown; claims, not evidence)
    training-log.jsonl        the publisher's training log, one JSON object per line
    manifest.json             {"format": "threatlab-release/1", "code_version": str,
                               "artifacts": {relative path: SHA-256 hex}, "datasets": {name: pin}}
    manifest.sig              64 bytes: the Ed25519 signature over manifest.json's exact bytes

``manifest.json`` and ``manifest.sig`` are exactly Lab 07's signed manifest (``artifacts`` lists
every other file of the folder, paths relative to it with ``/``; ``datasets`` pins the course
dataset by the SHA-256 in ``datasets/manifest.json``), so Lab 07's verifier applies unchanged.
The shards and the ``.npy`` files are read with :func:`threatlab.shards.load_shard` /
``np.load(allow_pickle=False)``. ``config.json`` holds::

    {"format": "threatlab-release-candidate/1", "name": str, "version": str,
     "architecture": "MLP", "arguments": {"in_features": 64, "num_classes": 10, "hidden": [64, 32]},
     "input_shape": [1, 8, 8], "input_range": [0.0, 1.0], "classes": [0, ..., 9],
     "dataset": "digits", "weights": "model.safetensors", "training_data": "data",
     "audit": {"members": "audit/members.npy", "non_members": "audit/non-members.npy"},
     "monitoring": {"reference": "monitoring/reference.npy",
                    "statistics": "monitoring/reference-stats.json"},
     "model_card": "MODEL_CARD.md", "training_log": "training-log.jsonl"}

A file never chooses the code that runs: the *policy* pins the architecture
(:meth:`Policy.new_model`), and a gate compares ``config.json`` with it.

The data: scikit-learn's 8x8 digits (1,797 images). :func:`evaluation_data` is a fixed held-out
set of 397 images that no release ever trains on (the gate measures accuracy and robustness
there); every release draws its training set (1,000 images), its audit non-members (200) and its
monitoring reference (200) from the other 1,400, by seed. The audit members are 200 of the
training images.

API
---
``KINDS``, ``GOOD_KINDS``, ``BAD_KINDS``
    the kinds :func:`build_release` builds: ``"good"`` and ``"altered_shard"``,
    ``"unknown_signer"``, ``"pickle_payload"``, ``"backdoor"``, ``"poisoned_data"``,
    ``"non_robust"``, ``"gradient_masked"``, ``"overfit"``, ``"unrepresentative_reference"``.
``build_release(directory, kind, *, seed, fast=True, cache=True) -> Candidate``
    build one candidate folder at ``directory`` (which must not exist or be empty). Good releases
    built with different seeds are different models on different data. Trained models are cached
    by (model, seed, fast) in memory and in ``<tempdir>/threatlab-candidates`` (keyed by this
    module's source, so a changed recipe never reuses an old model), so a notebook builds each
    one once: about 40 s of one core for all kinds of a seed in FAST mode, 60-70 s in full mode. The returned :class:`Candidate` carries the ground truth (for tests
    and graders; nothing of it is written into the folder).
``write_release(directory, model, training_data, signing_key, *, audit_members,
audit_non_members, reference, ...) -> Path``
    the writer every kind uses, and the one the red-team task uses: writes the whole folder,
    hashes every file and signs the manifest. Written into a temporary sibling and renamed, so a
    failure leaves nothing half-written.
``load_release(directory) -> Release``
    parse ``config.json``, ``manifest.json`` and the paths; read data on request. No verification.
``Policy``, ``default_policy()``
    what the course trusts (publisher public keys) and the release thresholds.
``publisher_key(index=0)``, ``public_key_hex(key)``
    the course's publisher signing keys, deterministic (a real key lives in a KMS or an HSM).
``evaluation_data()``
    the gate's held-out evaluation images and labels.
``release_data(seed) -> ReleaseData``
    the training set, audit split and monitoring reference a seed's releases ship.
``build_all(folder, *, seed, fast=True, kinds=KINDS, cache=True) -> dict[str, Candidate]``
    every kind into ``folder/<kind>``.

The bad kinds, and what makes each bad (one defect each; everything else is as for a good one).
Every model card and training log claims the same recipe (PGD adversarial training at eps 0.15,
what the publisher meant to run) and only its numbers differ: a gate has to measure.

- ``altered_shard``: after signing, one training shard's labels were changed (its hash no longer
  matches the manifest);
- ``unknown_signer``: the model card was edited and the manifest re-signed with a key the policy
  does not trust (every hash matches the manifest; the signature does not verify);
- ``pickle_payload``: a signed, listed ``checkpoint.pt`` (a ``torch.save`` zip) whose pickle calls
  ``builtins.exec`` on load. The payload is harmless (it prints a line) and nothing in ThreatLab
  unpickles it;
- ``backdoor``: the weights were adversarially trained on data where ART's BadNets pattern
  (``add_pattern_bd``, at a seed-chosen corner) relabels images to a seed-chosen target class; the
  shipped shards are the clean data, so only a model-level check can find it;
- ``poisoned_data``: the publisher's own pipeline ingested poisoned contributions, so the signed
  shards *are* the training data and hold the poison: 50 images of the seed's target class
  (never audit members) are replaced by other classes' images stamped by ART's
  ``PoisoningAttackBackdoor`` with the BadNets pattern (the backdoor's corner and target, one pixel
  from the edge) and labelled with the target. Every position keeps its label, so the per-class
  label counts are exactly the good release's; every hash and the signature verify; the model is
  adversarially trained on exactly these shards;
- ``non_robust``: standard training, far below the robustness floor under PGD;
- ``gradient_masked``: the non-robust model with its logits scaled by 10^4 (the effect of
  defensive distillation's temperature): the softmax saturates, the loss gradient is zero, and
  FGSM and PGD on the cross-entropy see a "robust" model that a transfer attack, a large-eps
  sanity check or a scale-invariant loss breaks;
- ``overfit``: the good model fine-tuned for many epochs on the audit members: its loss on them is
  far below its loss on non-members (membership leaks), while clean and robust accuracy stay;
- ``unrepresentative_reference``: a good model whose monitoring reference is the first 200 rows of the training set sorted by label (classes 0
  and 1 only), so a drift test against it would alarm on normal traffic (Lab 08's drift test of the
  reference against :func:`evaluation_data` fires: Bonferroni-corrected p at most 2.3e-9 on seeds
  0-3, 11, 29, 101, 202, 303, 404 and 1000-1002, where the good reference gives at least 0.093
  [drift_alpha 0.01]).

Measured (FAST, ART attacks on :func:`evaluation_data`, seeds 0-3 and 11, 29; the policy's
thresholds in brackets): good releases have clean accuracy 0.90-0.94 [0.80], accuracy under the
reference PGD at eps 0.15 of 0.54-0.61 [floor 0.35], best loss-threshold membership advantage
0.04-0.10 [0.18], trigger success of the backdoor's trigger <= 0.07. Backdoor: trigger success
0.98-1.00, PGD 0.51-0.59. Non-robust: PGD 0.05-0.11. Gradient-masked: FGSM and PGD 0.93-0.96,
PGD at eps 0.5 still 0.74-0.82, transfer from another model 0.04-0.12. Overfit: advantage
0.25-0.34, PGD 0.48-0.57. Poisoned data (seeds 0-3, 11, 29, 1000-1002): trigger success 1.00,
clean accuracy 0.86-0.95, PGD 0.55-0.61, advantage 0.06-0.11; a spectral-signature screen of the
shards (per class, the model's penultimate features: the mean spectral score along the class's top
singular direction divided by the mean squared projection of the course's clean evaluation images
of the class on the same direction) gives the target class 4.6-89, every class of the good and
backdoor releases at most 1.97 and the poisoned release's other classes at most 2.06
[max_spectral_ratio 3.0]; in full mode (seeds 0-3) 8.5-28 against at most 1.91, trigger success
1.00, clean accuracy 0.92-0.95, PGD 0.62-0.66. A minimal Neural Cleanse search gives the
backdoor's target an anomaly index of about 3 (the poisoned-data model's target 2.7-30, always the
largest), and no class of the good, non-robust or overfit models above about 1.3 [2.0]; Lab 10's
longer search gives good models up to 3.7 on some seeds, so it compares trigger sizes.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .checks import check_images, check_labels
from .data import dataset_entry, load_digits, sha256_file
from .device import seed_everything
from .env import quiet
from .models import MLP, SmallCNN
from .shards import load_shard, save_shard, shard_paths, write_shards
from .train import accuracy, predict, train

__all__ = [
    "BAD_KINDS",
    "CONFIG_FORMAT",
    "GOOD_KINDS",
    "EXTRA_KINDS",
    "KINDS",
    "MANIFEST_FORMAT",
    "Candidate",
    "Policy",
    "Release",
    "ReleaseData",
    "build_all",
    "build_release",
    "default_policy",
    "evaluation_data",
    "load_release",
    "public_key_hex",
    "publisher_key",
    "release_data",
    "write_release",
]

CONFIG_FORMAT = "threatlab-release-candidate/1"
MANIFEST_FORMAT = "threatlab-release/1"  # Lab 07's signed manifest
GOOD_KINDS = ("good",)
BAD_KINDS = (
    "altered_shard",
    "unknown_signer",
    "pickle_payload",
    "backdoor",
    "poisoned_data",
    "non_robust",
    "gradient_masked",
    "overfit",
    "unrepresentative_reference",
)
KINDS = GOOD_KINDS + BAD_KINDS
# Opt-in kinds, not in KINDS (build_release accepts them; build_all builds them when asked): none
# at present (unrepresentative_reference joined BAD_KINDS when Lab 10's monitoring check began to
# test the reference's representativeness).
EXTRA_KINDS: tuple[str, ...] = ()

# File layout of a release (relative paths).
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
DATA_DIR = "data"
MEMBERS_FILE = "audit/members.npy"
NON_MEMBERS_FILE = "audit/non-members.npy"
REFERENCE_FILE = "monitoring/reference.npy"
REFERENCE_STATS_FILE = "monitoring/reference-stats.json"
CARD_FILE = "MODEL_CARD.md"
LOG_FILE = "training-log.jsonl"
MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
PICKLE_FILE = "checkpoint.pt"  # only in the pickle_payload kind

# The data every release draws from, and the course's held-out evaluation set.
_DATASET = "digits"
_SPLIT_SEED = 2026
_EVAL_FRACTION = 397 / 1797
_N_TRAIN, _N_NON_MEMBERS, _N_REFERENCE, _N_MEMBERS = 1000, 200, 200, 200
_SHARD_SIZE = 250

# Training recipes (calibrated on seeds 0-3; see tests/test_candidates.py for the bands).
_TRAIN_EPS = 0.15  # PGD adversarial training budget of the robust models
_TRAIN_PGD_STEPS = 4
_BATCH = 128
_LR = 3e-3
_POISON_FRACTION = 0.15  # backdoor: share of the training set stamped and relabelled
_DATA_POISON_COUNT = 50  # poisoned_data: target-class images replaced by stamped other digits
_OVERFIT_BATCH = 50
_MASK_SCALE = 1e4  # gradient_masked: logits multiplied by this
# Cached models are keyed by this module's source: any change to a recipe invalidates them.
_CLAIMED_METHOD = f"pgd-adversarial eps={_TRAIN_EPS} steps={_TRAIN_PGD_STEPS}"
_CACHE_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def _epochs(fast: bool) -> int:
    return 40 if fast else 80


def _overfit_eps(fast: bool) -> float:
    # The full-mode base model is more robust and resists memorising: a smaller budget there keeps
    # the leak (calibrated: advantage 0.27-0.35 full, 0.25-0.34 FAST; seeds 0-5).
    return 0.12 if fast else 0.10


def _overfit_epochs(fast: bool) -> int:
    return 600 if fast else 900


# --------------------------------------------------------------------------------------------
# Keys and policy


def publisher_key(index: int = 0) -> Ed25519PrivateKey:
    """The course's publisher signing key number ``index``, derived deterministically.

    The capstone plays a publisher whose private key the course (and the red team) can use; in a
    real pipeline the key lives in a KMS or an HSM and never in code.
    """
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"index must be an int >= 0, got {index!r}.")
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"threatlab-capstone-publisher-{index}".encode()).digest()
    )


def _outsider_key(seed: int) -> Ed25519PrivateKey:
    """A key nobody trusts: the unknown_signer kind re-signs with it."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"threatlab-capstone-outsider-{seed}".encode()).digest()
    )


def public_key_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw 32-byte Ed25519 public key as 64 hex characters (what a policy pins).

    ``Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))`` turns it back into a key.
    """
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"key must be an Ed25519 key, got {type(key).__name__}.")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass
class Policy:
    """What the release gate trusts and requires. Plain data: the gate decides how to check it.

    Attributes:
        trusted_keys: raw Ed25519 public keys (64 hex characters each) whose signatures count.
        architecture, arguments: the pinned architecture, a class of ``threatlab.models`` and its
            constructor arguments; ``config.json`` must say exactly this.
        input_shape, num_classes: what the model takes and predicts.
        min_clean_accuracy: accuracy on :func:`evaluation_data` below which nothing ships.
        robustness_eps: the L-inf budget of the robustness floor.
        robustness_floor: the least accuracy on :func:`evaluation_data` under the reference attack,
            ART's ``ProjectedGradientDescent`` with ``eps=robustness_eps``, ``max_iter=pgd_steps``,
            ``eps_step=pgd_step_factor * eps / pgd_steps`` and ``num_random_init=pgd_restarts``.
        masking_tolerance: slack of the gradient-masking sanity checks (Lab 01), in accuracy.
        large_eps: a budget at which PGD must break any model (a masking sanity check).
        max_membership_advantage: the most membership advantage (TPR - FPR) a loss-threshold
            attack may reach on the release's audit split, at its best threshold.
        max_anomaly_index: trigger reverse engineering (Neural Cleanse): a class whose minimal
            trigger's anomaly index exceeds this is flagged.
        max_spectral_ratio: the data screen (spectral signatures on the release model's
            penultimate features of the shipped shards): a class whose shards vary along their top
            singular direction more than this many times as much as the course's clean
            evaluation images of that class do is flagged.
        drift_alpha: significance level of the drift test that the monitoring reference serves.
        min_reference_size: the monitoring reference must hold at least this many inputs.
    """

    trusted_keys: tuple[str, ...] = ()
    architecture: str = "MLP"
    arguments: dict = field(
        default_factory=lambda: {"in_features": 64, "num_classes": 10, "hidden": [64, 32]}
    )
    input_shape: tuple[int, ...] = (1, 8, 8)
    num_classes: int = 10
    min_clean_accuracy: float = 0.80
    robustness_eps: float = 0.15
    robustness_floor: float = 0.35
    pgd_steps: int = 20
    pgd_step_factor: float = 2.5
    pgd_restarts: int = 1
    masking_tolerance: float = 0.05
    large_eps: float = 0.5
    max_membership_advantage: float = 0.18
    max_anomaly_index: float = 2.0
    max_spectral_ratio: float = 3.0
    drift_alpha: float = 0.01
    min_reference_size: int = 100

    def public_keys(self) -> list[Ed25519PublicKey]:
        """The trusted keys as ``Ed25519PublicKey`` objects."""
        return [Ed25519PublicKey.from_public_bytes(bytes.fromhex(h)) for h in self.trusted_keys]

    def new_model(self) -> nn.Module:
        """A fresh model of the pinned architecture (random weights): the code that will run."""
        return _instantiate(self.architecture, self.arguments)


def default_policy() -> Policy:
    """The course's policy: the publisher's key 0 is trusted; the thresholds of :class:`Policy`."""
    return Policy(trusted_keys=(public_key_hex(publisher_key(0)),))


_ARCHITECTURES: dict[str, type[nn.Module]] = {"MLP": MLP, "SmallCNN": SmallCNN}


def _instantiate(architecture: str, arguments: Mapping[str, object]) -> nn.Module:
    if architecture not in _ARCHITECTURES:
        raise ValueError(
            f"unknown architecture {architecture!r}; known: {', '.join(sorted(_ARCHITECTURES))}."
        )
    args = dict(arguments)
    if "hidden" in args:
        args["hidden"] = tuple(args["hidden"])  # type: ignore[arg-type]
    return _ARCHITECTURES[architecture](**args)


def _architecture_of(model: nn.Module) -> tuple[str, dict]:
    """The (class name, constructor arguments) that rebuild ``model``'s architecture."""
    if isinstance(model, MLP):
        linears = [m for m in model.body if isinstance(m, nn.Linear)]
        return "MLP", {
            "in_features": model.in_features,
            "num_classes": model.head.out_features,
            "hidden": [m.out_features for m in linears],
        }
    if isinstance(model, SmallCNN):
        return "SmallCNN", {
            "num_classes": model.head.out_features,
            "in_channels": model.in_channels,
            "image_size": model.image_size,
        }
    raise ValueError(
        f"write_release takes a threatlab MLP or SmallCNN (the architectures a config can pin), "
        f"got {type(model).__name__}."
    )


# --------------------------------------------------------------------------------------------
# Data


def evaluation_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The course's held-out evaluation set: 397 digits (N, 1, 8, 8) in [0, 1] and labels.

    No release built here trains on these images, whatever its seed: the gate measures clean
    accuracy, robustness and trigger searches on them.
    """
    split = load_digits(test_size=_EVAL_FRACTION, seed=_SPLIT_SEED)
    return split.x_test.clone(), split.y_test.clone()


@dataclass(frozen=True)
class ReleaseData:
    """The data of one seed's releases: training set, audit non-members, monitoring reference.

    ``members`` (the audit members) are the first 200 training examples. All images are
    (N, 1, 8, 8) float32 in [0, 1], labels int64; none is in :func:`evaluation_data`.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_non: torch.Tensor
    y_non: torch.Tensor
    x_ref: torch.Tensor
    y_ref: torch.Tensor

    @property
    def members(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The audit members: (images, labels) of the first 200 training examples."""
        return self.x_train[:_N_MEMBERS], self.y_train[:_N_MEMBERS]


def release_data(seed: int) -> ReleaseData:
    """The seed's training set (1,000), audit non-members (200) and monitoring reference (200).

    Drawn by ``seed`` from the 1,400 digits that are not in :func:`evaluation_data`; the releases
    that :func:`build_release` builds for ``seed`` ship exactly these (the red team can too).
    """
    seed = _check_seed(seed)
    split = load_digits(test_size=_EVAL_FRACTION, seed=_SPLIT_SEED)
    order = torch.randperm(len(split.x_train), generator=torch.Generator().manual_seed(seed))
    x, y = split.x_train[order], split.y_train[order]
    a, b = _N_TRAIN, _N_TRAIN + _N_NON_MEMBERS
    c = b + _N_REFERENCE
    return ReleaseData(x[:a], y[:a], x[a:b], y[a:b], x[b:c], y[b:c])


# --------------------------------------------------------------------------------------------
# ART plumbing (attacks come from ART, never from the course's answers)


def _art_classifier(model: nn.Module, input_shape: Sequence[int] = (1, 8, 8), classes: int = 10):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(input_shape),
        nb_classes=classes,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def _art_pgd_perturb(eps: float, steps: int) -> Callable:
    """A ``perturb`` for threatlab.train: ART's PGD (random start) against the current model."""
    from art.attacks.evasion import ProjectedGradientDescent

    cache: dict[int, object] = {}

    def perturb(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        attack = cache.get(id(model))
        if attack is None:
            attack = ProjectedGradientDescent(
                _art_classifier(model, tuple(xb.shape[1:])),
                eps=eps,
                eps_step=2.5 * eps / steps,
                max_iter=steps,
                num_random_init=1,
                batch_size=len(xb),
                verbose=False,
            )
            cache[id(model)] = attack
        x_adv = attack.generate(xb.cpu().numpy(), y=yb.cpu().numpy())
        return torch.from_numpy(x_adv).to(xb.device)

    return perturb


def _trigger(seed: int) -> dict:
    """The backdoor of a seed: ART's add_pattern_bd at one corner, and the target class."""
    rng = np.random.default_rng([seed, 7])
    return {
        "pattern": "art.attacks.poisoning.perturbations.add_pattern_bd",
        "corner": ["bottom-right", "bottom-left", "top-right", "top-left"][int(rng.integers(4))],
        "distance": 1 + int(rng.integers(2)),
        "pixel_value": 1.0,
        "target": int(rng.integers(10)),
    }


def _stamp(x: torch.Tensor, trigger: Mapping[str, object]) -> torch.Tensor:
    """ART's pattern on a batch (N, 1, H, W) at the trigger's corner (flip, stamp, flip back)."""
    from art.attacks.poisoning.perturbations import add_pattern_bd

    flips = {"bottom-right": (), "bottom-left": (3,), "top-right": (2,), "top-left": (2, 3)}
    axes = flips[str(trigger["corner"])]
    images = x.flip(axes) if axes else x
    stamped = add_pattern_bd(
        images.numpy(),
        distance=int(trigger["distance"]),  # type: ignore[arg-type]
        pixel_value=float(trigger["pixel_value"]),  # type: ignore[arg-type]
        channels_first=True,
    )
    out = torch.from_numpy(np.ascontiguousarray(stamped)).to(x.dtype)
    return out.flip(axes) if axes else out


# --------------------------------------------------------------------------------------------
# Models (cached)

_MEMORY: dict[str, tuple[dict[str, torch.Tensor], list[dict]]] = {}


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny models train many times faster on one thread than on contended cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "threatlab-candidates"


def _cached_model(
    name: str, seed: int, fast: bool, cache: bool, make: Callable[[], tuple[nn.Module, list[dict]]]
) -> tuple[nn.Module, list[dict]]:
    """The model ``name`` for (seed, fast): from memory, the disk cache, or ``make()``."""
    key = f"v{_CACHE_VERSION}-{name}-seed{seed}-{'fast' if fast else 'full'}"
    if cache and key in _MEMORY:
        weights, log = _MEMORY[key]
    else:
        path = _cache_dir() / f"{key}.safetensors"
        log_path = path.with_suffix(".json")
        if cache and path.is_file() and log_path.is_file():
            weights, log = load_file(path), json.loads(log_path.read_text())
        else:
            model, log = make()
            weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            if cache:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                save_file(weights, tmp)
                log_tmp = log_path.with_name(f".{log_path.name}.{os.getpid()}.tmp")
                log_tmp.write_text(json.dumps(log))
                os.replace(log_tmp, log_path)
                os.replace(tmp, path)
        if cache:
            _MEMORY[key] = (weights, log)
    model = default_policy().new_model()
    model.load_state_dict(weights)
    model.eval()
    return model, copy.deepcopy(log)


def _fit(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    seed: int,
    adversarial: float | None,
    steps: int = _TRAIN_PGD_STEPS,
    batch_size: int = _BATCH,
    lr: float = _LR,
    desc: str,
    phase: str,
) -> list[dict]:
    """threatlab.train with ART's PGD when ``adversarial`` is a budget; returns log records."""
    perturb = _art_pgd_perturb(adversarial, steps) if adversarial else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        losses = train(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            perturb=perturb,
            desc=desc,
        )
    method = f"pgd-adversarial eps={adversarial} steps={steps}" if adversarial else "standard"
    return [
        {"phase": phase, "epoch": i + 1, "loss": round(loss, 6), "method": method}
        for i, loss in enumerate(losses)
    ]


def _release_model(
    seed: int, fast: bool, cache: bool, *, robust: bool
) -> tuple[nn.Module, list[dict]]:
    """The model a seed's release ships: PGD adversarial training (robust) or standard training."""
    name = "robust" if robust else "standard"

    def make():
        data = release_data(seed)
        seed_everything(seed)
        model = default_policy().new_model()
        log = _fit(
            model,
            data.x_train,
            data.y_train,
            epochs=_epochs(fast),
            seed=seed,
            adversarial=_TRAIN_EPS if robust else None,
            desc=f"{name} model",
            phase="train",
        )
        return model, log

    return _cached_model(name, seed, fast, cache, make)


def _art_backdoor(
    images: torch.Tensor, trigger: Mapping[str, object]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``images`` stamped with ``trigger`` by ART's PoisoningAttackBackdoor, and their new labels
    (the trigger's target)."""
    from art.attacks.poisoning import PoisoningAttackBackdoor

    attack = PoisoningAttackBackdoor(lambda batch: _stamp(torch.from_numpy(batch), trigger).numpy())
    target = np.full(len(images), int(trigger["target"]))
    stamped, labels = attack.poison(images.numpy(), y=target)
    return torch.from_numpy(stamped), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def _poisoned_training_set(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The backdoor's training set: ART's PoisoningAttackBackdoor on a share of non-target images."""
    data, trigger = release_data(seed), _trigger(seed)
    target = int(trigger["target"])
    candidates = (data.y_train != target).nonzero().flatten()
    generator = torch.Generator().manual_seed(seed + 1)
    chosen = candidates[torch.randperm(len(candidates), generator=generator)][
        : round(_POISON_FRACTION * len(data.x_train))
    ]
    x, y = data.x_train.clone(), data.y_train.clone()
    x[chosen], y[chosen] = _art_backdoor(data.x_train[chosen], trigger)
    return x, y


def _model_on_poison(
    name: str,
    poisoned: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    desc: str,
    seed: int,
    fast: bool,
    cache: bool,
) -> tuple[nn.Module, list[dict]]:
    """A model adversarially trained, as a good release's, on ``poisoned(seed)`` (cached as ``name``)."""

    def make():
        x, y = poisoned(seed)
        seed_everything(seed)
        model = default_policy().new_model()
        log = _fit(
            model,
            x,
            y,
            epochs=_epochs(fast),
            seed=seed,
            adversarial=_TRAIN_EPS,
            desc=desc,
            phase="train",
        )
        return model, log

    return _cached_model(name, seed, fast, cache, make)


def _backdoor_model(seed: int, fast: bool, cache: bool) -> tuple[nn.Module, list[dict]]:
    return _model_on_poison(
        "backdoor", _poisoned_training_set, "backdoored model", seed, fast, cache
    )


def _data_trigger(seed: int) -> dict:
    """poisoned_data's trigger: the seed's backdoor trigger (corner, target), one pixel from the
    edge. At two pixels the pattern overlaps the strokes of an 8x8 digit, and the few poisoned
    samples a class can hold do not teach it to an adversarially trained model (calibrated)."""
    return dict(_trigger(seed), distance=1)


def _poisoned_shards(
    seed: int, count: int = _DATA_POISON_COUNT
) -> tuple[torch.Tensor, torch.Tensor]:
    """The poisoned_data kind's training set, the one it ships: ``count`` images of the target
    class (never audit members) replaced by other classes' training images stamped with the
    trigger by ART's PoisoningAttackBackdoor and labelled with the target. Every position keeps
    its label, so the per-class label counts are exactly those of the good release."""
    data, trigger = release_data(seed), _data_trigger(seed)
    target = int(trigger["target"])
    generator = torch.Generator().manual_seed(seed + 2)
    slots = (data.y_train == target).nonzero().flatten()
    slots = slots[slots >= _N_MEMBERS]  # the audit members stay what they are
    slots = slots[torch.randperm(len(slots), generator=generator)][:count]
    sources = (data.y_train != target).nonzero().flatten()
    sources = sources[torch.randperm(len(sources), generator=generator)][: len(slots)]
    x, y = data.x_train.clone(), data.y_train.clone()
    x[slots], y[slots] = _art_backdoor(data.x_train[sources], trigger)
    return x, y


def _poisoned_data_model(seed: int, fast: bool, cache: bool) -> tuple[nn.Module, list[dict]]:
    return _model_on_poison(
        "poisoned-data", _poisoned_shards, "model on poisoned shards", seed, fast, cache
    )


def _overfit_model(seed: int, fast: bool, cache: bool) -> tuple[nn.Module, list[dict]]:
    def make():
        model, log = _release_model(seed, fast, cache, robust=True)
        data = release_data(seed)
        xm, ym = data.members
        seed_everything(seed + 1)
        log += _fit(
            model,
            xm,
            ym,
            epochs=_overfit_epochs(fast),
            seed=seed + 1,
            adversarial=_overfit_eps(fast),
            steps=3,
            batch_size=_OVERFIT_BATCH,
            lr=1e-2,
            desc="fine-tuning",
            phase="fine-tune",
        )
        return model, log

    return _cached_model("overfit", seed, fast, cache, make)


def _masked_model(seed: int, fast: bool, cache: bool) -> tuple[nn.Module, list[dict]]:
    model, log = _release_model(seed, fast, cache, robust=False)
    with torch.no_grad():
        model.head.weight.mul_(_MASK_SCALE)
        model.head.bias.mul_(_MASK_SCALE)
    return model, log


# --------------------------------------------------------------------------------------------
# Writing and reading releases


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _manifest_bytes(root: Path) -> bytes:
    """Lab 07's manifest over every file of ``root`` but the manifest and its signature."""
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and p.name not in (MANIFEST_FILE, SIGNATURE_FILE)
    )
    return _json_bytes(
        {
            "format": MANIFEST_FORMAT,
            "code_version": _code_version(),
            "artifacts": {name: sha256_file(root / name) for name in files},
            "datasets": {_DATASET: dataset_entry(_DATASET)["sha256"]},
        }
    )


def _code_version() -> str:
    from . import __version__

    return f"threatlab {__version__}, torch {torch.__version__.split('+')[0]}"


def _sign_folder(root: Path, signing_key: Ed25519PrivateKey) -> None:
    manifest = _manifest_bytes(root)
    (root / MANIFEST_FILE).write_bytes(manifest)
    (root / SIGNATURE_FILE).write_bytes(signing_key.sign(manifest))


def _check_pair(value: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (images, labels), got {type(value).__name__}.")
    x, y = value
    check_images(x, name=f"{name} images")
    check_labels(y, x.shape[0], name=f"{name} labels")
    if len(x) == 0:
        raise ValueError(f"{name} must hold at least one example.")
    return x.detach().cpu(), y.detach().cpu()


def _reference_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    flat = x.reshape(len(x), -1).double()
    predicted = predict(model, x)
    classes = int(model.head.out_features) if hasattr(model, "head") else int(y.max()) + 1
    return {
        "n": len(x),
        "features": "pixels, flattened (N, 64), in [0, 1]",
        "mean": [round(v, 6) for v in flat.mean(0).tolist()],
        "std": [round(v, 6) for v in flat.std(0).tolist()],
        "label_frequencies": torch.bincount(y, minlength=classes).div(len(y)).tolist(),
        "predicted_frequencies": torch.bincount(predicted, minlength=classes).div(len(y)).tolist(),
        "accuracy": float((predicted == y).float().mean()),
    }


def _default_card(name: str, version: str, details: Mapping[str, object]) -> str:
    lines = [
        f"# Model card: {name} {version}",
        "",
        "**Task.** Classify 8x8 grey images of handwritten digits (0-9), pixels in [0, 1].",
        "",
        "**Architecture.** `threatlab.models.MLP(in_features=64, num_classes=10, hidden=(64, 32))`, "
        "weights in `model.safetensors`.",
        "",
        "**Training data.** scikit-learn's digits (UCI optical recognition of handwritten digits), "
        "the shards in `data/`.",
        "",
        "## Publisher's evaluation (claims, not evidence)",
        "",
        "| measurement | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in details.items()]
    lines += [
        "",
        "## Intended use and limits",
        "",
        "A teaching model for ThreatLab's capstone. Not for any real decision. Inputs outside the "
        "digits distribution (see `monitoring/`) are out of scope.",
        "",
        "**Contact.** ThreatLab course publisher (release signing key 0).",
        "",
    ]
    return "\n".join(lines)


def write_release(
    directory: str | os.PathLike[str],
    model: nn.Module,
    training_data: tuple[torch.Tensor, torch.Tensor],
    signing_key: Ed25519PrivateKey,
    *,
    audit_members: tuple[torch.Tensor, torch.Tensor],
    audit_non_members: tuple[torch.Tensor, torch.Tensor],
    reference: tuple[torch.Tensor, torch.Tensor],
    name: str = "digit-reader",
    version: str = "1.0.0",
    model_card: str | None = None,
    training_log: Sequence[Mapping[str, object]] = (),
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a complete, signed release-candidate folder (the format of this module's docstring).

    Args:
        directory: the folder to create; it must not exist, or be an empty folder.
        model: a ``threatlab.models.MLP`` or ``SmallCNN``; its weights go to ``model.safetensors``
            and its architecture and constructor arguments to ``config.json``.
        training_data: (images (N, C, H, W) in [0, 1], labels (N,)): written as shards of 250.
        signing_key: the Ed25519 private key that signs ``manifest.json``.
        audit_members, audit_non_members: (images, labels) of the privacy audit split.
        reference: (images, labels) of the monitoring reference sample.
        name, version: recorded in ``config.json`` and the model card.
        model_card: the card's markdown; None writes a plain one with the clean accuracy on the
            reference sample.
        training_log: records (dicts of JSON values) written one per line.
        extra_files: more files {relative path: bytes} to ship (listed and signed like the rest).

    Returns:
        The release folder's path. Everything is written into a temporary sibling folder first and
        renamed at the end, so a failure leaves no half-written release.

    Raises:
        FileExistsError: ``directory`` exists and is not an empty folder.
        ValueError: a bad model, data pair, key or extra file path.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(
            f"{directory} already exists and is not an empty folder: refusing to overwrite it."
        )
    architecture, arguments = _architecture_of(model)
    if not isinstance(signing_key, Ed25519PrivateKey):
        raise ValueError(
            f"signing_key must be an Ed25519PrivateKey, got {type(signing_key).__name__}."
        )
    x_train, y_train = _check_pair(training_data, "training_data")
    members = _check_pair(audit_members, "audit_members")
    non_members = _check_pair(audit_non_members, "audit_non_members")
    ref_x, ref_y = _check_pair(reference, "reference")
    extras = dict(extra_files or {})
    reserved = {CONFIG_FILE, WEIGHTS_FILE, MEMBERS_FILE, NON_MEMBERS_FILE, REFERENCE_FILE}
    reserved |= {REFERENCE_STATS_FILE, CARD_FILE, LOG_FILE, MANIFEST_FILE, SIGNATURE_FILE}
    for relative, data in extras.items():
        parts = Path(relative).parts
        if (
            not isinstance(relative, str)
            or not relative
            or Path(relative).is_absolute()
            or ".." in parts
            or relative in reserved
            or (parts and parts[0] == DATA_DIR)
        ):
            raise ValueError(f"extra file path {relative!r} is not a free path inside the release.")
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"extra file {relative!r} must be bytes, got {type(data).__name__}.")
    records = [dict(r) for r in training_log]
    for record in records:
        json.dumps(record)  # fail early on values JSON cannot hold

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        classes = arguments["num_classes"]
        config = {
            "format": CONFIG_FORMAT,
            "name": name,
            "version": version,
            "architecture": architecture,
            "arguments": arguments,
            "input_shape": list(x_train.shape[1:]),
            "input_range": [0.0, 1.0],
            "classes": list(range(classes)),
            "dataset": _DATASET,
            "weights": WEIGHTS_FILE,
            "training_data": DATA_DIR,
            "audit": {"members": MEMBERS_FILE, "non_members": NON_MEMBERS_FILE},
            "monitoring": {"reference": REFERENCE_FILE, "statistics": REFERENCE_STATS_FILE},
            "model_card": CARD_FILE,
            "training_log": LOG_FILE,
        }
        (staging / CONFIG_FILE).write_bytes(_json_bytes(config))
        model_cpu = copy.deepcopy(model).cpu().eval()
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in model_cpu.state_dict().items()},
            staging / WEIGHTS_FILE,
        )
        write_shards(x_train, y_train, staging / DATA_DIR, shard_size=_SHARD_SIZE)
        save_shard(staging / MEMBERS_FILE, *members)
        save_shard(staging / NON_MEMBERS_FILE, *non_members)
        save_shard(staging / REFERENCE_FILE, ref_x, ref_y)
        stats = _reference_stats(model_cpu, ref_x, ref_y)
        (staging / REFERENCE_STATS_FILE).write_bytes(_json_bytes(stats))
        if model_card is None:
            model_card = _default_card(
                name, version, {"accuracy on the monitoring reference": f"{stats['accuracy']:.3f}"}
            )
        (staging / CARD_FILE).write_text(model_card, encoding="utf-8")
        (staging / LOG_FILE).write_text(
            "".join(json.dumps(r, sort_keys=True) + "\n" for r in records), encoding="utf-8"
        )
        for relative, data in extras.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(data))
        _sign_folder(staging, signing_key)
        if directory.exists():
            directory.rmdir()  # empty (checked above)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


@dataclass(frozen=True)
class Release:
    """A parsed release folder: what its files *say*, with nothing verified.

    ``config`` and ``manifest`` are the parsed JSON (``manifest`` is None when manifest.json is
    missing or not JSON; ``manifest_bytes`` and ``signature`` are the raw bytes, None when
    missing). ``files`` lists every file in the folder (relative paths with ``/``), listed or not.
    """

    root: Path
    config: dict
    manifest: dict | None
    manifest_bytes: bytes | None
    signature: bytes | None
    files: tuple[str, ...]

    def path(self, relative: str) -> Path:
        """The absolute path of a file named in config.json (it must stay inside the folder)."""
        if (
            not isinstance(relative, str)
            or Path(relative).is_absolute()
            or ".." in Path(relative).parts
        ):
            raise ValueError(f"{relative!r} is not a path inside the release.")
        return self.root / relative

    @property
    def weights_path(self) -> Path:
        return self.path(self.config.get("weights", WEIGHTS_FILE))

    @property
    def shard_paths(self) -> list[Path]:
        folder = self.path(self.config.get("training_data", DATA_DIR))
        return shard_paths(folder) if folder.is_dir() else []

    @property
    def audit_paths(self) -> tuple[Path, Path]:
        audit = self.config.get("audit", {})
        return (
            self.path(audit.get("members", MEMBERS_FILE)),
            self.path(audit.get("non_members", NON_MEMBERS_FILE)),
        )

    @property
    def reference_path(self) -> Path:
        return self.path(self.config.get("monitoring", {}).get("reference", REFERENCE_FILE))

    @property
    def reference_stats_path(self) -> Path:
        return self.path(self.config.get("monitoring", {}).get("statistics", REFERENCE_STATS_FILE))

    def training_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All training shards (in name order) as one (images, labels) pair."""
        paths = self.shard_paths
        if not paths:
            raise FileNotFoundError(f"{self.root} has no training shards.")
        parts = [load_shard(p) for p in paths]
        return torch.cat([x for x, _ in parts]), torch.cat([y for _, y in parts])

    def audit_split(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(member images, member labels, non-member images, non-member labels)."""
        members, non_members = self.audit_paths
        return (*load_shard(members), *load_shard(non_members))

    def reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The monitoring reference sample (images, labels)."""
        return load_shard(self.reference_path)

    def reference_stats(self) -> dict | None:
        """monitoring/reference-stats.json parsed, or None when it is missing."""
        path = self.reference_stats_path
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def model_card(self) -> str:
        path = self.path(self.config.get("model_card", CARD_FILE))
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def training_log(self) -> list[dict]:
        path = self.path(self.config.get("training_log", LOG_FILE))
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def load_release(directory: str | os.PathLike[str]) -> Release:
    """Parse a release folder's ``config.json`` and ``manifest.json`` and list its files.

    Nothing is verified (no signature, no hash, no weights loaded): that is the gate's job.

    Raises:
        FileNotFoundError: ``directory`` is not a folder, or has no config.json.
        ValueError: config.json is not a JSON object.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder.")
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{root} has no {CONFIG_FILE}: not a release candidate.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{config_path} is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object, got {type(config).__name__}.")
    manifest_path, signature_path = root / MANIFEST_FILE, root / SIGNATURE_FILE
    manifest_bytes = manifest_path.read_bytes() if manifest_path.is_file() else None
    manifest = None
    if manifest_bytes is not None:
        try:
            parsed = json.loads(manifest_bytes)
            manifest = parsed if isinstance(parsed, dict) else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            manifest = None
    files = tuple(sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()))
    return Release(
        root=root,
        config=config,
        manifest=manifest,
        manifest_bytes=manifest_bytes,
        signature=signature_path.read_bytes() if signature_path.is_file() else None,
        files=files,
    )


# --------------------------------------------------------------------------------------------
# Building candidates


@dataclass(frozen=True)
class Candidate:
    """A built release candidate and its ground truth (for tests and graders; not in the folder).

    ``verdict`` is what a correct gate says: "ship" for the good kind, "block" for every other.
    ``defect`` says in words what is wrong; ``details`` holds the facts the tests measure (for a
    backdoor, the trigger and target class; for an altered shard, the shard's name).
    """

    path: Path
    kind: str
    seed: int
    fast: bool
    verdict: str
    defect: str
    details: dict


_DEFECTS = {
    "good": "",
    "altered_shard": "a training shard was changed after the manifest was signed",
    "unknown_signer": "the manifest is signed by a key the policy does not trust",
    "pickle_payload": "a signed checkpoint.pt whose pickle runs code (builtins.exec) on load",
    "backdoor": "backdoored weights (ART's BadNets pattern); the shipped data are clean",
    "poisoned_data": "the signed shards hold poisoned samples (ART's BadNets pattern) the model "
    "learned",
    "non_robust": "standard training: far below the robustness floor",
    "gradient_masked": "saturated logits mask the gradient: robust only to gradient attacks",
    "overfit": "fine-tuned on the audit members: membership leaks",
    "unrepresentative_reference": "the monitoring reference holds only two classes",
}


class _PrintOnLoad:
    """The pickle_payload kind's harmless payload: unpickling it would call exec(print(...)).

    Pickling it (torch.save) only records the call; ThreatLab never unpickles the file.
    """

    code = "print('ThreatLab capstone: this checkpoint just ran code on your machine.')"

    def __reduce__(self):
        return (exec, (self.code,))


def _pickle_checkpoint(model: nn.Module) -> bytes:
    buffer = io.BytesIO()
    torch.save(
        {"state_dict": model.state_dict(), "optimizer": "adam", "training_args": _PrintOnLoad()},
        buffer,
    )
    return buffer.getvalue()


def _alter_shard(root: Path, seed: int) -> str:
    """Relabel 10 examples of one shard (a valid shard, other bytes); return its relative path."""
    paths = shard_paths(root / DATA_DIR)
    rng = np.random.default_rng([seed, 11])
    path = paths[int(rng.integers(len(paths)))]
    x, y = load_shard(path)
    idx = torch.from_numpy(rng.choice(len(y), size=10, replace=False))
    y = y.clone()
    y[idx] = (y[idx] + 1 + torch.from_numpy(rng.integers(0, 9, size=10))) % 10
    save_shard(path, x, y)
    return path.relative_to(root).as_posix()


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}.")
    return seed


def build_release(
    directory: str | os.PathLike[str],
    kind: str,
    *,
    seed: int,
    fast: bool = True,
    cache: bool = True,
) -> Candidate:
    """Build one release candidate of ``kind`` (one of :data:`KINDS`) at ``directory``.

    Args:
        directory: the folder to create; it must not exist, or be empty.
        kind: "good" or a bad kind (see the module docstring for what each one is).
        seed: an int >= 0; the same (kind, seed, fast) gives the same release, bit for bit in its
            data and weights. Different seeds give different data and models.
        fast: shorter training (FAST mode of the labs); the properties hold in both modes.
        cache: reuse trained models across calls (in memory and in the temp folder).

    Returns:
        The :class:`Candidate` (path, kind, expected verdict, defect, details).

    Raises:
        ValueError: an unknown kind, or a bad seed.
        FileExistsError: ``directory`` exists and is not empty (nothing is written then).
    """
    if kind not in KINDS + EXTRA_KINDS:
        raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(KINDS + EXTRA_KINDS)}.")
    seed = _check_seed(seed)
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise FileExistsError(
            f"{directory} already exists and is not an empty folder: refusing to overwrite it."
        )
    data = release_data(seed)
    details: dict = {}
    training = (data.x_train, data.y_train)
    with _one_thread():
        if kind == "backdoor":
            model, log = _backdoor_model(seed, fast, cache)
            details["trigger"] = _trigger(seed)
            details["target"] = details["trigger"]["target"]
        elif kind == "poisoned_data":
            model, log = _poisoned_data_model(seed, fast, cache)
            training = _poisoned_shards(seed)
            details["trigger"] = _data_trigger(seed)
            details["target"] = details["trigger"]["target"]
            details["poisoned"] = int((training[0] != data.x_train).flatten(1).any(1).sum())
        elif kind == "non_robust":
            model, log = _release_model(seed, fast, cache, robust=False)
        elif kind == "gradient_masked":
            model, log = _masked_model(seed, fast, cache)
            details["logit_scale"] = _MASK_SCALE
        elif kind == "overfit":
            model, log = _overfit_model(seed, fast, cache)
        else:
            model, log = _release_model(seed, fast, cache, robust=True)
        x_eval, y_eval = evaluation_data()
        # Every card and log claims the same recipe: what the publisher *meant* to run. A gate
        # has to measure; reading the claims tells one kind from another only by its numbers.
        claims = {
            "clean accuracy (held-out digits)": f"{accuracy(model, x_eval, y_eval):.3f}",
            "training examples": str(len(data.x_train)),
            "training": _CLAIMED_METHOD,
        }
    log = [dict(record, method=_CLAIMED_METHOD) for record in log if record["phase"] == "train"]
    version = f"1.{seed}.0"
    card = _default_card("digit-reader", version, claims)
    header = {
        "event": "start",
        "model": "MLP(in_features=64, num_classes=10, hidden=(64, 32))",
        "examples": len(data.x_train),
        "seed": seed,
    }
    records = [header, *log, {"event": "end", "epochs": len(log)}]
    extras = {PICKLE_FILE: _pickle_checkpoint(model)} if kind == "pickle_payload" else None
    reference = (data.x_ref, data.y_ref)
    if kind == "unrepresentative_reference":
        # A sampling bug: the "reference" is the first rows of the training table sorted by label.
        order = torch.argsort(data.y_train, stable=True)[:_N_REFERENCE]
        reference = (data.x_train[order], data.y_train[order])
        details["reference_classes"] = sorted(set(reference[1].tolist()))
    if kind == "pickle_payload":
        details["pickle_file"] = PICKLE_FILE
    path = write_release(
        directory,
        model,
        training,
        publisher_key(0),
        audit_members=data.members,
        audit_non_members=(data.x_non, data.y_non),
        reference=reference,
        version=version,
        model_card=card,
        training_log=records,
        extra_files=extras,
    )
    if kind == "altered_shard":
        details["altered"] = _alter_shard(path, seed)
    elif kind == "unknown_signer":
        card_path = path / CARD_FILE
        card_path.write_text(
            card_path.read_text(encoding="utf-8").replace(
                "ThreatLab course publisher (release signing key 0)",
                "ThreatLab course publisher (new release key, rotated)",
            ),
            encoding="utf-8",
        )
        _sign_folder(path, _outsider_key(seed))
        details["signer"] = public_key_hex(_outsider_key(seed))
    return Candidate(
        path=path,
        kind=kind,
        seed=seed,
        fast=fast,
        verdict="ship" if kind in GOOD_KINDS else "block",
        defect=_DEFECTS[kind],
        details=details,
    )


def build_all(
    folder: str | os.PathLike[str],
    *,
    seed: int,
    fast: bool = True,
    kinds: Sequence[str] = KINDS,
    cache: bool = True,
) -> dict[str, Candidate]:
    """Build every kind in ``kinds`` into ``folder/<kind>``; returns {kind: Candidate}."""
    unknown = [k for k in kinds if k not in KINDS + EXTRA_KINDS]
    if unknown:
        raise ValueError(f"unknown kinds {unknown}; known kinds: {', '.join(KINDS + EXTRA_KINDS)}.")
    folder = Path(folder)
    bar = tqdm(list(kinds), desc="release candidates", disable=quiet(), leave=False)
    return {
        kind: build_release(folder / kind, kind, seed=seed, fast=fast, cache=cache) for kind in bar
    }
