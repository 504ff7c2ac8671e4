"""threatlab.reference.evasion: FGSM and PGD with Lab 01's contracts, and PGD on a custom loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from threatlab.reference.evasion import fgsm, pgd


def linear_model(seed: int = 0) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(2, 16) * 0.5)
        model[1].bias.zero_()
    return model, model[1].weight.detach()


def test_fgsm_is_a_sign_step_on_a_linear_model():
    model, w = linear_model()
    y = torch.tensor([0, 1, 1, 0])
    direction = (w[1 - y] - w[y]).sign().view(4, 1, 4, 4)
    x = torch.rand(4, 1, 4, 4) * 0.6 + 0.2
    x_before = x.clone()
    got = fgsm(model, x, y, 0.1)
    assert torch.allclose(got, (x + 0.1 * direction).clamp(0, 1), atol=1e-6)
    assert torch.equal(x, x_before) and not got.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(fgsm(model, x, y, 0.0), x)


def test_pgd_projects_and_matches_a_straight_line_on_a_linear_model():
    model, w = linear_model(1)
    y = torch.tensor([1, 0, 0, 1])
    direction = (w[1 - y] - w[y]).sign().view(4, 1, 4, 4)
    x = torch.rand(4, 1, 4, 4) * 0.6 + 0.2
    for eps, alpha, steps in ((0.1, 0.03, 2), (0.1, 0.03, 5)):
        got = pgd(model, x, y, eps, alpha, steps, random_start=False)
        expected = (x + min(alpha * steps, eps) * direction).clamp(0, 1)
        assert torch.allclose(got, expected, atol=1e-5)
    out = pgd(model, x, y, 0.1, 0.05, 3)
    assert (out - x).abs().max() <= 0.1 + 1e-6 and 0 <= out.min() and out.max() <= 1
    assert all(p.grad is None for p in model.parameters())


def test_pgd_with_a_custom_loss_follows_that_loss():
    model, w = linear_model(2)
    y = torch.tensor([0, 1, 0, 1])
    x = torch.rand(4, 1, 4, 4) * 0.6 + 0.2
    # Minimising the cross-entropy (a targeted step towards y) moves the other way.
    toward = pgd(
        model,
        x,
        y,
        0.1,
        0.05,
        2,
        random_start=False,
        loss_fn=lambda m, xa, t: -F.cross_entropy(m(xa), t),
    )
    away = pgd(model, x, y, 0.1, 0.05, 2, random_start=False)
    assert torch.allclose(toward - x, -(away - x), atol=1e-5)
    # A loss through a non-differentiable squeezer with BPDA still moves the input.
    bpda = lambda m, xa, t: F.cross_entropy(m(xa + (torch.round(xa) - xa).detach()), t)  # noqa: E731
    assert not torch.equal(pgd(model, x, y, 0.1, 0.05, 2, random_start=False, loss_fn=bpda), x)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"x": torch.ones(2, 1, 4, 4) * 2},
        {"x": torch.ones(2, 16, dtype=torch.long)},
        {"y": torch.tensor([0.0, 1.0])},
        {"y": torch.tensor([0, 1, 1])},
        {"eps": -0.1},
        {"alpha": 0.0},
        {"steps": 0},
        {"loss_fn": "cross-entropy"},
        {"loss_fn": lambda m, xa, t: F.cross_entropy(m(xa), t, reduction="none")},
    ],
)
def test_bad_input_raises_value_error(kwargs):
    model, _ = linear_model()
    args = {
        "x": torch.rand(2, 1, 4, 4),
        "y": torch.tensor([0, 1]),
        "eps": 0.1,
        "alpha": 0.05,
        "steps": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        pgd(model, **args)
