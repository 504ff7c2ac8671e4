"""Figures shared by the labs (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure


def show_images(
    images: torch.Tensor,
    labels: Sequence[int] | torch.Tensor | None = None,
    predictions: Sequence[int] | torch.Tensor | None = None,
    *,
    ncols: int = 8,
    title: str | None = None,
    cmap: str = "gray",
) -> Figure:
    """A grid of images with optional true labels and predictions (wrong ones in red).

    ``images`` has shape (N, 1, H, W) or (N, H, W) with values in [0, 1].
    """
    if (
        not isinstance(images, torch.Tensor)
        or images.ndim not in (3, 4)
        or (images.ndim == 4 and images.shape[1] != 1)
    ):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(
            f"images must be a tensor of shape (N, 1, H, W) or (N, H, W), got {shape}."
        )
    pics = images.detach().cpu().float().numpy()
    pics = pics[:, 0] if pics.ndim == 4 else pics
    n = len(pics)
    if n == 0:
        raise ValueError("show_images needs at least one image.")
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries but there are {n} images.")
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.4 * cols, 1.6 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(pics[i], cmap=cmap, vmin=0, vmax=1)
        ax.set_title(
            _caption(i, labels, predictions), fontsize=8, color=_colour(i, labels, predictions)
        )
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _caption(i: int, labels, predictions) -> str:
    parts = []
    if labels is not None:
        parts.append(f"true {int(labels[i])}")
    if predictions is not None:
        parts.append(f"pred {int(predictions[i])}")
    return " / ".join(parts)


def _colour(i: int, labels, predictions) -> str:
    if labels is None or predictions is None:
        return "black"
    return "black" if int(labels[i]) == int(predictions[i]) else "red"


def plot_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    ylim: tuple[float, float] | None = (0.0, 1.02),
) -> Figure:
    """Several named curves over the same x values, with markers and a legend."""
    if not curves:
        raise ValueError("plot_curves needs at least one curve.")
    for name, ys in curves.items():
        if len(ys) != len(x):
            raise ValueError(f"curve {name!r} has {len(ys)} points but x has {len(x)}.")
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, ys in curves.items():
        ax.plot(list(x), list(ys), marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _rates(values: object, name: str) -> np.ndarray:
    """A 1-D float array of rates in [0, 1] from a sequence, NumPy array or tensor."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().double().numpy()
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D sequence of rates, got shape {array.shape}."
        )
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(
            f"{name} must hold rates in [0, 1], got range [{array.min()}, {array.max()}]."
        )
    return array


def plot_roc(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    log_scale: bool = True,
    min_rate: float = 1e-3,
    mark_fpr: float | None = 0.01,
    title: str | None = None,
) -> Figure:
    """ROC curves of attacks that flag examples (e.g. "was in the training set"), log-log by default.

    ``curves`` maps a legend label to ``(fpr, tpr)``: two equal-length sequences (lists, NumPy
    arrays or tensors) of false- and true-positive rates in [0, 1], in increasing FPR. On log axes
    the low false-positive region, where an attack that matters has to work, gets as much room as
    the rest (Carlini et al., 2022, "Membership Inference Attacks From First Principles"); rates
    below ``min_rate`` are drawn at ``min_rate``. The grey diagonal is an attacker who guesses;
    ``mark_fpr`` (default 1%) draws a dotted vertical line at that false-positive rate.
    """
    if not curves:
        raise ValueError("plot_roc needs at least one curve, e.g. {'loss attack': (fpr, tpr)}.")
    if not (isinstance(min_rate, float | int) and 0 < min_rate < 1):
        raise ValueError(f"min_rate must be in (0, 1), got {min_rate!r}.")
    checked = {}
    for name, curve in curves.items():
        if not (isinstance(curve, tuple | list) and len(curve) == 2):
            raise ValueError(f"curve {name!r} must be a pair (fpr, tpr).")
        fpr, tpr = _rates(curve[0], f"{name!r} fpr"), _rates(curve[1], f"{name!r} tpr")
        if len(fpr) != len(tpr):
            raise ValueError(f"curve {name!r}: fpr has {len(fpr)} points but tpr has {len(tpr)}.")
        checked[name] = (fpr, tpr)
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    low = min_rate if log_scale else 0.0
    for name, (fpr, tpr) in checked.items():
        if log_scale:
            fpr, tpr = np.clip(fpr, min_rate, 1.0), np.clip(tpr, min_rate, 1.0)
        ax.plot(fpr, tpr, label=name, linewidth=1.6)
    ax.plot([low, 1], [low, 1], color="grey", linestyle="--", linewidth=1, label="guessing")
    if mark_fpr is not None:
        ax.axvline(mark_fpr, color="black", linestyle=":", linewidth=1)
        ax.annotate(
            f"FPR {mark_fpr:g}",
            (mark_fpr, low),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=8,
        )
    if log_scale:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlim(low, 1.0)
    ax.set_ylim(low, 1.02 if not log_scale else 1.0)
    ax.set_xlabel("false-positive rate" + (" (log scale)" if log_scale else ""))
    ax.set_ylabel("true-positive rate" + (" (log scale)" if log_scale else ""))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3, which="both" if log_scale else "major")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
