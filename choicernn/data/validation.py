"""Turn a user's tidy table into choicernn's canonical trial table, or say exactly why not.

The canonical table has one row per trial, sorted by subject (order of first appearance),
session (order of first appearance within the subject) and trial, with columns

``subject``, ``session``, ``trial`` (int), ``choice`` (nullable ``Int64``, 0-based, ``<NA>`` on a
missed trial), ``reward`` (float) and, for full-feedback tasks, ``outcome_0`` … ``outcome_{K-1}``
(float): the payoff each option would have given; for two-step tasks ``state`` and ``choice2``
(nullable ``Int64``, see :mod:`choicernn.data.two_step`).

Subject and session labels and trial numbers are the user's own (``session`` is 0 and ``trial``
the 0-based position when those columns are not given); beside the table, :func:`canonicalize`
returns the input row and the choice as given of every canonical row (see
:meth:`choicernn.ChoiceData.original_labels`).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .errors import ChoiceDataError
from .two_step import TWO_STEP_COLUMNS, check_consistency, check_two_step_arguments, state_codes

CANONICAL = ("subject", "session", "trial", "choice", "reward")
FLOAT32_MAX = float(np.finfo(np.float32).max)  # models may compute in float32 (GPU)
_INTEGER_AS_FLOAT_TEXT = re.compile(r"([+-]?\d+)\.0*")  # "101.0": how a float prints 101


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


def _label_key(value: Any) -> str:
    """What a subject or session label means once types are ignored: 101, 101.0, "101" -> "101".

    Text keeps its spelling ("001" and "1" differ) except a trailing ".0", the way a float
    column prints an integer.
    """
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    match = _INTEGER_AS_FLOAT_TEXT.fullmatch(text)
    return match.group(1) if match else text


def _check_label_collisions(frame: pd.DataFrame, col: str, role: str) -> None:
    """Refuse labels that differ only in type or spelling (101, 101.0, "101"): pandas would treat
    101 and 101.0 as one subject and "101" as another."""
    raw = frame[col]
    if isinstance(raw.dtype, pd.CategoricalDtype):
        raw = raw.astype(object)
    elif pd.api.types.is_numeric_dtype(raw.dtype):
        return  # one numeric type: equal values are the same label
    values = raw[raw.notna().to_numpy(dtype=bool)]
    if pd.api.types.infer_dtype(values, skipna=True) == "string":
        labels = list(pd.unique(values))  # one type: distinct values are distinct labels
    else:  # mixed types: 101 and 101.0 are equal to pandas, so tell them apart by type
        labels = [v for _, v in dict.fromkeys((type(v), v) for v in values)]
    by_key: dict[str, list] = {}
    for label in labels:
        by_key.setdefault(_label_key(label), []).append(label)
    clash = next((group for group in by_key.values() if len(group) > 1), None)
    if clash is None:
        return
    cells = raw.to_numpy(dtype=object)
    rows = [
        next(i for i, v in enumerate(cells) if type(v) is type(label) and v == label)
        for label in clash
    ]
    shown = " and ".join(f"{_show(v)} (row {r})" for v, r in zip(clash, rows, strict=True))
    raise ChoiceDataError(
        f"column {col!r} ({role}): the labels {shown} differ only in type or spelling, so "
        f"it is unclear whether they are one {role} or two. Write every {role} label one way "
        f"(e.g. convert the column with .astype(int) or .astype(str)) before loading."
    )


def _check_values(
    values: np.ndarray,
    frame: pd.DataFrame,
    col: str,
    subject_col: str,
    role: str,
) -> None:
    """Refuse infinite values and values beyond the float32 range (NaN is checked by callers)."""
    infinite = np.isinf(values)
    if infinite.any():
        pos = int(np.flatnonzero(infinite)[0])
        raise ChoiceDataError(
            f"column {col!r} ({role}): infinite value at {_where(frame, pos, subject_col)}; "
            f"values must be finite numbers within the float32 range (|x| <= {FLOAT32_MAX:.3g})."
        )
    with np.errstate(invalid="ignore"):
        huge = np.abs(values) > FLOAT32_MAX
    if huge.any():
        pos = int(np.flatnonzero(huge)[0])
        raise ChoiceDataError(
            f"column {col!r} ({role}): value {_show(frame[col].iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} is outside the float32 range "
            f"(|x| <= {FLOAT32_MAX:.3g}) that models compute in; rescale the column "
            f"(e.g. divide it by 1000)."
        )


def _check_outcomes(
    frame: pd.DataFrame,
    outcomes: Sequence[str],
    values: np.ndarray,
    codes: np.ndarray,
    rewards: np.ndarray,
    subject_col: str,
    choice_col: str,
) -> None:
    """Full feedback: every option's outcome on every trial with a choice, the chosen option's
    equal to the reward. ``values`` has shape (n_rows, n_options); missed trials may be NaN."""
    observed = ~np.isnan(codes)
    for k, col in enumerate(outcomes):
        role = f"outcome of option {k}"
        _check_values(values[:, k], frame, col, subject_col, role)
        empty = np.isnan(values[:, k]) & observed
        if empty.any():
            pos = int(np.flatnonzero(empty)[0])
            raise ChoiceDataError(
                f"column {col!r} ({role}): no value at {_where(frame, pos, subject_col)}, a trial "
                f"with a choice. Full-feedback data need every option's outcome on every trial "
                f"with a choice (only missed trials may leave them empty)."
            )
    rows = np.flatnonzero(observed)
    chosen = codes[rows].astype(np.int64)
    outcome = values[rows, chosen]
    differs = ~np.isclose(outcome, rewards[rows], rtol=1e-6, atol=1e-12)
    if differs.any():
        i = int(np.flatnonzero(differs)[0])
        pos, k = int(rows[i]), int(chosen[i])
        raise ChoiceDataError(
            f"column {outcomes[k]!r} (outcome of option {k}): value {_show(outcome[i])} at "
            f"{_where(frame, pos, subject_col)} differs from the reward {_show(rewards[pos])} "
            f"although that trial's choice ({_show(frame[choice_col].iloc[pos])} in column "
            f"{choice_col!r}) is this option. The chosen option's outcome must equal the reward: "
            f"check that outcomes= lists one column per option in option order, and choice_base."
        )


def _choice_codes(
    frame: pd.DataFrame,
    col: str,
    subject_col: str,
    n_options: int,
    choice_base: int,
    option_labels: Sequence[Any] | None,
    missing: Any,
    role: str = "choice",
) -> np.ndarray:
    """0-based float codes with NaN for missed trials (``role`` names the column in errors)."""
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
                    f"column {col!r} ({role}): value {_show(value)} at "
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
            f"column {col!r} ({role}): value {_show(raw.iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} "
            f"is not a number. Use option_labels= for text labels, or missing= for a "
            f"missed-trial code."
        )
    observed = ~is_missing
    frac = observed & (numeric != np.round(numeric))
    if frac.any():
        pos = int(np.flatnonzero(frac)[0])
        raise ChoiceDataError(
            f"column {col!r} ({role}): value {_show(raw.iloc[pos])} at "
            f"{_where(frame, pos, subject_col)} "
            f"is not an integer option code."
        )
    codes[observed] = numeric[observed] - choice_base
    out = observed & ((codes < 0) | (codes >= n_options))
    if out.any():
        pos = int(np.flatnonzero(out)[0])
        raise ChoiceDataError(
            f"column {col!r} ({role}): value {_show(raw.iloc[pos])} at "
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
    state: str | None = None,
    choice2: str | None = None,
    state_labels: Sequence[Any] | None = None,
) -> tuple[pd.DataFrame, int, pd.DataFrame | None, pd.DataFrame]:
    """Validate ``frame`` and return ``(canonical_table, n_options, covariate_table, labels)``.

    ``labels`` is aligned row by row with the canonical table: ``row`` (position of the row in
    ``frame``, from 0) and ``choice_label`` (the choice cell as given). See
    :meth:`choicernn.ChoiceData.from_frame` for the meaning of the arguments; ``state`` and
    ``choice2`` make two-step data (:mod:`choicernn.data.two_step`).
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
    two_step = check_two_step_arguments(state, choice2, n_options, outcomes, state_labels)
    roles: dict[str, str | None] = {
        "subject": subject,
        "choice": choice,
        "reward": reward,
        "session": session,
        "trial": trial,
        "state": state,
        "choice2": choice2,
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
    _check_label_collisions(frame, subject, "subject")
    if session is not None:
        _check_label_collisions(frame, session, "session")
    codes = _choice_codes(frame, choice, subject, n_options, choice_base, option_labels, missing)
    rewarded = codes
    if two_step:
        states = state_codes(frame, state, subject, choice_base, state_labels, missing, _is_code)
        codes2 = _choice_codes(
            frame, choice2, subject, 2, choice_base, option_labels, missing, "second-stage choice"
        )
        check_consistency(
            frame,
            subject,
            {"choice": choice, "state": state, "choice2": choice2},
            codes,
            states,
            codes2,
        )
        rewarded = codes2  # only a trial with a second-stage choice has a reward
    rewards = _numeric(frame, reward, subject, "reward")
    missing_reward = np.isnan(rewards) & ~np.isnan(rewarded)
    if missing_reward.any():
        pos = int(np.flatnonzero(missing_reward)[0])
        raise ChoiceDataError(
            f"column {reward!r} (reward): no reward at {_where(frame, pos, subject)}, a trial "
            f"with a {'second-stage ' if two_step else ''}choice. Only missed trials may lack "
            f"a reward."
        )
    _check_values(rewards, frame, reward, subject, "reward")
    if two_step:
        rewards = np.where(np.isnan(codes2), np.nan, rewards)

    out = pd.DataFrame(
        {
            "subject": subj.to_numpy(),
            "session": frame[session].to_numpy() if session is not None else 0,
            "choice": pd.array(np.where(np.isnan(codes), 0, codes).astype(np.int64), dtype="Int64"),
            "reward": rewards,
        }
    )
    out.loc[np.isnan(codes), "choice"] = pd.NA
    if two_step:
        for name, values in (("state", states), ("choice2", codes2)):
            column = pd.array(np.where(np.isnan(values), 0, values).astype(np.int64), dtype="Int64")
            column[np.isnan(values)] = pd.NA
            out[name] = column
    if session is not None and out["session"].isna().any():
        pos = int(np.flatnonzero(out["session"].isna().to_numpy())[0])
        raise ChoiceDataError(
            f"column {session!r} (session): missing session label at {_where(frame, pos, subject)}."
        )
    if outcomes is not None:
        values = np.column_stack(
            [
                _numeric(frame, col, subject, f"outcome of option {k}")
                for k, col in enumerate(outcomes)
            ]
        )
        _check_outcomes(frame, outcomes, values, codes, rewards, subject, choice)
        for k in range(n_options):
            out[f"outcome_{k}"] = values[:, k]

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
    columns += list(TWO_STEP_COLUMNS) if two_step else []
    labels = pd.DataFrame(
        {
            "row": source_rows.astype(np.int64),
            "choice_label": frame[choice].iloc[order].reset_index(drop=True),
        }
    )
    return out[columns], n_options, cov_table, labels
