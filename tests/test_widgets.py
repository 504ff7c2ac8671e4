"""The interactive eps explorer and its static twin."""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch

from threatlab import MLP, eps_explorer, eps_figure, seed_everything


def _shift(model, x, y, eps):
    """A stand-in attack: brighten every pixel by eps (clamped)."""
    return (x + eps).clamp(0, 1)


@pytest.fixture
def setup():
    seed_everything(0)
    model = MLP(64, hidden=(16,))
    x = torch.rand(5, 1, 8, 8)
    y = torch.randint(0, 10, (5,))
    yield model, x, y
    plt.close("all")


def test_eps_figure_shows_clean_perturbation_adversarial_and_probabilities(setup):
    model, x, y = setup
    fig = eps_figure(model, x, y, _shift, 0.1, index=2)
    assert len(fig.axes) == 5  # four panels and the perturbation colour bar
    assert fig.get_suptitle() == "ε = 0.100"
    assert "max |δ| = 0.100" in fig.axes[1].get_title()


def test_eps_figure_rejects_bad_input(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="index must be in 0..4"):
        eps_figure(model, x, y, _shift, 0.1, index=5)
    with pytest.raises(ValueError, match=r"eps must be in \[0, 1\]"):
        eps_figure(model, x, y, _shift, 1.5)
    with pytest.raises(ValueError, match="must return a tensor of shape"):
        eps_figure(model, x, y, lambda m, xb, yb, e: xb[0], 0.1)


def test_eps_explorer_builds_sliders_and_redraws(setup):
    """Built headless (papermill, CI), the widget draws once and redraws when a slider moves."""
    model, x, y = setup
    calls = []

    def counting(model, xb, yb, eps):
        calls.append(eps)
        return _shift(model, xb, yb, eps)

    box = eps_explorer(model, x, y, {"shift": counting, "other": _shift}, eps=0.05)
    assert isinstance(box, ipywidgets.VBox)
    controls = box.children[0].children
    eps_slider = controls[0]
    assert [type(c).__name__ for c in controls] == ["FloatSlider", "IntSlider", "ToggleButtons"]
    assert calls == [0.05]
    eps_slider.value = 0.2
    assert calls[-1] == pytest.approx(0.2)


def test_eps_explorer_fails_loudly_when_the_attack_is_broken(setup):
    model, x, y = setup

    def broken(model, xb, yb, eps):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        eps_explorer(model, x, y, broken)
    with pytest.raises(ValueError, match="callable"):
        eps_explorer(model, x, y, {"nothing": 3})
