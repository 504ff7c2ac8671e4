"""A pay-per-query prediction API around a victim model, for the model-extraction lab.

``PredictionAPI`` is what an ML-as-a-service provider exposes: send a batch of inputs, get one
answer per input. It counts every input as one paid query, refuses requests past a query budget
(MITRE ATLAS AML.M0004 Restrict Number of AI Model Queries), can coarsen its answers (AML.M0002
Passive AI Output Obfuscation: top-1 label only, or probabilities rounded to ``decimals``), and
keeps a log of who sent what, which an operator can inspect for extraction-style traffic::

    api = PredictionAPI(victim, output="probabilities", budget=1000)
    probs = api(x)                       # (n, num_classes) float64; n queries are charged
    api.queries_used, api.budget_left
    api.logged_inputs(client="alice")    # everything alice sent, in order

The victim is either a ``torch.nn.Module`` returning logits or a scikit-learn-style classifier
with ``predict_proba``. It is infrastructure for the labs, not an answer to any graded exercise.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

OUTPUTS = ("probabilities", "label", "rounded")
Output = Literal["probabilities", "label", "rounded"]


class QueryBudgetExceeded(RuntimeError):
    """A request would take the API past its query budget; nothing was answered or charged."""


@dataclass(frozen=True)
class QueryRecord:
    """One answered request in the API's log.

    ``inputs`` is a read-only float64 copy of what the client sent, shape (n, *input_shape);
    ``first_query`` is the running number (0-based) of its first row among all answered queries;
    ``time`` is when it was answered (seconds since the epoch, ``time.time()``), for rate monitors.
    """

    client: str
    inputs: np.ndarray
    first_query: int
    time: float = 0.0

    @property
    def n(self) -> int:
        """How many queries (rows) the request held."""
        return int(self.inputs.shape[0])


def _check_client(client: object) -> str:
    if not isinstance(client, str) or not client:
        raise ValueError(f"client must be a non-empty string (an API key's name), got {client!r}.")
    return client


def _infer_input_shape(model: object) -> tuple[int, ...] | None:
    """The shape of one input, when the model says it (scikit-learn, threatlab's models)."""
    n_features = getattr(model, "n_features_in_", None) or getattr(model, "in_features", None)
    if isinstance(n_features, numbers.Integral) and not isinstance(n_features, bool):
        return (int(n_features),)
    channels, size = getattr(model, "in_channels", None), getattr(model, "image_size", None)
    if isinstance(channels, int) and isinstance(size, int):
        return (channels, size, size)
    return None


class PredictionAPI:
    """A victim model behind a metered prediction API.

    Args:
        model: a ``torch.nn.Module`` that maps a batch (n, *input_shape) to logits (n, k), or an
            object with ``predict_proba`` (scikit-learn) that maps (n, d) to probabilities (n, k).
        output: what each answer reveals: ``"probabilities"`` (all k class probabilities,
            float64), ``"label"`` (the top-1 class only, int64) or ``"rounded"`` (probabilities
            rounded to ``decimals`` places).
        decimals: decimal places kept by ``output="rounded"`` (an int >= 0).
        budget: the most queries this API will ever answer (None: unlimited). A request that
            would go past it raises :class:`QueryBudgetExceeded` and is neither answered nor
            charged.
        input_shape: the shape of one input, e.g. ``(30,)`` or ``(1, 8, 8)``. Inferred from
            scikit-learn models (``n_features_in_``) and threatlab's ``MLP``/``SmallCNN``;
            required for other torch modules.

    Every row of every request is one query. Inputs may be NumPy arrays or torch tensors of
    shape (n, *input_shape) with finite values; answers are NumPy arrays.
    """

    def __init__(
        self,
        model: object,
        *,
        output: Output = "probabilities",
        decimals: int = 2,
        budget: int | None = None,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        if isinstance(model, nn.Module):
            self._kind = "torch"
        elif callable(getattr(model, "predict_proba", None)):
            self._kind = "sklearn"
        else:
            raise ValueError(
                "model must be a torch.nn.Module returning logits or a classifier with "
                f"predict_proba (scikit-learn), got {type(model).__name__}."
            )
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(OUTPUTS)}; got {output!r}.")
        if isinstance(decimals, bool) or not isinstance(decimals, numbers.Integral) or decimals < 0:
            raise ValueError(f"decimals must be an integer >= 0, got {decimals!r}.")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 0
        ):
            raise ValueError(f"budget must be None (unlimited) or an integer >= 0, got {budget!r}.")
        shape = tuple(input_shape) if input_shape is not None else _infer_input_shape(model)
        if shape is None:
            raise ValueError(
                "cannot tell the shape of one input for this model: pass input_shape=, "
                "e.g. PredictionAPI(model, input_shape=(64,))."
            )
        if not shape or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in shape
        ):
            raise ValueError(f"input_shape must be positive integers, got {input_shape!r}.")
        self._model = model
        self.output: Output = output
        self.decimals = int(decimals)
        self.budget = None if budget is None else int(budget)
        self.input_shape: tuple[int, ...] = tuple(int(s) for s in shape)
        self._log: list[QueryRecord] = []
        self._used = 0
        self.num_classes = int(self._probabilities(np.zeros((1, *self.input_shape))).shape[1])

    # ------------------------------------------------------------------ what clients see

    @property
    def n_features(self) -> int:
        """The number of values in one input (the product of ``input_shape``)."""
        return math.prod(self.input_shape)

    @property
    def queries_used(self) -> int:
        """Queries answered so far (all clients)."""
        return self._used

    @property
    def budget_left(self) -> int | None:
        """Queries left before the budget is exhausted (None: unlimited)."""
        return None if self.budget is None else self.budget - self._used

    def __call__(self, x: object, *, client: str = "default") -> np.ndarray:
        """Answer a batch of queries (one per row of ``x``) and charge ``client`` for them.

        Returns (n, num_classes) float64 probabilities (``"probabilities"``, ``"rounded"``) or
        (n,) int64 labels (``"label"``). Raises ValueError for malformed input and
        QueryBudgetExceeded when the request would go past the budget.
        """
        client = _check_client(client)
        batch = self._check_inputs(x)
        n = batch.shape[0]
        if self.budget is not None and self._used + n > self.budget:
            raise QueryBudgetExceeded(
                f"query budget exhausted: {self._used} of {self.budget} queries used, and this "
                f"request asks for {n} more. Nothing was answered or charged; send at most "
                f"{self.budget - self._used} more queries."
            )
        probs = self._probabilities(batch)
        record_inputs = batch.copy()
        record_inputs.flags.writeable = False
        self._log.append(QueryRecord(client, record_inputs, self._used, time.time()))
        self._used += n
        if self.output == "label":
            return probs.argmax(axis=1).astype(np.int64)
        if self.output == "rounded":
            return np.round(probs, self.decimals)
        return probs

    query = __call__

    # ------------------------------------------------------------------ what the operator sees

    @property
    def log(self) -> tuple[QueryRecord, ...]:
        """Every answered request, oldest first."""
        return tuple(self._log)

    def clients(self) -> list[str]:
        """The clients that sent queries, in the order they first appeared."""
        return list(dict.fromkeys(record.client for record in self._log))

    def queries_by_client(self) -> dict[str, int]:
        """How many queries each client was charged for."""
        counts: dict[str, int] = {}
        for record in self._log:
            counts[record.client] = counts.get(record.client, 0) + record.n
        return counts

    def logged_inputs(self, client: str | None = None) -> np.ndarray:
        """All inputs sent (by ``client``, or by everyone), in order: (n, *input_shape) float64."""
        if client is not None:
            _check_client(client)
        rows = [r.inputs for r in self._log if client is None or r.client == client]
        if not rows:
            return np.zeros((0, *self.input_shape))
        return np.concatenate(rows)

    def reset(self) -> None:
        """Forget the log and the queries used (a new billing period)."""
        self._log.clear()
        self._used = 0

    def __repr__(self) -> str:
        budget = "unlimited" if self.budget is None else f"{self.budget_left} of {self.budget} left"
        output = f"rounded to {self.decimals} decimals" if self.output == "rounded" else self.output
        return (
            f"PredictionAPI({self._kind} model, input {self.input_shape}, "
            f"{self.num_classes} classes, answers: {output}, queries used {self._used}, "
            f"budget {budget})"
        )

    # ------------------------------------------------------------------ internals

    def _check_inputs(self, x: object) -> np.ndarray:
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if not isinstance(x, np.ndarray):
            raise ValueError(
                f"queries must be a NumPy array or torch tensor of shape (n, "
                f"{', '.join(map(str, self.input_shape))}), got {type(x).__name__}."
            )
        if x.dtype == bool or not (
            np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)
        ):
            raise ValueError(f"queries must hold numbers, got dtype {x.dtype}.")
        if x.shape[1:] != self.input_shape or x.ndim != len(self.input_shape) + 1:
            hint = (
                " For a single input add a batch axis: x[None] (NumPy) or x.unsqueeze(0) (torch)."
                if x.shape == self.input_shape
                else ""
            )
            raise ValueError(
                f"queries must have shape (n, {', '.join(map(str, self.input_shape))}), got "
                f"{tuple(x.shape)}.{hint}"
            )
        if x.shape[0] == 0:
            raise ValueError("a request needs at least one query, got an empty batch.")
        batch = np.asarray(x, dtype=np.float64)
        if not np.isfinite(batch).all():
            raise ValueError("queries must be finite: found NaN or inf values.")
        return batch

    def _probabilities(self, batch: np.ndarray) -> np.ndarray:
        if self._kind == "sklearn":
            probs = np.asarray(
                self._model.predict_proba(batch.reshape(len(batch), -1)), dtype=np.float64
            )
        else:
            model: nn.Module = self._model  # type: ignore[assignment]
            param = next(iter(model.parameters()), None)
            device = param.device if param is not None else torch.device("cpu")
            dtype = param.dtype if param is not None and param.is_floating_point() else None
            was_training = model.training
            model.eval()
            try:
                with torch.no_grad():
                    inputs = torch.from_numpy(batch).to(device, dtype or torch.float32)
                    logits = model(inputs)
                    probs = torch.softmax(logits.double(), dim=1).cpu().numpy()
            finally:
                model.train(was_training)
        if probs.ndim != 2 or probs.shape[0] != len(batch):
            raise ValueError(
                f"the victim model returned shape {probs.shape} for {len(batch)} inputs; "
                "expected (n, num_classes)."
            )
        return probs
