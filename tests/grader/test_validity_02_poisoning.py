"""Grading validity of Lab 02 (poisoning), written from the learner's contracts (see validity.py).

The contracts (labs/02-poisoning): ``flip_labels`` changes exactly round(rate * N) labels (random:
to one of the other classes; targeted: source -> target), seeded; ``add_trigger`` stamps a square
of ``value`` at [H - margin - size : H - margin] x [W - margin - size : W - margin]; ``poison_dataset``
stamps and relabels round(rate * N) non-target examples and returns their sorted indices;
``attack_success_rate`` is a Python float over the triggered NON-target images; ``spectral_scores``
squares the projection of each class's centred features on its top right singular vector;
``flag_outliers`` flags floor(fraction * n_c) per class; ``build_manifest`` and ``verify_manifest``
hash the files directly inside a folder. Each raises ValueError on the bad input it lists.

Five submissions: one alternative-correct for all eight functions, three that combine mistakes in
the security behaviour, and one that only skips input validation, which must lose the small
validation cells and keep the behaviour points.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "02-poisoning"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

FLIP_LABELS = answer(
    '''
    def flip_labels(y, rate, seed, *, num_classes=10, source=None, target=None):
        """numpy's Generator for the choices, one offset per flipped label."""
        if not isinstance(y, torch.Tensor) or y.dim() != 1:
            raise ValueError("y must be a 1-D tensor")
        if type(num_classes) is not int or num_classes < 2:
            raise ValueError("num_classes must be an int >= 2")
        check_labels(y, y.shape[0], num_classes)
        rate = check_fraction(rate, "rate")
        if (source is None) ^ (target is None):
            raise ValueError("source and target go together")
        n = round(rate * len(y))
        rng = np.random.default_rng(seed)
        out = y.clone()
        if source is None:
            chosen = rng.choice(len(y), size=n, replace=False)
            offsets = rng.integers(1, num_classes, size=n)
            for i, off in zip(chosen.tolist(), offsets.tolist()):
                out[i] = (int(y[i]) + off) % num_classes
            return out
        for value in (source, target):
            if type(value) is not int or not 0 <= value < num_classes:
                raise ValueError("source and target must be classes")
        if source == target:
            raise ValueError("source == target")
        pool = torch.where(y == source)[0].cpu().numpy()
        if n > len(pool):
            raise ValueError("budget larger than the source class")
        chosen = rng.choice(pool, size=n, replace=False)
        out[torch.as_tensor(chosen, dtype=torch.long, device=y.device)] = target
        return out
    '''
)

ADD_TRIGGER = answer(
    '''
    def add_trigger(x, size=3, value=1.0, margin=1):
        """A mask built with arange, blended in with torch.where."""
        check_images(x)
        if type(size) is not int or size < 1:
            raise ValueError("size must be an int >= 1")
        if type(margin) is not int or margin < 0:
            raise ValueError("margin must be an int >= 0")
        value = check_fraction(value, "value")
        h, w = x.shape[-2], x.shape[-1]
        if size + margin > h or size + margin > w:
            raise ValueError("the square does not fit")
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        in_rows = (rows >= h - margin - size) & (rows < h - margin)
        in_cols = (cols >= w - margin - size) & (cols < w - margin)
        mask = in_rows[:, None] & in_cols[None, :]
        return torch.where(mask, torch.full_like(x, value), x)
    '''
)

POISON_DATASET = answer(
    '''
    def poison_dataset(x, y, rate, target_label, seed=0, trigger=None):
        """Shuffles the non-target indices with randperm, keeps the first n, sorts them."""
        check_images(x)
        check_labels(y, len(x))
        rate = check_fraction(rate, "rate")
        if type(target_label) is not int or target_label < 0:
            raise ValueError("target_label must be an int >= 0")
        stamp = trigger or add_trigger
        eligible = torch.nonzero(y.cpu() != target_label).squeeze(1)
        n = round(rate * len(x))
        if n > eligible.numel():
            raise ValueError("not enough non-target examples")
        order = torch.randperm(eligible.numel(), generator=torch.Generator().manual_seed(seed))
        idx = torch.sort(eligible[order[:n]]).values
        xp, yp = x.clone(), y.clone()
        for i in idx.tolist():
            xp[i : i + 1] = stamp(x[i : i + 1])
            yp[i] = target_label
        return xp, yp, idx
    '''
)

ATTACK_SUCCESS_RATE = answer(
    '''
    def attack_success_rate(model, x, y, target_label, trigger=None):
        """Counts in float64 and divides exactly."""
        check_images(x)
        check_labels(y, len(x))
        stamp = add_trigger if trigger is None else trigger
        others = (y != target_label).to(x.device)
        n = int(others.sum())
        if n == 0:
            raise ValueError("no non-target images")
        hits = int((predict(model, stamp(x[others])) == target_label).sum())
        return hits / n
    '''
)

SPECTRAL_SCORES = answer(
    '''
    def spectral_scores(features, labels):
        """The top eigenvector of each class's covariance (= top right singular vector)."""
        if not torch.is_tensor(features) or features.dim() != 2 or not features.dtype.is_floating_point:
            raise ValueError("features must be a 2-D float tensor")
        check_labels(labels, features.shape[0], name="labels")
        labels = labels.to(features.device)
        scores = torch.zeros(features.shape[0], dtype=features.dtype, device=features.device)
        for c in torch.unique(labels).tolist():
            rows = torch.nonzero(labels == c).squeeze(1)
            if rows.numel() < 2:
                continue
            centred = features[rows] - features[rows].mean(dim=0, keepdim=True)
            cov = (centred.T @ centred).double()
            _, vectors = torch.linalg.eigh(cov)
            top = vectors[:, -1].to(features.dtype)
            scores[rows] = (centred @ top).pow(2)
        return scores
    '''
)

FLAG_OUTLIERS = answer(
    '''
    def flag_outliers(scores, labels, fraction):
        """Sorts each class by score with argsort and keeps the head."""
        if not torch.is_tensor(scores) or scores.dim() != 1 or not scores.dtype.is_floating_point:
            raise ValueError("scores must be a 1-D float tensor")
        check_labels(labels, scores.shape[0], name="labels")
        fraction = check_fraction(fraction, "fraction")
        scores, labels = scores.cpu(), labels.cpu()
        keep = []
        for c in torch.unique(labels).tolist():
            members = torch.nonzero(labels == c).squeeze(1)
            k = math.floor(fraction * members.numel())
            ranked = members[torch.argsort(scores[members], descending=True)]
            keep.extend(ranked[:k].tolist())
        return torch.tensor(sorted(keep), dtype=torch.long)
    '''
)

BUILD_MANIFEST = answer(
    '''
    def build_manifest(folder):
        """os.scandir and a streamed hash."""
        import os

        if not os.path.isdir(folder):
            raise ValueError(f"{folder} is not a folder")
        manifest = {}
        for entry in os.scandir(folder):
            if entry.is_file():
                digest = hashlib.sha256()
                with open(entry.path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 16), b""):
                        digest.update(block)
                manifest[entry.name] = digest.hexdigest()
        return manifest
    '''
)

VERIFY_MANIFEST = answer(
    '''
    def verify_manifest(folder, manifest):
        """Set algebra on the two manifests."""
        if not isinstance(manifest, dict):
            raise ValueError("manifest must be a dict")
        for name, digest in manifest.items():
            if not isinstance(name, str) or not isinstance(digest, str):
                raise ValueError("manifest keys and values must be strings")
        now = build_manifest(folder)
        both = set(now) & set(manifest)
        return {
            "altered": sorted(name for name in both if now[name] != manifest[name]),
            "missing": sorted(set(manifest) - set(now)),
            "added": sorted(set(now) - set(manifest)),
        }
    '''
)

NO_VALIDATION = Variant(
    "behaviour-right-no-validation",
    {
        "flip_labels": answer(
            """
            def flip_labels(y, rate, seed, *, num_classes=10, source=None, target=None):
                g = torch.Generator().manual_seed(seed)
                n = round(rate * len(y))
                out = y.clone()
                if source is None:
                    idx = torch.randperm(len(y), generator=g)[:n].to(y.device)
                    shift = torch.randint(1, num_classes, (n,), generator=g).to(y.device)
                    out[idx] = ((y[idx] + shift) % num_classes).to(y.dtype)
                    return out
                pool = (y == source).nonzero().flatten()
                out[pool[torch.randperm(len(pool), generator=g)[:n].to(y.device)]] = target
                return out
            """
        ),
        "poison_dataset": answer(
            """
            def poison_dataset(x, y, rate, target_label, seed=0, trigger=None):
                trigger = trigger or add_trigger
                pool = (y != target_label).nonzero().flatten().cpu()
                n = round(rate * len(x))
                g = torch.Generator().manual_seed(seed)
                idx = pool[torch.randperm(len(pool), generator=g)[:n]].sort().values
                xp, yp = x.clone(), y.clone()
                if n:
                    xp[idx] = trigger(x[idx])
                    yp[idx] = target_label
                return xp, yp, idx
            """
        ),
    },
    loses=("test_flip_labels_input", "test_poison_dataset_input"),
    why="correct behaviour, but no ValueError for bad input",
)

VARIANTS = [
    Variant(
        "alternative-correct",
        {
            "flip_labels": FLIP_LABELS,
            "add_trigger": ADD_TRIGGER,
            "poison_dataset": POISON_DATASET,
            "attack_success_rate": ATTACK_SUCCESS_RATE,
            "spectral_scores": SPECTRAL_SCORES,
            "flag_outliers": FLAG_OUTLIERS,
            "build_manifest": BUILD_MANIFEST,
            "verify_manifest": VERIFY_MANIFEST,
        },
        why=(
            "numpy choices, a mask and torch.where, a per-example loop, an exact fraction, "
            "eigh of the covariance, argsort, os.scandir with a streamed hash, set algebra"
        ),
    ),
    Variant(
        "same-label-uncentred-recursive",
        {
            "flip_labels": answer(
                """
                def flip_labels(y, rate, seed, *, num_classes=10, source=None, target=None):
                    check_labels(y, len(y), num_classes)
                    rate = check_fraction(rate, "rate")
                    if (source is None) != (target is None):
                        raise ValueError("give both source and target or neither")
                    g = torch.Generator().manual_seed(seed)
                    n = round(rate * len(y))
                    out = y.clone()
                    if source is None:
                        idx = torch.randperm(len(y), generator=g)[:n].to(y.device)
                        new = torch.randint(0, num_classes, (n,), generator=g).to(y.device)
                        out[idx] = new.to(y.dtype)  # may draw the label it already had
                        return out
                    if source == target or not 0 <= target < num_classes:
                        raise ValueError("bad source/target")
                    pool = (y == source).nonzero().flatten()
                    if n > len(pool):
                        raise ValueError("budget too large")
                    out[pool[torch.randperm(len(pool), generator=g)[:n].to(y.device)]] = target
                    return out
                """
            ),
            "spectral_scores": answer(
                """
                def spectral_scores(features, labels):
                    if features.ndim != 2 or not features.is_floating_point():
                        raise ValueError("features must be 2-D floats")
                    check_labels(labels, len(features), name="labels")
                    scores = torch.zeros(len(features), dtype=features.dtype)
                    for c in labels.unique():
                        m = labels == c
                        if int(m.sum()) < 2:
                            continue
                        v = torch.linalg.svd(features[m], full_matrices=False).Vh[0]
                        scores[m] = (features[m] @ v) ** 2  # not centred on the class mean
                    return scores
                """
            ),
            "build_manifest": answer(
                """
                def build_manifest(folder):
                    folder = Path(folder)
                    if not folder.is_dir():
                        raise ValueError("not a folder")
                    return {
                        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(folder.rglob("*"))
                        if p.is_file()
                    }
                """
            ),
        },
        loses=("test_flip_labels", "test_spectral_scores", "test_build_manifest"),
        why=(
            "random flips may redraw the old label; spectral scores without centring the class; "
            "the manifest also hashes files in subfolders"
        ),
    ),
    Variant(
        "wrong-pixels-global-top-size-only",
        {
            "add_trigger": answer(
                """
                def add_trigger(x, size=3, value=1.0, margin=1):
                    check_images(x)
                    size = check_positive_int(size, "size")
                    value = check_fraction(value, "value")
                    if margin < 0 or size + margin > min(x.shape[-2:]):
                        raise ValueError("the square does not fit")
                    out = x.clone()
                    out[..., margin : margin + size, margin : margin + size] = value  # top-left
                    return out
                """
            ),
            "flag_outliers": answer(
                """
                def flag_outliers(scores, labels, fraction):
                    if scores.ndim != 1 or not scores.is_floating_point():
                        raise ValueError("scores must be 1-D floats")
                    check_labels(labels, len(scores), name="labels")
                    fraction = check_fraction(fraction, "fraction")
                    k = int(fraction * len(scores))  # over the whole set, not per class
                    return scores.cpu().topk(k).indices.sort().values
                """
            ),
            "verify_manifest": answer(
                """
                def verify_manifest(folder, manifest):
                    if not isinstance(manifest, dict):
                        raise ValueError("manifest must be a dict")
                    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.items()):
                        raise ValueError("strings only")
                    current = build_manifest(folder)
                    verdict = {"altered": [], "missing": [], "added": []}
                    for name in sorted(manifest):  # only the manifest's files are looked at
                        if name not in current:
                            verdict["missing"].append(name)
                        elif current[name] != manifest[name]:
                            verdict["altered"].append(name)
                    return verdict
                """
            ),
        },
        loses=("test_add_trigger", "test_flag_outliers", "test_verify_manifest"),
        why=(
            "the trigger is stamped on the wrong (top-left) pixels; outliers flagged over the "
            "whole set instead of per class; verify_manifest never reports added files"
        ),
    ),
    Variant(
        "target-class-poisoned-and-counted",
        {
            "poison_dataset": answer(
                """
                def poison_dataset(x, y, rate, target_label, seed=0, trigger=None):
                    check_images(x)
                    check_labels(y, len(x))
                    rate = check_fraction(rate, "rate")
                    if not isinstance(target_label, int) or target_label < 0:
                        raise ValueError("target_label must be an int >= 0")
                    trigger = trigger or add_trigger
                    n = round(rate * len(x))
                    g = torch.Generator().manual_seed(seed)
                    idx = torch.randperm(len(x), generator=g)[:n].sort().values  # any class
                    xp, yp = x.clone(), y.clone()
                    if n:
                        xp[idx] = trigger(x[idx])
                        yp[idx] = target_label
                    return xp, yp, idx
                """
            ),
            "attack_success_rate": answer(
                """
                def attack_success_rate(model, x, y, target_label, trigger=None):
                    check_images(x)
                    check_labels(y, len(x))
                    if not bool((y != target_label).any()):
                        raise ValueError("no non-target images")
                    trigger = trigger or add_trigger
                    # counted over ALL test images, target class included
                    return (predict(model, trigger(x)) == target_label).float().mean().item()
                """
            ),
        },
        loses=("test_poison_dataset", "test_attack_success_rate"),
        why=(
            "poisons examples of any class, target class included; attack success counted over "
            "the target-class images too"
        ),
    ),
    NO_VALIDATION,
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)


def test_missing_validation_keeps_the_behaviour_points(results):
    """Points follow the security behaviour: skipping validation costs only the validation cells."""
    cells = {c["grade_id"]: c for c in results[NO_VALIDATION.name].get("cells", [])}
    for gid in ("test_flip_labels", "test_poison_dataset"):
        assert cells[gid]["score"] == cells[gid]["max_score"], (
            f"{gid}: correct behaviour without input validation scored "
            f"{cells[gid]['score']}/{cells[gid]['max_score']}"
        )
