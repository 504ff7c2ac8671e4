"""Reference BadNets helpers for labs after Lab 02 (which teaches them): trigger, poisoning, ASR.

Lab 02's learners write ``add_trigger``, ``poison_dataset`` and ``attack_success_rate``
themselves; these are the same contracts, with the same trigger (a 3x3 white square one pixel from
the bottom-right corner), so that a later lab (Lab 07, a backdoored model swapped into a registry)
can reuse Lab 02's attack without re-teaching it. Import from this submodule::

    from threatlab.reference.backdoor import add_trigger, poison_dataset, attack_success_rate
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..checks import check_fraction, check_images, check_labels, check_positive_int
from ..train import predict

Trigger = Callable[[torch.Tensor], torch.Tensor]

__all__ = ["add_trigger", "attack_success_rate", "poison_dataset"]


def add_trigger(
    x: torch.Tensor, size: int = 3, value: float = 1.0, margin: int = 1
) -> torch.Tensor:
    """Stamp a BadNets trigger: a ``size`` x ``size`` square of ``value`` near the bottom-right corner.

    Returns a new tensor shaped like ``x`` (N, C, H, W) in [0, 1], equal to it except on
    ``[..., H - margin - size : H - margin, W - margin - size : W - margin]`` (every channel).
    Raises ``ValueError`` on images that are not a [0, 1] batch, a bad size/margin/value, or a
    square that does not fit.
    """
    check_images(x)
    size = check_positive_int(size, "size")
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 0:
        raise ValueError(f"margin must be an int >= 0, got {margin!r}.")
    value = check_fraction(value, "value")
    height, width = x.shape[-2:]
    if size + margin > min(height, width):
        raise ValueError(
            f"a {size}x{size} square with margin {margin} does not fit in {height}x{width} images."
        )
    stamped = x.clone()
    stamped[
        ..., height - margin - size : height - margin, width - margin - size : width - margin
    ] = value
    return stamped


def poison_dataset(
    x: torch.Tensor,
    y: torch.Tensor,
    rate: float,
    target_label: int,
    seed: int = 0,
    trigger: Trigger | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BadNets poisoning (Gu et al., 2017): stamp ``round(rate * N)`` non-target images, relabel them.

    The examples are drawn uniformly without replacement among those whose label is not
    ``target_label`` (a ``torch.Generator`` seeded with ``seed``). Returns ``(x_poisoned,
    y_poisoned, poisoned_idx)``: new tensors, and the sorted ``torch.long`` indices poisoned.
    ``trigger`` (a batch -> batch function) defaults to :func:`add_trigger`.
    """
    check_images(x)
    check_labels(y, len(x))
    rate = check_fraction(rate, "rate")
    if isinstance(target_label, bool) or not isinstance(target_label, int) or target_label < 0:
        raise ValueError(f"target_label must be an int >= 0, got {target_label!r}.")
    trigger = add_trigger if trigger is None else trigger
    n = round(rate * len(x))
    candidates = (y != target_label).nonzero().flatten().cpu()
    if n > len(candidates):
        raise ValueError(
            f"rate {rate} of {len(x)} examples is {n} poisons, but only {len(candidates)} "
            f"examples have a label other than {target_label}."
        )
    generator = torch.Generator().manual_seed(seed)
    picked = candidates[torch.randperm(len(candidates), generator=generator)[:n]].sort().values
    x_poisoned, y_poisoned = x.clone(), y.clone()
    if n:
        x_poisoned[picked.to(x.device)] = trigger(x[picked.to(x.device)])
        y_poisoned[picked.to(y.device)] = target_label
    return x_poisoned, y_poisoned, picked


def attack_success_rate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    target_label: int,
    trigger: Trigger | None = None,
) -> float:
    """Share of the triggered test images whose true label is not ``target_label`` that go to it.

    Images of the target class are left out (for them "success" is just being right). Raises
    ``ValueError`` on a bad batch or when no image has a label other than ``target_label``.
    """
    check_images(x)
    check_labels(y, len(x))
    trigger = add_trigger if trigger is None else trigger
    keep = (y != target_label).cpu()
    if not bool(keep.any()):
        raise ValueError(f"no image has a true label other than {target_label}: nothing to attack.")
    predictions = predict(model, trigger(x[keep.to(x.device)]))
    return (predictions == target_label).float().mean().item()
