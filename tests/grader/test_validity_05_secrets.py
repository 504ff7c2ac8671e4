"""Grading validity of Lab 05: its five graded functions, from the student's contracts.

Written from the docstrings of labs/05-secrets/05-secrets.ipynb (see validity.py): one submission
answers every function with a different, correct implementation (full marks); two submissions
carry plausible mistakes, grouped so that each group's test cells do not call each other's
functions. Three FAST runs of the notebook in all.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "05-secrets"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

SEQUENCE_LOG_PERPLEXITY = answer(
    '''
    def sequence_log_perplexity(model, text):
        """Windows built by hand, one row per character; log2 of the softmax probabilities."""
        if not isinstance(text, str) or text == "":
            raise ValueError("text must be a non-empty str")
        ids = model.encode(text).tolist()
        padded = [model.pad_id] * model.context + ids
        rows = [padded[i : i + model.context] for i in range(len(ids))]
        device = next(model.parameters()).device
        model.eval()
        with torch.no_grad():
            logits = model(torch.tensor(rows, dtype=torch.long, device=device))
            logp = torch.log_softmax(logits, dim=-1)[torch.arange(len(ids)), ids]
        return float(-(logp / math.log(2)).sum())
    '''
)

EXPOSURE = answer(
    '''
    import bisect
    import statistics


    def exposure(model, canary, candidate_space, *, max_enumerate=10_000, n_samples=1000, seed=0):
        """Enumeration by bisection in the sorted scores; the estimate with logsf(-z)."""
        if not candidate_space.contains(canary):
            raise ValueError("the canary is not a candidate")
        bits_max = math.log2(candidate_space.size)
        mine = sequence_log_perplexity(model, candidate_space.text(canary))
        if candidate_space.size <= max_enumerate:
            others = sorted(
                sequence_log_perplexity(model, candidate_space.text(r))
                for r in candidate_space.all_secrets()
            )
            rank = bisect.bisect_left(others, mine) + 1
            return bits_max - math.log2(rank)
        sample = [
            sequence_log_perplexity(model, candidate_space.text(r))
            for r in candidate_space.sample(n_samples, seed=seed)
        ]
        z = (mine - statistics.fmean(sample)) / statistics.pstdev(sample)
        estimate = -float(norm.logsf(-z)) / math.log(2)  # logcdf(z) == logsf(-z)
        return float(min(bits_max, max(estimate, 0.0)))
    '''
)

EXTRACT_SECRET = answer(
    '''
    def extract_secret(model, prefix, *, length=6, alphabet="0123456789", beam_width=10):
        """Beam search scored by sequence_log_perplexity itself: slow, simple, correct."""
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError("length must be >= 1")
        if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError("beam_width must be >= 1")
        if len(alphabet) == 0:
            raise ValueError("alphabet must not be empty")
        kept = [""]
        for _ in range(length):
            scored = []
            for partial in kept:
                for char in alphabet:
                    guess = partial + char
                    scored.append((sequence_log_perplexity(model, prefix + guess), guess))
            scored.sort()
            kept = [guess for _, guess in scored[:beam_width]]
        return kept[0]
    '''
)

SCRUB_PII = answer(
    r'''
    EMAIL = re.compile(r"[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
    PHONE = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{3}-[0-9]{4}(?![0-9])")
    CARD = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
    LONG_RUN = re.compile(r"[0-9]{4,}")


    def scrub_pii(text):
        """Compiled patterns applied in the contract's order."""
        if type(text) is not str:
            raise ValueError("text must be a str")
        for pattern, tag in ((EMAIL, "<EMAIL>"), (PHONE, "<PHONE>"), (CARD, "<CARD>"), (LONG_RUN, "<NUMBER>")):
            text = pattern.sub(tag, text)
        return text
    '''
)

TRAIN_DP = answer(
    '''
    def train_dp(
        model,
        texts,
        *,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        epochs=2,
        batch_size=1024,
        lr=1e-2,
        delta=1e-5,
        seed=0,
    ):
        """Opacus make_private; a step counter per epoch; the accountant read at the end."""
        if noise_multiplier <= 0:
            raise ValueError("noise_multiplier must be > 0")
        if max_grad_norm <= 0:
            raise ValueError("max_grad_norm must be > 0")
        seed_everything(seed)
        windows, targets = make_windows(model, texts)
        dev = next(model.parameters()).device
        engine = PrivacyEngine(accountant="rdp")
        wrapped, opt, batches = engine.make_private(
            module=model,
            optimizer=torch.optim.Adam(model.parameters(), lr=lr),
            data_loader=DataLoader(
                TensorDataset(windows, targets), batch_size=batch_size, shuffle=True
            ),
            noise_multiplier=noise_multiplier,
            max_grad_norm=max_grad_norm,
        )
        wrapped.train()
        for epoch in range(epochs):
            for inputs, labels in batches:
                if inputs.numel() == 0:
                    continue
                opt.zero_grad()
                loss = F.cross_entropy(wrapped(inputs.to(dev)), labels.to(dev))
                loss.backward()
                opt.step()
        spent = engine.accountant.get_epsilon(delta=delta)
        wrapped.to_standard_module()
        model.eval()
        return float(spent)
    '''
)

CORRECT = Variant(
    "alternatives",
    {
        "sequence_log_perplexity": SEQUENCE_LOG_PERPLEXITY,
        "exposure": EXPOSURE,
        "extract_secret": EXTRACT_SECRET,
        "scrub_pii": SCRUB_PII,
        "train_dp": TRAIN_DP,
    },
    why="every function written differently from the solution, from its contract",
)

VARIANTS = [
    CORRECT,
    Variant(
        "nats-words-hooks",
        {
            "sequence_log_perplexity": answer(
                """
                def sequence_log_perplexity(model, text):
                    if not isinstance(text, str) or not text:
                        raise ValueError("empty text")
                    model.eval()
                    windows, targets = make_windows(model, [text])
                    device = next(model.parameters()).device
                    with torch.no_grad():
                        logp = F.log_softmax(model(windows.to(device)), dim=1)
                    # natural logs: nats, not bits
                    return float(-logp.gather(1, targets.to(device)[:, None]).sum())
                """
            ),
            "scrub_pii": answer(
                r"""
                def scrub_pii(text):
                    if not isinstance(text, str):
                        raise ValueError("text must be a str")
                    text = re.sub(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", "<EMAIL>", text)
                    text = re.sub(r"\b\d{3}-\d{3}-\d{4}\b", "<PHONE>", text)
                    text = re.sub(r"\b\d(?:[ -]?\d){12,18}\b", "<CARD>", text)
                    # whole words only: digits inside a word ("x9999") stay
                    return re.sub(r"\b\d{4,}\b", "<NUMBER>", text)
                """
            ),
            "train_dp": answer(
                """
                def train_dp(model, texts, *, noise_multiplier=1.0, max_grad_norm=1.0, epochs=2,
                             batch_size=1024, lr=1e-2, delta=1e-5, seed=0):
                    if not noise_multiplier > 0 or not max_grad_norm > 0:
                        raise ValueError("noise_multiplier and max_grad_norm must be > 0")
                    seed_everything(seed)
                    x, y = make_windows(model, texts)
                    device = next(model.parameters()).device
                    engine = PrivacyEngine(accountant="rdp")
                    private, optimizer, loader = engine.make_private(
                        module=model,
                        optimizer=torch.optim.Adam(model.parameters(), lr=lr),
                        data_loader=DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True),
                        noise_multiplier=noise_multiplier,
                        max_grad_norm=max_grad_norm,
                    )
                    for _ in range(epochs):
                        for xb, yb in loader:
                            if len(xb):
                                optimizer.zero_grad()
                                F.cross_entropy(private(xb.to(device)), yb.to(device)).backward()
                                optimizer.step()
                    model.eval()  # Opacus' hooks are left on the model
                    return float(engine.get_epsilon(delta))
                """
            ),
        },
        loses=("test_sequence_log_perplexity", "test_scrub_pii", "test_train_dp"),
        why="log-perplexity in nats; long digit runs only as whole words; Opacus never detached",
    ),
    Variant(
        "uncapped-greedy",
        {
            "exposure": answer(
                """
                def exposure(model, canary, candidate_space, *, max_enumerate=10_000, n_samples=1000, seed=0):
                    if not candidate_space.contains(canary):
                        raise ValueError("not a candidate")
                    target = sequence_log_perplexity(model, candidate_space.text(canary))
                    if candidate_space.size <= max_enumerate:
                        scores = [sequence_log_perplexity(model, candidate_space.text(r))
                                  for r in candidate_space.all_secrets()]
                        rank = 1 + sum(s < target for s in scores)
                        return float(math.log2(candidate_space.size) - math.log2(rank))
                    scores = np.array([sequence_log_perplexity(model, candidate_space.text(r))
                                       for r in candidate_space.sample(n_samples, seed=seed)])
                    z = (target - scores.mean()) / scores.std()
                    return float(max(0.0, -norm.logcdf(z) / math.log(2)))  # no cap at log2 |R|
                """
            ),
            "extract_secret": answer(
                """
                def extract_secret(model, prefix, *, length=6, alphabet="0123456789", beam_width=10):
                    if length < 1 or beam_width < 1 or not alphabet:
                        raise ValueError("bad search parameters")
                    found = ""
                    for _ in range(length):  # greedy, whatever beam_width says
                        found += min(alphabet, key=lambda c: sequence_log_perplexity(model, prefix + found + c))
                    return found
                """
            ),
        },
        loses=("test_exposure", "test_extract_secret"),
        why="the estimate is not capped at log2 |R|; the search keeps one candidate whatever "
        "beam_width is (greedy decoding)",
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
