"""Grading validity of Lab 10 (capstone: the release gate), graded from the student's contracts.

Eleven answer cells: eight checks' functions (``check_provenance``, ``check_artifacts``,
``anomaly_index``, ``check_backdoor``, ``check_data``, ``check_robustness``, ``check_privacy``,
``check_monitoring``), ``gate``, ``release_report`` and the red-team cell (``red_team``:
``RED_TARGET``, ``red_trigger``, ``build_red_release``). The gate's points are per verdict group on
fresh candidates (seed SEED + 1000 and a second good release with SEED + 1001): every group's cell
also requires the good releases to ship, so a gate that blocks everything loses all five gate cells
and one that ships everything loses the four "blocks" cells.

Five submissions (each one FAST run of the notebook, with fresh candidates built in the hidden
tests): one answers every cell with alternative correct implementations written from the
docstrings; two are the degenerate gates (block everything, ship everything); two combine plausible
mistakes whose test cells do not depend on each other's functions (a mistaken check only changes a
gate verdict where it says so below).
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "10-capstone"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

# Alternatives, written from the student version's docstrings ---------------------------------

PROVENANCE = answer(
    '''
    def check_provenance(release, policy):
        """Any trusted key may have signed; then compare every listed hash and list the strays."""
        tag = ("AML.M0014", "AML.T0010")
        state = {"signature_valid": False, "files_checked": 0}
        raw, sig = release.manifest_bytes, release.signature
        if raw is None or sig is None:
            return [Finding("provenance", "block", "the release is not signed", tag)], state
        trusted = False
        for public in policy.public_keys():
            try:
                public.verify(sig, raw)
            except InvalidSignature:
                continue
            trusted = True
        if not trusted:
            return [Finding("provenance", "block", "signed by no trusted key", tag)], state
        state["signature_valid"] = True
        try:
            listed = json.loads(raw.decode("utf-8"))["artifacts"]
            pins = json.loads(raw.decode("utf-8")).get("datasets") or {}
            assert isinstance(listed, dict) and isinstance(pins, dict)
        except Exception as exc:
            return [Finding("provenance", "block", f"bad manifest ({exc})", tag)], state
        out = []
        for rel in sorted(listed):
            state["files_checked"] += 1
            where = release.root.joinpath(*rel.split("/"))
            if ".." in rel.split("/") or rel.startswith("/"):
                out.append(Finding("provenance", "block", f"{rel}: escapes the folder", tag))
            elif not where.exists():
                out.append(Finding("provenance", "block", f"{rel}: missing", tag))
            elif hashlib.sha256(where.read_bytes()).hexdigest() != listed[rel]:
                out.append(Finding("provenance", "block", f"{rel}: hash mismatch", tag))
        strays = set(release.files) - set(listed) - {"manifest.json", "manifest.sig"}
        out += [Finding("provenance", "block", f"{s}: never signed", tag) for s in sorted(strays)]
        for dataset, digest in pins.items():
            try:
                expected = dataset_entry(dataset)["sha256"]
            except KeyError:
                expected = ""
            if digest != expected:
                out.append(Finding("provenance", "block", f"dataset {dataset} pin differs", tag))
        return out, state
    '''
)

ARTIFACTS = answer(
    '''
    def check_artifacts(release, policy):
        """One parser per allowed suffix; anything a parser refuses (or no parser) is unsafe."""
        def parse_json(p):
            json.loads(p.read_bytes())

        def parse_text(p):
            p.read_text(encoding="utf-8")

        def parse_npy(p):
            np.load(str(p), allow_pickle=False)

        def parse_st(p):
            load_file(str(p))

        parsers = {".json": parse_json, ".md": parse_text, ".jsonl": parse_text,
                   ".npy": parse_npy, ".safetensors": parse_st}
        bad = []
        for rel in release.files:
            path = release.root / rel
            if rel == "manifest.sig":
                if len(path.read_bytes()) != 64:
                    bad.append(rel)
                continue
            parser = parsers.get(path.suffix)
            try:
                if parser is None:
                    raise ValueError("format not allowed")
                parser(path)
            except Exception:
                bad.append(rel)
        out = [Finding("artifacts", "block", f"unsafe file {rel}", ("AML.T0011.000",)) for rel in bad]
        if release.config.get("architecture") != policy.architecture or release.config.get(
            "arguments"
        ) != policy.arguments:
            out.append(Finding("artifacts", "block", "architecture differs", ("AML.T0018.001",)))
        net = policy.new_model()
        try:
            weights = load_file(str(release.weights_path))
            mine = net.state_dict()
            same = weights.keys() == mine.keys() and all(
                (weights[k].shape, weights[k].dtype) == (mine[k].shape, mine[k].dtype) for k in mine
            )
        except Exception:
            same = False
        if not same:
            out.append(Finding("artifacts", "block", "weights do not fit", ("AML.T0011.000",)))
        else:
            net.load_state_dict(weights)
        net.eval()
        return (net if not out else None), out, {"files": len(release.files), "unsafe_files": sorted(bad)}
    '''
)

ANOMALY_INDEX = answer(
    '''
    def anomaly_index(norms):
        """Via torch.quantile (0.5 interpolates like numpy.median)."""
        try:
            t = torch.as_tensor(
                norms.tolist() if hasattr(norms, "tolist") else list(norms), dtype=torch.float64
            )
        except Exception as exc:
            raise ValueError(f"bad norms: {exc}") from None
        if t.dim() != 1 or t.numel() < 3 or not torch.isfinite(t).all() or (t < 0).any():
            raise ValueError("need >= 3 finite, non-negative norms in a 1-D sequence")
        centre = torch.quantile(t, 0.5)
        spread = 1.4826 * torch.quantile((t - centre).abs(), 0.5)
        result = []
        for v in t:
            if v >= centre:
                result.append(0.0)
            else:
                result.append(float("inf") if spread == 0 else float((centre - v) / spread))
        return result
    '''
)

BACKDOOR = answer(
    '''
    def check_backdoor(model, x, policy, *, steps=300, max_ratio=0.5):
        """Collect (norm, success) first, then decide label by label."""
        full = float(x.shape[-1] * x.shape[-2])
        found, rates, _, _ = trigger_search(model, x, steps=steps)
        sizes = [float(found[c]) if rates[c] >= 0.9 else full for c in range(policy.num_classes)]
        scores = anomaly_index(sizes)
        mid = float(np.median(sizes))
        out = []
        for label in range(policy.num_classes):
            ev = {"label": label, "norm": sizes[label], "anomaly_index": scores[label]}
            if sizes[label] <= max_ratio * mid:
                out.append(Finding("backdoor", "block",
                                   f"label {label} trigger {sizes[label]:.2f} vs median {mid:.2f}, "
                                   f"index {scores[label]:.2f}", ("AML.T0018",), ev))
            elif scores[label] > policy.max_anomaly_index:
                out.append(Finding("backdoor", "warn", f"label {label} index {scores[label]:.2f}",
                                   ("AML.T0018",), ev))
        smallest = min(range(len(sizes)), key=sizes.__getitem__)
        return out, {"norms": sizes, "anomaly_index": scores, "max_anomaly_index": max(scores),
                     "suspect_label": smallest, "min_ratio": sizes[smallest] / mid}
    '''
)

ROBUSTNESS = answer(
    '''
    def check_robustness(model, x, y, policy, *, strong_factor=2, strong_restarts=3):
        """Measure everything first, then a table of (condition, message)."""
        e = policy.robustness_eps
        common = dict(steps=policy.pgd_steps, restarts=policy.pgd_restarts,
                      step_factor=policy.pgd_step_factor)
        model.eval()
        with torch.no_grad():
            clean = float((predict(model, x) == y).double().mean())
        a = {
            "clean": clean,
            "fgsm": art_accuracy(model, x, y, "fgsm", eps=e),
            "pgd": art_accuracy(model, x, y, "pgd", eps=e, **common),
            "pgd_strong": art_accuracy(model, x, y, "pgd", eps=e,
                                       steps=strong_factor * policy.pgd_steps,
                                       restarts=strong_restarts, step_factor=policy.pgd_step_factor),
            "pgd_large_eps": art_accuracy(model, x, y, "pgd", eps=policy.large_eps, **common),
        }
        t = policy.masking_tolerance
        rules = [
            (a["clean"] < policy.min_clean_accuracy, f"clean accuracy {a['clean']:.3f} too low"),
            (a["pgd"] < policy.robustness_floor, f"PGD accuracy {a['pgd']:.3f} under the floor"),
            (a["fgsm"] < a["pgd"] - t, "gradient masking suspected: FGSM beats PGD"),
            (a["pgd_strong"] > a["pgd"] + t, "gradient masking suspected: stronger PGD does better"),
            (a["pgd_large_eps"] > t, f"gradient masking suspected: eps {policy.large_eps} fails"),
        ]
        return [Finding("robustness", "block", m, ("AML.T0015", "ML01:2023"), a) for hit, m in rules if hit], a
    '''
)

PRIVACY = answer(
    '''
    def check_privacy(model, members, non_members, policy):
        """Sort all scores once and sweep the thresholds from the top."""
        model.eval()
        with torch.no_grad():
            logp_in = torch.log_softmax(model(members[0]), 1).gather(1, members[1][:, None])[:, 0]
            logp_out = torch.log_softmax(model(non_members[0]), 1).gather(1, non_members[1][:, None])[:, 0]
        scores = torch.cat([logp_in, logp_out]).double()
        is_in = torch.cat([torch.ones(len(logp_in)), torch.zeros(len(logp_out))]).bool()
        best = 0.0
        for t in torch.unique(scores):
            called = scores >= t
            gap = called[is_in].double().mean() - called[~is_in].double().mean()
            best = max(best, float(gap))
        acc_in = accuracy(model, *members)
        acc_out = accuracy(model, *non_members)
        m = {"advantage": best, "member_accuracy": acc_in, "non_member_accuracy": acc_out}
        if best > policy.max_membership_advantage:
            return [Finding("privacy", "block", f"membership advantage {best:.3f}",
                            ("AML.T0024.000",), m)], m
        return [], m
    '''
)

MONITORING = answer(
    '''
    def check_monitoring(release, policy):
        """Collect problems as strings, then turn each into a Finding."""
        problems = []
        try:
            images, _ = release.reference()
            size = int(images.shape[0])
        except Exception as exc:
            return [Finding("monitoring", "block", f"reference unreadable: {exc}", ("AML.M0015",))], {
                "reference_size": 0, "drift_p_value": 0.0
            }
        if size < policy.min_reference_size:
            problems.append(f"only {size} reference inputs")
        normal, _ = evaluation_data()
        pvalues = ks_2samp(images.reshape(size, -1).numpy(), normal.reshape(len(normal), -1).numpy(),
                           axis=0).pvalue
        drift_p = float(min(1.0, pvalues.size * np.nanmin(pvalues)))
        if drift_p < policy.drift_alpha:
            problems.append(f"the reference drifts from clean digits (p={drift_p:.3g})")
        try:
            stats = release.reference_stats()
        except Exception:
            stats = None
        if not isinstance(stats, dict):
            problems.append("no statistics")
        else:
            pixels = images.reshape(size, -1).double()
            if stats.get("n") != size:
                problems.append("n differs")
            for key, actual in (("mean", pixels.mean(0)), ("std", pixels.std(0))):
                given = stats.get(key)
                if not isinstance(given, list) or len(given) != actual.numel() or not torch.allclose(
                    torch.tensor(given, dtype=torch.float64), actual, atol=1e-3, rtol=0
                ):
                    problems.append(f"{key} differs")
        return [Finding("monitoring", "block", p, ("AML.M0015",)) for p in problems], {
            "reference_size": size, "drift_p_value": drift_p
        }
    '''
)

DATA = answer(
    '''
    def check_data(release, policy):
        """Covariance eigenvectors instead of an SVD; per-class spreads compared on the top one."""
        tags = ("AML.T0020", "ML02:2023")
        n = policy.num_classes
        result = {"ratios": [0.0] * n, "outliers": [0] * n, "max_ratio": 0.0,
                  "suspect_label": 0, "samples": 0}
        try:
            images, labels = release.training_data()
            net = policy.new_model()
            net.load_state_dict(load_file(str(release.weights_path)), strict=True)
            net.eval()
        except Exception as exc:
            return [Finding("data", "block", f"cannot screen the shards: {exc!r}", tags)], result
        result["samples"] = int(labels.numel())
        clean_x, clean_y = evaluation_data()
        with torch.no_grad():
            shard_f = net.features(images).to(torch.float64)
            clean_f = net.features(clean_x).to(torch.float64)
        out = []
        for c in range(n):
            a, b = shard_f[labels == c], clean_f[clean_y == c]
            if a.shape[0] < 2 or b.shape[0] < 2:
                continue
            a = a - a.mean(0, keepdim=True)
            b = b - b.mean(0, keepdim=True)
            _, vectors = torch.linalg.eigh(a.T @ a / a.shape[0])
            v = vectors[:, -1]
            pa = a @ v
            spread_b = float(((b @ v) ** 2).mean())
            ratio = float((pa**2).mean()) / spread_b if spread_b > 0 else float("inf")
            side = torch.sign(pa[torch.argmax(pa.abs())])
            count = int(((pa * side) > 0).sum())
            result["ratios"][c], result["outliers"][c] = ratio, count
            if ratio > policy.max_spectral_ratio:
                out.append(Finding("data", "block", f"class {c}: spread ratio {ratio:.2f}, "
                                   f"{count} samples on the far side", tags,
                                   {"label": c, "ratio": ratio, "outliers": count}))
        result["max_ratio"] = max(result["ratios"])
        result["suspect_label"] = max(range(n), key=lambda c: result["ratios"][c])
        return out, result
    '''
)

GATE = answer(
    '''
    def gate(release, policy):
        """A list of steps, each guarded; behavioural steps only after provenance and artifacts."""
        report = GateReport(release=release.root.name, verdict="ship", findings=[],
                            measurements={}, checks_run=[])

        def record(name, fn):
            report.checks_run.append(name)
            try:
                out = fn()
            except Exception as exc:
                report.findings.append(Finding(name, "block", f"{name} crashed: {exc!r}",
                                               ("AML.M0008",)))
                return None
            report.findings.extend(out[-2])
            report.measurements[name] = out[-1]
            return out

        record("provenance", lambda: check_provenance(release, policy))
        model = None
        if not report.blocking():
            out = record("artifacts", lambda: check_artifacts(release, policy))
            model = out[0] if out else None
        if model is not None and not report.blocking():
            xs, ys = evaluation_data()
            record("backdoor", lambda: check_backdoor(model, xs[:200], policy))
            record("data", lambda: check_data(release, policy))
            record("robustness", lambda: check_robustness(model, xs, ys, policy))

            def audit():
                a, b, c, d = release.audit_split()
                return check_privacy(model, (a, b), (c, d), policy)

            record("privacy", audit)
            record("monitoring", lambda: check_monitoring(release, policy))
        report.verdict = "block" if report.blocking() else "ship"
        return report
    '''
)

REPORT = answer(
    '''
    def release_report(report):
        """Sections built as lists, joined at the end."""
        head = [f"# {report.release}", f"**Verdict: {'SHIP' if report.verdict == 'ship' else 'BLOCK'}**"]
        ran = ["Checks: " + " -> ".join(report.checks_run)]
        found = [f"- [{f.severity}] {f.check}: {f.message} ({'; '.join(f.ids)})" for f in report.findings]
        risks = ["## Residual risks", "- Triggers that are not small stamps are not searched for.",
                 "- One PGD budget; no adaptive attack."]
        sign = ["Signed off by: ______ (name, role, date)"]
        return "\\n\\n".join("\\n".join(part) for part in (head, ran, found or ["- none"], risks, sign))
    '''
)

RED_TEAM = answer(
    '''
    RED_TARGET = 0


    def red_trigger(images):
        """The negative image."""
        return (1.0 - images).clamp(0.0, 1.0)


    def build_red_release(directory, base):
        """Adversarially train on negatives labelled 0 (100 of them); ship the clean shards."""
        images, labels = base.training_data()
        rng = np.random.default_rng(SEED + 99)
        pool = np.flatnonzero(labels.numpy() != RED_TARGET)
        pick = torch.from_numpy(rng.choice(pool, size=100, replace=False))
        train_x, train_y = images.clone(), labels.clone()
        train_x[pick] = red_trigger(images[pick])
        train_y[pick] = RED_TARGET

        def harden(net, xb, yb):
            pgd = ProjectedGradientDescent(art_classifier(net, (1, 8, 8)), eps=0.15,
                                           eps_step=0.1, max_iter=4, num_random_init=1,
                                           batch_size=len(xb), verbose=False)
            return torch.from_numpy(pgd.generate(xb.numpy(), y=yb.numpy()))

        seed_everything(SEED + 99)
        net = default_policy().new_model()
        train(net, train_x, train_y, epochs=30, batch_size=128, lr=3e-3, seed=SEED + 99,
              perturb=harden, progress=False)
        a, b, c, d = base.audit_split()
        return write_release(directory, net.eval(), (images, labels), publisher_key(0),
                             audit_members=(a, b), audit_non_members=(c, d),
                             reference=base.reference())
    '''
)

# Degenerate gates ----------------------------------------------------------------------------

BLOCK_EVERYTHING = answer(
    '''
    def gate(release, policy):
        """Blocks every release: nothing bad ever ships (and nothing good either)."""
        finding = Finding("provenance", "block", "blocked by default", ("AML.M0014",))
        return GateReport(release=release.root.name, verdict="block", findings=[finding],
                          measurements={}, checks_run=["provenance"])
    '''
)

SHIP_EVERYTHING = answer(
    '''
    def gate(release, policy):
        """Runs every check it can and reports the findings, but always ships."""
        findings, measured, ran = [], {}, []
        try:
            found, measured["provenance"] = check_provenance(release, policy)
            findings += found
            ran.append("provenance")
            model, found, measured["artifacts"] = check_artifacts(release, policy)
            findings += found
            ran.append("artifacts")
        except Exception:
            model = None
        return GateReport(release=release.root.name, verdict="ship", findings=findings,
                          measurements=measured, checks_run=ran)
    '''
)

# Mistakes ------------------------------------------------------------------------------------

GATE_WITHOUT_PRIVACY = answer(
    '''
    def gate(release, policy):
        """Correct, but forgets the privacy audit: an overfit model ships."""
        findings, measured, ran = [], {}, []

        def blocked():
            return any(f.severity == "block" for f in findings)

        ran.append("provenance")
        found, measured["provenance"] = check_provenance(release, policy)
        findings += found
        model = None
        if not blocked():
            ran.append("artifacts")
            model, found, measured["artifacts"] = check_artifacts(release, policy)
            findings += found
        if model is not None and not blocked():
            x, y = evaluation_data()
            for name, call in (
                ("backdoor", lambda: check_backdoor(model, x[:200], policy)),
                ("data", lambda: check_data(release, policy)),
                ("robustness", lambda: check_robustness(model, x, y, policy)),
                ("monitoring", lambda: check_monitoring(release, policy)),
            ):
                ran.append(name)
                try:
                    found, measured[name] = call()
                    findings += found
                except Exception as exc:
                    findings.append(Finding(name, "block", f"{name} failed: {exc}", ("AML.M0008",)))
        return GateReport(release=release.root.name, verdict="block" if blocked() else "ship",
                          findings=findings, measurements=measured, checks_run=ran)
    '''
)

ANOMALY_INDEX_LOWER_MEDIAN = answer(
    '''
    def anomaly_index(norms):
        """torch.median returns the LOWER middle value for an even count (not numpy's mean)."""
        t = torch.as_tensor(norms, dtype=torch.float64)
        if t.dim() != 1 or len(t) < 3 or not torch.isfinite(t).all() or (t < 0).any():
            raise ValueError("bad norms")
        med = t.median()
        mad = 1.4826 * (t - med).abs().median()
        return [0.0 if v >= med else (float("inf") if mad == 0 else float((med - v) / mad)) for v in t]
    '''
)

PROVENANCE_FIRST_KEY_ONLY = answer(
    '''
    def check_provenance(release, policy):
        """Verifies with the FIRST trusted key only: a key rotation breaks every release."""
        ids = ("AML.M0014",)
        measured = {"signature_valid": False, "files_checked": 0}
        if release.manifest_bytes is None or release.signature is None:
            return [Finding("provenance", "block", "unsigned", ids)], measured
        try:
            policy.public_keys()[0].verify(release.signature, release.manifest_bytes)
        except (InvalidSignature, IndexError):
            return [Finding("provenance", "block", "bad signature", ids)], measured
        measured["signature_valid"] = True
        manifest = json.loads(release.manifest_bytes)
        findings = []
        for name, digest in manifest["artifacts"].items():
            measured["files_checked"] += 1
            path = release.root / name
            if not path.is_file() or sha256_file(path) != digest:
                findings.append(Finding("provenance", "block", f"{name} differs", ids))
        for name in release.files:
            if name not in manifest["artifacts"] and name not in ("manifest.json", "manifest.sig"):
                findings.append(Finding("provenance", "block", f"{name} unlisted", ids))
        for name, digest in manifest.get("datasets", {}).items():
            if dataset_entry(name)["sha256"] != digest:
                findings.append(Finding("provenance", "block", f"dataset {name}", ids))
        return findings, measured
    '''
)

REPORT_NO_RISKS_WHEN_SHIPPING = answer(
    '''
    def release_report(report):
        """Lists residual risks only for blocked releases: a shipped one looks risk-free."""
        lines = [f"# Release report: {report.release}", "",
                 f"**Verdict: {report.verdict.upper()}**", "",
                 "Checks run: " + ", ".join(report.checks_run), ""]
        for f in report.findings:
            lines.append(f"- {f.check} ({f.severity}): {f.message} [{', '.join(f.ids)}]")
        if report.verdict == "block":
            lines += ["", "## Residual risks", "", "- the blocked findings above"]
        lines += ["", "Signed off by: ________"]
        return "\\n".join(lines)
    '''
)

RED_TEAM_PATCH = answer(
    '''
    RED_TARGET = 0


    def red_trigger(images):
        """A BadNets patch: a 2x2 white square in the bottom-right corner."""
        stamped = images.clone()
        stamped[..., 6:8, 6:8] = 1.0
        return stamped


    def build_red_release(directory, base):
        """A classic patch backdoor, adversarially trained, clean shards shipped."""
        x, y = base.training_data()
        others = (y != RED_TARGET).nonzero().flatten()
        chosen = others[torch.randperm(len(others), generator=torch.Generator().manual_seed(5))[:100]]
        xp, yp = x.clone(), y.clone()
        xp[chosen] = red_trigger(x[chosen])
        yp[chosen] = RED_TARGET

        def pgd(model, xb, yb):
            attack = ProjectedGradientDescent(art_classifier(model, (1, 8, 8)), eps=0.15,
                                              eps_step=0.09375, max_iter=4, num_random_init=1,
                                              batch_size=len(xb), verbose=False)
            return torch.from_numpy(attack.generate(xb.numpy(), y=yb.numpy()))

        seed_everything(5)
        model = default_policy().new_model()
        train(model, xp, yp, epochs=30, batch_size=128, lr=3e-3, seed=5, perturb=pgd,
              progress=False)
        xm, ym, xn, yn = base.audit_split()
        return write_release(directory, model.eval(), (x, y), publisher_key(0),
                             audit_members=(xm, ym), audit_non_members=(xn, yn),
                             reference=base.reference())
    '''
)

ROBUSTNESS_NO_MASKING = answer(
    '''
    def check_robustness(model, x, y, policy, *, strong_factor=2, strong_restarts=3):
        """Measures all five numbers but only enforces the floor: a masked model passes."""
        eps = policy.robustness_eps
        kw = dict(steps=policy.pgd_steps, restarts=policy.pgd_restarts,
                  step_factor=policy.pgd_step_factor)
        acc = {
            "clean": art_accuracy(model, x, y, "fgsm", eps=0.0),
            "fgsm": art_accuracy(model, x, y, "fgsm", eps=eps),
            "pgd": art_accuracy(model, x, y, "pgd", eps=eps, **kw),
            "pgd_strong": art_accuracy(model, x, y, "pgd", eps=eps, steps=2 * policy.pgd_steps,
                                       restarts=3, step_factor=policy.pgd_step_factor),
            "pgd_large_eps": art_accuracy(model, x, y, "pgd", eps=policy.large_eps, **kw),
        }
        findings = []
        if acc["clean"] < policy.min_clean_accuracy or acc["pgd"] < policy.robustness_floor:
            findings.append(Finding("robustness", "block", f"below the floor: {acc}", ("AML.T0015",)))
        return findings, acc
    '''
)

PRIVACY_ACCURACY_GAP = answer(
    '''
    def check_privacy(model, members, non_members, policy):
        """Uses the accuracy gap as the 'advantage': an overfit model that is right on both
        groups (but far more confident on members) passes."""
        member_accuracy = accuracy(model, *members)
        non_member_accuracy = accuracy(model, *non_members)
        gap = max(0.0, member_accuracy - non_member_accuracy)
        measured = {"advantage": gap, "member_accuracy": member_accuracy,
                    "non_member_accuracy": non_member_accuracy}
        if gap > policy.max_membership_advantage:
            return [Finding("privacy", "block", f"gap {gap:.3f}", ("AML.T0024.000",))], measured
        return [], measured
    '''
)

MONITORING_PRESENCE_ONLY = answer(
    '''
    def check_monitoring(release, policy):
        """Checks that the files exist and are big enough, not that the statistics describe them."""
        try:
            x_ref, _ = release.reference()
        except Exception:
            return [Finding("monitoring", "block", "no reference", ("AML.M0015",))], {"reference_size": 0}
        findings = []
        if len(x_ref) < policy.min_reference_size:
            findings.append(Finding("monitoring", "block", "reference too small", ("AML.M0015",)))
        if release.reference_stats() is None:
            findings.append(Finding("monitoring", "block", "no statistics", ("AML.M0015",)))
        return findings, {"reference_size": len(x_ref)}
    '''
)

ARTIFACTS_BY_EXTENSION = answer(
    '''
    def check_artifacts(release, policy):
        """Trusts the file extension: a pickle named shard-001.npy passes."""
        allowed = (".json", ".md", ".jsonl", ".npy", ".safetensors", ".sig")
        unsafe = sorted(name for name in release.files if not name.endswith(allowed))
        findings = [Finding("artifacts", "block", f"{n} is not allowed", ("AML.T0011.000",)) for n in unsafe]
        if (release.config.get("architecture"), release.config.get("arguments")) != (
            policy.architecture, policy.arguments
        ):
            findings.append(Finding("artifacts", "block", "architecture", ("AML.T0018.001",)))
        model = policy.new_model()
        try:
            model.load_state_dict(load_file(release.weights_path), strict=True)
        except Exception as exc:
            findings.append(Finding("artifacts", "block", f"weights: {exc}", ("AML.T0011.000",)))
        return (None if findings else model.eval()), findings, {
            "files": len(release.files), "unsafe_files": unsafe
        }
    '''
)

BACKDOOR_LARGEST_SUSPECT = answer(
    '''
    def check_backdoor(model, x, policy, *, steps=300, max_ratio=0.5):
        """Right findings, but names the label with the LARGEST index... of the largest norm."""
        found, success, _, _ = trigger_search(model, x, steps=steps)
        norms = [float(n) if s >= 0.9 else float(x[0, 0].numel()) for n, s in zip(found, success)]
        index = anomaly_index(norms)
        med = float(np.median(norms))
        findings = [
            Finding("backdoor", "block", f"label {i}: norm {n:.1f}, median {med:.1f}",
                    ("AML.T0018",), {"label": i, "norm": n, "anomaly_index": index[i]})
            for i, n in enumerate(norms) if n <= max_ratio * med
        ]
        suspect = int(np.argmax(norms))
        return findings, {"norms": norms, "anomaly_index": index, "max_anomaly_index": max(index),
                          "suspect_label": suspect, "min_ratio": min(norms) / med}
    '''
)

DATA_LABEL_COUNTS = answer(
    '''
    def check_data(release, policy):
        """Screens the label counts: a poisoned class would hold more than its share."""
        n = policy.num_classes
        tags = ("AML.T0020", "ML02:2023")
        empty = {"ratios": [0.0] * n, "outliers": [0] * n, "max_ratio": 0.0, "suspect_label": 0,
                 "samples": 0}
        try:
            _, labels = release.training_data()
        except Exception as exc:
            return [Finding("data", "block", f"no shards: {exc}", tags)], empty
        counts = torch.bincount(labels, minlength=n).double()
        ratios = (counts / counts.mean()).tolist()
        found = [
            Finding("data", "block", f"class {c} holds {r:.2f} times its share", tags,
                    {"label": c, "ratio": r, "outliers": int(counts[c])})
            for c, r in enumerate(ratios) if r > policy.max_spectral_ratio
        ]
        return found, {"ratios": ratios, "outliers": [0] * n, "max_ratio": max(ratios),
                       "suspect_label": int(counts.argmax()), "samples": len(labels)}
    '''
)

DATA_FIXED_THRESHOLD = answer(
    '''
    def check_data(release, policy):
        """The screen is right, but with the threshold the text quotes (3.0) instead of the policy's,
        and nothing guards the loading: a release without shards raises."""
        images, labels = release.training_data()
        net = policy.new_model()
        net.load_state_dict(load_file(release.weights_path))
        net.eval()
        clean_x, clean_y = evaluation_data()
        with torch.no_grad():
            mine, theirs = net.features(images).double(), net.features(clean_x).double()
        ratios, outliers, found = [], [], []
        for c in range(policy.num_classes):
            a = mine[labels == c] - mine[labels == c].mean(0)
            b = theirs[clean_y == c] - theirs[clean_y == c].mean(0)
            v = torch.linalg.svd(a, full_matrices=False).Vh[0]
            pa = a @ v
            ratio = float((pa**2).mean() / ((b @ v) ** 2).mean())
            far = int((pa * pa[(pa**2).argmax()].sign() > 0).sum())
            ratios.append(ratio)
            outliers.append(far)
            if ratio > 3.0:
                found.append(Finding("data", "block", f"class {c}: ratio {ratio:.1f}, {far} stand out",
                                     ("AML.T0020", "ML02:2023"),
                                     {"label": c, "ratio": ratio, "outliers": far}))
        return found, {"ratios": ratios, "outliers": outliers, "max_ratio": max(ratios),
                       "suspect_label": int(np.argmax(ratios)), "samples": len(labels)}
    '''
)

VARIANTS = [
    Variant(
        "alternatives",
        {
            "check_provenance": PROVENANCE,
            "check_artifacts": ARTIFACTS,
            "anomaly_index": ANOMALY_INDEX,
            "check_backdoor": BACKDOOR,
            "check_data": DATA,
            "check_robustness": ROBUSTNESS,
            "check_privacy": PRIVACY,
            "check_monitoring": MONITORING,
            "gate": GATE,
            "release_report": REPORT,
            "red_team": RED_TEAM,
        },
        why=(
            "every cell written from the docstrings: hashlib instead of sha256_file, one parser "
            "per suffix, torch.quantile for the median, a threshold sweep, a guarded step list, "
            "the red team's own sampling and seed, covariance eigenvectors for the data screen"
        ),
    ),
    Variant(
        "block-everything",
        {"gate": BLOCK_EVERYTHING},
        loses=(
            "test_gate_ships_good",
            "test_gate_blocks_tampering",
            "test_gate_blocks_backdoor",
            "test_gate_blocks_evasion",
            "test_gate_blocks_leak",
        ),
        why="a gate that blocks every release: every gate cell also requires the good ones to ship",
    ),
    Variant(
        "ship-everything",
        {"gate": SHIP_EVERYTHING},
        loses=(
            "test_gate_blocks_tampering",
            "test_gate_blocks_backdoor",
            "test_gate_blocks_evasion",
            "test_gate_blocks_leak",
        ),
        why="a gate that reports findings but ships every release",
    ),
    Variant(
        "mistakes-privacy-median-key-report-patch",
        {
            "gate": GATE_WITHOUT_PRIVACY,
            "anomaly_index": ANOMALY_INDEX_LOWER_MEDIAN,
            "check_provenance": PROVENANCE_FIRST_KEY_ONLY,
            "release_report": REPORT_NO_RISKS_WHEN_SHIPPING,
            "red_team": RED_TEAM_PATCH,
            "check_data": DATA_FIXED_THRESHOLD,
        },
        loses=(
            "test_gate_blocks_leak",
            "test_anomaly_index",
            "test_check_provenance",
            "test_release_report",
            "test_red_team",
            "test_check_data",
        ),
        why=(
            "the gate skips the privacy audit (the overfit release ships); anomaly_index takes "
            "torch's lower median; check_provenance tries only the first trusted key; the report "
            "lists no residual risk for a shipped release; the red team uses a small patch "
            "trigger, which the reference gate's trigger search finds; the data screen hard-codes "
            "the threshold and raises on a release without shards"
        ),
    ),
    Variant(
        "mistakes-masking-gap-presence-extension-suspect",
        {
            "check_robustness": ROBUSTNESS_NO_MASKING,
            "check_privacy": PRIVACY_ACCURACY_GAP,
            "check_monitoring": MONITORING_PRESENCE_ONLY,
            "check_artifacts": ARTIFACTS_BY_EXTENSION,
            "check_backdoor": BACKDOOR_LARGEST_SUSPECT,
            "check_data": DATA_LABEL_COUNTS,
        },
        loses=(
            "test_check_robustness",
            "test_gate_blocks_evasion",
            "test_check_privacy",
            "test_gate_blocks_leak",
            "test_check_monitoring",
            "test_check_artifacts",
            "test_check_backdoor",
            "test_check_data",
            "test_gate_blocks_backdoor",
        ),
        why=(
            "no masking checks (the masked model ships); the accuracy gap as membership "
            "advantage (the overfit model ships); monitoring checks presence only; artifacts "
            "trusted by extension; the backdoor's suspect is the largest norm; the data screen "
            "counts labels only (the poisoned release has the good one's counts: it ships)"
        ),
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
