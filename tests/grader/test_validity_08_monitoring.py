"""Grading validity of Lab 08: its four code answers graded from their contracts (see validity.py).

Contracts (labs/08-monitoring/08-monitoring.ipynb):
- ``drift_test(reference, window, alpha, method, n_permutations, seed)``: KS per feature with a
  Bonferroni correction capped at 1, or a biased MMD^2 (median heuristic) with a permutation
  p-value (1 + count) / (1 + n_permutations); NumPy or torch inputs; Python float/bool results;
  ValueError for an unknown method or malformed inputs. Graded by three cells: KS (2 points),
  MMD (1) and the input/output contract (1).
- ``squeeze_score(model, x)``: max of the two L1 changes of the softmax (1-bit, 2x2 median), one
  per input, "a float tensor" (any float dtype), detached.
- ``squeeze_aware_log_probs(model, x)``: the sum of the three views' log-softmax, BPDA through
  the rounding, differentiable in x.
- ``monitor_clients(api, reference, embed, *, max_queries, alpha, window, min_queries)``: clients
  with FEWER than ``min_queries`` queries are not tested (p-value 1.0); a client with exactly
  ``min_queries`` is.

Three submissions, each a FAST run: one correct alternative for all four answers, and two that
combine mistakes whose test cells do not call each other's answers (a wrong ``drift_test`` would
also fail ``monitor_clients``' test, so the ``monitor_clients`` mistake sits with a ``drift_test``
whose KS part is correct).
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "08-monitoring"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

DRIFT_TEST_LOOPS = answer(
    '''
    def drift_test(reference, window, alpha=0.05, method="ks", n_permutations=200, seed=0):
        """Feature by feature for KS; explicit permutation loop for MMD."""
        # np.array on a torch tensor with a dtype makes NumPy 2 print a DeprecationWarning on
        # stderr (torch's __array__ takes no copy keyword): correct, and must keep full marks.
        ref = np.array(reference, dtype=np.float64)
        win = np.array(window, dtype=np.float64)
        if method not in ("ks", "mmd"):
            raise ValueError(f"unknown method {method}")
        if ref.ndim != 2 or win.ndim != 2:
            raise ValueError("reference and window must be 2-D")
        if ref.shape[1] != win.shape[1]:
            raise ValueError("reference and window must have the same number of columns")
        if ref.shape[0] < 2 or win.shape[0] < 2:
            raise ValueError("need at least 2 rows in each sample")
        n, m = len(ref), len(win)
        if method == "ks":
            statistic, smallest = 0.0, 1.0
            for j in range(ref.shape[1]):
                result = stats.ks_2samp(ref[:, j], win[:, j])
                statistic = max(statistic, float(result.statistic))
                smallest = min(smallest, float(result.pvalue))
            p_value = min(1.0, smallest * ref.shape[1])
        else:
            from scipy.spatial.distance import cdist

            z = np.vstack([ref, win])
            dist = cdist(z, z, "sqeuclidean")
            upper = dist[np.triu_indices(n + m, k=1)]
            h = np.median(upper)
            if h == 0:
                h = 1.0
            kernel = np.exp(-dist / h)
            w = np.r_[np.ones(n) / n, -np.ones(m) / m]
            statistic = float(w @ kernel @ w)
            rng = np.random.default_rng(seed)
            beaten = 0
            for _ in range(n_permutations):
                shuffled = rng.permutation(w)
                if shuffled @ kernel @ shuffled >= statistic:
                    beaten += 1
            p_value = (beaten + 1) / (n_permutations + 1)
        return {"statistic": float(statistic), "p_value": float(p_value), "drift": p_value < alpha}
    '''
)

CORRECT = Variant(
    "alternative-correct",
    {
        "drift_test": DRIFT_TEST_LOOPS,
        "squeeze_score": answer(
            '''
            def squeeze_score(model, x):
                """Both squeezers stacked, the largest change taken; float64 result."""
                with torch.no_grad():
                    views = torch.cat([x, torch.round(x), median_smooth(x)])
                    probs = torch.softmax(model(views).double(), dim=-1).view(3, len(x), -1)
                    changes = (probs[1:] - probs[:1]).abs().sum(dim=-1)
                return changes.max(dim=0).values
            '''
        ),
        "squeeze_aware_log_probs": answer(
            '''
            class _RoundStraightThrough(torch.autograd.Function):
                """Rounds forward, passes the gradient through unchanged (BPDA)."""

                @staticmethod
                def forward(ctx, x):
                    return torch.round(x)

                @staticmethod
                def backward(ctx, grad):
                    return grad


            def squeeze_aware_log_probs(model, x):
                views = [x, _RoundStraightThrough.apply(x), median_smooth(x)]
                return torch.stack([model(v).log_softmax(dim=-1) for v in views]).sum(dim=0)
            '''
        ),
        "monitor_clients": answer(
            """
            def monitor_clients(api, reference, embed, *, max_queries, alpha=0.01, window=200,
                                min_queries=20):
                counts = api.queries_by_client()
                report = {}
                for name in api.clients():
                    n = int(counts.get(name, 0))
                    tested = not n < min_queries
                    if tested:
                        logged = api.logged_inputs(name)
                        recent = logged[max(0, len(logged) - window):]
                        p = float(drift_test(reference, embed(recent), alpha=alpha)["p_value"])
                    else:
                        p = 1.0
                    report[name] = {
                        "queries": n,
                        "rate_alert": n > max_queries,
                        "p_value": p,
                        "distribution_alert": p < alpha,
                    }
                return report
            """
        ),
    },
    why=(
        "loops instead of vectorised code, a NumPy DeprecationWarning on stderr, a float64 "
        "squeeze_score, BPDA as an autograd.Function, the min_queries boundary written as not <"
    ),
)

MISTAKES_1 = Variant(
    "no-bonferroni-one-squeezer-no-bpda",
    {
        "drift_test": DRIFT_TEST_LOOPS.replace(
            "p_value = min(1.0, smallest * ref.shape[1])", "p_value = smallest"
        ),
        "squeeze_score": answer(
            """
            def squeeze_score(model, x):
                with torch.no_grad():
                    p = F.softmax(model(x), dim=1)
                    return (p - F.softmax(model(torch.round(x)), dim=1)).abs().sum(dim=1)
            """
        ),
        "squeeze_aware_log_probs": answer(
            """
            def squeeze_aware_log_probs(model, x):
                views = (x, torch.round(x), median_smooth(x))
                return sum(F.log_softmax(model(v), dim=1) for v in views)
            """
        ),
    },
    loses=("test_drift_test_ks", "test_squeeze_score", "test_squeeze_aware_log_probs"),
    why=(
        "KS p-value without the Bonferroni correction; only the 1-bit squeezer; torch.round "
        "without BPDA (the rounded view gives no gradient)"
    ),
)

MISTAKES_2 = Variant(
    "mmd-p-no-validation-sum-of-changes-log-of-mean-boundary",
    {
        "drift_test": answer(
            """
            def drift_test(reference, window, alpha=0.05, method="ks", n_permutations=200, seed=0):
                ref = np.asarray(reference, dtype=np.float64)
                win = np.asarray(window, dtype=np.float64)
                if method == "ks":
                    result = stats.ks_2samp(ref, win, axis=0)
                    statistic = float(result.statistic.max())
                    p_value = float(min(1.0, ref.shape[1] * result.pvalue.min()))
                elif method == "mmd":
                    z = np.concatenate([ref, win])
                    d = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
                    h = np.median(d[np.triu_indices(len(z), 1)]) or 1.0
                    k = np.exp(-d / h)
                    w = np.r_[np.full(len(ref), 1 / len(ref)), np.full(len(win), -1 / len(win))]
                    statistic = float(w @ k @ w)
                    rng = np.random.default_rng(seed)
                    null = [(v := rng.permutation(w)) @ k @ v for _ in range(n_permutations)]
                    p_value = float(np.mean(np.array(null) >= statistic))  # no +1: p can be 0
                else:
                    raise ValueError(method)
                return {"statistic": statistic, "p_value": p_value, "drift": bool(p_value < alpha)}
            """
        ),
        "squeeze_score": answer(
            """
            def squeeze_score(model, x):
                with torch.no_grad():
                    p = F.softmax(model(x), dim=1)
                    bits = (p - F.softmax(model(torch.round(x)), dim=1)).abs().sum(dim=1)
                    median = (p - F.softmax(model(median_smooth(x)), dim=1)).abs().sum(dim=1)
                return (bits + median).clamp(max=2.0)
            """
        ),
        "squeeze_aware_log_probs": answer(
            """
            def squeeze_aware_log_probs(model, x):
                bits = x + (torch.round(x) - x).detach()
                views = (x, bits, median_smooth(x))
                return torch.log(sum(F.softmax(model(v), dim=1) for v in views) / 3)
            """
        ),
        "monitor_clients": answer(
            """
            def monitor_clients(api, reference, embed, *, max_queries, alpha=0.01, window=200,
                                min_queries=20):
                counts = api.queries_by_client()
                out = {}
                for client in api.clients():
                    queries = int(counts[client])
                    p_value = 1.0
                    if queries > min_queries:
                        recent = api.logged_inputs(client)[-window:]
                        p_value = drift_test(reference, embed(recent), alpha, method="ks")["p_value"]
                    out[client] = {
                        "queries": queries,
                        "rate_alert": queries > max_queries,
                        "p_value": float(p_value),
                        "distribution_alert": bool(p_value < alpha),
                    }
                return out
            """
        ),
    },
    loses=(
        "test_drift_test_mmd",
        "test_drift_test_contract",
        "test_squeeze_score",
        "test_squeeze_aware_log_probs",
        "test_monitor_clients",
    ),
    why=(
        "MMD p-value without the +1 (p = 0 is possible) and no input validation; the sum of the "
        "two L1 changes instead of the larger; the log of the mean probability instead of the sum "
        "of log-probabilities; clients with exactly min_queries queries skipped"
    ),
)

VARIANTS = [CORRECT, MISTAKES_1, MISTAKES_2]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
