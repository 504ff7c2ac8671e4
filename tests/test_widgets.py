"""The interactive eps explorer and its static twin."""

from __future__ import annotations

import ipywidgets
import matplotlib.pyplot as plt
import pytest
import torch

from threatlab import (
    MLP,
    eps_explorer,
    eps_figure,
    seed_everything,
    threshold_explorer,
    threshold_figure,
)


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
    caption = box.children[1]
    assert isinstance(caption, ipywidgets.Label) and caption.value.startswith("ε = 0.050: true ")
    eps_slider.value = 0.2
    assert calls[-1] == pytest.approx(0.2)
    assert caption.value.startswith("ε = 0.200: true ")


def test_eps_caption_says_whether_the_attack_fooled_the_model(setup):
    """The explorer's text line (screen readers, browser tests) tells the same story as the plot."""
    from threatlab.widgets import _eps_figure_and_caption

    model, x, y = setup
    with torch.no_grad():
        pred = int(model(x[:1]).argmax())
    wrong = torch.tensor([(pred + 1) % 10] * 5)
    _, kept = _eps_figure_and_caption(model, x, y.clone().fill_(pred), _shift, 0.0)
    _, fooled = _eps_figure_and_caption(model, x, wrong, _shift, 0.0)
    assert kept.endswith(": not fooled") and f"adversarial pred {pred} (" in kept
    assert fooled.endswith(": fooled") and f"true {(pred + 1) % 10};" in fooled


def test_eps_explorer_fails_loudly_when_the_attack_is_broken(setup):
    model, x, y = setup

    def broken(model, xb, yb, eps):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        eps_explorer(model, x, y, broken)
    with pytest.raises(ValueError, match="callable"):
        eps_explorer(model, x, y, {"nothing": 3})


# --- the membership threshold explorer ----------------------------------------------------


@pytest.fixture
def scored():
    """Ten members scoring 1..10 and ten non-members scoring -9..0 (perfectly separable)."""
    scores = torch.cat([torch.arange(1.0, 11.0), torch.arange(-9.0, 1.0)])
    is_member = torch.arange(20) < 10
    yield scores, is_member
    plt.close("all")


def test_threshold_figure_reports_rates_at_the_threshold(scored):
    scores, is_member = scored
    fig = threshold_figure(scores, is_member, 5.5)
    title = fig.axes[0].get_title()
    assert "TPR 50.0%" in title and "FPR 0.0%" in title and "advantage +0.500" in title
    fig = threshold_figure(scores, is_member, -0.5)
    assert "TPR 100.0%, FPR 10.0%" in fig.axes[0].get_title()


def test_threshold_figure_uses_the_given_attack(scored):
    scores, is_member = scored

    def everyone(s, t):
        return torch.ones_like(s, dtype=torch.bool)

    title = threshold_figure(scores, is_member, 5.5, attack=everyone).axes[0].get_title()
    assert "TPR 100.0%, FPR 100.0%, advantage +0.000" in title


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"scores": torch.arange(20)}, "floating-point"),
        ({"is_member": torch.ones(20)}, r"bool torch\.Tensor"),
        ({"is_member": torch.ones(19, dtype=torch.bool)}, "shape"),
        ({"is_member": torch.ones(20, dtype=torch.bool)}, "both members"),
        ({"scores": torch.full((20,), float("nan"))}, "finite"),
        ({"threshold": "high"}, "threshold must be a number"),
        ({"attack": lambda s, t: s[:3] > t}, "must return a bool tensor of shape"),
    ],
)
def test_threshold_figure_rejects_bad_input(scored, change, message):
    scores, is_member = scored
    kwargs = {"scores": scores, "is_member": is_member, "threshold": 0.0} | change
    with pytest.raises(ValueError, match=message):
        threshold_figure(**kwargs)


def test_threshold_explorer_builds_a_slider_and_redraws(scored):
    """Built headless (papermill, CI, the grader), the widget draws once and redraws on change."""
    scores, is_member = scored
    calls = []

    def counting(s, t):
        calls.append(t)
        return s >= t

    box = threshold_explorer(scores, is_member, attack=counting)
    assert isinstance(box, ipywidgets.VBox)
    slider = box.children[0]
    assert isinstance(slider, ipywidgets.FloatSlider)
    assert (slider.min, slider.max) == (-9.0, 10.0)
    assert calls == [pytest.approx(scores.median().item())]
    slider.value = 3.0
    assert calls[-1] == pytest.approx(3.0)


def test_threshold_explorer_fails_loudly_and_checks_its_arguments(scored):
    scores, is_member = scored

    def broken(s, t):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        threshold_explorer(scores, is_member, attack=broken)
    with pytest.raises(ValueError, match="within the scores' range"):
        threshold_explorer(scores, is_member, threshold=50.0)
    with pytest.raises(ValueError, match="attack must be a function"):
        threshold_explorer(scores, is_member, attack=3)
    with pytest.raises(ValueError, match="steps"):
        threshold_explorer(scores, is_member, steps=1)
