"""Input checks that fail with learner-friendly messages instead of deep torch tracebacks."""

from __future__ import annotations

import math
import numbers

import torch


def check_images(x: object, name: str = "x") -> torch.Tensor:
    """Check that ``x`` is a float image batch of shape (N, C, H, W) with values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of images with shape (N, C, H, W), got {type(x).__name__}."
        )
    if x.ndim != 4:
        raise ValueError(
            f"{name} must have shape (N, C, H, W) (a batch of images), got shape {tuple(x.shape)}. "
            "For a single image use x.unsqueeze(0); for a batch without a channel axis, x.unsqueeze(1)."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor with values in [0, 1], got dtype {x.dtype}. "
            "Convert with x.float() / 255 if it holds 0..255 pixels."
        )
    if x.numel() and bool(torch.isnan(x).any()):
        raise ValueError(f"{name} must hold pixel values in [0, 1], got NaN values.")
    if x.numel() and (x.min().item() < 0 or x.max().item() > 1):
        raise ValueError(
            f"{name} must hold pixel values in [0, 1], got range "
            f"[{x.min().item():.3f}, {x.max().item():.3f}]."
        )
    return x


def check_labels(
    y: object, n: int, num_classes: int | None = None, name: str = "y"
) -> torch.Tensor:
    """Check that ``y`` is an integer label vector of length ``n`` (classes 0..num_classes-1)."""
    if not isinstance(y, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of integer labels, got {type(y).__name__}."
        )
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}."
        )
    if y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"{name} must hold integer class labels (torch.long), got dtype {y.dtype}."
        )
    if num_classes is not None and y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} must hold labels in 0..{num_classes - 1}, got range "
            f"[{int(y.min())}, {int(y.max())}]."
        )
    return y


def check_fraction(value: object, name: str, *, allow_zero: bool = True) -> float:
    """Check a number in [0, 1] (an epsilon, a rate, a fraction)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}.")
    value = float(value)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (math.isfinite(value) and low_ok and value <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {bound}, got {value}.")
    return value


def check_positive_int(value: object, name: str) -> int:
    """Check a positive integer (epochs, steps, batch size)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_scores(scores: object, name: str = "scores") -> torch.Tensor:
    """Check a 1-D floating-point tensor of finite scores, one per example (attack scores)."""
    if not isinstance(scores, torch.Tensor):
        raise ValueError(
            f"{name} must be a 1-D torch.Tensor of scores (one per example), got "
            f"{type(scores).__name__}. Convert a NumPy array with torch.from_numpy(...)."
        )
    if scores.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D (one score per example), got shape {tuple(scores.shape)}. "
            "Flatten it, or pick one column."
        )
    if not scores.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got dtype {scores.dtype}. Use .float()."
        )
    if scores.numel() and not bool(torch.isfinite(scores).all()):
        raise ValueError(
            f"{name} must be finite: found NaN or inf values (e.g. log(0)); compute them "
            "from logits with log_softmax, or clip them first."
        )
    return scores


def check_membership(is_member: object, n: int, name: str = "is_member") -> torch.Tensor:
    """Check the ground truth of a membership attack: a bool vector of length ``n`` holding at
    least one member (True) and one non-member (False)."""
    if not isinstance(is_member, torch.Tensor) or is_member.dtype != torch.bool:
        what = is_member.dtype if isinstance(is_member, torch.Tensor) else type(is_member).__name__
        raise ValueError(
            f"{name} must be a bool torch.Tensor (True = member), got {what}. "
            "Build it with a comparison, e.g. labels == 1."
        )
    if is_member.ndim != 1 or is_member.shape[0] != n:
        raise ValueError(
            f"{name} must have shape ({n},), one entry per score, got {tuple(is_member.shape)}."
        )
    if bool(is_member.all()) or not bool(is_member.any()):
        raise ValueError(
            f"{name} must contain both members (True) and non-members (False): rates such as "
            "TPR and FPR need at least one of each."
        )
    return is_member
