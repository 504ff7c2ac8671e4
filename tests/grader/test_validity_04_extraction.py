"""Grading validity of Lab 04: the extraction attacks and the detector graded from their contracts.

The contracts (labs/04-extraction): ``steal_logistic_regression`` and ``steal_softmax_regression``
recover (centred) parameters exactly with d + 1 probability queries, finite under rounding,
ValueError for a label-only API before any query; ``extract_model`` queries once per row and trains
the surrogate on hard labels or soft (renormalised) probabilities, seeded, returned in eval mode;
``agreement`` is the fraction of inputs on which two models (torch or scikit-learn) predict the
same class, a Python float; ``query_profile`` gives [median successive, median nearest] distances;
``flag_clients`` flags clients with at least ``min_queries`` queries whose last ``window``
queries score above the threshold, sorted.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "04-extraction"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

CORRECT = Variant(
    "random-queries-kl-loss-float32-agreement",
    {
        "steal_logistic_regression": answer(
            '''
            def steal_logistic_regression(api):
                """Random small queries and one linear solve, logits from both columns."""
                if api.output == "label":
                    raise ValueError("a label-only API gives no equations")
                d = api.n_features
                points = np.vstack([np.zeros(d), 0.1 * np.random.default_rng(0).standard_normal((d, d))])
                answers = np.asarray(api(points), dtype=np.float64)
                p1 = np.clip(answers[:, 1], 1e-12, 1 - 1e-12)
                p0 = np.clip(answers[:, 0], 1e-12, 1 - 1e-12)
                design = np.hstack([points, np.ones((d + 1, 1))])
                params = np.linalg.solve(design, np.log(p1) - np.log(p0))
                return params[:d].astype(np.float64), float(params[d])
            '''
        ),
        "steal_softmax_regression": answer(
            '''
            def steal_softmax_regression(api):
                """Scaled unit vectors; each answer's log-probabilities centred over the classes."""
                if api.output == "label":
                    raise ValueError("a label-only API gives no equations")
                d, scale = api.n_features, 0.5
                probs = np.asarray(api(np.vstack([np.zeros(d), scale * np.eye(d)])), dtype=np.float64)
                logp = np.log(np.maximum(probs, 1e-300))
                centred = logp - logp.mean(axis=1, keepdims=True)
                W = ((centred[1:] - centred[0]) / scale).T
                return np.ascontiguousarray(W), centred[0].copy()
            '''
        ),
        "extract_model": answer(
            '''
            def extract_model(api, query_x, surrogate, *, epochs=60, lr=1e-2, batch_size=64, seed=0):
                """A DataLoader and an explicit soft cross-entropy (labels as one-hot rows)."""
                from torch.utils.data import DataLoader, TensorDataset

                answers = torch.as_tensor(np.asarray(api(query_x)))
                if answers.dim() == 1:
                    targets = F.one_hot(answers.long(), api.num_classes).float()
                else:
                    targets = answers.float().clamp_min(0)
                    targets = targets / targets.sum(dim=1, keepdim=True).clamp_min(1e-12)
                loader = DataLoader(
                    TensorDataset(torch.as_tensor(query_x).float(), targets),
                    batch_size=batch_size,
                    shuffle=True,
                    generator=torch.Generator().manual_seed(seed),
                )
                optimizer = torch.optim.Adam(surrogate.parameters(), lr=lr)
                surrogate.train()
                for _ in range(epochs):
                    for xb, tb in loader:
                        optimizer.zero_grad()
                        loss = -(tb * F.log_softmax(surrogate(xb), dim=1)).sum(dim=1).mean()
                        loss.backward()
                        optimizer.step()
                surrogate.eval()
                return surrogate
            '''
        ),
        "agreement": answer(
            '''
            def agreement(victim, surrogate, x):
                """Predictions as torch tensors; a float32 mean, as the course's accuracy() does."""
                if x.shape[0] == 0:
                    raise ValueError("no inputs to compare on")

                def predicted(model):
                    if isinstance(model, torch.nn.Module):
                        with torch.no_grad():
                            return model.eval()(x).argmax(1).cpu()
                    flat = x.flatten(1).numpy().astype(np.float64)
                    return torch.as_tensor(np.asarray(model.predict(flat)))

                return (predicted(victim) == predicted(surrogate)).float().mean().item()
            '''
        ),
        "query_profile": answer(
            '''
            def query_profile(queries):
                """A loop over t, distances to every earlier query at once."""
                x = torch.as_tensor(np.asarray(queries), dtype=torch.float64)
                if x.dim() == 0 or x.shape[0] < 2:
                    raise ValueError("a profile needs two queries or more")
                x = x.reshape(x.shape[0], -1)
                successive, nearest = [], []
                for t in range(1, x.shape[0]):
                    gaps = torch.linalg.vector_norm(x[:t] - x[t], dim=1)
                    successive.append(float(gaps[-1]))
                    nearest.append(float(gaps.min()))
                return np.array([np.median(successive), np.median(nearest)], dtype=np.float64)
            '''
        ),
        "flag_clients": answer(
            """
            def flag_clients(api, benign_profiles, threshold=5.0, window=50, min_queries=20):
                reference = np.asarray(benign_profiles, dtype=np.float64)
                centre, spread = reference.mean(axis=0), reference.std(axis=0)

                def score(client):
                    recent = api.logged_inputs(client)[-window:]
                    return float(np.max(np.abs((query_profile(recent) - centre) / spread)))

                return sorted(
                    client
                    for client in api.clients()
                    if len(api.logged_inputs(client)) >= min_queries and score(client) > threshold
                )
            """
        ),
    },
    why="random queries and a linear solve, scaled unit vectors, a DataLoader with explicit soft "
    "cross-entropy, a float32 agreement, torch distances, a generator expression",
)

VARIANTS = [
    CORRECT,
    Variant(
        "log-instead-of-logit-and-agreement-counts",
        {
            "steal_logistic_regression": answer(
                """
                def steal_logistic_regression(api):
                    if api.output == "label":
                        raise ValueError("labels only")
                    d = api.n_features
                    p = np.clip(api(np.vstack([np.zeros(d), np.eye(d)]))[:, 1], 1e-12, 1.0)
                    z = np.log(p)
                    return (z[1:] - z[0]).astype(np.float64), float(z[0])
                """
            ),
            "agreement": answer(
                """
                def agreement(victim, surrogate, x):
                    if len(x) == 0:
                        raise ValueError("empty")

                    def labels(model):
                        if isinstance(model, nn.Module):
                            with torch.no_grad():
                                return model.eval()(x).argmax(dim=1).numpy()
                        return np.asarray(model.predict(x.flatten(1).numpy()))

                    return float(np.sum(labels(victim) == labels(surrogate)))
                """
            ),
        },
        loses=("test_steal_logistic_regression", "test_agreement"),
        why="log(p) taken for the linear score (not the logit); agreement counts the matches "
        "instead of returning the fraction (extract_model, correct, must keep its points)",
    ),
    Variant(
        "hard-labels-from-probabilities-and-mean-profile",
        {
            "extract_model": answer(
                """
                def extract_model(api, query_x, surrogate, *, epochs=60, lr=1e-2, batch_size=64, seed=0):
                    answers = api(query_x)
                    labels = answers if answers.ndim == 1 else answers.argmax(axis=1)
                    x = torch.as_tensor(query_x, dtype=torch.float32)
                    y = torch.as_tensor(labels).long()
                    generator = torch.Generator().manual_seed(seed)
                    optimizer = torch.optim.Adam(surrogate.parameters(), lr=lr)
                    surrogate.train()
                    for _ in range(epochs):
                        order = torch.randperm(len(x), generator=generator)
                        for i in range(0, len(x), batch_size):
                            batch = order[i : i + batch_size]
                            optimizer.zero_grad()
                            F.cross_entropy(surrogate(x[batch]), y[batch]).backward()
                            optimizer.step()
                    return surrogate.eval()
                """
            ),
            "query_profile": answer(
                """
                def query_profile(queries):
                    x = np.asarray(queries, dtype=np.float64)
                    if len(x) < 2:
                        raise ValueError("need two queries")
                    x = x.reshape(len(x), -1)
                    succ = [np.linalg.norm(x[t] - x[t - 1]) for t in range(1, len(x))]
                    near = [min(np.linalg.norm(x[t] - x[s]) for s in range(t)) for t in range(1, len(x))]
                    return np.array([np.mean(succ), np.mean(near)])
                """
            ),
        },
        loses=("test_extract_model", "test_query_profile"),
        why="trains on the argmax of probability answers (soft targets thrown away); the mean "
        "of the distances instead of the median",
    ),
    Variant(
        "uncentred-softmax-and-min-queries-boundary",
        {
            "steal_softmax_regression": answer(
                """
                def steal_softmax_regression(api):
                    if api.output == "label":
                        raise ValueError("labels only")
                    d = api.n_features
                    L = np.log(np.clip(api(np.vstack([np.zeros(d), np.eye(d)])), 1e-300, None))
                    return (L[1:] - L[0]).T.astype(np.float64), L[0].astype(np.float64)
                """
            ),
            "flag_clients": answer(
                """
                def flag_clients(api, benign_profiles, threshold=5.0, window=50, min_queries=20):
                    mean, std = benign_profiles.mean(axis=0), benign_profiles.std(axis=0)
                    flagged = []
                    for client in api.clients():
                        sent = api.logged_inputs(client)
                        if len(sent) <= min_queries:
                            continue
                        if np.abs((query_profile(sent[-window:]) - mean) / std).max() > threshold:
                            flagged.append(client)
                    return sorted(flagged)
                """
            ),
        },
        loses=("test_steal_softmax_regression", "test_flag_clients"),
        why="the softmax parameters are not centred; clients with exactly min_queries queries "
        "are skipped",
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
