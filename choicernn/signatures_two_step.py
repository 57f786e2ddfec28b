"""Two-step task signatures (Daw et al. 2011): stay probabilities by reward and transition.

A model-free learner repeats a rewarded first-stage choice whatever the transition that led to
the reward (a main effect of reward); a model-based learner repeats it after a common
transition but switches after a rare one, and the reverse after no reward (a reward x
transition interaction). Both statistics read two-step :class:`~choicernn.ChoiceData` (or its
tidy table with ``state`` and ``choice2``); they are re-exported by
:mod:`choicernn.signatures`.

A *pair* is an observed first-stage choice and the previous observed first-stage choice of the
same session; it counts when that previous trial has a second-stage choice (so its reward and
transition are known). The transition of a trial is *common* when ``state == choice``. Rewards
are "rewarded" or not as in :func:`choicernn.signatures.stay_probabilities` (0/1 rewards as
they are; two values: the higher; graded: above the subject's median).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from .data import ChoiceData

TERMS = ("intercept", "reward", "transition", "reward:transition")


def _pairs(data: ChoiceData | pd.DataFrame) -> pd.DataFrame:
    """Per pair: ``subject, stay, rewarded, common`` (floats 0/1)."""
    from .signatures import reward_is_high, trial_table

    if isinstance(data, ChoiceData) and not data.is_two_step:
        raise ValueError(
            "two-step signatures need two-step data (columns state and choice2): read them "
            "with cr.read_csv(..., state=..., choice2=...) or simulate the 'two_step' task"
        )
    if isinstance(data, pd.DataFrame) and not {"state", "choice2"} <= set(data.columns):
        raise ValueError(
            "data lacks columns ['state', 'choice2']; two-step signatures need the "
            "second-stage state and choice of every trial"
        )
    frame = trial_table(data)
    frame["state"] = pd.to_numeric(frame["state"]).astype("float64")
    frame["choice2"] = pd.to_numeric(frame["choice2"]).astype("float64")
    complete = frame["choice2"].notna() & frame["state"].notna()
    frame["_high"] = reward_is_high(frame.assign(choice=frame["choice"].where(complete)))
    frame["_common"] = (frame["state"] == frame["choice"]).astype(float).where(complete)
    obs = frame[frame["choice"].notna()]
    grouped = obs.groupby("_seq", sort=False)
    prev_choice = grouped["choice"].shift(1)
    out = pd.DataFrame(
        {
            "subject": obs["subject"],
            "stay": (obs["choice"] == prev_choice).astype(float),
            "rewarded": grouped["_high"].shift(1),
            "common": grouped["_common"].shift(1),
        }
    )
    return out[prev_choice.notna() & out["rewarded"].notna() & out["common"].notna()]


def two_step_stay(data: ChoiceData | pd.DataFrame) -> pd.DataFrame:
    """First-stage stay probability by the previous trial's reward and transition, per subject.

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Two-step data: columns ``subject, session, trial, choice, reward, state, choice2``.

    Returns
    -------
    pandas.DataFrame
        Four rows per subject (subjects in order of appearance): ``subject``,
        ``previous_reward`` (``"rewarded"``, ``"unrewarded"``), ``transition`` (``"common"``,
        ``"rare"``), ``p_stay`` (fraction of pairs that repeat the first-stage choice; NaN when
        ``n`` is 0), ``n`` (number of pairs).
    """
    pairs = _pairs(data)
    pairs = pairs.assign(
        previous_reward=np.where(pairs["rewarded"] == 1.0, "rewarded", "unrewarded"),
        transition=np.where(pairs["common"] == 1.0, "common", "rare"),
    )
    grouped = pairs.groupby(["subject", "previous_reward", "transition"], sort=False)["stay"]
    subjects = pd.unique(_subjects(data))
    grid = pd.MultiIndex.from_product(
        [subjects, ["rewarded", "unrewarded"], ["common", "rare"]],
        names=["subject", "previous_reward", "transition"],
    )
    out = pd.DataFrame({"p_stay": grouped.mean(), "n": grouped.size()}).reindex(grid)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def _subjects(data) -> pd.Series:
    return pd.Series(data.subjects) if isinstance(data, ChoiceData) else data["subject"]


def two_step_regression(
    data: ChoiceData | pd.DataFrame,
    by: Literal["subject", "pooled"] = "subject",
    *,
    max_iter: int = 50,
) -> pd.DataFrame:
    """Logistic regression of staying on the previous reward, transition and their interaction.

    ``logit P(stay) = b0 + b1 * reward + b2 * transition + b3 * reward * transition`` with
    effect coding (Daw et al. 2011): ``reward`` is +1 after a rewarded and -1 after an
    unrewarded trial, ``transition`` +1 after a common and -1 after a rare one. A model-free
    learner has ``b1 > 0``; a model-based learner ``b3 > 0``. Fitted by Newton's method
    (iteratively reweighted least squares) on every pair (see the module docstring), per subject
    or pooled over subjects (fixed effects, no random effects).

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Two-step data (columns ``subject, session, trial, choice, reward, state, choice2``).
    by : {"subject", "pooled"}
        One fit per subject, or one fit of all pairs.
    max_iter : int
        Most Newton steps.

    Returns
    -------
    pandas.DataFrame
        Four rows per fit: ``subject`` (per-subject fits only), ``term`` (``"intercept"``,
        ``"reward"``, ``"transition"``, ``"reward:transition"``), ``estimate``, ``se``
        (from the inverse Hessian), ``n`` (pairs), ``converged`` (False when Newton's method
        did not converge or the estimates diverge, e.g. a subject who always stays; the
        estimates are then not to be trusted).
    """
    if by not in ("subject", "pooled"):
        raise ValueError(f"by must be 'subject' or 'pooled', got {by!r}")
    pairs = _pairs(data)
    groups = [(None, pairs)] if by == "pooled" else list(pairs.groupby("subject", sort=False))
    if by == "subject":  # subjects without a pair get a row of NaN
        have = {s for s, _ in groups}
        groups += [(s, pairs.iloc[:0]) for s in pd.unique(_subjects(data)) if s not in have]
    rows = []
    for subject, part in groups:
        reward = 2 * part["rewarded"].to_numpy() - 1
        transition = 2 * part["common"].to_numpy() - 1
        x = np.column_stack([np.ones_like(reward), reward, transition, reward * transition])
        beta, se, ok = _logistic(x, part["stay"].to_numpy(), max_iter)
        for j, term in enumerate(TERMS):
            row = {"term": term, "estimate": beta[j], "se": se[j], "n": len(part), "converged": ok}
            rows.append(row if by == "pooled" else {"subject": subject, **row})
    return pd.DataFrame(rows)


def _logistic(x: np.ndarray, y: np.ndarray, max_iter: int):
    """Maximum-likelihood logistic regression by Newton's method: (estimates, SEs, converged)."""
    k = x.shape[1]
    nan = np.full(k, np.nan)
    if len(y) <= k:
        return nan, nan, False
    beta = np.zeros(k)
    converged = False
    for _ in range(max_iter):
        p = 1 / (1 + np.exp(-(x @ beta)))
        hess = x.T @ (x * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(hess + 1e-10 * np.eye(k), x.T @ (y - p))
        except np.linalg.LinAlgError:
            return nan, nan, False
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            converged = True
            break
    p = 1 / (1 + np.exp(-(x @ beta)))
    hess = x.T @ (x * (p * (1 - p))[:, None])
    try:
        se = np.sqrt(np.diag(np.linalg.inv(hess)))
    except np.linalg.LinAlgError:
        se = nan
    converged = converged and bool(np.all(np.abs(beta) < 15)) and bool(np.all(np.isfinite(se)))
    return beta, se, converged
