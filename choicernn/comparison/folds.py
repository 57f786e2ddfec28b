"""Deterministic cross-validation folds over a ChoiceData: by trial block, session or subject."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..data import ChoiceData

FoldScheme = Literal["block", "session", "subject"]


@dataclass(frozen=True)
class Fold:
    """One train/test split. ``test`` never shares a trial with ``train``."""

    index: int
    train: ChoiceData
    test: ChoiceData


def fold_labels(data: ChoiceData, folds: int, by: FoldScheme, seed: int | None = 0) -> np.ndarray:
    """Fold number (0 .. folds-1) of every canonical row of ``data``.

    ``"block"``: every sequence (subject-session) is cut into ``folds`` contiguous blocks of
    trials; block ``f`` is the test set of fold ``f``. ``"session"``: each subject's sessions are
    shuffled (``seed``) and dealt to folds in turn; every subject needs at least two sessions.
    ``"subject"``: subjects are shuffled (``seed``) and dealt to folds in turn (for pooled models
    that can predict new subjects).
    """
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    table = data.to_frame()
    rng = np.random.default_rng(seed)
    if by == "block":
        return data.trial_blocks(folds)
    if by == "session":
        seqs = data.sequences
        sequence_fold = np.empty(len(seqs), dtype=int)
        for subject, group in seqs.groupby("subject", sort=False):
            if len(group) < 2:
                raise ValueError(
                    f"by='session' needs at least 2 sessions per subject; subject {subject!r} has "
                    f"{len(group)}. Use by='block' to hold out trial blocks within sessions."
                )
            order = group.index.to_numpy()[rng.permutation(len(group))]
            sequence_fold[order] = np.arange(len(group)) % folds
        return sequence_fold[data.sequence_of_row]
    if by == "subject":
        if data.n_subjects < folds:
            raise ValueError(
                f"by='subject' with folds={folds} needs at least {folds} subjects; "
                f"the data have {data.n_subjects}"
            )
        order = rng.permutation(data.n_subjects)
        fold_of = {data.subjects[j]: i % folds for i, j in enumerate(order)}
        return table["subject"].map(fold_of).to_numpy(dtype=int)
    raise ValueError(f"by must be 'block', 'session' or 'subject', got {by!r}")


def make_folds(
    data: ChoiceData,
    folds: int = 5,
    by: FoldScheme = "block",
    seed: int | None = 0,
    test_sessions: Sequence | None = None,
) -> list[Fold]:
    """The ``folds`` train/test splits of ``data``; see :func:`fold_labels` for the schemes.

    With ``by="block"`` the training data of a fold keep their session labels, so the blocks
    before and after a held-out block form one sequence (the model's state runs from one to the
    other, skipping the held-out trials); the held-out block is its own sequence, predicted from
    a fresh state. No held-out choice or reward is ever seen in training.

    ``test_sessions`` gives one fixed split instead: the sessions with these labels (for every
    subject) are the test set, the rest the training set (e.g. blocks 3, 6 and 9 of Dezfouli et
    al. 2019); ``folds`` and ``by`` are then ignored.
    """
    if test_sessions is not None:
        train, test = data.split_sessions(test_sessions)
        return [Fold(0, train, test)]
    labels = fold_labels(data, folds, by, seed)
    return [fold_from_labels(data, labels, f) for f in range(folds)]


def fold_from_labels(data: ChoiceData, labels: np.ndarray, index: int) -> Fold:
    """Fold ``index`` of ``data`` given the fold label of every row (:func:`fold_labels`)."""
    test = labels == index
    if not test.any():
        raise ValueError(f"fold {index} has no test trials; use fewer folds")
    return Fold(index, data.select_trials(~test), data.select_trials(test))
