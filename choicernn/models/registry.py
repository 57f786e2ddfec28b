"""Models by name: how recipes and the command line turn ``{type = "qlearning", ...}`` into a model.

Add a model type with :func:`register_model` (a name and a factory taking keyword arguments);
recipes can then use ``type = "<name>"`` with the factory's arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import ChoiceModel

_FACTORIES: dict[str, Callable[..., ChoiceModel]] = {}


def register_model(name: str, factory: Callable[..., ChoiceModel]) -> None:
    """Make ``type = name`` available in recipes (``factory(**arguments)`` returns a model)."""
    _FACTORIES[name] = factory


def available_models() -> list[str]:
    """Registered model types."""
    _defaults()
    return sorted(_FACTORIES)


def _qlearning(preset: str = "rw", q0: float = 0.0, name: str | None = None, **components: Any):
    from .qlearning import QComponents, QLearning

    if components:
        return QLearning(QComponents(**components), q0=q0, name=name or preset)
    return QLearning(preset, q0=q0, name=name)


def _gru(training: Mapping[str, Any] | None = None, **kwargs: Any):
    from .gru import GRUModel
    from .rnn_training import TrainingConfig

    return GRUModel(training=TrainingConfig(**(training or {})), **kwargs)


def _select(
    candidates: list[Mapping[str, Any]], folds: int = 3, by: str = "block", name: str = "selected"
):
    from ..comparison.selection import SelectByCV

    if not isinstance(candidates, list) or not candidates:
        raise ValueError("'candidates' must be a non-empty list of model tables")
    return SelectByCV([make_model(c) for c in candidates], folds=folds, by=by, name=name)


def _defaults() -> None:
    if _FACTORIES:
        return
    from .heuristics import WSLS, Bias, KalmanFilter

    register_model("qlearning", _qlearning)
    register_model("wsls", WSLS)
    register_model("bias", Bias)
    register_model("kalman", KalmanFilter)
    register_model("gru", _gru)
    register_model("select", _select)


def make_model(spec: Mapping[str, Any]) -> ChoiceModel:
    """A model from a mapping with ``type`` and that type's arguments.

    Examples
    --------
    >>> make_model({"type": "qlearning", "preset": "rw_persev"})   # doctest: +SKIP
    >>> make_model({"type": "gru", "hidden_size": 4, "training": {"max_epochs": 50}})  # doctest: +SKIP
    >>> make_model({"type": "select", "name": "gru_nested", "candidates": [   # doctest: +SKIP
    ...     {"type": "gru", "hidden_size": 4, "name": "a"}, {"type": "gru", "hidden_size": 8, "name": "b"}]})
    """
    _defaults()
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _FACTORIES:
        raise ValueError(
            f"unknown model type {kind!r}; available types are {sorted(_FACTORIES)}. Add one with "
            f"choicernn.models.registry.register_model(name, factory)."
        )
    try:
        return _FACTORIES[kind](**spec)
    except TypeError as err:
        raise ValueError(f"model of type {kind!r}: {err}") from None
