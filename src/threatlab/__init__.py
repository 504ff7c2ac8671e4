"""ThreatLab support library: everything a lab needs that is not the attack or defense it teaches.

Labs start with one import line::

    from threatlab import *
"""

from .api import PredictionAPI, QueryBudgetExceeded, QueryRecord
from .checks import (
    check_fraction,
    check_images,
    check_labels,
    check_membership,
    check_positive_int,
    check_scores,
)
from .data import DatasetIntegrityError, Split, load_breast_cancer, load_digits, load_mnist
from .device import get_device, seed_everything
from .env import env_flag, fast_default, quiet
from .models import MLP, SmallCNN, penultimate_activations
from .report import read_metrics, report
from .shadow import inclusion_masks, train_models
from .shards import load_shard, read_shards, save_shard, shard_paths, write_shards
from .text import (
    CharModel,
    SecretFormat,
    deduplicate,
    make_tickets,
    make_windows,
    train_char_model,
)
from .train import accuracy, predict, train
from .viz import plot_curves, plot_roc, show_images
from .widgets import eps_explorer, eps_figure, threshold_explorer, threshold_figure

__version__ = "0.1.0"

__all__ = [
    "CharModel",
    "MLP",
    "PredictionAPI",
    "QueryBudgetExceeded",
    "QueryRecord",
    "DatasetIntegrityError",
    "SecretFormat",
    "SmallCNN",
    "Split",
    "accuracy",
    "check_fraction",
    "check_images",
    "check_labels",
    "check_membership",
    "check_positive_int",
    "check_scores",
    "deduplicate",
    "env_flag",
    "eps_explorer",
    "eps_figure",
    "fast_default",
    "get_device",
    "inclusion_masks",
    "load_breast_cancer",
    "load_digits",
    "load_mnist",
    "load_shard",
    "make_tickets",
    "make_windows",
    "penultimate_activations",
    "plot_curves",
    "plot_roc",
    "predict",
    "quiet",
    "read_metrics",
    "read_shards",
    "report",
    "save_shard",
    "seed_everything",
    "shard_paths",
    "show_images",
    "threshold_explorer",
    "threshold_figure",
    "train",
    "train_char_model",
    "train_models",
    "write_shards",
]
