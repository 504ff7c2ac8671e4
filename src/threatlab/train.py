"""One training loop and the evaluation helpers every lab shares."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_labels, check_positive_int
from .device import seed_everything
from .env import quiet

Perturb = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _model_device(model: nn.Module) -> torch.device:
    """The device the model's parameters live on."""
    return next(model.parameters()).device


def _check_batch(x: object, y: object) -> None:
    """Images and labels must be tensors with matching lengths."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(
            f"x must be a batch tensor of shape (N, ...), got {getattr(x, 'shape', type(x))}."
        )
    check_labels(y, x.shape[0])


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 5,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int | None = None,
    perturb: Perturb | None = None,
    weight_decay: float = 0.0,
    desc: str = "training",
    progress: bool = True,
) -> list[float]:
    """Train ``model`` with Adam and cross-entropy; return the mean loss of each epoch.

    ``perturb(model, xb, yb)``, when given, replaces each batch before the update step; pass an
    attack to get adversarial training. ``weight_decay`` adds an L2 penalty on the weights
    (``torch.optim.Adam``'s ``weight_decay``), the plainest regulariser. Data is moved batch by
    batch to the model's device, and the progress bar is silent under tests and CI
    (``THREATLAB_QUIET``/``CI``) or with ``progress=False`` (e.g. inside a loop over many models).
    """
    _check_batch(x, y)
    if len(x) == 0:
        raise ValueError("train needs at least one example, got an empty batch.")
    check_positive_int(epochs, "epochs")
    check_positive_int(batch_size, "batch_size")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise ValueError(f"weight_decay must be a number >= 0, got {weight_decay!r}.")
    weight_decay = float(weight_decay)
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}.")
    if seed is not None:
        seed_everything(seed)
    device = _model_device(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    # Shuffling follows `seed`, or else the global torch RNG (itself set by seed_everything).
    shuffle_seed = seed if seed is not None else int(torch.randint(0, 2**31 - 1, ()).item())
    generator = torch.Generator().manual_seed(shuffle_seed)
    history: list[float] = []
    bar = tqdm(range(epochs), desc=desc, disable=quiet() or not progress, leave=False)
    for _ in bar:
        order = torch.randperm(x.shape[0], generator=generator)
        total, count = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            idx = order[start : start + batch_size]
            xb, yb = x[idx].to(device), y[idx].to(device)
            if perturb is not None:
                model.eval()
                xb = perturb(model, xb, yb).detach()
            model.train()
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        history.append(total / count)
        bar.set_postfix(loss=f"{history[-1]:.3f}")
    optimizer.zero_grad(set_to_none=True)  # leave no stale gradients for attacks to trip over
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted class of every input, as a CPU tensor of shape (N,)."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(
            f"x must be a batch tensor of shape (N, ...), got {getattr(x, 'shape', type(x))}."
        )
    was_training = model.training
    model.eval()
    device = _model_device(model)
    out = [
        model(x[i : i + batch_size].to(device)).argmax(1).cpu()
        for i in range(0, len(x), batch_size)
    ]
    model.train(was_training)
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of inputs the model classifies correctly, in [0, 1]."""
    _check_batch(x, y)
    if len(y) == 0:
        raise ValueError("accuracy needs at least one example, got an empty batch.")
    return (predict(model, x, batch_size) == y.cpu()).float().mean().item()
