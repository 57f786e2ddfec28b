"""Example data files of the hBayesDM package (Ahn, Haines & Zhang 2017).

The files come with hBayesDM (version 1.1.1 of its Python release): ``bandit2arm_exampleData.txt``,
``prl_exampleData.txt``, ``bandit4arm_exampleData.txt`` and ``ts_exampleData.txt`` (two-step). Their origin is not documented (some
may be simulated): treat them as example data, not as known human data. License: GPL-3.0 (the
package declares GPLv3). choicernn does not ship them; point the loaders at your copy.

Reference: Ahn, W.-Y., Haines, N. & Zhang, L. (2017). Revealing neurocomputational mechanisms of
reinforcement learning and decision-making with the hBayesDM package. Computational Psychiatry
1:24-57.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from ..data import ChoiceData, ChoiceDataError
from ._common import _show, build, numeric_column, read_table, require_columns

_TWO_OPTION_LAYOUT = (
    "a tab-separated file with one row per trial and columns subjID, trial, choice (1 or 2), "
    "outcome (1 reward / -1 loss)"
)
_TWO_STEP_LAYOUT = (
    "a tab-separated file with one row per trial and columns subjID, trial, level1_choice "
    "(1 or 2), level2_choice (1-4: 1 and 2 in the state reached commonly after level1_choice 1, "
    "3 and 4 in the other), reward (0 or 1)"
)
_FOUR_ARM_LAYOUT = (
    "a tab-separated file with one row per trial and columns subjID, gain (0 or 1), "
    "loss (0 or -1), choice (1-4)"
)


def _read(path: str | os.PathLike, dataset: str):
    # sep=None sniffs the separator: the files are tab-separated, but a copy re-saved as CSV
    # reads too; utf-8-sig drops the byte-order mark that spreadsheet programs write.
    return read_table(path, dataset, sep=None, engine="python", encoding="utf-8-sig")


def _two_option(path: str | os.PathLike, dataset: str) -> ChoiceData:
    frame = _read(path, dataset)
    require_columns(
        frame, ["subjID", "trial", "choice", "outcome"], dataset, _TWO_OPTION_LAYOUT, path
    )
    return build(
        frame,
        dataset,
        path,
        subject="subjID",
        choice="choice",
        reward="outcome",
        trial="trial",
        n_options=2,
        choice_base=1,
    )


def hbayesdm_bandit2arm(path: str | os.PathLike) -> ChoiceData:
    """Read hBayesDM's 2-armed bandit example data (``bandit2arm_exampleData.txt``).

    Two options with fixed reward probabilities; 20 subjects × 100 trials in the distributed file.
    Source: the hBayesDM package (Ahn, Haines & Zhang 2017, Computational Psychiatry 1:24-57);
    example data of undocumented origin; license GPL-3.0.

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of the file: tab-separated, one row per trial, columns ``subjID``, ``trial``,
        ``choice`` (1 or 2) and ``outcome`` (1 reward, -1 loss).

    Returns
    -------
    ChoiceData
        ``n_options=2``; one session per subject (``session`` is 0); ``trial`` is the file's
        ``trial`` column (1-100); ``choice`` is 0-based (file value - 1); ``reward`` is
        ``outcome`` as given: a loss stays -1 (it is not recoded to 0). With the models' default
        initial values (``q0 = 0``), a loss pushes an option's value below that of an option never
        tried, and a reward above it.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and subject).

    Notes
    -----
    The closest shipped task spec for simulating fitted models is ``"two_armed_fixed"``, whose
    rewards are 0/1 rather than ±1.
    """
    return _two_option(path, "hBayesDM 2-armed bandit (bandit2arm_exampleData.txt)")


def hbayesdm_prl(path: str | os.PathLike) -> ChoiceData:
    """Read hBayesDM's probabilistic reversal learning example data (``prl_exampleData.txt``).

    Two options whose reward probabilities reverse; 20 subjects × 100 trials in the distributed
    file. Source: the hBayesDM package (Ahn, Haines & Zhang 2017, Computational Psychiatry
    1:24-57); example data of undocumented origin; license GPL-3.0.

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of the file: tab-separated, one row per trial, columns ``subjID``, ``trial``,
        ``choice`` (1 or 2) and ``outcome`` (1 reward, -1 loss).

    Returns
    -------
    ChoiceData
        ``n_options=2``; one session per subject; ``trial`` is the file's ``trial`` column;
        ``choice`` is 0-based; ``reward`` is ``outcome`` as given (a loss stays -1; models start
        from ``q0 = 0``). The file does not say when reversals happened.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and subject).

    Notes
    -----
    The closest shipped task spec is ``"reversal"`` (0/1 rewards).
    """
    return _two_option(path, "hBayesDM reversal learning (prl_exampleData.txt)")


def hbayesdm_bandit4arm(
    path: str | os.PathLike, *, reward: Literal["net", "gain", "loss"] = "net"
) -> ChoiceData:
    """Read hBayesDM's 4-armed bandit example data with separate gains and losses.

    The task of Seymour et al. (2012): on each trial the chosen arm may give a gain (+1), a loss
    (-1), both or neither; 10 subjects × 200 trials in the distributed file
    (``bandit4arm_exampleData.txt``). Source: the hBayesDM package (Ahn, Haines & Zhang 2017,
    Computational Psychiatry 1:24-57); example data of undocumented origin; license GPL-3.0.

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of the file: tab-separated, one row per trial in trial order, columns
        ``subjID``, ``gain`` (0 or 1), ``loss`` (0 or -1) and ``choice`` (1-4).
    reward : {"net", "gain", "loss"}
        What becomes the one reward of a trial: ``"net"`` (default) is ``gain + loss`` (-1, 0
        or 1); ``"gain"`` or ``"loss"`` keeps only that column.

    Returns
    -------
    ChoiceData
        ``n_options=4``; one session per subject; ``trial`` counts rows from 0 within each
        subject (the file has no trial column); ``choice`` is 0-based; ``reward`` as chosen above.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and subject).
    ValueError
        If ``reward`` is not one of the three choices.

    Notes
    -----
    ChoiceData holds one reward per trial, so the net reward loses a distinction: a trial with
    both a gain and a loss and a trial with neither both give 0. Models that learn gains and
    losses separately (Seymour et al. 2012) need both streams; read the file with pandas for
    those, or fit to ``reward="gain"`` and ``reward="loss"`` separately.
    """
    if reward not in ("net", "gain", "loss"):
        raise ValueError(f"reward must be 'net', 'gain' or 'loss', got {reward!r}")
    dataset = "hBayesDM 4-armed bandit (bandit4arm_exampleData.txt)"
    frame = _read(path, dataset)
    require_columns(frame, ["subjID", "gain", "loss", "choice"], dataset, _FOUR_ARM_LAYOUT, path)
    if reward == "net":
        gain = numeric_column(frame, "gain", "subjID", dataset, path)
        loss = numeric_column(frame, "loss", "subjID", dataset, path)
        frame = frame.assign(_net_reward=gain + loss)
        column = "_net_reward"
    else:
        column = reward
    return build(
        frame,
        dataset,
        path,
        subject="subjID",
        choice="choice",
        reward=column,
        n_options=4,
        choice_base=1,
    )


def hbayesdm_two_step(path: str | os.PathLike) -> ChoiceData:
    """Read hBayesDM's two-step task layout (``ts_exampleData.txt``; Daw et al. 2011 task).

    Source: the hBayesDM package (Ahn, Haines & Zhang 2017, Computational Psychiatry 1:24-57),
    models ``ts_par4``, ``ts_par6``, ``ts_par7`` (fit them here with
    ``choicernn.models.two_step.TwoStepModel("ts_par7")``); example data of undocumented
    origin; license GPL-3.0.

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of the file: tab-separated (a comma-separated copy reads too), one row per
        trial, columns ``subjID``, ``trial``, ``level1_choice`` (1 or 2), ``level2_choice``
        (1-4: options 1 and 2 of the second-stage state reached commonly after
        ``level1_choice`` 1, options 3 and 4 of the other state) and ``reward`` (0 or 1).
        Further columns (some files add the four reward probabilities) are ignored.

    Returns
    -------
    ChoiceData
        Two-step data (:attr:`~choicernn.ChoiceData.is_two_step`), ``n_options=2``; one
        session per subject; ``trial`` is the file's ``trial`` column; ``choice`` is
        ``level1_choice - 1``; ``state`` is 0 for ``level2_choice`` 1-2 and 1 for 3-4;
        ``choice2`` is 0 for ``level2_choice`` 1 or 3 and 1 for 2 or 4; ``reward`` as given.
        An empty ``level1_choice`` is a missed trial; an empty ``level2_choice`` a missed
        second stage (its state is then unknown).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and subject), e.g. ``level2_choice`` 5.
    """
    dataset = "hBayesDM two-step (ts_exampleData.txt)"
    frame = _read(path, dataset)
    columns = ["subjID", "trial", "level1_choice", "level2_choice", "reward"]
    require_columns(frame, columns, dataset, _TWO_STEP_LAYOUT, path)
    level2 = numeric_column(frame, "level2_choice", "subjID", dataset, path)
    bad = level2.notna() & ~level2.isin([1.0, 2.0, 3.0, 4.0])
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
        raise ChoiceDataError(
            f"{dataset} file {os.fspath(path)!r}: column 'level2_choice' (second-stage "
            f"choice): value {_show(frame['level2_choice'].iloc[pos])} at row {pos} (subject "
            f"{_show(frame['subjID'].iloc[pos])}) is not one of 1, 2, 3, 4."
        )
    level1 = numeric_column(frame, "level1_choice", "subjID", dataset, path)
    orphan = level2.notna() & level1.isna()
    if orphan.any():
        pos = int(np.flatnonzero(orphan.to_numpy(dtype=bool))[0])
        raise ChoiceDataError(
            f"{dataset} file {os.fspath(path)!r}: column 'level2_choice' (second-stage "
            f"choice): value {_show(frame['level2_choice'].iloc[pos])} at row {pos} (subject "
            f"{_show(frame['subjID'].iloc[pos])}), but that trial's level1_choice is empty: a "
            f"trial without a first-stage choice has no second stage."
        )
    frame = frame.assign(
        _state=(1 + (level2 > 2)).astype(float).where(level2.notna()),  # 1-based like level1
        _choice2=(1 + (level2 - 1) % 2).where(level2.notna()),
    )
    return build(
        frame,
        dataset,
        path,
        subject="subjID",
        choice="level1_choice",
        reward="reward",
        trial="trial",
        state="_state",
        choice2="_choice2",
        n_options=2,
        choice_base=1,
    )
