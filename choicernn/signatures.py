"""Behavioural signatures of choice data, per subject, computed apart from any drawing.

Every statistic takes a :class:`~choicernn.ChoiceData` (or its tidy table: columns ``subject,
session, trial, choice, reward``, rows in trial order within each session, ``choice`` 0-based and
NaN/``<NA>`` on missed trials) and returns one tidy row per subject (and condition), so that a
plot can show the mean and a confidence interval across subjects (:func:`mean_ci`).

Missed trials are skipped: "the previous choice" is the previous *observed* choice of the same
session, and a missed trial never counts as a stay, a switch or a choice of the best option.

Task schedules (which option is best on each trial, where the reversals are) are not in the
choice data. For a study made with :func:`choicernn.simulate`, :func:`task_schedule` rebuilds
them from the task and the seed; for a live :class:`~choicernn.tasks.Environment`,
:func:`environment_schedule` reads them; for a real study, build the same table from the
experiment's schedule files. :func:`reversal_onsets` turns a schedule into the reversal table
that :func:`reversal_curves` takes.

Two-step tasks (Daw et al. 2011): :func:`two_step_stay` (stay probability by previous reward and
common/rare transition) and :func:`two_step_regression` (logistic regression of staying on
reward, transition and their interaction), from :mod:`choicernn.signatures_two_step`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .data import ChoiceData
from .tasks import Task, load_task

__all__ = [
    "environment_schedule",
    "learning_curve",
    "mean_ci",
    "reversal_curves",
    "reversal_onsets",
    "stay_probabilities",
    "switch_rate",
    "task_schedule",
    "two_step_regression",
    "two_step_stay",
]

_KEYS = ["subject", "session", "trial"]


# --------------------------------------------------------------------------- input
def trial_table(data: ChoiceData | pd.DataFrame) -> pd.DataFrame:
    """The trial table with ``_seq`` (sequence number) and ``_pos`` (row within the session).

    Rows are grouped by sequence (in order of first appearance), in their given order within it.
    """
    if isinstance(data, ChoiceData):
        frame = data.to_frame()
    elif isinstance(data, pd.DataFrame):
        missing = [c for c in ["subject", "session", "trial", "choice", "reward"] if c not in data]
        if missing:
            raise ValueError(
                f"data lacks columns {missing}; pass a ChoiceData or a table with columns "
                f"subject, session, trial, choice, reward."
            )
        frame = data.reset_index(drop=True).copy()
    else:
        raise TypeError(f"data must be a ChoiceData or a DataFrame, got {type(data).__name__}")
    frame["choice"] = pd.to_numeric(frame["choice"]).astype("float64")
    frame["reward"] = pd.to_numeric(frame["reward"]).astype("float64")
    frame["_seq"] = frame.groupby(["subject", "session"], sort=False).ngroup()
    frame = frame.sort_values("_seq", kind="stable").reset_index(drop=True)
    frame["_pos"] = frame.groupby("_seq").cumcount()
    step = frame.groupby("_seq")["trial"].diff()
    if (step <= 0).any():
        row = frame.loc[step <= 0].iloc[0]
        raise ValueError(
            f"trial numbers must increase within a session; subject {_label(row['subject'])!r} "
            f"session {_label(row['session'])!r} has trial {_label(row['trial'])!r} after a "
            f"trial at least as late."
        )
    return frame


def _label(x: Any) -> Any:
    """A numpy scalar as the Python value (for readable messages)."""
    return x.item() if isinstance(x, np.generic) else x


def _check_keys(table: pd.DataFrame, name: str, extra: Sequence[str] = ()) -> None:
    missing = [c for c in [*_KEYS, *extra] if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it needs {[*_KEYS, *extra]}.")


def reward_is_high(frame: pd.DataFrame) -> pd.Series:
    """Per row: 1.0 if the reward counts as "rewarded", 0.0 if not, NaN if unknown.

    Per subject, over its observed choices: rewards within {0, 1}: ``reward == 1``; exactly two
    distinct values: the higher one; graded rewards (three or more values): above the subject's
    median reward (rewards at or below the median are "unrewarded").
    """
    reward = frame["reward"].where(frame["choice"].notna())
    out = pd.Series(np.nan, index=frame.index)
    for _, r in reward.groupby(frame["subject"], sort=False):
        values = r.dropna()
        levels = np.unique(values.to_numpy())
        if set(levels.tolist()) <= {0.0, 1.0}:
            high = values == 1.0
        elif levels.size == 2:
            high = values == levels.max()
        else:
            high = values > values.median()
        out.loc[values.index] = high.astype(float)
    return out


def _previous(frame: pd.DataFrame) -> pd.DataFrame:
    """Observed choices that have an observed previous choice in the same session.

    Columns ``subject, stay`` (1.0 if the choice repeats the previous observed choice) and
    ``previous_high`` (reward category of the previous observed choice, see reward_is_high).
    """
    high = reward_is_high(frame)
    obs = frame.loc[frame["choice"].notna(), ["subject", "_seq", "choice"]].assign(_high=high)
    grouped = obs.groupby("_seq", sort=False)
    obs["_prev_choice"] = grouped["choice"].shift(1)
    obs["_prev_high"] = grouped["_high"].shift(1)
    obs = obs[obs["_prev_choice"].notna()]
    return pd.DataFrame(
        {
            "subject": obs["subject"],
            "stay": (obs["choice"] == obs["_prev_choice"]).astype(float),
            "previous_high": obs["_prev_high"],
        }
    )


# --------------------------------------------------------------------------- statistics
def stay_probabilities(data: ChoiceData | pd.DataFrame) -> pd.DataFrame:
    """Probability of repeating the previous observed choice, after a reward and after none.

    A pair is an observed choice and the previous observed choice of the same session (missed
    trials in between are skipped; the first observed choice of a session has no pair). The
    previous choice's reward is "rewarded" or "unrewarded" per subject: rewards 0/1 as they are;
    two distinct reward values: the higher is "rewarded"; graded rewards (three or more values,
    e.g. points): above the subject's median reward over its observed choices is "rewarded", at
    or below it "unrewarded".

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Columns ``subject, session, trial, choice, reward``.

    Returns
    -------
    pandas.DataFrame
        Two rows per subject (subjects in order of appearance): ``subject``,
        ``previous_reward`` (``"rewarded"`` then ``"unrewarded"``), ``p_stay`` (fraction of pairs
        that repeat the choice; NaN when ``n`` is 0), ``n`` (number of pairs).
    """
    frame = trial_table(data)
    pairs = _previous(frame).dropna(subset=["previous_high"])
    pairs["previous_reward"] = np.where(pairs["previous_high"] == 1.0, "rewarded", "unrewarded")
    grouped = pairs.groupby(["subject", "previous_reward"], sort=False)["stay"]
    subjects = pd.unique(frame["subject"])
    grid = pd.MultiIndex.from_product(
        [subjects, ["rewarded", "unrewarded"]], names=["subject", "previous_reward"]
    )
    out = pd.DataFrame({"p_stay": grouped.mean(), "n": grouped.size()}).reindex(grid)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def switch_rate(data: ChoiceData | pd.DataFrame) -> pd.DataFrame:
    """Probability of choosing differently from the previous observed choice of the session.

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Columns ``subject, session, trial, choice, reward``.

    Returns
    -------
    pandas.DataFrame
        One row per subject: ``subject``, ``p_switch`` (NaN when ``n`` is 0), ``n`` (number of
        pairs of an observed choice and the previous observed choice of the same session).
    """
    frame = trial_table(data)
    pairs = _previous(frame)
    grouped = pairs.groupby("subject", sort=False)["stay"]
    subjects = pd.Index(pd.unique(frame["subject"]), name="subject")
    out = pd.DataFrame({"p_switch": 1.0 - grouped.mean(), "n": grouped.size()}).reindex(subjects)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def reversal_curves(
    data: ChoiceData | pd.DataFrame,
    reversal_trials: pd.DataFrame,
    window: tuple[int, int] = (-5, 15),
    *,
    truncate: bool = True,
) -> pd.DataFrame:
    """Probability of choosing the new best option around each reversal, per subject.

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Columns ``subject, session, trial, choice, reward``.
    reversal_trials : pandas.DataFrame
        One row per reversal: ``subject, session, trial`` (the first trial under the new
        schedule) and ``new_best`` (the option, 0-based, that is best from that trial on). From a
        study made with :func:`choicernn.simulate`:
        ``reversal_onsets(task_schedule(data, task, seed))`` with the same task and seed; from an
        environment: ``reversal_onsets(environment_schedule(env))``. Rows with ``new_best``
        missing (no single best option) are ignored.
    window : (int, int)
        First and last lag, inclusive. Lag 0 is the reversal trial itself, lag -1 the trial
        before it; lags count trials (rows) of the session, missed trials included.
    truncate : bool
        Keep each reversal's lags within its own block: negative lags stop at the previous
        reversal of the session, positive lags before the next one (so the "new best" option
        is still the best one). ``False`` uses the whole window.

    Returns
    -------
    pandas.DataFrame
        One row per subject with a reversal and lag in the window: ``subject, lag``,
        ``p_new_best`` (fraction of observed choices at that lag that chose the new best option;
        NaN when ``n`` is 0), ``n`` (observed choices at that lag over the subject's reversals).
    """
    lo, hi = (int(w) for w in window)
    if lo > hi:
        raise ValueError(f"window must be (first lag, last lag) with first <= last, got {window}")
    _check_keys(reversal_trials, "reversal_trials", ["new_best"])
    frame = trial_table(data)
    onsets = reversal_trials.loc[reversal_trials["new_best"].notna(), [*_KEYS, "new_best"]]
    onsets = onsets.drop_duplicates(_KEYS)
    if onsets.empty:
        return pd.DataFrame({"subject": [], "lag": [], "p_new_best": [], "n": []}).astype(
            {"lag": int, "n": int}
        )
    located = onsets.merge(frame[[*_KEYS, "_seq", "_pos"]], on=_KEYS, how="left")
    if located["_pos"].isna().any():
        row = located[located["_pos"].isna()].iloc[0]
        raise ValueError(
            f"reversal_trials has subject {_label(row['subject'])!r} session "
            f"{_label(row['session'])!r} trial {_label(row['trial'])!r}, which is not a trial "
            f"of data."
        )
    seq = located["_seq"].to_numpy(dtype=np.int64)
    pos = located["_pos"].to_numpy(dtype=np.int64)
    lengths = frame.groupby("_seq").size().to_numpy()
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    lower = np.zeros_like(pos)
    upper = lengths[seq]  # exclusive
    if truncate:
        order = np.lexsort((pos, seq))
        s, p = seq[order], pos[order]
        same_prev = np.r_[False, s[1:] == s[:-1]]
        same_next = np.r_[s[:-1] == s[1:], False]
        lower[order] = np.where(same_prev, np.r_[0, p[:-1]], 0)
        upper[order] = np.where(same_next, np.r_[p[1:], 0], upper[order])
    lags = np.arange(lo, hi + 1)
    at = pos[:, None] + lags[None, :]
    inside = (at >= lower[:, None]) & (at < upper[:, None])
    rows = (starts[seq][:, None] + at)[inside]
    choice = frame["choice"].to_numpy()[rows]
    best = np.broadcast_to(located["new_best"].to_numpy(dtype=float)[:, None], at.shape)[inside]
    long = pd.DataFrame(
        {
            "subject": np.broadcast_to(located["subject"].to_numpy()[:, None], at.shape)[inside],
            "lag": np.broadcast_to(lags, at.shape)[inside],
            "hit": np.where(np.isnan(choice), np.nan, (choice == best).astype(float)),
        }
    )
    grouped = long.groupby(["subject", "lag"], sort=False)["hit"]
    with_reversals = set(located["subject"])
    subjects = [s for s in pd.unique(frame["subject"]) if s in with_reversals]
    grid = pd.MultiIndex.from_product([subjects, lags], names=["subject", "lag"])
    out = pd.DataFrame({"p_new_best": grouped.mean(), "n": grouped.count()}).reindex(grid)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def learning_curve(
    data: ChoiceData | pd.DataFrame, schedule: pd.DataFrame, n_bins: int = 10
) -> pd.DataFrame:
    """Probability of choosing the best option in successive parts of each session.

    Parameters
    ----------
    data : ChoiceData or pandas.DataFrame
        Columns ``subject, session, trial, choice, reward``.
    schedule : pandas.DataFrame
        ``subject, session, trial, best_option`` (0-based; missing where no single option is
        best), e.g. from :func:`task_schedule` or :func:`environment_schedule`. Trials of
        ``data`` not in it count as having no best option.
    n_bins : int
        Each session is cut into ``n_bins`` contiguous bins of (nearly) equal numbers of trials.

    Returns
    -------
    pandas.DataFrame
        ``n_bins`` rows per subject: ``subject, trial_bin`` (0 .. n_bins-1), ``p_best``
        (fraction of the observed choices with a best option that chose it; NaN when ``n`` is
        0), ``n``.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    _check_keys(schedule, "schedule", ["best_option"])
    frame = trial_table(data)
    length = frame.groupby("_seq")["_pos"].transform("size")
    if (length < n_bins).any():
        raise ValueError(f"some sessions have fewer than n_bins={n_bins} trials")
    frame["trial_bin"] = frame["_pos"] * n_bins // length
    best = schedule[[*_KEYS, "best_option"]].drop_duplicates(_KEYS)
    frame = frame.merge(best, on=_KEYS, how="left")
    best_option = pd.to_numeric(frame["best_option"]).astype("float64")
    usable = frame["choice"].notna() & best_option.notna()
    frame["hit"] = (frame["choice"] == best_option).astype(float).where(usable)
    grouped = frame.groupby(["subject", "trial_bin"], sort=False)["hit"]
    grid = pd.MultiIndex.from_product(
        [pd.unique(frame["subject"]), range(n_bins)], names=["subject", "trial_bin"]
    )
    out = pd.DataFrame({"p_best": grouped.mean(), "n": grouped.count()}).reindex(grid)
    out["n"] = out["n"].fillna(0).astype(int)
    return out.reset_index()


def mean_ci(
    table: pd.DataFrame, value: str, *, by: Sequence[str] = (), level: float = 0.95
) -> pd.DataFrame:
    """Mean across rows (subjects) with a t-based confidence interval, per group.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per subject (and group); NaN values of ``value`` are left out.
    value : str
        Column to summarise.
    by : sequence of str
        Grouping columns (groups in order of appearance).
    level : float
        Confidence level of the interval ``mean ± t_{(1+level)/2, n-1} · sd / sqrt(n)``.

    Returns
    -------
    pandas.DataFrame
        ``<by>..., mean, sd, n_subjects, ci_low, ci_high`` (the interval is NaN with fewer
        than two values).
    """
    if value not in table.columns:
        raise ValueError(f"table has no column {value!r}; columns are {list(table.columns)}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    by = list(by)
    values = table[[*by, value]].dropna(subset=[value])
    if by:
        grouped = values.groupby(by, sort=False)[value]
        out = grouped.agg(mean="mean", sd="std", n_subjects="count").reset_index()
    else:
        v = values[value]
        out = pd.DataFrame({"mean": [v.mean()], "sd": [v.std()], "n_subjects": [v.count()]})
    n = out["n_subjects"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        half = stats.t.ppf((1 + level) / 2, np.maximum(n - 1, 1)) * out["sd"] / np.sqrt(n)
    half = half.where(n >= 2)
    out["ci_low"] = out["mean"] - half
    out["ci_high"] = out["mean"] + half
    return out


# --------------------------------------------------------------------------- schedules
def environment_schedule(
    env: Any, *, subjects: Sequence | None = None, session: Any = 0
) -> pd.DataFrame:
    """The schedule of an environment as a tidy table (one row per sequence and trial).

    Parameters
    ----------
    env : choicernn.tasks.Environment
        Read after playing (criterion reversals are only known for the trials played).
    subjects : sequence, optional
        Subject label of each of the ``env.n_sequences`` sequences (default ``0 .. n-1``).
    session : scalar
        Session label of every row.

    Returns
    -------
    pandas.DataFrame
        ``subject, session, trial`` (0-based), ``best_option`` (argmax of ``env.latent``;
        ``<NA>`` where options tie), ``reversal`` (first trial after a reversal; all False
        for tasks without reversals), ``latent_0 .. latent_{K-1}`` (reward probability or mean
        payoff of each option).

        Two-step tasks: ``latent_0 .. latent_3`` are the second-stage options ``2 * state +
        option``; ``best_option`` is the first-stage option whose common state holds the best
        second-stage option; ``common`` (the trial's transition is common) and ``state`` (the
        state reached, ``-1`` if not played) are added.
    """
    latent = np.asarray(env.latent, dtype=float)
    n_seq, n_trials, k = latent.shape
    labels = pd.Index(range(n_seq) if subjects is None else list(subjects)).to_numpy()
    if len(labels) != n_seq:
        raise ValueError(f"subjects has {len(labels)} labels, env has {n_seq} sequences")
    two_step = getattr(getattr(env, "task", None), "is_two_step", False)
    best = (latent.argmax(-1) // 2 if two_step else latent.argmax(-1)).astype(float)
    tie = (latent == latent.max(-1, keepdims=True)).sum(-1) > 1
    best[tie] = np.nan
    reversals = getattr(env, "reversals", np.zeros((n_seq, n_trials), dtype=bool))
    out = pd.DataFrame(
        {
            "subject": np.repeat(labels, n_trials),
            "session": session,
            "trial": np.tile(np.arange(n_trials), n_seq),
            "best_option": pd.array(best.reshape(-1), dtype="Int64"),
            "reversal": np.asarray(reversals, dtype=bool).reshape(-1),
        }
    )
    for j in range(k):
        out[f"latent_{j}"] = latent[:, :, j].reshape(-1)
    if two_step:
        out["common"] = np.asarray(env.common, dtype=bool).reshape(-1)
        out["state"] = np.asarray(env.states).reshape(-1)
    return out


def task_schedule(data: ChoiceData, task: Task | str, seed: Any) -> pd.DataFrame:
    """Rebuild the schedule of a study made by :func:`choicernn.simulate` with ``task`` and ``seed``.

    The task's environments are remade from ``seed`` exactly as :func:`~choicernn.simulate`
    makes them and replayed with the recorded choices (so criterion reversals, which depend on
    the choices, come out as they were). Every recorded reward is checked against the rebuilt
    environment; a mismatch (other task or seed, or data not straight from ``simulate``) raises.

    Parameters
    ----------
    data : ChoiceData
        As returned by ``simulate`` (all subjects and sessions, same length).
    task : Task or str
        The task given to ``simulate``.
    seed : int or numpy.random.SeedSequence
        The seed given to ``simulate``.

    Returns
    -------
    pandas.DataFrame
        One row per trial of ``data``, columns as :func:`environment_schedule`.

    Examples
    --------
    >>> data = cr.simulate(model, "reversal", n_subjects=20, seed=1)  # doctest: +SKIP
    >>> onsets = reversal_onsets(task_schedule(data, "reversal", seed=1))  # doctest: +SKIP
    >>> curves = reversal_curves(data, onsets)  # doctest: +SKIP
    """
    if not isinstance(data, ChoiceData):
        raise TypeError(f"data must be the ChoiceData made by simulate, got {type(data).__name__}")
    if seed is None:
        raise ValueError("seed is None: a study simulated without a seed cannot be rebuilt")
    task = load_task(task) if isinstance(task, str) else task
    frame = data.to_frame()
    subjects = data.subjects
    sessions = list(pd.unique(frame["session"]))
    lengths = data.sequences["n_trials"]
    n_trials = int(lengths.iloc[0])
    if len(data.sequences) != len(subjects) * len(sessions) or (lengths != n_trials).any():
        raise ValueError(
            "data must hold every session of every subject with the same number of trials, as "
            "simulate makes them; select subjects or sessions after rebuilding the schedule."
        )
    frame = frame.assign(
        _subj=frame["subject"].map({s: i for i, s in enumerate(subjects)}),
        _sess=frame["session"].map({s: i for i, s in enumerate(sessions)}),
    ).sort_values(["_sess", "_subj", "trial"], kind="stable")
    shape = (len(sessions), len(subjects), n_trials)
    choices = (
        frame["choice"].astype("float64").fillna(-1).to_numpy().astype(np.int64).reshape(shape)
    )
    rewards = frame["reward"].astype("float64").to_numpy().reshape(shape)
    choices2 = None
    if task.is_two_step:
        if "choice2" not in frame.columns:
            raise ValueError(f"task {task.name!r} is a two-step task but data are not two-step")
        choices2 = (
            frame["choice2"].astype("float64").fillna(-1).to_numpy().astype(np.int64)
        ).reshape(shape)
    if isinstance(seed, np.random.SeedSequence):  # a fresh copy: spawning advances a sequence
        root = np.random.SeedSequence(
            seed.entropy, spawn_key=seed.spawn_key, pool_size=seed.pool_size
        )
    else:
        root = np.random.SeedSequence(seed)
    task_seq = root.spawn(3)[0]
    parts = []
    for s, session_seed in enumerate(task_seq.spawn(len(sessions))):
        env = task.environment(len(subjects), n_trials, seed=session_seed)
        for t in range(n_trials):
            if choices2 is None:
                got, _ = env.step(choices[s, :, t])
                played = choices[s, :, t] >= 0
            else:
                got, _ = env.step(choices[s, :, t], choices2[s, :, t])
                played = choices2[s, :, t] >= 0
            if not np.allclose(got[played], rewards[s, played, t]):
                bad = subjects[int(np.flatnonzero(played & ~np.isclose(got, rewards[s, :, t]))[0])]
                raise ValueError(
                    f"the rewards of data do not match task {task.name!r} with seed {seed!r} "
                    f"(subject {_label(bad)!r}, session {_label(sessions[s])!r}, trial {t}): pass the task and "
                    f"seed given to simulate."
                )
        part = environment_schedule(env, subjects=subjects, session=sessions[s])
        trials = frame.loc[frame["_sess"] == s].sort_values(["_subj", "trial"], kind="stable")
        part["trial"] = trials["trial"].to_numpy()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    order = data.to_frame()[_KEYS].merge(out, on=_KEYS, how="left")
    return order


def reversal_onsets(schedule: pd.DataFrame) -> pd.DataFrame:
    """The reversal trials of a schedule, as :func:`reversal_curves` takes them.

    Parameters
    ----------
    schedule : pandas.DataFrame
        ``subject, session, trial, reversal, best_option`` (see :func:`task_schedule`).

    Returns
    -------
    pandas.DataFrame
        One row per reversal: ``subject, session, trial, new_best`` (``Int64``).
    """
    _check_keys(schedule, "schedule", ["reversal", "best_option"])
    rows = schedule.loc[schedule["reversal"].astype(bool), [*_KEYS, "best_option"]]
    out = rows.rename(columns={"best_option": "new_best"}).reset_index(drop=True)
    out["new_best"] = out["new_best"].astype("Int64")
    return out


from .signatures_two_step import two_step_regression, two_step_stay  # noqa: E402
