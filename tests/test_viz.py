"""Tests for threatlab.viz: image grids with coloured captions, and curve plots."""

from __future__ import annotations

import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from threatlab import plot_curves, plot_roc, show_images

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _with_image(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images]


# --- show_images --------------------------------------------------------------------------


def test_show_images_grid_layout():
    fig = show_images(torch.rand(10, 1, 8, 8), ncols=4)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    shown = _with_image(fig)
    assert len(shown) == 10
    assert shown == fig.axes[:10]
    assert all(not ax.axison for ax in fig.axes)  # no ticks or frames anywhere


def test_show_images_accepts_three_dims_and_draws_the_pixels():
    images = torch.rand(3, 5, 6)
    fig = show_images(images)
    assert len(fig.axes) == 3
    for ax, image in zip(fig.axes, images, strict=True):
        np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), image.numpy())
        assert ax.images[0].get_clim() == (0, 1)


def test_show_images_channel_dim_is_dropped():
    images = torch.rand(2, 1, 4, 4)
    fig = show_images(images)
    np.testing.assert_allclose(np.asarray(fig.axes[1].images[0].get_array()), images[1, 0].numpy())


def test_show_images_fewer_images_than_columns():
    fig = show_images(torch.rand(3, 1, 8, 8), ncols=8)
    assert len(fig.axes) == 3


def test_show_images_detaches_grad_tensors():
    images = torch.rand(2, 1, 4, 4, requires_grad=True)
    fig = show_images(images)
    assert len(_with_image(fig)) == 2


def test_show_images_emits_no_warnings():
    """Handing torch tensors to imshow makes NumPy 2 warn (Tensor.__array__ lacks `copy`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        show_images(torch.rand(2, 1, 8, 8), [0, 1], [0, 1])


def test_captions_and_colours():
    labels = torch.tensor([1, 2, 3])
    predictions = [1, 5, 3]
    fig = show_images(torch.rand(3, 1, 8, 8), labels, predictions, title="grid")
    titles = [ax.title for ax in fig.axes]
    assert [t.get_text() for t in titles] == [
        "true 1 / pred 1",
        "true 2 / pred 5",
        "true 3 / pred 3",
    ]
    colours = [to_rgba(t.get_color()) for t in titles]
    assert colours == [to_rgba("black"), to_rgba("red"), to_rgba("black")]
    assert fig._suptitle is not None and fig._suptitle.get_text() == "grid"


def test_captions_with_labels_only_are_black():
    fig = show_images(torch.rand(2, 8, 8), labels=[7, 4])
    assert [ax.title.get_text() for ax in fig.axes] == ["true 7", "true 4"]
    assert {to_rgba(ax.title.get_color()) for ax in fig.axes} == {to_rgba("black")}


def test_captions_with_predictions_only():
    fig = show_images(torch.rand(2, 8, 8), predictions=torch.tensor([0, 9]))
    assert [ax.title.get_text() for ax in fig.axes] == ["pred 0", "pred 9"]
    assert {to_rgba(ax.title.get_color()) for ax in fig.axes} == {to_rgba("black")}


def test_no_captions_without_labels():
    fig = show_images(torch.rand(2, 8, 8))
    assert [ax.title.get_text() for ax in fig.axes] == ["", ""]
    assert fig._suptitle is None


@pytest.mark.parametrize(
    "bad", [torch.rand(8, 8), torch.rand(1, 1, 1, 8, 8), np.zeros((2, 1, 8, 8)), [[0.0]]]
)
def test_show_images_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) or \(N, H, W\)"):
        show_images(bad)


def test_show_images_rejects_colour_channels():
    """(N, 3, H, W) is not (N, 1, H, W): showing channel 0 in grey would silently mislead."""
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)") as info:
        show_images(torch.rand(2, 3, 8, 8))
    assert "(2, 3, 8, 8)" in str(info.value)


def test_show_images_rejects_empty():
    with pytest.raises(ValueError, match="at least one image"):
        show_images(torch.rand(0, 1, 8, 8))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"labels": [1, 2]}, "labels has 2 entries but there are 3 images"),
        ({"predictions": torch.tensor([1, 2, 3, 4])}, "predictions has 4 entries but there are 3"),
        ({"labels": [1, 2, 3], "predictions": [1]}, "predictions has 1 entries"),
    ],
)
def test_show_images_rejects_length_mismatch(kwargs, message):
    with pytest.raises(ValueError, match=message):
        show_images(torch.rand(3, 1, 8, 8), **kwargs)


# --- plot_curves --------------------------------------------------------------------------


def test_plot_curves_one_line_per_curve():
    x = [0.0, 0.1, 0.2]
    curves = {"clean": [0.9, 0.9, 0.9], "fgsm": (0.9, 0.5, 0.2)}
    fig = plot_curves(x, curves, xlabel="eps", ylabel="accuracy", title="robustness")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.get_lines()
    assert len(lines) == 2
    assert [line.get_label() for line in lines] == ["clean", "fgsm"]
    np.testing.assert_allclose(lines[1].get_xdata(), x)
    np.testing.assert_allclose(lines[1].get_ydata(), [0.9, 0.5, 0.2])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["clean", "fgsm"]
    assert ax.get_xlabel() == "eps" and ax.get_ylabel() == "accuracy"
    assert ax.get_title() == "robustness"
    assert ax.get_ylim() == pytest.approx((0.0, 1.02))


def test_plot_curves_ylim_none_autoscales():
    fig = plot_curves([1, 2], {"loss": [5.0, 3.0]}, xlabel="epoch", ylabel="loss", ylim=None)
    low, high = fig.axes[0].get_ylim()
    assert low < 3.0 and high > 5.0


def test_plot_curves_accepts_tensors():
    fig = plot_curves(
        torch.arange(3), {"acc": torch.tensor([0.1, 0.2, 0.3])}, xlabel="x", ylabel="y"
    )
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), [0.1, 0.2, 0.3], rtol=1e-6)


def test_plot_curves_rejects_length_mismatch():
    with pytest.raises(ValueError, match="curve 'pgd' has 2 points but x has 3"):
        plot_curves([0, 1, 2], {"clean": [1, 1, 1], "pgd": [1, 0]}, xlabel="x", ylabel="y")


def test_plot_curves_needs_a_curve():
    with pytest.raises(ValueError, match="at least one curve"):
        plot_curves([0, 1], {}, xlabel="x", ylabel="y")


def test_plot_curves_validation_creates_no_figure():
    before = plt.get_fignums()
    with pytest.raises(ValueError):
        plot_curves([0, 1, 2], {"a": [1]}, xlabel="x", ylabel="y")
    assert plt.get_fignums() == before


# --- plot_roc -----------------------------------------------------------------------------


def test_plot_roc_draws_each_curve_the_diagonal_and_the_fpr_marker():
    fpr = np.array([0.0, 0.001, 0.01, 0.5, 1.0])
    tpr = np.array([0.0, 0.05, 0.2, 0.8, 1.0])
    fig = plot_roc({"attack": (fpr, tpr), "other": (torch.tensor(fpr), torch.tensor(fpr))})
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["attack", "other", "guessing"]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    # Zeros are drawn at min_rate so that they stay on a log axis.
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [1e-3, 1e-3, 0.01, 0.5, 1.0])
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1e-3, 0.05, 0.2, 0.8, 1.0])
    marker = ax.get_lines()[3]  # axvline at the 1% FPR
    assert list(marker.get_xdata()) == [0.01, 0.01]
    assert ax.get_xlim() == pytest.approx((1e-3, 1.0))


def test_plot_roc_linear_axes_and_no_marker():
    fig = plot_roc({"a": ([0, 0.5, 1], [0, 0.7, 1])}, log_scale=False, mark_fpr=None, title="T")
    (ax,) = fig.axes
    assert ax.get_xscale() == "linear"
    assert len(ax.get_lines()) == 2  # the curve and the diagonal
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0, 0.5, 1])
    assert ax.get_title() == "T"


@pytest.mark.parametrize(
    ("curves", "message"),
    [
        ({}, "at least one curve"),
        ({"a": [0.1, 0.2, 0.3]}, "pair"),
        ({"a": ([0, 1], [0, 0.5, 1])}, "fpr has 2 points but tpr has 3"),
        ({"a": ([0, 1.5], [0, 1])}, r"rates in \[0, 1\]"),
        ({"a": ([], [])}, "non-empty"),
    ],
)
def test_plot_roc_rejects_bad_curves(curves, message):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=message):
        plot_roc(curves)
    assert plt.get_fignums() == before


def test_plot_roc_rejects_bad_min_rate():
    with pytest.raises(ValueError, match="min_rate"):
        plot_roc({"a": ([0, 1], [0, 1])}, min_rate=0)
