"""The two-option bandit data of Dezfouli, Griffiths, Ramos, Dayan & Balleine (2019).

101 participants (34 healthy, 34 with depression, 33 with bipolar disorder) pressed two keys
freely for rewards in 12 blocks, each with its own reward probabilities. The study compared
recurrent networks with Q-learning models (QL, QLP, GQL) on held-out blocks 3, 6 and 9 of every
participant. From the authors' public code repository (``choices_diagno.csv.zip``); license
Apache-2.0. choicernn does not ship the file; point :func:`dezfouli2019` at your copy.

Reference: Dezfouli, A., Griffiths, K., Ramos, F., Dayan, P. & Balleine, B. W. (2019). Models
that learn how humans learn: The case of decision-making and its disorders. PLoS Computational
Biology 15(6): e1006903.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..data import ChoiceData
from ._common import build, read_table, require_columns

_DATASET = "Dezfouli et al. 2019 (choices_diagno.csv.zip)"
_LAYOUT = (
    "a CSV (zipped or not) with one row per key press in time order within participant and "
    "columns ID (participant), key (R1 or R2), reward (0 or 1), trial (the block, 1-12) and the "
    "per-participant covariates asked for (by default diag)"
)

#: The blocks held out in the published comparison: blocks 3, 6 and 9 of every participant.
dezfouli2019_heldout_blocks: tuple[int, ...] = (3, 6, 9)


def dezfouli2019(
    path: str | os.PathLike, *, covariates: Sequence[str] | None = ("diag",)
) -> ChoiceData:
    """Read the Dezfouli et al. (2019) key-press data (``choices_diagno.csv.zip``).

    Source: Dezfouli, Griffiths, Ramos, Dayan & Balleine (2019), "Models that learn how humans
    learn: The case of decision-making and its disorders", PLoS Comput Biol 15(6): e1006903; the
    authors' public code repository; license Apache-2.0.

    Parameters
    ----------
    path : str or os.PathLike
        Your copy of ``choices_diagno.csv.zip`` (the zip with one CSV inside, or that CSV). One
        row per key press, in time order within participant. Columns used: ``ID``
        (participant), ``key`` (the action, ``R1`` or ``R2``), ``reward`` (0 or 1), ``trial``
        (the block, 1-12) and the covariates below. The file's ``choice`` column is *not* the
        action (it agrees with ``key`` on only about half the rows) and is ignored.
    covariates : sequence of str or None
        Per-participant columns kept in :attr:`ChoiceData.covariates`: by default ``diag``
        (``Healthy``, ``Depression`` or ``Bipolar``); the file also has ``Mania`` and
        ``Depression`` (questionnaire scores) and ``PressRate.sec``. ``None`` or ``()`` keeps
        none.

    Returns
    -------
    ChoiceData
        ``n_options=2``, option 0 is ``R1`` and option 1 is ``R2``; ``subject`` is ``ID``;
        ``session`` is the block (the file's ``trial`` column, 1-12): each block is its own
        sequence, so value learning restarts in every block, whose reward probabilities are new;
        ``trial`` counts presses from 0 within a block; ``reward`` is 0 or 1.
        ``covariates`` has columns ``subject`` and the requested covariates, one row per
        participant. No press is missed: ``n_choices == n_trials``. The distributed file gives
        101 participants, 12 blocks each (1,212 sequences), 132,251 presses.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If a column is missing (the message names it and the expected layout), or a value is
        invalid (the message names the column, row and participant).

    See Also
    --------
    split_blocks : the published split into training blocks and held-out blocks 3, 6 and 9.
    """
    frame = read_table(path, _DATASET)
    covariates = list(covariates or ())
    require_columns(frame, ["ID", "key", "reward", "trial", *covariates], _DATASET, _LAYOUT, path)
    return build(
        frame,
        _DATASET,
        path,
        subject="ID",
        choice="key",
        option_labels=["R1", "R2"],
        reward="reward",
        session="trial",
        covariates=covariates or None,
    )


def split_blocks(
    data: ChoiceData, test_blocks: Iterable[int] = dezfouli2019_heldout_blocks
) -> tuple[ChoiceData, ChoiceData]:
    """Split data read by :func:`dezfouli2019` into ``(train, test)`` blocks.

    Parameters
    ----------
    data : ChoiceData
        Data whose sessions are blocks, as :func:`dezfouli2019` returns.
    test_blocks : iterable of int
        Blocks held out for every participant; by default the published choice, blocks 3, 6
        and 9 (:data:`dezfouli2019_heldout_blocks`).

    Returns
    -------
    train, test : ChoiceData
        ``test`` holds the listed blocks of every participant that has them and ``train`` the
        others (see :meth:`ChoiceData.split_sessions`). On the distributed file the default
        split leaves 33,827 presses in ``test``; the published count of 33,524 scored choices
        leaves out the first press of each of the 303 held-out blocks.

    Raises
    ------
    ValueError
        If a test block is not in the data, or the blocks hold all or none of the data.
    """
    test_blocks = list(test_blocks)
    present = list(pd.unique(data.sequences["session"]))
    absent = [b for b in test_blocks if b not in set(present)]
    if absent:
        try:
            present = sorted(present)
        except TypeError:  # labels of mixed types: keep their order of appearance
            pass
        shown = [b.item() if isinstance(b, np.generic) else b for b in present]
        raise ValueError(
            f"test_blocks {absent} are not blocks of the data; its blocks are {shown}."
        )
    return data.split_sessions(test_blocks)
