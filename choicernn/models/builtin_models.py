"""The built-in model types of the registry: (type name, factory, class for loading)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .disrnn import DisRNNModel, disrnn
from .gql import GQL
from .gru import GRUModel
from .heuristics import WSLS, Bias, KalmanFilter
from .lagged_regression import LaggedRegression
from .latent_state import LatentStateModel
from .qlearning import QComponents, QLearning
from .rnn_training import TrainingConfig
from .two_step import TwoStepModel


def qlearning(preset: Any = "rw", **settings: Any) -> QLearning:
    """``type = "qlearning"``: a preset name, or component flags (``dual_alpha = true``, ...)
    given beside the other settings."""
    flags = {k: settings.pop(k) for k in list(settings) if k in QComponents.__dataclass_fields__}
    if flags:
        return QLearning(QComponents(**flags), **settings)
    if isinstance(preset, Mapping):
        preset = QComponents(**preset)
    return QLearning(preset, **settings)


def gru(training: Mapping[str, Any] | TrainingConfig | None = None, **settings: Any) -> GRUModel:
    """``type = "gru"``: ``training`` may be a table of :class:`TrainingConfig` fields."""
    if isinstance(training, Mapping):
        training = TrainingConfig(**training)
    teacher = settings.get("teacher")
    if isinstance(teacher, Mapping):  # recipes: teacher = {type = "gru", hidden_size = 20}
        from .registry import make_model

        settings["teacher"] = make_model({"type": "gru", **teacher})
    return GRUModel(training=training, **settings)


BUILTINS = [
    ("qlearning", qlearning, QLearning),
    ("wsls", WSLS, WSLS),
    ("bias", Bias, Bias),
    ("kalman", KalmanFilter, KalmanFilter),
    ("gru", gru, GRUModel),
    ("gql", GQL, GQL),
    ("lagged_regression", LaggedRegression, LaggedRegression),
    ("latent_state", LatentStateModel, LatentStateModel),
    ("two_step", TwoStepModel, TwoStepModel),
    ("disrnn", disrnn, DisRNNModel),
]
