"""Grading validity of Lab 03: its eight graded functions, from the student's contracts.

Written from the docstrings of labs/03-membership/03-membership.ipynb (see validity.py): one
submission answers every function with a different, correct implementation (full marks); three
submissions carry plausible mistakes, grouped so that each group's test cells do not depend on
each other's functions. Four FAST runs of the notebook in all.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "03-membership"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

MEMBERSHIP_SCORES = answer(
    '''
    def membership_scores(model, x, y, batch_size=512):
        """log_softmax and gather, one batch at a time, labels checked against the logits."""
        if not torch.is_tensor(x) or x.dim() < 2:
            raise ValueError("x must be a tensor of shape (N, ...)")
        check_labels(y, len(x))
        model.eval()
        device = next(model.parameters()).device
        out = torch.empty(len(x), dtype=torch.float32)
        with torch.no_grad():
            for lo in range(0, len(x), batch_size):
                hi = min(lo + batch_size, len(x))
                logp = torch.log_softmax(model(x[lo:hi].to(device)), dim=-1)
                labels = y[lo:hi].long().to(device)
                if bool((labels < 0).any()) or bool((labels >= logp.shape[-1]).any()):
                    raise ValueError("a label is not a class of the model")
                out[lo:hi] = logp[torch.arange(hi - lo, device=device), labels].float().cpu()
        return out
    '''
)

MEMBERSHIP_ADVANTAGE = answer(
    '''
    import numbers


    def membership_advantage(scores, is_member, threshold):
        """Counts, not means: hits among members over members, minus the same for non-members."""
        check_scores(scores)
        check_membership(is_member, len(scores))
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise ValueError("threshold must be a real number")
        says = (scores - threshold >= 0).cpu()
        members = is_member.cpu()
        n_in, n_out = int(members.sum()), int((~members).sum())
        hits_in = int((says & members).sum())
        hits_out = int((says & ~members).sum())
        return hits_in / n_in - hits_out / n_out
    '''
)

ROC_CURVE_POINTS = answer(
    '''
    def roc_curve_points(scores, is_member):
        """Distinct scores with torch.unique, then members and non-members counted per level."""
        check_scores(scores)
        check_membership(is_member, scores.shape[0])
        levels, where = torch.unique(scores.detach().double().cpu(), return_inverse=True)
        members = is_member.cpu()
        per_level_in = torch.bincount(where[members], minlength=len(levels)).double()
        per_level_out = torch.bincount(where[~members], minlength=len(levels)).double()
        # unique sorts ascending: the highest level first means flipping before the cumsum
        tp = torch.cumsum(per_level_in.flip(0), 0)
        fp = torch.cumsum(per_level_out.flip(0), 0)
        start = torch.tensor([0.0], dtype=torch.float64)
        return (
            torch.cat([start, fp / members.logical_not().sum()]),
            torch.cat([start, tp / members.sum()]),
        )
    '''
)

TPR_AT_FPR = answer(
    '''
    import math


    def tpr_at_fpr(scores, is_member, fpr):
        """Walk the curve's points; keep the best TPR among those within the FPR budget."""
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or math.isnan(fpr):
            raise ValueError("fpr must be a number in [0, 1]")
        if fpr < 0 or fpr > 1:
            raise ValueError("fpr must be in [0, 1]")
        xs, ys = roc_curve_points(scores, is_member)
        best = 0.0
        for x_point, y_point in zip(xs.tolist(), ys.tolist()):
            if x_point <= fpr + 1e-12:
                best = max(best, y_point)
        return float(best)
    '''
)

LOGIT_CONFIDENCE = answer(
    '''
    def logit_confidence(model, x, y, batch_size=512):
        """Mask the true class with -inf via masked_fill, then z_y - logsumexp(others)."""
        if not isinstance(x, torch.Tensor) or x.ndim < 2:
            raise ValueError("x must be a batch tensor of shape (N, ...)")
        check_labels(y, x.shape[0])
        model.eval()
        device = next(model.parameters()).device
        chunks = []
        with torch.no_grad():
            for lo in range(0, x.shape[0], batch_size):
                z = model(x[lo : lo + batch_size].to(device)).to(torch.float64)
                labels = y[lo : lo + batch_size].long().to(device)
                if labels.numel() and (labels.min() < 0 or labels.max() >= z.shape[1]):
                    raise ValueError("labels must be classes of the model")
                onehot = torch.nn.functional.one_hot(labels, z.shape[1]).bool()
                z_true = (z * onehot).sum(dim=1)
                rest = torch.logsumexp(z.masked_fill(onehot, float("-inf")), dim=1)
                chunks.append((z_true - rest).cpu())
        if not chunks:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat(chunks)
    '''
)

LIRA_FIT = answer(
    '''
    def lira_fit(shadow_phi, shadow_in):
        """Means with NaN-masking (nanmean), then one pooled std per side."""
        if not torch.is_tensor(shadow_phi) or shadow_phi.dim() != 2:
            raise ValueError("shadow_phi must be 2-D")
        if not shadow_phi.dtype.is_floating_point:
            raise ValueError("shadow_phi must be floating-point")
        if not torch.is_tensor(shadow_in) or shadow_in.dtype is not torch.bool:
            raise ValueError("shadow_in must be a bool tensor")
        if tuple(shadow_in.shape) != tuple(shadow_phi.shape):
            raise ValueError("shadow_in and shadow_phi must have the same shape")
        bad = [n for n in range(shadow_in.shape[1]) if shadow_in[:, n].all() or not shadow_in[:, n].any()]
        if bad:
            raise ValueError(f"candidates {bad[:5]} lack an IN or an OUT shadow model")
        phi = shadow_phi.to(torch.float64)
        nan = torch.tensor(float("nan"), dtype=torch.float64)
        mu_in = torch.where(shadow_in, phi, nan).nanmean(dim=0)
        mu_out = torch.where(~shadow_in, phi, nan).nanmean(dim=0)
        residual_in = (phi - mu_in[None, :])[shadow_in]
        residual_out = (phi - mu_out[None, :])[~shadow_in]
        return mu_in, mu_out, float(torch.std(residual_in)), float(torch.std(residual_out))
    '''
)

LIRA_SCORES = answer(
    '''
    import math


    def lira_scores(phi, mu_in, mu_out, sd_in, sd_out):
        """The two Gaussian log-densities written out, constants included."""
        check_scores(phi, "phi")
        if not (torch.is_tensor(mu_in) and torch.is_tensor(mu_out)):
            raise ValueError("mu_in and mu_out must be tensors")
        if mu_in.shape != phi.shape or mu_out.shape != phi.shape:
            raise ValueError("mu_in and mu_out must have phi's shape")
        s_in = torch.as_tensor(sd_in).double()
        s_out = torch.as_tensor(sd_out).double()
        if (s_in <= 0).any() or (s_out <= 0).any():
            raise ValueError("standard deviations must be positive")
        v = phi.double()

        def log_normal(mu, sd):
            return -((v - mu.double()) ** 2) / (2 * sd**2) - torch.log(sd) - 0.5 * math.log(2 * math.pi)

        return log_normal(mu_in, s_in) - log_normal(mu_out, s_out)
    '''
)

TRAIN_DP = answer(
    '''
    def train_dp(model, x, y, *, target_epsilon, delta, epochs, batch_size, max_grad_norm, lr, seed=0):
        """Opacus' make_private_with_epsilon; a while loop over epochs; to_standard_module()."""
        for name, v in (("target_epsilon", target_epsilon), ("max_grad_norm", max_grad_norm), ("lr", lr)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
                raise ValueError(f"{name} must be > 0")
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
            raise ValueError("delta must be in (0, 1)")
        for name, v in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int")
        if not torch.is_tensor(x) or x.dim() < 2:
            raise ValueError("x must be (N, ...)")
        check_labels(y, len(x))
        seed_everything(seed)
        dev = next(model.parameters()).device
        engine = PrivacyEngine(accountant="rdp")
        dp_model, dp_optimizer, dp_loader = engine.make_private_with_epsilon(
            module=model,
            optimizer=torch.optim.SGD(model.parameters(), lr=lr),
            data_loader=DataLoader(TensorDataset(x, y), batch_size=batch_size),
            target_epsilon=target_epsilon,
            target_delta=delta,
            epochs=epochs,
            max_grad_norm=max_grad_norm,
        )
        dp_model.train()
        done = 0
        while done < epochs:
            for inputs, labels in dp_loader:
                if inputs.shape[0] > 0:
                    dp_optimizer.zero_grad()
                    logits = dp_model(inputs.to(dev))
                    torch.nn.functional.cross_entropy(logits, labels.to(dev)).backward()
                    dp_optimizer.step()
            done += 1
        dp_optimizer.zero_grad(set_to_none=True)
        plain = dp_model.to_standard_module()
        plain.eval()
        return engine
    '''
)

CORRECT = Variant(
    "alternatives",
    {
        "membership_scores": MEMBERSHIP_SCORES,
        "membership_advantage": MEMBERSHIP_ADVANTAGE,
        "roc_curve_points": ROC_CURVE_POINTS,
        "tpr_at_fpr": TPR_AT_FPR,
        "logit_confidence": LOGIT_CONFIDENCE,
        "lira_fit": LIRA_FIT,
        "lira_scores": LIRA_SCORES,
        "train_dp": TRAIN_DP,
    },
    why="every function written differently from the solution, from its contract",
)

VARIANTS = [
    CORRECT,
    Variant(
        "loss-sd-noise",
        {
            "membership_scores": answer(
                """
                def membership_scores(model, x, y, batch_size=512):
                    if not isinstance(x, torch.Tensor) or x.ndim < 2:
                        raise ValueError("x must be (N, ...)")
                    check_labels(y, x.shape[0])
                    model.eval()
                    device = next(model.parameters()).device
                    with torch.no_grad():
                        logits = model(x.to(device))
                        if y.max() >= logits.shape[1] or y.min() < 0:
                            raise ValueError("bad label")
                        return F.cross_entropy(logits, y.long().to(device), reduction="none").float().cpu()
                """
            ),
            "lira_fit": answer(
                """
                def lira_fit(shadow_phi, shadow_in):
                    if not isinstance(shadow_phi, torch.Tensor) or shadow_phi.ndim != 2:
                        raise ValueError("2-D shadow_phi")
                    if not shadow_phi.is_floating_point():
                        raise ValueError("floating-point shadow_phi")
                    if not isinstance(shadow_in, torch.Tensor) or shadow_in.dtype != torch.bool:
                        raise ValueError("bool shadow_in")
                    if shadow_in.shape != shadow_phi.shape:
                        raise ValueError("same shape")
                    if (shadow_in.all(0) | ~shadow_in.any(0)).any():
                        raise ValueError("every candidate needs an IN and an OUT shadow")
                    phi = shadow_phi.double()
                    mu_in = (phi * shadow_in).sum(0) / shadow_in.sum(0)
                    mu_out = (phi * ~shadow_in).sum(0) / (~shadow_in).sum(0)
                    # the mean of per-candidate spreads, not one pooled spread
                    sd_in = torch.stack(
                        [phi[shadow_in[:, n], n].std(unbiased=False) for n in range(phi.shape[1])]
                    ).nanmean().item()
                    sd_out = torch.stack(
                        [phi[~shadow_in[:, n], n].std(unbiased=False) for n in range(phi.shape[1])]
                    ).nanmean().item()
                    return mu_in, mu_out, sd_in, sd_out
                """
            ),
            "train_dp": answer(
                """
                def train_dp(model, x, y, *, target_epsilon, delta, epochs, batch_size, max_grad_norm, lr, seed=0):
                    if not target_epsilon > 0 or not max_grad_norm > 0 or not lr > 0:
                        raise ValueError("budgets and rates must be > 0")
                    if not 0 < delta < 1:
                        raise ValueError("delta in (0, 1)")
                    check_positive_int(epochs, "epochs")
                    check_positive_int(batch_size, "batch_size")
                    check_labels(y, x.shape[0])
                    seed_everything(seed)
                    device = next(model.parameters()).device
                    engine = PrivacyEngine(accountant="rdp")
                    # noise fixed at 1.0: the target epsilon is never used to calibrate it
                    private, optimizer, loader = engine.make_private(
                        module=model,
                        optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                        data_loader=DataLoader(TensorDataset(x, y), batch_size=batch_size),
                        noise_multiplier=1.0,
                        max_grad_norm=max_grad_norm,
                    )
                    for _ in range(epochs):
                        for xb, yb in loader:
                            if len(xb):
                                optimizer.zero_grad()
                                F.cross_entropy(private(xb.to(device)), yb.to(device)).backward()
                                optimizer.step()
                    optimizer.zero_grad(set_to_none=True)
                    private.to_standard_module()
                    model.eval()
                    return engine
                """
            ),
        },
        loses=("test_membership_scores", "test_lira_fit", "test_train_dp"),
        why="returns the loss instead of minus the loss; averages per-candidate standard "
        "deviations instead of pooling the residuals; fixes the noise instead of spending the "
        "target epsilon",
    ),
    Variant(
        "ties-and-sd-terms",
        {
            "membership_advantage": answer(
                """
                def membership_advantage(scores, is_member, threshold):
                    check_scores(scores)
                    check_membership(is_member, scores.shape[0])
                    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
                        raise ValueError("threshold must be a real number")
                    called = scores > threshold  # a tie is not called a member
                    return (called[is_member].double().mean() - called[~is_member].double().mean()).item()
                """
            ),
            "roc_curve_points": answer(
                """
                def roc_curve_points(scores, is_member):
                    check_scores(scores)
                    check_membership(is_member, scores.shape[0])
                    order = torch.argsort(scores, descending=True)
                    members = is_member[order].double()
                    zero = torch.zeros(1, dtype=torch.float64)
                    # one point per example: equal scores do not enter together
                    tpr = torch.cat([zero, members.cumsum(0) / members.sum()])
                    fpr = torch.cat([zero, (1 - members).cumsum(0) / (1 - members).sum()])
                    return fpr, tpr
                """
            ),
            "lira_scores": answer(
                """
                def lira_scores(phi, mu_in, mu_out, sd_in, sd_out):
                    check_scores(phi, "phi")
                    if mu_in.shape != phi.shape or mu_out.shape != phi.shape:
                        raise ValueError("means must match phi")
                    if not (torch.as_tensor(sd_in) > 0).all() or not (torch.as_tensor(sd_out) > 0).all():
                        raise ValueError("sd must be positive")
                    phi = phi.double()
                    # the -log(sd) terms "cancel" (they do not when sd_in != sd_out)
                    return -((phi - mu_in.double()) ** 2) / (2 * sd_in**2) + (
                        (phi - mu_out.double()) ** 2
                    ) / (2 * sd_out**2)
                """
            ),
        },
        loses=("test_membership_advantage", "test_roc_curve_points", "test_lira_scores"),
        why="'>' instead of '>=' (ties are not members); one ROC point per example, so tied "
        "scores do not enter together; drops the -log(sd) terms of the log-densities",
    ),
    Variant(
        "naive-logit-interpolated-tpr",
        {
            "logit_confidence": answer(
                """
                def logit_confidence(model, x, y, batch_size=512):
                    if not isinstance(x, torch.Tensor) or x.ndim < 2:
                        raise ValueError("x must be (N, ...)")
                    check_labels(y, x.shape[0])
                    model.eval()
                    device = next(model.parameters()).device
                    with torch.no_grad():
                        p = torch.softmax(model(x.to(device)).double(), dim=1)
                        if y.max() >= p.shape[1] or y.min() < 0:
                            raise ValueError("bad label")
                        p_y = p[torch.arange(len(y)), y.long().to(device)].cpu()
                    return torch.log(p_y / (1 - p_y))  # inf where p_y rounds to 1
                """
            ),
            "tpr_at_fpr": answer(
                """
                import numpy as np


                def tpr_at_fpr(scores, is_member, fpr):
                    check_fraction(fpr, "fpr")
                    curve_fpr, curve_tpr = roc_curve_points(scores, is_member)
                    # linear interpolation between points, which the contract rules out
                    return float(np.interp(fpr, curve_fpr.numpy(), curve_tpr.numpy()))
                """
            ),
        },
        loses=("test_logit_confidence", "test_tpr_at_fpr"),
        why="computes log(p / (1 - p)) from the probability (infinite for confident members); "
        "interpolates the ROC curve instead of taking the best point within the FPR budget",
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
