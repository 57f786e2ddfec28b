"""Models by name: how recipes, the command line and saved files turn a type name into a model.

The built-in types are always present; :func:`choicernn.register_model` adds one (a name and
the model class, or a factory taking keyword arguments). Recipes then accept
``type = "<name>"`` with the constructor's arguments, and saved models of that class load
with :func:`choicernn.load_model`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import ChoiceModel

_FACTORIES: dict[str, Callable[..., ChoiceModel]] = {}
_CLASSES: dict[str, type] = {}
_BUILTINS_LOADED = False


def register_model(
    name: str, factory: Callable[..., ChoiceModel], *, model_class: type | None = None
) -> None:
    """Make ``type = name`` available in recipes, the CLI and saved model files.

    Parameters
    ----------
    name : str
        The type name.
    factory : class or callable
        ``factory(**arguments)`` returns a model. When it is a :class:`ChoiceModel` subclass,
        saved models of that class load by this name.
    model_class : type, optional
        The class a non-class factory builds, so that its saved models can be loaded
        (``model_class(**settings)``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model type name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"factory for {name!r} must be callable, got {type(factory).__name__}")
    _builtins()
    _FACTORIES[name] = factory
    cls = model_class or (factory if isinstance(factory, type) else None)
    if cls is not None:
        if not (isinstance(cls, type) and issubclass(cls, ChoiceModel)):
            raise TypeError(f"model_class for {name!r} must be a ChoiceModel subclass")
        _CLASSES[name] = cls


def available_models() -> list[str]:
    """Registered model types."""
    _builtins()
    return sorted(_FACTORIES)


def type_name(model: ChoiceModel) -> str:
    """The registered type name of ``model``'s class (an error when it is not registered)."""
    _builtins()
    for name, cls in _CLASSES.items():
        if type(model) is cls:
            return name
    raise ValueError(
        f"{type(model).__name__} is not a registered model type; register it with "
        f"choicernn.register_model(name, {type(model).__name__}) to save or load it"
    )


def is_registered(model: ChoiceModel) -> bool:
    """Whether ``model``'s class is registered (and so can be saved and loaded)."""
    _builtins()
    return any(type(model) is cls for cls in _CLASSES.values())


def model_class(name: str) -> type:
    """The class registered under ``name``."""
    _builtins()
    if name not in _CLASSES:
        raise ValueError(
            f"unknown model type {name!r}; types that can be loaded are {sorted(_CLASSES)}. "
            f"Register a new one with choicernn.register_model(name, ModelClass)."
        )
    return _CLASSES[name]


def _builtins() -> None:
    """Register the built-in types (once; user registrations never hide them)."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from . import builtin_models

    for name, factory, cls in builtin_models.BUILTINS:
        _FACTORIES.setdefault(name, factory)
        if cls is not None:
            _CLASSES.setdefault(name, cls)


def make_model(spec: Mapping[str, Any]) -> ChoiceModel:
    """A model from a mapping with ``type`` and that type's arguments.

    Unknown arguments are errors naming the type and the argument.

    Examples
    --------
    >>> make_model({"type": "qlearning", "preset": "rw_persev", "method": "map"})   # doctest: +SKIP
    >>> make_model({"type": "gru", "hidden_size": 4, "training": {"max_epochs": 50}})  # doctest: +SKIP
    >>> make_model({"type": "select", "name": "gru_nested", "candidates": [   # doctest: +SKIP
    ...     {"type": "gru", "hidden_size": 4, "name": "a"}, {"type": "gru", "hidden_size": 8, "name": "b"}]})
    """
    _builtins()
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in _FACTORIES:
        raise ValueError(
            f"unknown model type {kind!r}; available types are {sorted(_FACTORIES)}. Add one with "
            f"choicernn.register_model(name, ModelClass)."
        )
    try:
        return _FACTORIES[kind](**spec)
    except TypeError as err:
        raise ValueError(f"model of type {kind!r}: {err}") from None
