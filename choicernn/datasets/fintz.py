"""The four-armed bandit data analysed by Fintz, Osadchy & Hertz (2022).

965 participants (collected by Bahrami & Navajas) chose among four arms whose payoffs (1-98
points) followed one of three reward-walk schedules, 150 trials each. From the authors' public
repository (``DataAllSubjectsRewards.csv``); no license is stated: use it for research comparison
only. choicernn does not ship the file; point :func:`fintz2022` at your copy.

Reference: Fintz, M., Osadchy, M. & Hertz, U. (2022). Using deep learning to predict human
decisions and using cognitive models to explain deep learning models. Scientific Reports
12:4736.
"""

from __future__ import annotations

import os

from ..data import ChoiceData
from ._common import build, read_table, require_columns

_DATASET = "Fintz et al. 2022 (DataAllSubjectsRewards.csv)"
_OUTCOMES = ["reward_1", "reward_2", "reward_3", "reward_4"]
_LAYOUT = (
    "a CSV with one row per trial in trial order and columns user, choice (1-4, empty on a "
    "missed trial), reward (points of the chosen arm), payoff_structure (2, 3 or 4) and "
    "reward_1 ... reward_4 (the payoff of every arm)"
)


def fintz2022(path: str | os.PathLike, *, outcomes: bool = False) -> ChoiceData:
    """Read the Fintz et al. (2022) four-armed bandit data (``DataAllSubjectsRewards.csv``).

    Source: Fintz, Osadchy & Hertz (2022), "Using deep learning to predict human decisions and
    using cognitive models to explain deep learning models", Sci Rep 12:4736 (data collected by
    Bahrami & Navajas); the authors' public repository; no license stated (research comparison
    only).

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of the file: one row per trial, in trial order within participant. Columns
        used: ``user``, ``choice`` (1-4; empty on a missed trial), ``reward`` (points of the
        chosen arm, 1-98; empty on a missed trial), ``payoff_structure`` (2, 3 or 4: the
        reward-walk schedule) and ``reward_1`` … ``reward_4`` (what every arm would have paid).
        ``time`` (response time) is not used.
    outcomes : bool
        Keep ``reward_1`` … ``reward_4`` as the per-option outcomes (full feedback). The
        default ``False`` keeps only the chosen arm's payoff, as participants saw it; the four
        columns must still be present.

    Returns
    -------
    ChoiceData
        ``n_options=4``; one session per participant; ``trial`` counts rows from 0 (the file has
        no trial column); ``choice`` is 0-based, ``<NA>`` on a missed trial (kept, masked in
        every likelihood); ``reward`` is the points of the chosen arm, NaN on a missed trial
        (the file leaves it empty; models never see it); ``outcome_0`` … ``outcome_3`` are
        ``reward_1`` … ``reward_4``, known on missed trials too, so
        :attr:`ChoiceData.has_outcomes` is true (only with ``outcomes=True``); ``covariates``
        has columns ``subject`` and ``payoff_structure``. The distributed file gives 965
        participants × 150 trials, 4,934 of them missed.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and participant).

    Notes
    -----
    The per-arm payoffs describe the schedule; participants saw only the chosen arm's payoff.
    :class:`~choicernn.GRUModel` with ``inputs="reward"`` feeds every option's outcome to the
    network whenever the data have them, so a network fitted to a load with ``outcomes=True``
    learns from payoffs the participants never saw; the default ``outcomes=False`` models what
    they saw (and compares networks with Q-learning on equal information). The closest
    shipped task spec is ``"restless_four_armed"`` (Daw et al. 2006 walks, 300 trials).
    """
    frame = read_table(path, _DATASET)
    require_columns(
        frame, ["user", "choice", "reward", "payoff_structure", *_OUTCOMES], _DATASET, _LAYOUT, path
    )
    return build(
        frame,
        _DATASET,
        path,
        subject="user",
        choice="choice",
        reward="reward",
        n_options=4,
        choice_base=1,
        outcomes=_OUTCOMES if outcomes else None,
        covariates=["payoff_structure"],
    )
