"""Interactive explorers shared by the labs (ipywidgets + matplotlib).

Every explorer has a static twin that returns a matplotlib figure (``eps_figure`` for
``eps_explorer``, ``threshold_figure`` for ``threshold_explorer``): the widget only wires sliders
to it. Building a widget draws it once, so a
broken attack fails loudly in the cell even when no browser renders the widget (papermill, CI).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import nn

from .checks import check_fraction, check_images, check_labels, check_membership, check_scores

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor, float], torch.Tensor]
"""``attack(model, x, y, eps) -> x_adv``: an evasion attack with every other setting fixed."""


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _seeded_attack(
    attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int
) -> torch.Tensor:
    """Run ``attack`` with a fixed seed, without disturbing the caller's random state.

    Random-start attacks then draw the same picture every time a slider returns to a value.
    """
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        x_adv = attack(model, x, y, eps)
    if not isinstance(x_adv, torch.Tensor) or x_adv.shape != x.shape:
        shape = tuple(x_adv.shape) if isinstance(x_adv, torch.Tensor) else type(x_adv).__name__
        raise ValueError(f"the attack must return a tensor of shape {tuple(x.shape)}, got {shape}.")
    return x_adv.detach()


def eps_figure(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack,
    eps: float,
    *,
    index: int = 0,
    eps_max: float | None = None,
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """One image under attack: clean input, perturbation, adversarial input, class probabilities.

    ``x`` is a batch (N, C, H, W) in [0, 1] and ``y`` its labels; ``index`` picks the image.
    The perturbation panel uses a fixed colour scale of +-``eps_max`` (default ``eps``) so that
    panels for different budgets can be compared.
    """
    return _eps_figure_and_caption(
        model, x, y, attack, eps, index=index, eps_max=eps_max, seed=seed, title=title
    )[0]


def _eps_figure_and_caption(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack,
    eps: float,
    *,
    index: int = 0,
    eps_max: float | None = None,
    seed: int = 0,
    title: str | None = None,
) -> tuple[Figure, str]:
    """``eps_figure`` and the same result in one line of text (for the explorer, screen readers
    and tests): ``"ε = 0.300: true 6; clean pred 6 (100%); adversarial pred 5 (78%): fooled"``."""
    check_images(x)
    check_labels(y, x.shape[0])
    eps = check_fraction(eps, "eps")
    if not 0 <= index < x.shape[0]:
        raise ValueError(f"index must be in 0..{x.shape[0] - 1}, got {index}.")
    scale = max(eps if eps_max is None else check_fraction(eps_max, "eps_max"), 1e-8)
    device = _model_device(model)
    was_training = model.training
    model.eval()
    xi = x[index : index + 1].to(device)
    yi = y[index : index + 1].to(device)
    x_adv = _seeded_attack(attack, model, xi, yi, eps, seed)
    with torch.no_grad():
        p_clean = torch.softmax(model(xi), dim=1)[0].cpu()
        p_adv = torch.softmax(model(x_adv), dim=1)[0].cpu()
    model.train(was_training)
    true = int(yi.item())
    pred_clean, pred_adv = int(p_clean.argmax()), int(p_adv.argmax())
    delta = (x_adv - xi)[0, 0].cpu().numpy()

    fig, axes = plt.subplots(1, 4, figsize=(12, 2.9), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    axes[0].imshow(xi[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    axes[0].set_title(
        f"clean: true {true}, pred {pred_clean} ({p_clean[pred_clean]:.0%})", fontsize=9
    )
    shown = axes[1].imshow(delta, cmap="RdBu_r", vmin=-scale, vmax=scale)
    axes[1].set_title(f"perturbation (max |δ| = {abs(delta).max():.3f})", fontsize=9)
    fig.colorbar(shown, ax=axes[1], fraction=0.046, pad=0.04)
    axes[2].imshow(x_adv[0, 0].cpu().numpy(), cmap="gray", vmin=0, vmax=1)
    colour = "black" if pred_adv == true else "red"
    axes[2].set_title(
        f"adversarial: pred {pred_adv} ({p_adv[pred_adv]:.0%})", fontsize=9, color=colour
    )
    for ax in axes[:3]:
        ax.axis("off")
    classes = list(range(len(p_clean)))
    width = 0.4
    axes[3].bar([c - width / 2 for c in classes], p_clean.tolist(), width, label="clean")
    axes[3].bar([c + width / 2 for c in classes], p_adv.tolist(), width, label="adversarial")
    axes[3].set_xticks(classes)
    axes[3].set_xlabel("class")
    axes[3].set_ylabel("probability")
    axes[3].set_ylim(0, 1.02)
    axes[3].legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    fig.suptitle(title or f"ε = {eps:.3f}", fontsize=11)
    fig.tight_layout()
    caption = (
        f"ε = {eps:.3f}: true {true}; clean pred {pred_clean} ({p_clean[pred_clean]:.0%}); "
        f"adversarial pred {pred_adv} ({p_adv[pred_adv]:.0%}): "
        + ("fooled" if pred_adv != true else "not fooled")
    )
    return fig, caption


def eps_explorer(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    attack: Attack | Mapping[str, Attack],
    *,
    eps_max: float = 0.3,
    eps_step: float = 0.01,
    eps: float = 0.1,
    seed: int = 0,
):
    """A widget: sliders for the budget ``eps`` and the image index, and (when ``attack`` is a
    dict of named attacks) buttons to switch attacks; it redraws ``eps_figure``.

    Each attack is called as ``attack(model, x, y, eps)``; fix its other settings with a small
    wrapper function. Returns an ``ipywidgets.VBox``: make it the last expression of a cell to show
    it. The first drawing happens here, so errors in the attack surface immediately.
    """
    import ipywidgets as widgets
    from IPython.display import clear_output, display

    attacks = (
        dict(attack)
        if isinstance(attack, Mapping)
        else {getattr(attack, "__name__", "attack"): attack}
    )
    if not attacks or not all(callable(a) for a in attacks.values()):
        raise ValueError("attack must be a callable attack(model, x, y, eps) or a dict of them.")
    check_images(x)
    check_labels(y, x.shape[0])
    eps_max = check_fraction(eps_max, "eps_max", allow_zero=False)
    eps = min(check_fraction(eps, "eps"), eps_max)

    eps_slider = widgets.FloatSlider(
        value=eps,
        min=0.0,
        max=eps_max,
        step=eps_step,
        description="ε",
        readout_format=".3f",
        continuous_update=False,
    )
    index_slider = widgets.IntSlider(
        value=0, min=0, max=x.shape[0] - 1, description="image", continuous_update=False
    )
    chooser = widgets.ToggleButtons(options=list(attacks), description="attack")
    out = widgets.Output()
    caption = widgets.Label(layout=widgets.Layout(width="auto"))
    caption.add_class("threatlab-eps-caption")

    def draw() -> None:
        fig, caption.value = _eps_figure_and_caption(
            model,
            x,
            y,
            attacks[chooser.value],
            eps_slider.value,
            index=index_slider.value,
            eps_max=eps_max,
            seed=seed,
            title=f"{chooser.value}, ε = {eps_slider.value:.3f}",
        )
        with out:
            clear_output(wait=True)
            display(fig)
        plt.close(fig)

    redraw = _redraw_in(out, draw)

    for control in (eps_slider, index_slider, chooser):
        control.observe(redraw, names="value")
    draw()  # fails loudly in the cell if the attack is broken
    controls = [eps_slider, index_slider] + ([chooser] if len(attacks) > 1 else [])
    return widgets.VBox([widgets.HBox(controls), caption, out])


ThresholdAttack = Callable[[torch.Tensor, float], torch.Tensor]
"""``attack(scores, threshold) -> predictions``: True where an example is called a member."""


def _scores_and_members(scores: object, is_member: object) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a score vector and its membership labels; return them as CPU tensors."""
    check_scores(scores)
    check_membership(is_member, scores.shape[0])
    return scores.detach().cpu().double(), is_member.cpu()


def _threshold_predictions(
    scores: torch.Tensor, threshold: float, attack: ThresholdAttack | None
) -> torch.Tensor:
    """Who the attack calls a member: scores >= threshold, or the given attack's answer."""
    if attack is None:
        return scores >= threshold
    predictions = attack(scores, threshold)
    if not isinstance(predictions, torch.Tensor) or predictions.shape != scores.shape:
        shape = (
            tuple(predictions.shape)
            if isinstance(predictions, torch.Tensor)
            else type(predictions).__name__
        )
        raise ValueError(
            f"the attack must return a bool tensor of shape {tuple(scores.shape)}, got {shape}."
        )
    return predictions.cpu().bool()


def threshold_figure(
    scores: torch.Tensor,
    is_member: torch.Tensor,
    threshold: float,
    *,
    attack: ThresholdAttack | None = None,
    bins: int = 40,
    xlabel: str = "membership score (higher: more member-like)",
    title: str | None = None,
) -> Figure:
    """Histograms of the scores of members and non-members, a threshold, and what it catches.

    ``scores`` (N,) are attack scores, higher meaning "more likely a member"; ``is_member`` (N,)
    is the bool ground truth. The attack calls an example a member when its score is at least
    ``threshold`` — or, when ``attack`` is given, where ``attack(scores, threshold)`` is True (the
    learner's own threshold attack). The title gives the true-positive rate (members caught), the
    false-positive rate (non-members wrongly accused) and their difference, the membership
    advantage of Yeom et al. (2018).
    """
    values, members = _scores_and_members(scores, is_member)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError(f"threshold must be a number, got {threshold!r}.")
    predictions = _threshold_predictions(values, float(threshold), attack)
    tpr = predictions[members].double().mean().item()
    fpr = predictions[~members].double().mean().item()
    edges = torch.linspace(values.min().item(), values.max().item() + 1e-9, bins + 1).numpy()
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.hist(values[~members].numpy(), bins=edges, alpha=0.55, label="non-members", color="C0")
    ax.hist(values[members].numpy(), bins=edges, alpha=0.55, label="members", color="C3")
    ax.axvline(float(threshold), color="black", linewidth=1.5)
    ax.axvspan(float(threshold), edges[-1], color="grey", alpha=0.12, label='called "member"')
    ax.set_xlabel(xlabel)
    ax.set_ylabel("examples")
    ax.set_title(
        title
        or f"threshold {threshold:.3g}: TPR {tpr:.1%}, FPR {fpr:.1%}, advantage {tpr - fpr:+.3f}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def threshold_explorer(
    scores: torch.Tensor,
    is_member: torch.Tensor,
    *,
    attack: ThresholdAttack | None = None,
    threshold: float | None = None,
    steps: int = 200,
    xlabel: str = "membership score (higher: more member-like)",
):
    """A widget: a threshold slider over the member and non-member score histograms.

    Moving the slider redraws ``threshold_figure`` with the true- and false-positive rates at that
    threshold. ``attack(scores, threshold)``, when given, decides who is called a member (pass your
    own threshold attack). The slider spans the scores in ``steps`` steps and starts at
    ``threshold`` (default: the median score). Returns an ``ipywidgets.VBox``: make it the last
    expression of a cell to show it. The first drawing happens here, so a broken attack fails
    loudly in the cell even where no browser renders the widget (papermill, CI, the grader).
    """
    import ipywidgets as widgets
    from IPython.display import clear_output, display

    values, members = _scores_and_members(scores, is_member)
    if attack is not None and not callable(attack):
        raise ValueError("attack must be a function attack(scores, threshold) -> bool tensor.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}.")
    low, high = values.min().item(), values.max().item()
    start = values.median().item() if threshold is None else float(threshold)
    if not low <= start <= high:
        raise ValueError(f"threshold must lie within the scores' range [{low:.4g}, {high:.4g}].")
    slider = widgets.FloatSlider(
        value=start,
        min=low,
        max=high,
        step=max((high - low) / steps, 1e-12),
        description="threshold",
        readout_format=".3g",
        continuous_update=False,
        layout=widgets.Layout(width="60%"),
    )
    out = widgets.Output()

    def draw() -> None:
        fig = threshold_figure(values, members, slider.value, attack=attack, xlabel=xlabel)
        with out:
            clear_output(wait=True)
            display(fig)
        plt.close(fig)

    redraw = _redraw_in(out, draw)

    slider.observe(redraw, names="value")
    draw()  # fails loudly in the cell if the attack is broken
    return widgets.VBox([slider, out])


def _redraw_in(out, draw: Callable[[], None]) -> Callable[..., None]:
    """An observer that redraws; an error is shown to the learner inside ``out``, not raised."""
    from IPython.display import clear_output

    def redraw(_change=None) -> None:
        try:
            draw()
        except Exception as error:  # noqa: BLE001 - shown to the learner inside the widget
            with out:
                clear_output(wait=True)
                print(f"{type(error).__name__}: {error}")

    return redraw
