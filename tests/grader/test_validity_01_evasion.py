"""Grading validity of Lab 01 (evasion), written from the learner's contracts (see validity.py).

The contracts (labs/01-evasion): ``fgsm`` is clamp(x + eps * sign(grad_x CE), 0, 1), detached, no
parameter gradients; ``pgd`` takes sign steps of alpha from an optional uniform random start and
projects onto the eps-ball and [0, 1] after every step; ``robust_accuracy`` gives one Python float
per budget; ``adversarial_training`` trains in place on PGD examples crafted per mini-batch against
the current model and returns per-epoch "loss" and "adv_accuracy"; ``pgd_with_restarts`` keeps, per
example, a run that fools the model if any does, else the highest-loss one; ``masking_red_flags``
returns the failing checks in the documented order.

Four submissions: one alternative-correct for every function, and three that combine mistakes whose
test cells do not depend on each other. FGSM training is kept apart from any ``pgd`` mistake, so
that its lost points come from the adversarial-training test alone.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "01-evasion"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

FGSM = answer(
    '''
    def fgsm(model, x, y, eps):
        """A zero perturbation that requires grad; summed loss (same sign as the mean)."""
        delta = torch.zeros_like(x, requires_grad=True)
        loss = F.cross_entropy(model(x.detach() + delta), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta)
        return torch.clamp(x.detach() + eps * torch.sign(grad), min=0.0, max=1.0)
    '''
)

PGD = answer(
    '''
    def pgd(model, x, y, eps, alpha, steps, random_start=True):
        """Projects onto the box [max(x - eps, 0), min(x + eps, 1)] in one step."""
        x0 = x.detach()
        low, high = (x0 - eps).clamp(min=0.0), (x0 + eps).clamp(max=1.0)
        adv = x0 + (torch.rand_like(x0) * 2 - 1) * eps if random_start else x0.clone()
        adv = torch.max(torch.min(adv, high), low)
        for _ in range(steps):
            adv = adv.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(adv), y, reduction="sum"), adv)
            adv = torch.max(torch.min(adv.detach() + alpha * grad.sign(), high), low)
        return adv.detach()
    '''
)

ROBUST_ACCURACY = answer(
    '''
    def robust_accuracy(model, x, y, attack, eps_values):
        """Counts hits itself and returns the exact fraction (float64, not threatlab's float32)."""
        points = []
        for eps in eps_values:
            x_adv = attack(model, x, y, eps)
            with torch.no_grad():
                hits = (model(x_adv).argmax(dim=1) == y).sum().item()
            points.append(hits / len(y))
        return points
    '''
)

ADVERSARIAL_TRAINING = answer(
    '''
    def adversarial_training(model, x, y, *, eps, alpha, steps, epochs, batch_size=32, lr=1e-3, seed=0):
        """threatlab's train with a perturb hook that also scores each adversarial batch."""
        hits = []

        def perturb(m, xb, yb):
            x_adv = pgd(m, xb, yb, eps, alpha, steps)
            with torch.no_grad():
                hits.append((int((m(x_adv).argmax(dim=1) == yb).sum()), len(yb)))
            return x_adv

        losses = train(
            model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
            perturb=perturb, progress=False,
        )
        per_epoch = -(-len(x) // batch_size)
        adv_accuracy = []
        for epoch in range(epochs):
            chunk = hits[epoch * per_epoch : (epoch + 1) * per_epoch]
            adv_accuracy.append(sum(h for h, _ in chunk) / sum(n for _, n in chunk))
        model.eval()
        return {"loss": [float(v) for v in losses], "adv_accuracy": adv_accuracy}
    '''
)

PGD_WITH_RESTARTS = answer(
    '''
    def pgd_with_restarts(model, x, y, eps, alpha, steps, restarts):
        """All runs first, then per example: the first fooling run, else the highest loss."""
        runs = torch.stack(
            [pgd(model, x, y, eps, alpha, steps, random_start=True) for _ in range(restarts)]
        )
        with torch.no_grad():
            logits = [model(run) for run in runs]
        losses = torch.stack([F.cross_entropy(out, y, reduction="none") for out in logits])
        fooled = torch.stack([out.argmax(dim=1) != y for out in logits])
        first_fooling = fooled.float().argmax(dim=0)
        pick = torch.where(fooled.any(dim=0), first_fooling, losses.argmax(dim=0))
        return runs[pick, torch.arange(len(y), device=pick.device)].detach()
    '''
)

MASKING_RED_FLAGS = answer(
    '''
    def masking_red_flags(acc, tol=0.02):
        """A table of named rules, evaluated in order."""
        rules = (
            ("pgd_weaker_than_fgsm", lambda a: a["pgd"] > a["fgsm"] + tol),
            ("more_steps_restarts_raise_accuracy", lambda a: a["pgd_strong"] > a["pgd"] + tol),
            ("large_eps_does_not_break_model", lambda a: a["pgd_large_eps"] > tol),
            ("transfer_beats_white_box", lambda a: a["transfer"] < a["pgd"] - tol),
        )
        return [name for name, fails in rules if fails(acc)]
    '''
)

VARIANTS = [
    Variant(
        "alternative-correct",
        {
            "fgsm": FGSM,
            "pgd": PGD,
            "robust_accuracy": ROBUST_ACCURACY,
            "adversarial_training": ADVERSARIAL_TRAINING,
            "pgd_with_restarts": PGD_WITH_RESTARTS,
            "masking_red_flags": MASKING_RED_FLAGS,
        },
        why=(
            "summed losses, a box projection, exact-fraction accuracies, train()'s perturb hook "
            "that scores the batches, restarts picked after all runs, a table of rules"
        ),
    ),
    Variant(
        "fgsm-training",
        {
            "adversarial_training": answer(
                """
                def adversarial_training(model, x, y, *, eps, alpha, steps, epochs, batch_size=32, lr=1e-3, seed=0):
                    hits = []

                    def perturb(m, xb, yb):
                        x_adv = fgsm(m, xb, yb, eps)  # one step: cheaper than PGD
                        with torch.no_grad():
                            hits.append(float((m(x_adv).argmax(dim=1) == yb).float().mean()))
                        return x_adv

                    losses = train(
                        model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                        perturb=perturb, progress=False,
                    )
                    per_epoch = len(hits) // epochs
                    return {
                        "loss": losses,
                        "adv_accuracy": [
                            sum(hits[e * per_epoch : (e + 1) * per_epoch]) / per_epoch
                            for e in range(epochs)
                        ],
                    }
                """
            ),
            "masking_red_flags": answer(
                """
                def masking_red_flags(acc, tol=0.02):
                    flags = []
                    if acc["pgd"] > acc["fgsm"] + tol:
                        flags.append("pgd_weaker_than_fgsm")
                    if acc["pgd_strong"] > acc["pgd"] + tol:
                        flags.append("more_steps_restarts_raise_accuracy")
                    if acc["pgd_large_eps"] > tol:
                        flags.append("large_eps_does_not_break_model")
                    if acc["transfer"] > acc["pgd"] + tol:
                        flags.append("transfer_beats_white_box")
                    return flags
                """
            ),
        },
        loses=("test_adversarial_training", "test_masking_red_flags"),
        why=(
            "trains on one-step FGSM examples instead of PGD; flags transfer when it is WEAKER "
            "than white-box (comparison reversed)"
        ),
    ),
    Variant(
        "no-clamp-clean-accuracy-max-loss",
        {
            "fgsm": answer(
                """
                def fgsm(model, x, y, eps):
                    x_adv = x.detach().clone().requires_grad_(True)
                    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
                    return (x.detach() + eps * grad.sign()).detach()
                """
            ),
            "robust_accuracy": answer(
                """
                def robust_accuracy(model, x, y, attack, eps_values):
                    results = []
                    for eps in eps_values:
                        attack(model, x, y, eps)
                        results.append(float(accuracy(model, x, y)))
                    return results
                """
            ),
            "pgd_with_restarts": answer(
                """
                def pgd_with_restarts(model, x, y, eps, alpha, steps, restarts):
                    best, best_loss = None, None
                    for _ in range(restarts):
                        candidate = pgd(model, x, y, eps, alpha, steps, random_start=True)
                        with torch.no_grad():
                            loss = F.cross_entropy(model(candidate), y, reduction="none")
                        if best is None:
                            best, best_loss = candidate, loss
                            continue
                        better = loss > best_loss
                        best = torch.where(better.view(-1, 1, 1, 1), candidate, best)
                        best_loss = torch.maximum(loss, best_loss)
                    return best.detach()
                """
            ),
        },
        loses=("test_fgsm", "test_robust_accuracy", "test_pgd_with_restarts"),
        why=(
            "FGSM without the clamp to [0, 1]; robust_accuracy scores the clean images, not the "
            "attacked ones; restarts keep the highest loss even where another run fooled the model"
        ),
    ),
    Variant(
        "sign-error-no-projection",
        {
            "fgsm": answer(
                """
                def fgsm(model, x, y, eps):
                    x_adv = x.detach().clone().requires_grad_(True)
                    (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
                    return (x.detach() - eps * grad.sign()).clamp(0, 1).detach()
                """
            ),
            "pgd": answer(
                """
                def pgd(model, x, y, eps, alpha, steps, random_start=True):
                    x_adv = x.detach().clone()
                    if random_start:
                        x_adv = (x_adv + torch.empty_like(x_adv).uniform_(-eps, eps)).clamp(0, 1)
                    for _ in range(steps):
                        x_adv.requires_grad_(True)
                        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
                        x_adv = (x_adv.detach() + alpha * grad.sign()).clamp(0, 1)
                    return x_adv.detach()
                """
            ),
        },
        loses=("test_fgsm", "test_pgd"),
        why="FGSM steps DOWN the loss (sign error); PGD never projects back onto the eps-ball",
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
