"""Training settings of the recurrent choice networks and their validation splits.

:class:`TrainingConfig` groups the settings (automatic ones resolved by size and scope in
:meth:`TrainingConfig.resolve`); :func:`split_validation` holds out sessions or trial blocks.
The training loop itself is :func:`choicernn.models.rnn_replicas.train_replicas` (every seed
and every per-subject network as replicas of one batched recurrence). Everything random is
drawn from the given seed with private generators, so the global torch random state is
untouched and training on the CPU is reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
import torch

from .persistence import register_setting_type
from .rnn_replicas import ReplicaSettings

SplitKind = Literal["auto", "sessions", "blocks", "interleaved", "none"]
ScopeKind = Literal["pooled", "subject"]
InitKind = Literal["random", "pooled"]
SPLITS = ("auto", "sessions", "blocks", "interleaved", "none")

#: Automatic settings (``None`` fields of :class:`TrainingConfig`) for ordinary networks ...
STANDARD = {
    "lr": 0.01,
    "weight_decay": 1e-4,
    "max_epochs": 200,
    "patience": 10,
    "n_seeds": 1,
    "l1": 0.0,
}
#: ... and for tiny ones (hidden_size <= 4, or one network per subject): the protocol of
#: Ji-An, Benna & Mattar (2025): AdamW at lr 5e-3 without weight decay, long training stopped
#: 200 epochs after the last improvement of the validation NLL, several initialisations, an L1
#: penalty on the input and recurrent weights.
TINY = {
    "lr": 5e-3,
    "weight_decay": 0.0,
    "max_epochs": 3000,
    "patience": 200,
    "n_seeds": 3,
    "l1": 1e-4,
}
TINY_HIDDEN_SIZE = 4
#: ... and for per-subject networks started from the pooled network (``init="pooled"``): one
#: start (the pooled weights) and a Gaussian prior toward them instead of an L1 penalty.
FINE_TUNE = {"n_seeds": 1, "l1": 0.0}


@register_setting_type
@dataclass(frozen=True)
class TrainingConfig:
    """How a :class:`GRUModel` is trained.

    Fields left at ``None`` are chosen by the network's size and scope, in one place
    (:meth:`resolve`): ordinary networks get :data:`STANDARD`, tiny ones (``hidden_size <= 4``
    or ``scope="subject"``) the long, penalised training of Ji-An et al. (2025) in
    :data:`TINY`. ``model.training_`` holds the values used by the last fit.

    Parameters
    ----------
    lr : float or None
        AdamW learning rate (auto: 0.01; tiny 5e-3).
    weight_decay : float or None
        Decoupled weight decay (AdamW) on all weights (auto: 1e-4; tiny 0).
    max_epochs : int or None
        Most passes over the training sequences (auto: 200; tiny 3000).
    patience : int or None
        Stop a network when its validation NLL has not improved for this many epochs; the
        weights of its best epoch are restored (auto: 10; tiny 200).
    batch_size : int or None
        Sequences (subject-sessions) per optimisation step and network; None: all at once.
        Per-subject networks take this many of their own subject's sequences per step.
    clip : float or None
        Largest gradient norm of each network (clipped before each step); None: no clipping.
    n_seeds : int or None
        Independent initialisations, trained together; the one with the best validation NLL
        is kept (per subject for per-subject networks) (auto: 1; tiny 3).
    split : {"auto", "sessions", "blocks", "interleaved", "none"}
        Automatic validation split when ``fit`` gets no ``validation`` data. ``"sessions"``
        holds out the last ``validation_fraction`` of every subject's sessions (at least one;
        every subject needs two sessions or more); ``"blocks"`` holds out the last
        ``validation_fraction`` of the trials of every session (the network still reads the
        trials before them); ``"interleaved"`` holds out short blocks of about
        ``validation_block`` trials spread evenly through every session (the last one at its
        end), ``validation_fraction`` of the trials in all: the network reads the whole session
        and is trained on every trial outside those blocks, so early stopping sees every phase
        of the task, not only its end; ``"auto"`` holds out about ``validation_fraction`` of
        the choices whatever the number of sessions: whole sessions when every subject has at
        least ``1 / validation_fraction`` of them (5 for 0.2), else trial blocks: the tail of
        every session for pooled networks, interleaved blocks for per-subject ones (never half
        of the data when subjects have two sessions); ``"none"`` trains for ``max_epochs`` and
        keeps the epoch (and seed) with the best training NLL.
    validation_fraction : float
        Share of sessions or trials held out, in (0, 1).
    validation_block : int
        Length in trials of each interleaved held-out block (``split="interleaved"``).
    l1 : float or None
        L1 penalty on the input and recurrent weights of each network, added to its mean NLL
        per training choice (auto: 0; tiny 1e-4; Ji-An et al. choose among 1e-5 .. 1e-3).
    augment_permutations : bool
        Also train on copies of every training sequence with the option labels permuted (all
        permutations for 2 or 3 options, cyclic shifts for more): for tasks whose options are
        symmetric. With a teacher, the targets on a copy are the teacher's probabilities on
        that copy. Validation sequences are never permuted.
    embedding_sd : float or None
        Pooled networks with a subject embedding: a Gaussian prior ``Normal(0, sd)`` on every
        entry of every subject's vector (MAP: its negative log density, divided by the number
        of training choices, is added to the loss). Subjects with little data stay near the
        population (vector 0); None: no prior (maximum likelihood).
    pooled_sd : float
        Per-subject networks started from the pooled network (``GRUModel(init="pooled")``): a
        Gaussian prior ``Normal(pooled weight, sd)`` on each weight of each subject's network
        (its negative log density divided by the subject's training choices is added to the
        subject's loss), a hierarchical shrinkage toward the population network; larger values
        let subjects move further.
    """

    lr: float | None = None
    weight_decay: float | None = None
    max_epochs: int | None = None
    patience: int | None = None
    batch_size: int | None = 32
    clip: float | None = 1.0
    n_seeds: int | None = None
    split: SplitKind = "auto"
    validation_fraction: float = 0.2
    l1: float | None = None
    augment_permutations: bool = False
    validation_block: int = 10
    embedding_sd: float | None = None
    pooled_sd: float = 0.5

    def __post_init__(self) -> None:
        if self.lr is not None and not (
            isinstance(self.lr, int | float) and self.lr > 0 and math.isfinite(self.lr)
        ):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}; try 0.01")
        for name in ("weight_decay", "l1"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and value >= 0 and math.isfinite(value)
            ):
                raise ValueError(f"{name} must be >= 0 (or None: auto), got {value!r}")
        for name in ("max_epochs", "patience", "n_seeds"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 1
            ):
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int)
            or isinstance(self.batch_size, bool)
            or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be a positive integer (sequences per step) or None for all "
                f"sequences at once, got {self.batch_size!r}"
            )
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be a positive gradient norm or None, got {self.clip!r}")
        if self.split not in SPLITS:
            raise ValueError(
                f"split must be 'auto', 'sessions', 'blocks', 'interleaved' or 'none', got "
                f"{self.split!r}"
            )
        if (
            not isinstance(self.validation_block, int)
            or isinstance(self.validation_block, bool)
            or self.validation_block < 1
        ):
            raise ValueError(
                f"validation_block must be a positive integer (trials), got "
                f"{self.validation_block!r}"
            )
        for name in ("embedding_sd", "pooled_sd"):
            value = getattr(self, name)
            if value is None and name == "embedding_sd":
                continue
            if not (isinstance(value, int | float) and value > 0 and math.isfinite(value)):
                raise ValueError(
                    f"{name} must be a positive prior standard deviation, got {value!r}"
                    + ("; None: no prior" if name == "embedding_sd" else "; try 0.5")
                )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}; "
                f"0.2 holds out a fifth of the sessions or trials"
            )
        if not isinstance(self.augment_permutations, bool):
            raise ValueError(
                f"augment_permutations must be True or False, got {self.augment_permutations!r}"
            )

    def resolve(
        self, hidden_size: int, scope: ScopeKind = "pooled", init: InitKind = "random"
    ) -> TrainingConfig:
        """This config with every automatic (None) field set for a network of ``hidden_size``
        units, ``scope`` and ``init`` (the one place where automatic values are chosen)."""
        tiny = hidden_size <= TINY_HIDDEN_SIZE or scope == "subject"
        auto = dict(TINY if tiny else STANDARD)
        if scope == "subject" and init == "pooled":
            auto.update(FINE_TUNE)
        values = {k: auto[k] if getattr(self, k) is None else getattr(self, k) for k in auto}
        return replace(self, **values)

    def engine_settings(self) -> ReplicaSettings:
        """The settings of :func:`~choicernn.models.rnn_replicas.train_replicas` (resolved)."""
        if self.lr is None or self.max_epochs is None:
            raise ValueError("resolve() the config first")
        return ReplicaSettings(
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            max_epochs=int(self.max_epochs),
            patience=int(self.patience),
            batch_size=self.batch_size,
            clip=self.clip,
        )


@dataclass
class Prepared:
    """Training tensors: inputs, targets (-1: not counted), subject rows, lengths to run, and
    soft targets (a teacher's probabilities) or None."""

    x: torch.Tensor
    y: torch.Tensor
    subject: torch.Tensor
    lengths: torch.Tensor
    soft: torch.Tensor | None = None
    n_choices: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_choices = int((self.y >= 0).sum())

    def take(self, rows: torch.Tensor) -> Prepared:
        soft = None if self.soft is None else self.soft[rows]
        return Prepared(self.x[rows], self.y[rows], self.subject[rows], self.lengths[rows], soft)


def split_kind(sequences: pd.DataFrame, config: TrainingConfig, scope: ScopeKind = "pooled") -> str:
    """The split that ``config.split`` means for these sequences and ``scope`` (resolving
    ``"auto"``)."""
    if config.split != "auto":
        return config.split
    n_sessions = sequences.groupby("subject", sort=False)["session"].size()
    needed = math.ceil(1 / config.validation_fraction - 1e-9)
    if (n_sessions >= needed).all():
        return "sessions"
    return "interleaved" if scope == "subject" else "blocks"


def interleaved_blocks(lengths: np.ndarray, n_trials: int, fraction: float, block: int):
    """Flags (n_sequences, n_trials) of held-out interleaved blocks.

    A sequence of ``L`` trials gets ``n = max(1, round(L * fraction / block))`` blocks of
    ``max(1, round(L * fraction / n))`` trials, block ``k`` ending at trial ``round((k+1) L/n)``
    (the last at the sequence's end); a sequence of one trial has none.
    """
    flags = np.zeros((len(lengths), n_trials), dtype=bool)
    for row, length in enumerate(np.asarray(lengths, dtype=np.int64)):
        if length < 2:
            continue
        n_blocks = max(1, round(length * fraction / block))
        size = min(max(1, round(length * fraction / n_blocks)), length - 1)
        for k in range(n_blocks):
            end = round((k + 1) * length / n_blocks)
            flags[row, max(end - size, 1) : end] = True
    return flags


def split_validation(
    full: Prepared, sequences: pd.DataFrame, config: TrainingConfig, scope: ScopeKind = "pooled"
) -> tuple[Prepared, Prepared | None]:
    """Training and validation parts of ``full`` by ``config.split`` (validation None: "none").

    ``sequences`` is :attr:`ChoiceData.sequences` of the data ``full`` was built from;
    ``scope`` decides what ``"auto"`` means (:func:`split_kind`). With trial blocks (tail or
    interleaved) both parts share ``full.x`` (the same tensor object).
    """
    split = split_kind(sequences, config, scope)
    if split == "none":
        return full, None
    dev = full.x.device
    if split == "sessions":
        n_sessions = (
            sequences.groupby("subject", sort=False)["session"].transform("size").to_numpy()
        )
        single = sequences.loc[n_sessions < 2, "subject"].tolist()
        if single:
            raise ValueError(
                f"split='sessions' needs two sessions or more per subject; subjects "
                f"{single[:5]} have one. Use split='blocks' or pass validation=."
            )
        order = sequences.groupby("subject", sort=False).cumcount().to_numpy()
        n_val = np.clip(np.round(n_sessions * config.validation_fraction), 1, n_sessions - 1)
        held = torch.as_tensor(order >= n_sessions - n_val, device=dev)
        rows = torch.arange(len(sequences), device=dev)
        return full.take(rows[~held]), full.take(rows[held])
    n_t = full.y.shape[1]
    none = torch.full_like(full.y, -1)
    if split == "interleaved":
        # Short blocks spread through every sequence; the network reads every trial, and is
        # trained on the choices outside the blocks (up to the end of each sequence).
        flags = interleaved_blocks(
            full.lengths.cpu().numpy(), n_t, config.validation_fraction, config.validation_block
        )
        held = torch.as_tensor(flags, device=dev)
        train = Prepared(
            full.x, torch.where(held, none, full.y), full.subject, full.lengths, full.soft
        )
        val = Prepared(full.x, torch.where(held, full.y, none), full.subject, full.lengths)
        if val.n_choices == 0:
            raise ValueError("the held-out interleaved blocks contain no observed choice")
        return train, val
    # Trial blocks: the last fraction of every sequence is validation; inputs stay whole, and
    # training runs only up to the end of each sequence's training part.
    start = torch.floor(full.lengths * (1 - config.validation_fraction)).long().clamp(min=1)
    late = torch.arange(n_t, device=dev).unsqueeze(0) >= start.unsqueeze(1)
    train = Prepared(full.x, torch.where(late, none, full.y), full.subject, start, full.soft)
    val = Prepared(full.x, torch.where(late, full.y, none), full.subject, full.lengths)
    if val.n_choices == 0:
        raise ValueError("the held-out trial blocks contain no observed choice")
    return train, val
