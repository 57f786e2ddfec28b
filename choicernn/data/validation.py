"""Turn a user's tidy table into choicernn's canonical trial table, or say exactly why not.

The canonical table has one row per trial, sorted by subject (order of first appearance),
session (order of first appearance within the subject) and trial, with columns

``subject``, ``session``, ``trial`` (int), ``choice`` (nullable ``Int64``, 0-based, ``<NA>`` on a
missed trial), ``reward`` (float) and, for full-feedback tasks, ``outcome_0`` … ``outcome_{K-1}``
(float): the payoff each option would have given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ChoiceDataError

CANONICAL = ("subject", "session", "trial", "choice", "reward")


def outcome_columns(n_options: int) -> list[str]:
    """Names of the per-option outcome columns in the canonical table."""
    return [f"outcome_{k}" for k in range(n_options)]


def _show(value: Any) -> str:
    """``repr`` of a cell value, with numpy scalars shown as plain Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _where(frame: pd.DataFrame, pos: int, subject_col: str | None) -> str:
    """Where a problem is: the row position in the input (from 0) and its subject."""
    if subject_col is not None and subject_col in frame.columns:
        return f"row {pos} (subject {_show(frame[subject_col].iloc[pos])})"
    return f"row {pos}"


def _is_code(raw: pd.Series, code: Any) -> np.ndarray:
    """Cells of ``raw`` equal to ``code``, as a value or as text (``-1`` matches ``"-1"``)."""
    try:
        same = (raw == code).fillna(False).to_numpy(dtype=bool)
    except TypeError:  # incomparable types: compare as text only
        same = np.zeros(len(raw), dtype=bool)
    as_text = (raw.astype(str) == str(code)).fillna(False).to_numpy(dtype=bool)
    return (same | as_text) & raw.notna().to_numpy(dtype=bool)


def _require_columns(frame: pd.DataFrame, roles: dict[str, str | None]) -> None:
    for role, col in roles.items():
        if col is not None and col not in frame.columns:
            raise ChoiceDataError(
                f"column {col!r} (the {role} column) is not in the data; the columns are "
                f"{list(frame.columns)}. Pass {role}='<your column name>'."
            )


def _numeric(frame: pd.DataFrame, col: str, subject_col: str, role: str) -> np.ndarray:
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna().to_numpy(dtype=bool) & frame[col].notna().to_numpy(dtype=bool)
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ChoiceDataError(
            f"column {col!r} ({role}): value {_show(frame[col].iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} is not a number."
        )
    return values.to_numpy(dtype=float, na_value=np.nan)


def _choice_codes(
    frame: pd.DataFrame,
    col: str,
    subject_col: str,
    n_options: int,
    choice_base: int,
    option_labels: Sequence[Any] | None,
    missing: Any,
) -> np.ndarray:
    """0-based float codes with NaN for missed trials."""
    raw = frame[col]
    is_missing = raw.isna().to_numpy(dtype=bool)
    if missing is not None:
        is_missing = is_missing | _is_code(raw, missing)
    codes = np.full(len(frame), np.nan)
    if option_labels is not None:
        lookup = {label: k for k, label in enumerate(option_labels)}
        lookup.update({str(label): k for k, label in enumerate(option_labels)})
        for pos in np.flatnonzero(~is_missing):
            value = raw.iloc[pos]
            code = lookup.get(value, lookup.get(str(value)))
            if code is None:
                raise ChoiceDataError(
                    f"column {col!r} (choice): value {_show(value)} at "
                    f"{_where(frame, pos, subject_col)} "
                    f"is not one of option_labels={list(option_labels)}. Add it to "
                    f"option_labels or declare it as the missed-trial code with missing=."
                )
            codes[pos] = code
        return codes
    numeric = pd.to_numeric(raw.where(~is_missing), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )
    bad = np.isnan(numeric) & ~is_missing
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ChoiceDataError(
            f"column {col!r} (choice): value {_show(raw.iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} "
            f"is not a number. Use option_labels= for text labels, or missing= for a "
            f"missed-trial code."
        )
    observed = ~is_missing
    frac = observed & (numeric != np.round(numeric))
    if frac.any():
        pos = int(np.flatnonzero(frac)[0])
        raise ChoiceDataError(
            f"column {col!r} (choice): value {_show(raw.iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} "
            f"is not an integer option code."
        )
    codes[observed] = numeric[observed] - choice_base
    out = observed & ((codes < 0) | (codes >= n_options))
    if out.any():
        pos = int(np.flatnonzero(out)[0])
        raise ChoiceDataError(
            f"column {col!r} (choice): value {_show(raw.iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} "
            f"is out of range: n_options={n_options} with choice_base={choice_base} allows "
            f"{choice_base}..{choice_base + n_options - 1}. Check n_options and choice_base, or "
            f"declare a missed-trial code with missing=."
        )
    return codes


def canonicalize(
    frame: pd.DataFrame,
    *,
    subject: str,
    choice: str,
    reward: str,
    n_options: int | None,
    choice_base: int = 0,
    session: str | None = None,
    trial: str | None = None,
    outcomes: Sequence[str] | None = None,
    option_labels: Sequence[Any] | None = None,
    missing: Any = None,
    covariates: Sequence[str] | None = None,
) -> tuple[pd.DataFrame, int, pd.DataFrame | None]:
    """Validate ``frame`` and return ``(canonical_table, n_options, covariate_table)``.

    See :meth:`choicernn.ChoiceData.from_frame` for the meaning of the arguments.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if option_labels is not None:
        option_labels = list(option_labels)
        if len(set(map(str, option_labels))) != len(option_labels):
            raise ChoiceDataError(
                f"option_labels has duplicates: {option_labels}; give each option one label."
            )
        if n_options is None:
            n_options = len(option_labels)
        elif n_options != len(option_labels):
            raise ChoiceDataError(
                f"n_options={n_options} but option_labels has {len(option_labels)} labels "
                f"{option_labels}; give one label per option, or leave n_options out."
            )
    if n_options is None:
        raise ChoiceDataError(
            "n_options is required: the number of options in the task (e.g. n_options=2)."
        )
    if not isinstance(n_options, (int, np.integer)) or n_options < 2:
        raise ChoiceDataError(f"n_options must be an integer >= 2, got {n_options!r}")
    if choice_base not in (0, 1):
        raise ChoiceDataError(f"choice_base must be 0 or 1, got {choice_base!r}")
    n_options = int(n_options)
    roles: dict[str, str | None] = {
        "subject": subject,
        "choice": choice,
        "reward": reward,
        "session": session,
        "trial": trial,
    }
    _require_columns(frame, roles)
    if outcomes is not None:
        outcomes = list(outcomes)
        if len(outcomes) != n_options:
            raise ChoiceDataError(
                f"outcomes names {len(outcomes)} columns but n_options={n_options}: give one "
                f"column per option, in option order."
            )
        _require_columns(frame, {f"outcomes[{k}]": c for k, c in enumerate(outcomes)})
    for col in covariates or ():
        _require_columns(frame, {"covariates": col})
    if len(frame) == 0:
        raise ChoiceDataError("the data has no rows.")

    subj = frame[subject]
    if subj.isna().any():
        pos = int(np.flatnonzero(subj.isna().to_numpy())[0])
        raise ChoiceDataError(
            f"column {subject!r} (subject): missing subject identifier at row {pos}."
        )
    codes = _choice_codes(frame, choice, subject, n_options, choice_base, option_labels, missing)
    rewards = _numeric(frame, reward, subject, "reward")
    missing_reward = np.isnan(rewards) & ~np.isnan(codes)
    if missing_reward.any():
        pos = int(np.flatnonzero(missing_reward)[0])
        raise ChoiceDataError(
            f"column {reward!r} (reward): no reward at {_where(frame, pos, subject)}, a trial "
            f"with a choice. Only missed trials may lack a reward."
        )
    if np.isinf(rewards).any():
        pos = int(np.flatnonzero(np.isinf(rewards))[0])
        raise ChoiceDataError(
            f"column {reward!r} (reward): infinite value at {_where(frame, pos, subject)}."
        )

    out = pd.DataFrame(
        {
            "subject": subj.to_numpy(),
            "session": frame[session].to_numpy() if session is not None else 0,
            "choice": pd.array(np.where(np.isnan(codes), 0, codes).astype(np.int64), dtype="Int64"),
            "reward": rewards,
        }
    )
    out.loc[np.isnan(codes), "choice"] = pd.NA
    if session is not None and out["session"].isna().any():
        pos = int(np.flatnonzero(out["session"].isna().to_numpy())[0])
        raise ChoiceDataError(
            f"column {session!r} (session): missing session label at {_where(frame, pos, subject)}."
        )
    if outcomes is not None:
        for k, col in enumerate(outcomes):
            out[f"outcome_{k}"] = _numeric(frame, col, subject, f"outcome of option {k}")

    # Order: subjects and sessions by first appearance, rows within a session as given.
    subj_order = {s: i for i, s in enumerate(pd.unique(out["subject"]))}
    sess_key = out["subject"].map(subj_order).astype(np.int64)
    first_seen = (
        out.assign(_s=sess_key, _pos=np.arange(len(out)))
        .groupby(["_s", "session"], sort=False)["_pos"]
        .transform("min")
    )
    order = np.lexsort((np.arange(len(out)), first_seen.to_numpy(), sess_key.to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    source_rows = order  # position in the input of each canonical row

    if trial is not None:
        trials = _numeric(frame, trial, subject, "trial")[order]
        if np.isnan(trials).any() or (trials != np.round(trials)).any():
            bad = np.isnan(trials) | (trials != np.round(trials))
            pos = int(np.flatnonzero(bad)[0])
            raise ChoiceDataError(
                f"column {trial!r} (trial): value {_show(frame[trial].iloc[source_rows[pos]])} "
                f"at row {source_rows[pos]} (subject {_show(out['subject'].iloc[pos])}) is not "
                f"an integer trial number."
            )
        out["trial"] = trials.astype(np.int64)
        same = (out["subject"].to_numpy()[1:] == out["subject"].to_numpy()[:-1]) & (
            out["session"].to_numpy()[1:] == out["session"].to_numpy()[:-1]
        )
        step = np.diff(out["trial"].to_numpy())
        for kind, bad in (("duplicated", same & (step == 0)), ("unsorted", same & (step < 0))):
            if bad.any():
                pos = int(np.flatnonzero(bad)[0]) + 1
                raise ChoiceDataError(
                    f"column {trial!r} (trial): {kind} trial number {out['trial'].iloc[pos]} at "
                    f"row {source_rows[pos]} (subject {_show(out['subject'].iloc[pos])}, session "
                    f"{_show(out['session'].iloc[pos])}); trial numbers must increase within a "
                    f"session." + (" Sort the table by trial first." if kind == "unsorted" else "")
                )
    else:
        out["trial"] = out.groupby(["subject", "session"], sort=False).cumcount().astype(np.int64)

    observed = out["choice"].notna().groupby(out["subject"], sort=False).sum()
    if (observed == 0).any():
        empty = observed.index[observed.to_numpy() == 0][0]
        rows = np.sort(source_rows[(out["subject"] == empty).to_numpy(dtype=bool)])
        raise ChoiceDataError(
            f"column {choice!r} (choice): subject {_show(empty)} has no trial with a choice "
            f"(all its trials, rows {rows[0]}..{rows[-1]}, are missed); remove the subject or "
            f"check the missed-trial code."
        )

    cov_table = None
    if covariates:
        cov = frame.iloc[order][list(covariates)].reset_index(drop=True)
        cov.insert(0, "subject", out["subject"].to_numpy())
        for col in covariates:
            n_values = cov.groupby("subject", sort=False)[col].nunique(dropna=False)
            if (n_values > 1).any():
                bad_subject = n_values.index[n_values.to_numpy() > 1][0]
                raise ChoiceDataError(
                    f"column {col!r} (covariate): subject {_show(bad_subject)} has more than "
                    f"one value; covariates are per subject."
                )
        cov_table = cov.groupby("subject", sort=False).first().reset_index()

    columns = list(CANONICAL) + ([f"outcome_{k}" for k in range(n_options)] if outcomes else [])
    return out[columns], n_options, cov_table
