"""Shadow models: many small copies of a model, each trained on a random part of the attacker's data.

Membership-inference attacks that learn from shadow models (Shokri et al., 2017; the likelihood
ratio attack, LiRA, of Carlini et al., 2022) need two pieces of bookkeeping that are not the attack
itself: *which* examples each shadow model trains on, and the loop that trains them. Both live here;
the attack's statistics are what a lab teaches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import check_labels, check_positive_int
from .device import seed_everything
from .env import quiet
from .train import train


def inclusion_masks(n_models: int, n_examples: int, *, seed: int = 0) -> torch.Tensor:
    """Which examples each shadow model trains on, balanced per example.

    Returns a bool tensor ``masks`` of shape (n_models, n_examples); ``masks[i, j]`` is True when
    model ``i`` trains on example ``j``. Every example is IN exactly ``n_models // 2`` models and
    OUT of the others (the construction in Carlini et al.'s LiRA code), so each example has as many
    "in" models as "out" models to learn from, and each model trains on about half the examples.
    The masks depend only on ``seed``, not on the global random state.

    Args:
        n_models: the number of shadow models, an even integer >= 2.
        n_examples: the number of candidate examples (the attacker's data), >= 1.
        seed: seed of the random assignment.
    """
    check_positive_int(n_models, "n_models")
    check_positive_int(n_examples, "n_examples")
    if n_models < 2 or n_models % 2:
        raise ValueError(
            f"n_models must be even and at least 2 (half IN, half OUT per example), got {n_models}."
        )
    generator = torch.Generator().manual_seed(int(seed))
    # A random ranking of the models in every column; the top half of each column trains on it.
    ranks = torch.rand(n_models, n_examples, generator=generator).argsort(0).argsort(0)
    return ranks < n_models // 2


def train_models(
    make_model: Callable[[], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    masks: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: torch.device | str | None = None,
    desc: str = "shadow models",
) -> list[nn.Module]:
    """Train one fresh model per row of ``masks``, model ``i`` on ``x[masks[i]], y[masks[i]]``.

    Each model is built by ``make_model()`` right after ``seed_everything(seed + i)`` and trained
    with ``threatlab.train(..., seed=seed + i)`` (Adam, cross-entropy), so a run can be repeated
    exactly and the models differ in initialisation and batch order as well as in data — as the
    attacker's shadow models should, since the target's own randomness is unknown to them.

    Args:
        make_model: builds an untrained model; call it with no arguments.
        x, y: the attacker's data, (N, ...) and integer labels (N,).
        masks: bool (n_models, N), e.g. from ``inclusion_masks``; every row must select at least
            one example.
        epochs, batch_size, lr, weight_decay: as in ``threatlab.train``; the same for every model.
        seed: base seed; model ``i`` uses ``seed + i``.
        device: where to train (default: wherever ``make_model`` puts the model).
        desc: label of the progress bar (one bar over the models, silent under tests and CI).

    Returns:
        The trained models, in the order of the rows of ``masks``, in eval mode.
    """
    if isinstance(make_model, nn.Module) or not callable(make_model):
        raise ValueError(
            "make_model must be a function that returns a new, untrained model (e.g. "
            "lambda: MLP(64)), not a model: every shadow model needs fresh weights."
        )
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch tensor of shape (N, ...), got {shape}.")
    check_labels(y, x.shape[0])
    if not isinstance(masks, torch.Tensor) or masks.dtype != torch.bool or masks.ndim != 2:
        what = f"{masks.dtype} {tuple(masks.shape)}" if isinstance(masks, torch.Tensor) else ""
        raise ValueError(
            f"masks must be a bool tensor of shape (n_models, {x.shape[0]}), got "
            f"{what or type(masks).__name__}."
        )
    if masks.shape[1] != x.shape[0]:
        raise ValueError(
            f"masks has {masks.shape[1]} columns but there are {x.shape[0]} examples; "
            "one column per example."
        )
    empty = [i for i, row in enumerate(masks) if not bool(row.any())]
    if empty:
        raise ValueError(f"masks rows {empty[:5]} select no example: every model needs data.")
    models = []
    for i, row in enumerate(tqdm(masks.cpu(), desc=desc, disable=quiet(), leave=False)):
        seed_everything(seed + i)
        model = make_model()
        if not isinstance(model, nn.Module):
            raise ValueError(
                f"make_model must return a torch.nn.Module, got {type(model).__name__}."
            )
        if device is not None:
            model = model.to(device)
        train(
            model,
            x[row],
            y[row],
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            seed=seed + i,
            progress=False,
        )
        models.append(model.eval())
    return models
