"""Training of the recurrent choice networks: settings, validation splits, the loop.

:class:`TrainingConfig` groups the settings; :func:`split_validation` holds out sessions or
trial blocks; :func:`train_network` trains several seeds (AdamW, gradient clipping, early
stopping on the validation NLL, best epoch restored) and keeps the best seed. Everything random
is drawn from the given seed inside :func:`torch.random.fork_rng`, so the global torch random
state is untouched and training on the CPU is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .rnn_network import ChoiceRNN

SplitKind = Literal["auto", "sessions", "blocks", "none"]


@dataclass(frozen=True)
class TrainingConfig:
    """How a :class:`GRUModel` is trained.

    Parameters
    ----------
    lr : float
        Adam learning rate.
    weight_decay : float
        Decoupled weight decay (AdamW) on all weights.
    max_epochs : int
        Most passes over the training sequences per seed.
    patience : int
        Stop a seed when the validation NLL has not improved for this many epochs; the weights
        of its best epoch are restored.
    batch_size : int or None
        Sequences (subject-sessions) per optimisation step; None: all at once.
    clip : float or None
        Largest gradient norm (clipped before each step); None: no clipping.
    n_seeds : int
        Independent initialisations; the one with the best validation NLL is kept.
    split : {"auto", "sessions", "blocks", "none"}
        Automatic validation split when ``fit`` gets no ``validation`` data. ``"sessions"``
        holds out the last sessions of every subject (the last ``validation_fraction`` of them,
        at least one; every subject needs two sessions or more); ``"blocks"`` holds out the last
        ``validation_fraction`` of the trials of every session (the network still reads the
        trials before them); ``"auto"`` uses sessions when every subject has several, else
        blocks; ``"none"`` trains for ``max_epochs`` and ranks seeds by training NLL.
    validation_fraction : float
        Share of sessions or trials held out, in (0, 1).
    """

    lr: float = 0.01
    weight_decay: float = 1e-4
    max_epochs: int = 200
    patience: int = 10
    batch_size: int | None = 32
    clip: float | None = 1.0
    n_seeds: int = 1
    split: SplitKind = "auto"
    validation_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}; try 0.01")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("max_epochs", "patience", "n_seeds"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size is not None and (
            not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ValueError(
                f"batch_size must be a positive integer (sequences per step) or None for all "
                f"sequences at once, got {self.batch_size!r}"
            )
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be a positive gradient norm or None, got {self.clip!r}")
        if self.split not in ("auto", "sessions", "blocks", "none"):
            raise ValueError(
                f"split must be 'auto', 'sessions', 'blocks' or 'none', got {self.split!r}"
            )
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}; "
                f"0.2 holds out a fifth of the sessions or trials"
            )


@dataclass
class Prepared:
    """Training tensors: inputs, targets (-1: not counted), subject rows, lengths to run."""

    x: torch.Tensor
    y: torch.Tensor
    subject: torch.Tensor
    lengths: torch.Tensor
    n_choices: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_choices = int((self.y >= 0).sum())

    def take(self, rows: torch.Tensor) -> Prepared:
        return Prepared(self.x[rows], self.y[rows], self.subject[rows], self.lengths[rows])


def split_validation(
    full: Prepared, sequences: pd.DataFrame, config: TrainingConfig
) -> tuple[Prepared, Prepared | None]:
    """Training and validation parts of ``full`` by ``config.split`` (validation None: "none").

    ``sequences`` is :attr:`ChoiceData.sequences` of the data ``full`` was built from.
    """
    split = config.split
    n_sessions = sequences.groupby("subject", sort=False)["session"].transform("size").to_numpy()
    if split == "auto":
        split = "sessions" if (n_sessions >= 2).all() else "blocks"
    if split == "none":
        return full, None
    dev = full.x.device
    if split == "sessions":
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
    # Trial blocks: the last fraction of every sequence is validation; inputs stay whole, and
    # training runs only up to the end of each sequence's training part.
    n_t = full.y.shape[1]
    start = torch.floor(full.lengths * (1 - config.validation_fraction)).long().clamp(min=1)
    late = torch.arange(n_t, device=dev).unsqueeze(0) >= start.unsqueeze(1)
    none = torch.full_like(full.y, -1)
    train = Prepared(full.x, torch.where(late, none, full.y), full.subject, start)
    val = Prepared(full.x, torch.where(late, full.y, none), full.subject, full.lengths)
    if val.n_choices == 0:
        raise ValueError("the held-out trial blocks contain no observed choice")
    return train, val


@dataclass
class TrainingResult:
    """The kept network and the record of training (see :class:`~choicernn.GRUModel`)."""

    network: ChoiceRNN
    history: pd.DataFrame
    seeds: pd.DataFrame
    validation_nll: float | None


def train_network(
    make_network: Callable[[], ChoiceRNN],
    train: Prepared,
    val: Prepared | None,
    config: TrainingConfig,
    seed: int | None,
    device: torch.device,
    progress: bool,
    label: str = "fit",
) -> TrainingResult:
    """Train ``config.n_seeds`` networks from ``make_network`` and keep the best.

    Seeds are ranked by validation NLL (training NLL when ``val`` is None).
    """
    if train.n_choices == 0:
        raise ValueError("no observed choices left to train on after the validation split")
    streams = np.random.SeedSequence(seed).spawn(config.n_seeds)
    run_seeds = [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in streams]
    bar = tqdm(
        total=config.n_seeds * config.max_epochs, desc=label, disable=not progress, leave=False
    )
    runs, history = [], []
    try:
        for index, run_seed in enumerate(run_seeds):
            runs.append(
                _train_one(make_network, index, run_seed, train, val, config, device, bar, history)
            )
    finally:
        bar.close()
    best = int(np.argmin([r["score"] for r in runs]))
    seeds = pd.DataFrame(
        {
            "seed": range(config.n_seeds),
            "best_epoch": [r["best_epoch"] for r in runs],
            "train_nll": [r["train_nll"] for r in runs],
            "val_nll": [r["val_nll"] for r in runs],
            "kept": [i == best for i in range(config.n_seeds)],
        }
    )
    return TrainingResult(
        network=runs[best]["network"].eval(),
        history=pd.DataFrame(history, columns=["seed", "epoch", "train_nll", "val_nll"]),
        seeds=seeds,
        validation_nll=runs[best]["val_nll"],
    )


def _train_one(make_network, index, run_seed, train, val, cfg, dev, bar, history) -> dict:
    """Train one seed with early stopping; returns its best network and scores."""
    devices = (
        [dev.index if dev.index is not None else torch.cuda.current_device()]
        if dev.type == "cuda"
        else []
    )
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(run_seed)
        net = make_network().to(dev)
    gen = torch.Generator().manual_seed(run_seed)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_seq = train.x.shape[0]
    batch_size = cfg.batch_size or n_seq
    best = {"score": math.inf, "best_epoch": 0, "train_nll": math.nan, "val_nll": None}
    best_state, wait, score = None, 0, math.nan
    for epoch in range(cfg.max_epochs):
        net.train()
        total = torch.zeros((), device=dev)
        for rows in torch.randperm(n_seq, generator=gen).to(dev).split(batch_size):
            total += train_step(net, opt, train, rows, cfg.clip)
        train_nll = float(total) / train.n_choices
        val_nll = None if val is None else evaluate(net, val)
        history.append((index, epoch, train_nll, val_nll))
        bar.update(1)
        bar.set_postfix(
            seed=index,
            train=f"{train_nll:.4f}",
            val="-" if val_nll is None else f"{val_nll:.4f}",
            refresh=False,
        )
        score = train_nll if val_nll is None else val_nll
        if score < best["score"]:
            best = {"score": score, "best_epoch": epoch, "train_nll": train_nll, "val_nll": val_nll}
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            wait = 0
        elif val is not None:
            wait += 1
            if wait >= cfg.patience:
                bar.update(cfg.max_epochs - epoch - 1)
                break
    if best_state is None:
        raise FloatingPointError(
            f"training diverged (NLL {score}) for seed {index}; lower lr (now {cfg.lr}) or set clip"
        )
    net.load_state_dict(best_state)
    best["network"] = net
    return best


def train_step(net, opt, data: Prepared, rows: torch.Tensor, clip: float | None) -> torch.Tensor:
    """One Adam step on the sequences ``rows``; returns their summed NLL (detached)."""
    n_t = int(data.lengths[rows].max())
    y = data.y[rows, :n_t]
    logits, _ = net(data.x[rows, :n_t], data.subject[rows])
    nll = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1, reduction="sum"
    )
    count = (y >= 0).sum().clamp(min=1)
    opt.zero_grad(set_to_none=True)
    (nll / count).backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
    opt.step()
    return nll.detach()


def evaluate(net: ChoiceRNN, data: Prepared, chunk: int = 256) -> float:
    """NLL per counted choice of ``data``."""
    net.eval()
    total = 0.0
    with torch.no_grad():
        for rows in torch.arange(data.x.shape[0], device=data.x.device).split(chunk):
            n_t = int(data.lengths[rows].max())
            logits, _ = net(data.x[rows, :n_t], data.subject[rows])
            y = data.y[rows, :n_t]
            total += float(
                torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    y.reshape(-1),
                    ignore_index=-1,
                    reduction="sum",
                )
            )
    net.train()
    return total / max(data.n_choices, 1)
