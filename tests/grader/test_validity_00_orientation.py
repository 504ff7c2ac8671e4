"""Grading validity of Lab 00: ``top1_accuracy`` graded from its contract (see validity.py).

The contract: the fraction of rows whose highest-scoring class is the label, as a Python float;
logits and labels may sit on different devices; ValueError for non-2-D logits, labels that are not
1-D with the same N, and N == 0.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "00-orientation"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

CORRECT = Variant(
    "loop-over-rows",
    {
        "top1_accuracy": answer(
            '''
            def top1_accuracy(logits, labels):
                """A loop over rows, counting hits: slow but correct."""
                if logits.dim() != 2 or labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
                    raise ValueError("expected logits (N, C) and labels (N,)")
                if logits.shape[0] == 0:
                    raise ValueError("no examples")
                hits = 0
                for row, label in zip(logits.cpu(), labels.cpu()):
                    hits += int(int(torch.argmax(row)) == int(label))
                return hits / logits.shape[0]
            '''
        )
    },
    why="loops over rows in Python and returns an exact fraction",
)

VARIANTS = [
    CORRECT,
    Variant(
        "warns-on-stderr",
        {
            "top1_accuracy": answer(
                """
                import warnings


                def top1_accuracy(logits, labels):
                    warnings.warn("top1_accuracy: computing on the CPU", UserWarning, stacklevel=1)
                    if logits.ndim != 2 or labels.ndim != 1 or labels.numel() != logits.shape[0]:
                        raise ValueError("expected logits (N, C) and labels (N,)")
                    if logits.shape[0] == 0:
                        raise ValueError("no examples")
                    best = logits.detach().cpu().max(dim=1).indices
                    return float((best == labels.cpu()).sum().item() / len(best))
                """
            )
        },
        why="correct, and prints a warning on stderr inside the test cell (not a failure)",
    ),
    Variant(
        "argmin",
        {
            "top1_accuracy": answer(
                """
                def top1_accuracy(logits, labels):
                    if logits.dim() != 2 or labels.dim() != 1 or len(labels) != len(logits):
                        raise ValueError("bad shapes")
                    if len(logits) == 0:
                        raise ValueError("empty")
                    return (logits.argmin(dim=1) == labels).float().mean().item()
                """
            )
        },
        loses=("test_top1_accuracy",),
        why="takes the lowest-scoring class",
    ),
    Variant(
        "count-not-fraction",
        {
            "top1_accuracy": answer(
                """
                def top1_accuracy(logits, labels):
                    if logits.dim() != 2 or labels.dim() != 1 or len(labels) != len(logits):
                        raise ValueError("bad shapes")
                    if len(logits) == 0:
                        raise ValueError("empty")
                    return float((logits.argmax(dim=1) == labels).sum())
                """
            )
        },
        loses=("test_top1_accuracy",),
        why="returns the number of hits instead of the fraction",
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
