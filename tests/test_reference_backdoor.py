"""Tests for threatlab.reference.backdoor: Lab 02's BadNets contracts, for the labs that reuse them.

The trigger must stay identical to Lab 02's solution (a 3x3 square of 1.0 one pixel from the
bottom-right corner): the last test reads the solution notebook's add_trigger and compares.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from threatlab.reference.backdoor import add_trigger, attack_success_rate, poison_dataset

ROOT = Path(__file__).resolve().parents[1]


def test_add_trigger_stamps_the_lab02_square_and_nothing_else():
    x = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 0.5
    out = add_trigger(x)
    assert torch.equal(out[..., 24:27, 24:27], torch.ones(2, 1, 3, 3))
    outside = torch.ones(28, 28, dtype=torch.bool)
    outside[24:27, 24:27] = False
    assert torch.equal(out[..., outside], x[..., outside])
    assert not torch.equal(out, x) and float(x.max()) <= 0.5, "x itself is not modified"


def test_add_trigger_options_and_non_square_images():
    rgb = torch.zeros(1, 3, 6, 10)
    out = add_trigger(rgb, size=2, value=0.25, margin=0)
    assert bool((out[..., 4:, 8:] == 0.25).all()) and int((out != 0).sum()) == 12


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((torch.rand(4, 8, 8),), {}),
        ((torch.rand(1, 1, 8, 8) * 2,), {}),
        ((torch.rand(1, 1, 8, 8),), {"size": 0}),
        ((torch.rand(1, 1, 8, 8),), {"margin": -1}),
        ((torch.rand(1, 1, 8, 8),), {"value": 1.5}),
        ((torch.rand(1, 1, 8, 8),), {"size": 6, "margin": 3}),
    ],
)
def test_add_trigger_rejects_bad_input(args, kwargs):
    with pytest.raises(ValueError):
        add_trigger(*args, **kwargs)


def test_poison_dataset_contract():
    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 0.8
    y = torch.arange(200) % 4
    xp, yp, idx = poison_dataset(x, y, 0.25, target_label=2, seed=3)
    assert idx.dtype == torch.long and len(idx) == 50 and torch.equal(idx, idx.sort().values)
    assert bool((y[idx] != 2).all()) and bool((yp[idx] == 2).all())
    assert torch.equal(xp[idx], add_trigger(x[idx]))
    rest = torch.ones(200, dtype=torch.bool)
    rest[idx] = False
    assert torch.equal(xp[rest], x[rest]) and torch.equal(yp[rest], y[rest])
    assert torch.equal(poison_dataset(x, y, 0.25, 2, seed=3)[2], idx), "same seed, same picks"
    assert not torch.equal(poison_dataset(x, y, 0.25, 2, seed=4)[2], idx)
    _, _, none = poison_dataset(x, y, 0.0, 2)
    assert len(none) == 0 and none.dtype == torch.long


@pytest.mark.parametrize(("rate", "target"), [(0.8, 2), (-0.1, 2), (0.1, -1), (0.1, 1.0)])
def test_poison_dataset_rejects_bad_input(rate, target):
    x = torch.rand(200, 1, 8, 8) * 0.8
    with pytest.raises(ValueError):
        poison_dataset(x, torch.arange(200) % 4, rate, target)


class _Corner(nn.Module):
    """Answers class 3 when the bottom-right trigger square is white, class 1 otherwise."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        hit = x[:, :, -4:-1, -4:-1].amin(dim=(1, 2, 3)) > 0.99
        logits = torch.zeros(len(x), 4) + 0 * self.dummy
        logits[hit, 3] = 1.0
        logits[~hit, 1] = 1.0
        return logits


def test_attack_success_rate_counts_only_non_target_images():
    x = torch.rand(40, 1, 8, 8) * 0.5
    y = torch.arange(40) % 4
    assert attack_success_rate(_Corner(), x, y, 3) == 1.0
    assert attack_success_rate(_Corner(), x, y, 3, trigger=lambda b: b) == 0.0
    with pytest.raises(ValueError):
        attack_success_rate(_Corner(), x, torch.full((40,), 3), 3)


def test_trigger_matches_lab02_solution():
    """The reference add_trigger is Lab 02's solution, so Lab 07 reuses exactly Lab 02's trigger."""
    nb = json.loads((ROOT / "solutions/02-poisoning/02-poisoning.ipynb").read_text())
    cell = next(
        "".join(c["source"])
        for c in nb["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "add_trigger"
    )
    tree = ast.parse(cell)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "add_trigger")
    defaults = [ast.literal_eval(d) for d in fn.args.defaults]
    assert defaults == [3, 1.0, 1], "size=3, value=1.0, margin=1, as in Lab 02"
    ours = add_trigger.__defaults__
    assert list(ours) == defaults
