"""Figures shared by the labs (matplotlib)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
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
