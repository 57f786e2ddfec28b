"""The cache of a study's finished units: exact, typed, and never a pickle.

A (model, fold) unit is saved as a CSV of its held-out trials in which subjects and sessions are
stored as positions in the study's data (so text IDs such as ``"001"`` or a mix of ``101`` and
``"101"`` come back exactly as the data have them) and floats are written and read at full
precision; its fitted model, when the model's type is registered, is saved beside it with
``model.save`` (JSON and plain tensors). In-sample fits are saved the same way. A cached file is
checked when read (columns, codes within range, the number of held-out choices of the fold,
finite values); a file that fails a check is an error naming it, never a silent wrong table.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import ChoiceData
from ..io import write_csv_atomic
from ..models.base import ChoiceModel
from ..models.persistence import ModelFileError, load_fitted_into, save_model

TRIAL_COLUMNS = [
    "model",
    "fold",
    "subject",
    "session",
    "trial",
    "choice",
    "log_lik",
    "p_choice",
    "correct",
]


class CacheFileError(ValueError):
    """A cached unit file does not belong to this study or was altered."""


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def data_fingerprint(data: ChoiceData) -> str:
    """Short hash of a data set's trials, so cached units of other data are never reused."""
    frame = data.to_frame()
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    labels = repr([(type(s).__name__, s) for s in data.subjects])
    spec = repr((list(frame.columns), data.n_options, labels)).encode()
    return hashlib.sha1(spec + hashed.tobytes()).hexdigest()[:10]


def unit_key(model: ChoiceModel, *parts: Any) -> str:
    """Short hash of everything that decides a unit's result (the model's full settings)."""
    return hashlib.sha1(repr((repr(model), parts)).encode()).hexdigest()[:10]


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _codes(values: pd.Series, labels: list, what: str) -> np.ndarray:
    lookup = {(type(_plain(v)), _plain(v)): i for i, v in enumerate(labels)}
    out = np.empty(len(values), dtype=np.int64)
    for i, v in enumerate(values.tolist()):
        v = v.item() if isinstance(v, np.generic) else v
        code = lookup.get((type(v), v))
        if code is None:
            raise KeyError(f"{what} {v!r} is not in the study's data")
        out[i] = code
    return out


def write_trials(trials: pd.DataFrame, path: Path, data: ChoiceData) -> None:
    """Save a unit's held-out trials with subjects and sessions as codes into ``data``."""
    out = trials.copy()
    out["subject"] = _codes(trials["subject"], list(data.subjects), "subject")
    sessions = list(pd.unique(data.to_frame()["session"]))
    out["session"] = _codes(trials["session"], sessions, "session")
    write_csv_atomic(out, path)


def read_trials(path: Path, data: ChoiceData, expected: pd.DataFrame) -> pd.DataFrame:
    """Read a unit written by :func:`write_trials`, checking it against the study.

    ``expected`` holds the fold's held-out observed choices (``subject, session, trial,
    choice``, in the order a fresh run writes them); the file must hold exactly these, with
    consistent probabilities, or it is an error naming the file and the first wrong row.
    """
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CacheFileError(f"cached unit {path} is unreadable ({err}); delete it") from None
    if list(table.columns) != TRIAL_COLUMNS or len(table) != len(expected):
        raise CacheFileError(
            f"cached unit {path} does not match this study (columns or number of held-out "
            f"choices differ: {len(table)} rows, {len(expected)} expected); delete it"
        )
    if table.isna().any().any():
        raise CacheFileError(f"cached unit {path} has empty cells (cut short?); delete it")
    frame = data.to_frame()
    sessions = list(pd.unique(frame["session"]))
    subj = table["subject"].to_numpy()
    sess = table["session"].to_numpy()
    if not (
        np.issubdtype(subj.dtype, np.integer)
        and np.issubdtype(sess.dtype, np.integer)
        and subj.min(initial=0) >= 0
        and subj.max(initial=0) < data.n_subjects
        and sess.min(initial=0) >= 0
        and sess.max(initial=0) < len(sessions)
    ):
        raise CacheFileError(
            f"cached unit {path} has subject or session codes out of range; delete it"
        )
    ll = table["log_lik"].to_numpy(dtype=float)
    if not np.isfinite(ll).all() or (ll > 1e-9).any():
        raise CacheFileError(f"cached unit {path} has log-likelihoods that are not valid")
    p = table["p_choice"].to_numpy(dtype=float)
    credit = table["correct"].to_numpy(dtype=float)
    if not np.allclose(p, np.exp(ll), rtol=1e-12, atol=0) or ((credit < 0) | (credit > 1)).any():
        raise CacheFileError(f"cached unit {path} has inconsistent probabilities; delete it")
    subjects = np.empty(data.n_subjects, dtype=object)
    subjects[:] = list(data.subjects)
    session_labels = np.empty(len(sessions), dtype=object)
    session_labels[:] = sessions
    table["subject"] = pd.Series(subjects[subj]).astype(frame["subject"].dtype)
    table["session"] = pd.Series(session_labels[sess]).astype(frame["session"].dtype)
    table["choice"] = table["choice"].astype(frame["choice"].dtype)  # as in a fresh run
    keys = ["subject", "session", "trial", "choice"]
    for key in keys:
        same = table[key].to_numpy() == expected[key].to_numpy()
        if not np.all(same):
            row = int(np.flatnonzero(~same)[0])
            raise CacheFileError(
                f"cached unit {path}: row {row} is not the study's held-out trial ({key} "
                f"{table[key].iloc[row]!r}, expected {expected[key].iloc[row]!r}); delete it"
            )
    return table


def model_path(trials_path: Path) -> Path:
    """Where the fitted model of a unit is saved (beside its trials)."""
    return trials_path.with_name(trials_path.name.removesuffix(".csv") + ".model")


def save_fitted(model: ChoiceModel, folder: Path) -> bool:
    """Save a unit's fitted model (JSON and plain tensors); returns whether it could be saved
    (a model class without ``write_fitted`` is not cached)."""
    try:
        save_model(model, folder, require_registered=False)
    except NotImplementedError:
        return False
    return True


def load_fitted(folder: Path, template: ChoiceModel) -> ChoiceModel | None:
    """The cached fit of ``template`` (same settings), or None when there is none; a damaged
    file, or one saved from other settings, is an error naming it."""
    if not (folder / "model.json").is_file():
        return None
    try:
        return load_fitted_into(template, folder)
    except ModelFileError as err:
        raise CacheFileError(f"cached model {folder} is invalid: {err}; delete it") from None
