"""Reference L-infinity evasion attacks (FGSM, PGD) for the labs after Lab 01.

Lab 01's learners write ``fgsm`` and ``pgd`` themselves; later labs (e.g. Lab 08, which attacks a
detector) import these instead, with the same contracts::

    from threatlab.reference.evasion import fgsm, pgd
    x_adv = pgd(model, x, y, eps=0.3, alpha=0.01, steps=40)

``pgd`` also takes ``loss_fn``: any differentiable loss of ``(model, x_adv, y)`` to maximise,
which is how an *adaptive* attack folds a defense into the objective (Tramer et al., 2020).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_positive_int

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _cross_entropy(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x_adv), y)


def _check(x: object, y: object, eps: object) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim < 2:
        what = (
            f"shape {tuple(x.shape)}, dtype {x.dtype}"
            if isinstance(x, torch.Tensor)
            else type(x).__name__
        )
        raise ValueError(
            f"x must be a float tensor of shape (N, ...) with values in [0, 1], got {what}."
        )
    if x.numel() and (x.min().item() < 0 or x.max().item() > 1):
        raise ValueError("x must hold values in [0, 1] (images scaled to the pixel range).")
    if not isinstance(y, torch.Tensor) or y.shape != x.shape[:1] or y.dtype != torch.long:
        what = (
            f"shape {tuple(y.shape)}, dtype {y.dtype}"
            if isinstance(y, torch.Tensor)
            else type(y).__name__
        )
        raise ValueError(f"y must be a torch.long tensor of shape ({len(x)},), got {what}.")
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}.")


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Untargeted FGSM (Goodfellow et al., 2015): clamp(x + eps * sign(grad_x CE), 0, 1).

    Returns a detached tensor like ``x`` within ``eps`` of it (L-infinity); ``x`` and the model's
    parameter gradients are left untouched.
    """
    _check(x, y, eps)
    x = x.detach()
    x_adv = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_cross_entropy(model, x_adv, y), x_adv)
    return (x + eps * grad.sign()).clamp(0.0, 1.0).detach()


def pgd(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    alpha: float,
    steps: int,
    random_start: bool = True,
    *,
    loss_fn: LossFn | None = None,
) -> torch.Tensor:
    """Untargeted L-infinity PGD (Madry et al., 2018), optionally on a loss of your choice.

    Each of ``steps`` iterations moves ``alpha * sign(grad)`` up ``loss_fn(model, x_adv, y)``
    (default: the cross-entropy of ``model(x_adv)`` and ``y``), then clips to ``[x - eps, x + eps]``
    and to [0, 1]. ``random_start`` begins from uniform noise in the eps-ball. ``loss_fn`` must
    return a scalar tensor that is differentiable in ``x_adv``; for non-differentiable steps in a
    defense, use a straight-through estimate inside it (BPDA, Athalye et al., 2018).

    Returns a detached tensor like ``x``; no side effects on ``x`` or the model's gradients.
    """
    _check(x, y, eps)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or alpha <= 0:
        raise ValueError(f"alpha must be a number > 0, got {alpha!r}.")
    steps = check_positive_int(steps, "steps")
    if loss_fn is not None and not callable(loss_fn):
        raise ValueError("loss_fn must be a function loss_fn(model, x_adv, y) -> scalar tensor.")
    loss_fn = loss_fn or _cross_entropy
    x = x.detach()
    x_adv = x.clone()
    if random_start:
        x_adv = (x_adv + torch.empty_like(x).uniform_(-eps, eps)).clamp(0.0, 1.0)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = loss_fn(model, x_adv, y)
        if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
            raise ValueError("loss_fn must return a scalar tensor (e.g. a mean over the batch).")
        (grad,) = torch.autograd.grad(loss.reshape(()), x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.max(torch.min(x_adv, x + eps), x - eps).clamp(0.0, 1.0)
    return x_adv.detach()
