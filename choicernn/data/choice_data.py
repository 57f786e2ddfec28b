"""ChoiceData: the one validated container of trial-by-trial choice data."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .batch import SequenceBatch
from .errors import ChoiceDataError
from .validation import CANONICAL, canonicalize, outcome_columns


class ChoiceData:
    """Trial-by-trial choices of many subjects in a K-option task.

    Build it with :meth:`from_frame` or :func:`choicernn.read_csv`; both validate the input and
    raise :class:`~choicernn.ChoiceDataError` naming the column, subject and row of any problem.

    A *sequence* is one session of one subject; models reset their state at each sequence start.
    Missed trials are kept (``choice`` is ``<NA>``) and masked: they neither count in a likelihood
    nor update a model.

    Two-step data (Daw et al. 2011; :attr:`is_two_step`) also hold the second-stage ``state``
    and choice ``choice2`` of every trial (see :mod:`choicernn.data.two_step`). ``choice`` stays
    the first-stage choice, so every single-stage model and statistic sees a normal two-option
    task (its reward: the trial's reward); two-step models read the second stage too.

    Attributes
    ----------
    n_options : int
        Number of options K; choices are coded ``0 .. K-1``.
    subjects : list
        Subject identifiers in order of first appearance.
    params : pandas.DataFrame or None
        Generating parameters (one row per subject) when the data were simulated.
    covariates : pandas.DataFrame or None
        Per-subject covariates kept from the input (e.g. diagnosis).

    Notes
    -----
    The constructor takes an already canonical table (as :meth:`to_frame` returns it); ``labels``
    (columns ``row``, ``choice_label``, aligned with ``table``) and ``given_labels`` (which of
    ``"session"``, ``"trial"`` came from the user's columns) feed :meth:`original_labels`. Left out,
    the table is taken as the user's own: rows are its positions, choices their own labels.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        n_options: int,
        *,
        params: pd.DataFrame | None = None,
        covariates: pd.DataFrame | None = None,
        labels: pd.DataFrame | None = None,
        given_labels: Sequence[str] = ("session", "trial"),
    ) -> None:
        missing = [c for c in CANONICAL if c not in table.columns]
        if missing:
            raise ChoiceDataError(
                f"canonical table lacks columns {missing}; build ChoiceData with "
                f"ChoiceData.from_frame or choicernn.read_csv."
            )
        self._table = table.reset_index(drop=True)
        if labels is None:
            labels = pd.DataFrame(
                {
                    "row": np.arange(len(table), dtype=np.int64),
                    "choice_label": self._table["choice"],
                }
            )
        elif len(labels) != len(table):
            raise ValueError(f"labels has {len(labels)} rows but the table has {len(table)}")
        self._labels = labels.reset_index(drop=True)
        self._given_labels = tuple(given_labels)
        self.n_options = int(n_options)
        self.params = params
        self.covariates = covariates
        self._tensor_cache: dict[tuple, SequenceBatch] = {}
        seq_keys = self._table[["subject", "session"]]
        seq_change = np.ones(len(seq_keys), dtype=bool)
        seq_change[1:] = (
            seq_keys["subject"].to_numpy()[1:] != seq_keys["subject"].to_numpy()[:-1]
        ) | (seq_keys["session"].to_numpy()[1:] != seq_keys["session"].to_numpy()[:-1])
        self._seq_of_row = np.cumsum(seq_change) - 1
        starts = np.flatnonzero(seq_change)
        self._pos_of_row = np.arange(len(seq_keys)) - starts[self._seq_of_row]
        self.subjects: list = list(pd.unique(self._table["subject"]))
        self._sequences = pd.DataFrame(
            {
                "subject": self._table["subject"].to_numpy()[starts],
                "session": self._table["session"].to_numpy()[starts],
                "n_trials": np.diff(np.append(starts, len(seq_keys))),
            }
        )
        self._sequences["n_choices"] = (
            self._table["choice"].notna().groupby(self._seq_of_row).sum().to_numpy()
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        subject: str = "subject",
        choice: str = "choice",
        reward: str = "reward",
        n_options: int | None = None,
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
    ) -> ChoiceData:
        """Validate a tidy table (one row per trial) and build a ChoiceData.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per trial, rows in trial order within each subject and session.
        subject, choice, reward : str
            Names of the subject, choice and reward columns.
        n_options : int
            Number of options K (required unless ``option_labels`` is given).
        choice_base : {0, 1}
            Whether the choice column codes options from 0 or from 1.
        session : str, optional
            Session (or block) column; value learning restarts at each session. One session per
            subject when omitted.
        trial : str, optional
            Trial-number column; must increase within a session. Row order is used when omitted.
        outcomes : sequence of str, optional
            One column per option with the payoff that option would have given (full feedback).
        option_labels : sequence, optional
            Labels of the options in option order (e.g. ``["R1", "R2"]``) for text choice columns.
        missing : scalar, optional
            Code in the choice column that marks a missed trial (besides NaN/empty).
        covariates : sequence of str, optional
            Per-subject columns (e.g. a diagnosis) kept in :attr:`covariates`.
        state, choice2 : str, optional
            Two-step tasks (give both): the second-stage state reached and the second-stage
            choice made in it (coded like ``choice``: ``choice_base``, ``missing=``). Requires
            ``n_options=2``. State 0 (``choice_base``) is the state reached commonly after
            first-stage option 0. Either stage may be missed: a missed first stage leaves
            ``state`` and ``choice2`` empty; a missed second stage leaves ``choice2`` (and
            possibly ``state``) empty, and its reward is ignored (stored as ``<NA>``).
        state_labels : sequence, optional
            The two state codes of the ``state`` column when they are not ``choice_base`` and
            ``choice_base + 1`` (e.g. ``[2, 3]`` or ``["B", "C"]``), the common state of
            first-stage option 0 first.

        Returns
        -------
        ChoiceData

        Raises
        ------
        ChoiceDataError
            Naming the column, subject and row: missing columns, non-integer or out-of-range
            choices, non-numeric, infinite or beyond-float32 (|x| > 3.4e38) rewards and outcomes,
            duplicated or unsorted trial numbers, subjects without any observed choice; subject or
            session labels that differ only in type or spelling (``101``, ``101.0``, ``"101"``);
            with ``outcomes``, an empty outcome on a trial with a choice (missed trials may leave
            them empty) or a chosen option's outcome that differs from the reward. Two-step
            data: a state or second-stage choice out of range, on a trial whose first stage was
            missed, or a second-stage choice without a state or without a reward.

        Notes
        -----
        Subject and session labels and trial numbers are kept as given; text labels keep their
        spelling (``"001"`` and ``"1"`` are two subjects). Choices are recoded 0-based;
        :meth:`original_labels` gives the choice as given and the input row of every trial.
        """
        table, k, cov, labels = canonicalize(
            frame,
            subject=subject,
            choice=choice,
            reward=reward,
            n_options=n_options,
            choice_base=choice_base,
            session=session,
            trial=trial,
            outcomes=outcomes,
            option_labels=option_labels,
            missing=missing,
            covariates=covariates,
            state=state,
            choice2=choice2,
            state_labels=state_labels,
        )
        given = tuple(
            name for name, col in (("session", session), ("trial", trial)) if col is not None
        )
        return cls(table, k, covariates=cov, labels=labels, given_labels=given)

    # ------------------------------------------------------------------ shape and views
    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

    @property
    def n_sequences(self) -> int:
        """Number of subject-sessions."""
        return len(self._sequences)

    @property
    def n_trials(self) -> int:
        """Number of recorded trials, missed trials included."""
        return len(self._table)

    @property
    def n_choices(self) -> int:
        """Number of observed (not missed) choices."""
        return int(self._table["choice"].notna().sum())

    @property
    def has_outcomes(self) -> bool:
        """Whether the payoff of every option is known on every trial (full feedback)."""
        return "outcome_0" in self._table.columns

    @property
    def is_two_step(self) -> bool:
        """Whether the trials are two-step trials (columns ``state`` and ``choice2``)."""
        return "choice2" in self._table.columns

    @property
    def n_second_choices(self) -> int:
        """Number of observed second-stage choices (0 for single-stage data)."""
        return int(self._table["choice2"].notna().sum()) if self.is_two_step else 0

    @property
    def sequences(self) -> pd.DataFrame:
        """One row per sequence: subject, session, n_trials, n_choices."""
        return self._sequences.copy()

    @property
    def sequence_of_row(self) -> np.ndarray:
        """Position in :attr:`sequences` of every canonical row (a copy), shape (n_rows,)."""
        return self._seq_of_row.copy()

    def to_frame(self) -> pd.DataFrame:
        """The canonical tidy table (a copy): subject, session, trial, choice (0-based), reward;
        ``outcome_0 ..`` with full feedback; ``state``, ``choice2`` for two-step data."""
        return self._table.copy()

    def original_labels(self) -> pd.DataFrame:
        """The user's own labels of every trial, to merge results back onto the input table.

        Returns
        -------
        pandas.DataFrame
            A copy, one row per canonical row, aligned with :meth:`to_frame` (same order and
            length) and keyed like it by ``subject, session, trial`` (unique), with columns

            - ``subject``, ``session``, ``trial``: the canonical keys, as in :meth:`to_frame`, so
              per-trial results (which carry them) merge on them;
            - ``row`` (int): position of the trial's row in the table given to :meth:`from_frame`
              or :func:`~choicernn.read_csv` (from 0, the header not counted);
            - ``session_label``: the session label as given (equal to ``session``); ``<NA>`` when
              no ``session=`` column was given (``session`` is then 0);
            - ``trial_label`` (``Int64``): the trial number as given (equal to ``trial``);
              ``<NA>`` when no ``trial=`` column was given (``trial`` is then the 0-based position
              in the session);
            - ``choice_label``: the choice cell as given, before recoding to the 0-based
              ``choice``: the 1-based code, the text label, or on a missed trial the empty cell or
              the ``missing=`` code.

            Data built from a canonical table (``ChoiceData(table, n_options)``, e.g. by
            :func:`~choicernn.simulate`) are their own labels: ``row`` is the position in that
            table and ``choice_label`` equals ``choice``.

        Examples
        --------
        >>> ll = model.trial_log_likelihood(data)  # doctest: +SKIP
        >>> ll.merge(data.original_labels(), on=["subject", "session", "trial"])  # doctest: +SKIP
        """
        out = self._table[["subject", "session", "trial"]].copy()
        out["row"] = self._labels["row"]
        given = self._given_labels
        out["session_label"] = (
            out["session"] if "session" in given else pd.Series(pd.NA, out.index, dtype=object)
        )
        out["trial_label"] = (
            out["trial"] if "trial" in given else pd.Series(pd.NA, out.index)
        ).astype("Int64")
        out["choice_label"] = self._labels["choice_label"].copy()
        return out

    def _derive(self, table: pd.DataFrame) -> ChoiceData:
        if table.empty:
            raise ValueError("the selection is empty: it keeps no trial of the data.")
        subjects = set(table["subject"])
        params = None if self.params is None else self.params[self.params["subject"].isin(subjects)]
        cov = (
            None
            if self.covariates is None
            else self.covariates[self.covariates["subject"].isin(subjects)]
        )
        return ChoiceData(
            table,
            self.n_options,
            params=params,
            covariates=cov,
            labels=self._labels.loc[table.index],
            given_labels=self._given_labels,
        )

    def subset(self, subjects: Iterable) -> ChoiceData:
        """The data of ``subjects`` only (in this data's order)."""
        wanted = list(subjects)
        known = set(self.subjects)
        unknown = [s for s in wanted if s not in known]
        if unknown:
            raise KeyError(f"subjects not in the data: {unknown[:5]}")
        return self._derive(self._table[self._table["subject"].isin(wanted)])

    def subject(self, subject: Any) -> ChoiceData:
        """The data of one subject."""
        return self.subset([subject])

    def iter_subjects(self):
        """Yield ``(subject, ChoiceData)`` per subject (for inspection, not for fitting loops)."""
        for s in self.subjects:
            yield s, self.subject(s)

    def select_sessions(self, sessions: Iterable) -> ChoiceData:
        """The sessions whose label is in ``sessions``, for every subject that has them."""
        wanted = set(sessions)
        table = self._table[self._table["session"].isin(wanted)]
        if table.empty:
            raise KeyError(f"no session labelled {sorted(wanted, key=str)[:5]} in the data")
        return self._derive(table)

    def select_trials(self, keep: np.ndarray) -> ChoiceData:
        """Rows where the boolean array ``keep`` (one entry per canonical row) is true."""
        keep = np.asarray(keep, dtype=bool)
        if keep.shape != (self.n_trials,):
            raise ValueError(f"keep must have shape ({self.n_trials},), got {keep.shape}")
        return self._derive(self._table[keep])

    def with_params(self, params: pd.DataFrame | None) -> ChoiceData:
        """A copy carrying ``params`` (one row per subject, with a ``subject`` column)."""
        return ChoiceData(
            self._table,
            self.n_options,
            params=params,
            covariates=self.covariates,
            labels=self._labels,
            given_labels=self._given_labels,
        )

    # ------------------------------------------------------------------ splits
    def split_by_subject(self, test_subjects: Iterable) -> tuple[ChoiceData, ChoiceData]:
        """``(train, test)`` with ``test_subjects`` held out (both in this data's subject order).

        Raises
        ------
        KeyError
            If a test subject is not in the data.
        ValueError
            If ``test_subjects`` is empty or holds every subject.
        """
        test = list(test_subjects)
        known = set(self.subjects)
        unknown = [s for s in test if s not in known]
        if unknown:
            raise KeyError(f"subjects not in the data: {unknown[:5]}")
        test_set = set(test)
        train_s = [s for s in self.subjects if s not in test_set]
        test_s = [s for s in self.subjects if s in test_set]
        if not train_s or not test_s:
            raise ValueError("test_subjects must hold some but not all subjects")
        return self.subset(train_s), self.subset(test_s)

    def split_sessions(self, test_sessions: Iterable) -> tuple[ChoiceData, ChoiceData]:
        """``(train, test)`` with the sessions labelled ``test_sessions`` held out."""
        test = self._table["session"].isin(set(test_sessions)).to_numpy()
        if not test.any() or test.all():
            raise ValueError("test_sessions must select some but not all sessions")
        return self.select_trials(~test), self.select_trials(test)

    def trial_blocks(self, n_blocks: int) -> np.ndarray:
        """Block number (0 .. n_blocks-1) of every canonical row.

        Each sequence is cut into ``n_blocks`` contiguous blocks of (nearly) equal length; the
        result has shape (n_trials,) and is aligned with :meth:`to_frame`.
        """
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}")
        lengths = self._sequences["n_trials"].to_numpy()[self._seq_of_row]
        short = self._sequences[self._sequences["n_trials"] < n_blocks]
        if len(short):
            listed = ", ".join(
                f"subject {s!r} session {e!r} ({n} trials)"
                for s, e, n in short[["subject", "session", "n_trials"]].head(5).itertuples(
                    index=False
                )
            )
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            raise ValueError(
                f"{len(short)} sequence(s) have fewer than n_blocks={n_blocks} trials: "
                f"{listed}{more}; use fewer folds or leave these sequences out"
            )
        return (self._pos_of_row * n_blocks) // lengths

    def split_trial_blocks(self, n_blocks: int) -> list[ChoiceData]:
        """Cut every sequence into ``n_blocks`` contiguous blocks; item b holds block b of each.

        Each block keeps its session label and trial numbers and is its own sequence (a model's
        state restarts at its first trial), so no information flows between blocks.
        """
        blocks = self.trial_blocks(n_blocks)
        return [self.select_trials(blocks == b) for b in range(n_blocks)]

    # ------------------------------------------------------------------ tensors
    def tensors(
        self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
    ) -> SequenceBatch:
        """Padded tensors over sequences; see :class:`SequenceBatch` for shapes."""
        key = (str(device), dtype)
        if key not in self._tensor_cache:
            n_seq = self.n_sequences
            n_t = int(self._sequences["n_trials"].max())
            choice = self._table["choice"]
            observed = choice.notna().to_numpy()
            choices = np.full((n_seq, n_t), -1, dtype=np.int64)
            rewards = np.zeros((n_seq, n_t))
            rows, cols = self._seq_of_row, self._pos_of_row
            choices[rows[observed], cols[observed]] = choice[observed].to_numpy(dtype=np.int64)
            reward = self._table["reward"].to_numpy(dtype=float)
            rewarded = observed & ~np.isnan(reward)  # two-step: no second stage, no reward
            rewards[rows[rewarded], cols[rewarded]] = reward[rewarded]
            outcomes = None
            if self.has_outcomes:
                out = np.zeros((n_seq, n_t, self.n_options))
                values = self._table[outcome_columns(self.n_options)].to_numpy(dtype=float)
                out[rows, cols] = np.nan_to_num(values)
                outcomes = torch.as_tensor(out, dtype=dtype, device=device)
            two_step = {}
            if self.is_two_step:
                for name, col in (("states", "state"), ("choices2", "choice2")):
                    values = self._table[col]
                    known = values.notna().to_numpy()
                    padded = np.full((n_seq, n_t), -1, dtype=np.int64)
                    padded[rows[known], cols[known]] = values[known].to_numpy(dtype=np.int64)
                    two_step[name] = torch.as_tensor(padded, device=device)
            subj_pos = {s: i for i, s in enumerate(self.subjects)}
            batch = SequenceBatch(
                choices=torch.as_tensor(choices, device=device),
                rewards=torch.as_tensor(rewards, dtype=dtype, device=device),
                mask=torch.as_tensor(choices >= 0, device=device),
                lengths=torch.tensor(self._sequences["n_trials"].to_numpy(), device=device),
                subject_index=torch.tensor(  # a copy: pandas hands out read-only arrays
                    self._sequences["subject"].map(subj_pos).to_numpy(dtype=np.int64),
                    device=device,
                ),
                n_options=self.n_options,
                outcomes=outcomes,
                **two_step,
            )
            self._tensor_cache[key] = batch
        return self._tensor_cache[key]

    def trial_values(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Pick the entries of a padded (n_sequences, n_trials, ...) array that belong to each row.

        Returns an array of shape (n_rows, ...) aligned with :meth:`to_frame`.
        """
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        return values[self._seq_of_row, self._pos_of_row]

    # ------------------------------------------------------------------ description
    def summary(self) -> pd.DataFrame:
        """Per-subject description: sessions, trials, missed trials, mean reward, stay probability.

        Returns
        -------
        pandas.DataFrame
            One row per subject (in :attr:`subjects` order), columns ``subject, n_sessions,
            n_trials, n_missed, mean_reward, p_stay``: ``n_trials`` counts missed trials too;
            ``mean_reward`` is the mean reward over observed choices; ``p_stay`` is the fraction of
            observed choices that repeat the previous observed choice in the same session (missed
            trials are skipped; NaN for a subject with no such pair).
        """
        t = self._table
        observed = t["choice"].notna().to_numpy(dtype=bool)
        seq = pd.Series(self._seq_of_row)[observed]
        choice = t["choice"][observed].astype("float64").to_numpy()
        prev = pd.Series(choice, index=seq.index).groupby(seq.to_numpy()).shift(1).to_numpy()
        stay = np.full(len(t), np.nan)
        stay[observed] = np.where(np.isnan(prev), np.nan, (choice == prev).astype(float))
        grouped = t.assign(
            _stay=stay,
            _missed=~observed,
            _reward=t["reward"].where(observed),
        ).groupby("subject", sort=False)
        return pd.DataFrame(
            {
                "n_sessions": grouped["session"].nunique(),
                "n_trials": grouped.size(),
                "n_missed": grouped["_missed"].sum().astype(int),
                "mean_reward": grouped["_reward"].mean(),
                "p_stay": grouped["_stay"].mean(),
            }
        ).reset_index()

    def __repr__(self) -> str:
        return (
            f"ChoiceData({self.n_subjects} subjects, {self.n_sequences} sessions, "
            f"{self.n_trials} trials ({self.n_trials - self.n_choices} missed), "
            f"n_options={self.n_options}{', full feedback' if self.has_outcomes else ''}"
            f"{', two-step' if self.is_two_step else ''})"
        )

    def __len__(self) -> int:
        return self.n_trials
