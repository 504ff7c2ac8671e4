"""ThreatLab support library: everything a lab needs that is not the attack or defense it teaches.

Labs start with one import line::

    from threatlab import *
"""

from .checks import check_fraction, check_images, check_labels, check_positive_int
from .data import DatasetIntegrityError, Split, load_digits, load_mnist
from .device import get_device, seed_everything
from .env import env_flag, fast_default, quiet
from .models import MLP, SmallCNN
from .report import read_metrics, report
from .train import accuracy, predict, train
from .viz import plot_curves, show_images
from .widgets import eps_explorer, eps_figure

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "DatasetIntegrityError",
    "SmallCNN",
    "Split",
    "accuracy",
    "check_fraction",
    "check_images",
    "check_labels",
    "check_positive_int",
    "env_flag",
    "eps_explorer",
    "eps_figure",
    "fast_default",
    "get_device",
    "load_digits",
    "load_mnist",
    "plot_curves",
    "predict",
    "quiet",
    "read_metrics",
    "report",
    "seed_everything",
    "show_images",
    "train",
]
