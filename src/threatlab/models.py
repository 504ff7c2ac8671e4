"""Small models that train in seconds on a laptop CPU."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .checks import check_positive_int


class SmallCNN(nn.Module):
    """Two conv layers and two fully connected layers, for 28x28 (or any square) grey images.

    Calling the model returns logits of shape (N, num_classes). ``features(x)`` returns the
    penultimate activations, which defenses such as spectral signatures inspect.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28) -> None:
        super().__init__()
        if image_size < 4 or image_size % 4:
            raise ValueError(
                f"image_size must be a positive multiple of 4 (two 2x2 poolings), got {image_size}."
            )
        self.in_channels = in_channels
        self.image_size = image_size
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * (image_size // 4) ** 2, 128), nn.ReLU()
        )
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer activations, shape (N, 128)."""
        _check_input(x, self.in_channels, self.image_size, type(self).__name__)
        return self.hidden(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class MLP(nn.Module):
    """A multilayer perceptron over flattened images (or feature vectors)."""

    def __init__(
        self, in_features: int, num_classes: int = 10, hidden: Sequence[int] = (64, 32)
    ) -> None:
        super().__init__()
        self.in_features = in_features
        sizes = [in_features, *hidden]
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(sizes[-1], num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer's activations."""
        flat = math.prod(x.shape[1:]) if isinstance(x, torch.Tensor) and x.ndim > 1 else -1
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or flat != self.in_features:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(
                f"MLP expects a batch whose items have {self.in_features} values "
                f"(shape (N, {self.in_features}) or images that flatten to it), got {shape}."
            )
        if not x.is_floating_point():
            raise ValueError(f"MLP expects floating-point inputs, got dtype {x.dtype}.")
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def penultimate_activations(
    model: nn.Module,
    x: torch.Tensor,
    *,
    layer: nn.Module | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """The representation a model computes just before its classification head, for every input.

    Defenses that inspect what a model has learned (spectral signatures, activation clustering,
    input monitors) work on these vectors instead of on raw pixels.

    Args:
        model: a trained classifier. By default its ``features(x)`` method is used (``SmallCNN``
            and ``MLP`` have one).
        x: inputs of shape (N, ...), on any device; they are moved to the model's device batch by
            batch.
        layer: a submodule of ``model`` whose output to take instead (through a forward hook),
            for models without ``features``; e.g. ``model.hidden`` of a ``SmallCNN``.
        batch_size: inputs per forward pass.

    Returns:
        A float32 CPU tensor of shape (N, D): one flattened activation vector per input. The model
        is run in eval mode and left in the mode it was in.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a batch tensor of shape (N, ...), got {shape}.")
    check_positive_int(batch_size, "batch_size")
    if layer is None and not callable(getattr(model, "features", None)):
        raise ValueError(
            f"{type(model).__name__} has no features() method: pass layer=<the submodule whose "
            "output you want>, e.g. the last hidden layer before the classification head."
        )
    if layer is not None and not any(m is layer for m in model.modules()):
        raise ValueError("layer must be a submodule of model (e.g. model.hidden).")
    captured: list[torch.Tensor] = []
    hook = (
        layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
        if layer is not None
        else None
    )
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    try:
        # An empty batch still runs once, so that the result has the right width.
        for start in range(0, max(len(x), 1), batch_size):
            xb = x[start : start + batch_size].to(device)
            if hook is None:
                feats = model.features(xb)
            else:
                captured.clear()
                model(xb)
                if not captured:
                    raise ValueError("layer never ran during the forward pass of model.")
                feats = captured[-1]
                if not isinstance(feats, torch.Tensor):
                    raise ValueError(
                        f"layer must output one tensor, got {type(feats).__name__}; "
                        "pick a layer whose output is a plain tensor."
                    )
            feats = feats.flatten(start_dim=1) if feats.ndim > 1 else feats.unsqueeze(1)
            out.append(feats.float().cpu())
    finally:
        if hook is not None:
            hook.remove()
        model.train(was_training)
    return torch.cat(out)


def _check_input(x: object, channels: int, side: int, model: str) -> None:
    """Fail clearly when a batch does not have the shape the model was built for."""
    expected = f"(N, {channels}, {side}, {side})"
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{model} expects a torch.Tensor of shape {expected}, got {type(x).__name__}."
        )
    if x.ndim != 4 or tuple(x.shape[1:]) != (channels, side, side):
        hint = (
            " Add the channel axis with x.unsqueeze(1) for a batch of grey images, "
            "or the batch axis with x.unsqueeze(0) for a single image."
            if x.ndim == 3
            else ""
        )
        raise ValueError(f"{model} expects images of shape {expected}, got {tuple(x.shape)}.{hint}")
    if not x.is_floating_point():
        raise ValueError(f"{model} expects floating-point images in [0, 1], got dtype {x.dtype}.")
