"""Saving and loading the learned state of a recurrent network model (GRU, LSTM, RNN, DisRNN).

Both network models save the same things: ``weights.pt`` (a plain dictionary of CPU tensors,
read back with ``torch.load(weights_only=True)``) and, in ``model.json``, the number of options,
the subject labels, the reward scale, whether every option's outcome was an input, the kept
validation NLL and the training history. :func:`write_network` and :func:`read_network` do it
once for both, validating everything a tampered file could change (types, shapes, finiteness,
that the weights fit the settings) and raising :class:`ModelFileError` naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .persistence import ModelFileError, table_from_json, table_to_json


def write_network(model: Any, folder: Path) -> dict[str, Any]:
    """Write ``model.network_``'s weights to ``folder/weights.pt``; return the JSON state."""
    subjects = [s.item() if isinstance(s, np.generic) else s for s in model.subjects_]
    bad = [s for s in subjects if isinstance(s, bool) or not isinstance(s, str | int)]
    if bad:
        raise TypeError(f"subject labels must be str or int to be saved; got {bad[:3]}")
    state = {k: v.detach().cpu().clone() for k, v in model.network_.state_dict().items()}
    torch.save(state, Path(folder) / "weights.pt")
    return {
        "n_options": int(model.n_options_),
        "subjects": subjects,
        "reward_scale": float(model.reward_scale_),
        "uses_outcomes": bool(model.uses_outcomes_),
        "validation_nll": model.validation_nll_,
        "history": table_to_json(model.history_),
        "seeds": table_to_json(model.seeds_),
    }


def read_network_state(folder: Path, fitted: dict[str, Any]) -> dict[str, Any]:
    """The checked JSON state written by :func:`write_network`, and the raw weights."""
    folder = Path(folder)
    where = f"{folder / 'model.json'}"
    k = fitted.get("n_options")
    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        raise ModelFileError(f"{where}: n_options must be an integer >= 2, got {k!r}")
    subjects = fitted.get("subjects")
    if not isinstance(subjects, list) or any(
        isinstance(s, bool) or not isinstance(s, str | int) for s in subjects
    ):
        raise ModelFileError(f"{where}: subjects must be a list of str or int labels")
    scale = fitted.get("reward_scale")
    if (
        not isinstance(scale, int | float)
        or isinstance(scale, bool)
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise ModelFileError(f"{where}: reward_scale must be a finite number > 0, got {scale!r}")
    uses_outcomes = fitted.get("uses_outcomes")
    if not isinstance(uses_outcomes, bool):
        raise ModelFileError(f"{where}: uses_outcomes must be true or false")
    val = fitted.get("validation_nll")
    if val is not None and (isinstance(val, bool) or not isinstance(val, int | float)):
        raise ModelFileError(f"{where}: validation_nll must be a number or null, got {val!r}")
    file = folder / "weights.pt"
    if not file.is_file() or file.stat().st_size == 0:
        raise ModelFileError(f"{file} is missing or empty: the network's weights are lost")
    try:
        weights = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a damaged model
        raise ModelFileError(f"{file} is not a readable weights file ({err})") from None
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise ModelFileError(f"{file} does not hold a dictionary of tensors")
    return {
        "n_options": k,
        "subjects": list(subjects),
        "reward_scale": float(scale),
        "uses_outcomes": uses_outcomes,
        "validation_nll": None if val is None else float(val),
        "history": table_from_json(fitted.get("history"), f"{where} (history)"),
        "seeds": table_from_json(fitted.get("seeds"), f"{where} (seeds)"),
        "weights": weights,
        "file": file,
    }


def read_network(model: Any, folder: Path, fitted: dict[str, Any], make_network) -> None:
    """Restore a network model written by :func:`write_network`: check the JSON state, build
    the network with ``make_network(n_subjects)`` (called once the model knows its options,
    subjects and inputs), load and check its weights, and set the fitted attributes. A model
    whose file fails a check is left unfitted."""
    from .base import resolve_device

    state = read_network_state(folder, fitted)
    model.n_options_ = state["n_options"]
    model.subjects_ = state["subjects"]
    model.reward_scale_ = state["reward_scale"]
    model.uses_outcomes_ = state["uses_outcomes"]
    try:
        net = load_weights(make_network(len(model.subjects_)), state["weights"], state["file"])
    except ModelFileError:
        del model.n_options_  # a model that failed to load is not fitted
        raise
    model.network_ = net.to(resolve_device(model.device)).eval()
    model.validation_nll_ = state["validation_nll"]
    model.training_ = model.config
    model.history_ = state["history"]
    model.seeds_ = state["seeds"]


def load_weights(net: nn.Module, weights: dict[str, torch.Tensor], file: Path) -> nn.Module:
    """``net`` with ``weights``, after checking they fit it (names, shapes, finite values)."""
    expected = net.state_dict()
    wrong = sorted(set(expected) ^ set(weights))
    if wrong:
        raise ModelFileError(
            f"{file}: the weights do not match the settings (entries {wrong[:5]} differ)"
        )
    for name, value in weights.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ModelFileError(
                f"{file}: weight {name!r} has shape {tuple(value.shape)}, the settings need "
                f"{tuple(expected[name].shape)}"
            )
        if not torch.isfinite(value).all():
            raise ModelFileError(f"{file}: weight {name!r} holds NaN or infinite values")
    net.load_state_dict(weights)
    return net
