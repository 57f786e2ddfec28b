"""Two-step trials (Daw et al. 2011): validating the second-stage columns of a tidy table.

A two-step trial has a first-stage choice (``choice``), the second-stage state it led to
(``state``), a second-stage choice in that state (``choice2``) and a reward. In the canonical
table (see :mod:`choicernn.data.validation`) they are the columns

``choice`` (``Int64``: first-stage option 0 or 1), ``state`` (``Int64``: 0 or 1), ``choice2``
(``Int64``: second-stage option 0 or 1 within the state) and ``reward`` (float), each ``<NA>``
when unknown or missed.

Conventions (what every two-step model and signature assumes):

* **State 0 is the state reached commonly after first-stage option 0**, state 1 the one reached
  commonly after option 1; a transition is *common* when ``state == choice``, *rare* otherwise.
* Either stage may be missed. A missed first stage reaches no state: ``state``, ``choice2`` and
  ``reward`` must be empty. A missed second stage leaves ``choice2`` empty; its ``state`` may be
  given (the transition happened) or empty (not recorded); its reward is ignored and stored as
  ``<NA>``: only a trial with a second-stage choice has a reward.
* Both stages have two options (``n_options=2``); ``choice2`` uses the same coding as
  ``choice`` (``choice_base``, the ``missing=`` code).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ChoiceDataError

TWO_STEP_COLUMNS = ("state", "choice2")


def _show(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _where(frame: pd.DataFrame, pos: int, subject_col: str) -> str:
    return f"row {pos} (subject {_show(frame[subject_col].iloc[pos])})"


def check_two_step_arguments(
    state: str | None,
    choice2: str | None,
    n_options: int,
    outcomes: Sequence[str] | None,
    state_labels: Sequence[Any] | None,
) -> bool:
    """Whether the table is two-step; raise when the two-step arguments do not fit together."""
    if state is None and choice2 is None:
        if state_labels is not None:
            raise ChoiceDataError(
                "state_labels is given but no state column: pass state='<column>' and "
                "choice2='<column>' for two-step data."
            )
        return False
    if state is None or choice2 is None:
        given, absent = ("state", "choice2") if choice2 is None else ("choice2", "state")
        raise ChoiceDataError(
            f"two-step data need both a state and a second-stage choice column: {given}= is "
            f"given but {absent}= is not. Pass {absent}='<your column name>'."
        )
    if n_options != 2:
        raise ChoiceDataError(
            f"two-step data have two options at each stage: n_options must be 2, got {n_options}."
        )
    if outcomes is not None:
        raise ChoiceDataError(
            "outcomes= (full feedback) is not supported with two-step data: leave it out."
        )
    if state_labels is not None:
        labels = list(state_labels)
        if len(labels) != 2 or len(set(map(str, labels))) != 2:
            raise ChoiceDataError(
                f"state_labels must name the two second-stage states (first the one reached "
                f"commonly after first-stage option 0), got {labels!r}."
            )
    return True


def state_codes(
    frame: pd.DataFrame,
    col: str,
    subject_col: str,
    choice_base: int,
    state_labels: Sequence[Any] | None,
    missing: Any,
    is_code,
) -> np.ndarray:
    """0-based state codes (0 or 1), NaN where the state is empty (or the ``missing=`` code)."""
    raw = frame[col]
    empty = raw.isna().to_numpy(dtype=bool)
    if missing is not None:
        empty = empty | is_code(raw, missing)
    codes = np.full(len(frame), np.nan)
    if state_labels is not None:
        lookup = {str(label): k for k, label in enumerate(state_labels)}
        allowed = f"state_labels={list(state_labels)}"
    else:
        lookup = {str(choice_base + k): k for k in range(2)}
        lookup.update({f"{choice_base + k}.0": k for k in range(2)})
        allowed = f"{choice_base} or {choice_base + 1} (choice_base={choice_base})"
    for pos in np.flatnonzero(~empty):
        value = raw.iloc[pos]
        key = str(value.item() if isinstance(value, np.generic) else value).strip()
        code = lookup.get(key)
        if code is None and state_labels is not None:
            code = next((k for k, lab in enumerate(state_labels) if lab == value), None)
        if code is None:
            raise ChoiceDataError(
                f"column {col!r} (state): value {_show(value)} at {_where(frame, pos, subject_col)} "
                f"is not a second-stage state: states are {allowed}, the first reached commonly "
                f"after first-stage option {choice_base}. Pass state_labels=[...] for other codes."
            )
        codes[pos] = code
    return codes


def check_consistency(
    frame: pd.DataFrame,
    subject_col: str,
    cols: dict[str, str],
    codes: np.ndarray,
    states: np.ndarray,
    codes2: np.ndarray,
) -> None:
    """A state or second-stage choice needs a first-stage choice; a second-stage choice a state."""
    no_first = np.isnan(codes)
    for values, role in ((states, "state"), (codes2, "choice2")):
        bad = no_first & ~np.isnan(values)
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ChoiceDataError(
                f"column {cols[role]!r} ({'state' if role == 'state' else 'second-stage choice'}): "
                f"value {_show(frame[cols[role]].iloc[pos])} at {_where(frame, pos, subject_col)}, "
                f"but that trial's first-stage choice (column {cols['choice']!r}) is missed: a "
                f"trial without a first-stage choice reaches no second stage. Leave its state and "
                f"second-stage choice empty, or give its first-stage choice."
            )
    bad = np.isnan(states) & ~np.isnan(codes2)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ChoiceDataError(
            f"column {cols['state']!r} (state): no state at {_where(frame, pos, subject_col)}, a "
            f"trial with a second-stage choice ({_show(frame[cols['choice2']].iloc[pos])} in "
            f"column {cols['choice2']!r}). Every second-stage choice needs the state it was made in."
        )
