"""Recurrent-network choice models: GRU (default), LSTM or vanilla RNN, from 1 unit up.

:class:`GRUModel` pools all subjects into one network (optionally with a learned per-subject
embedding) that maps a session's past choices and rewards to the logits of the next choice.
It implements the shared interface of :mod:`choicernn.models.base` (``fit``, ``logits``,
``agent``), so per-trial log-likelihoods, probabilities, scores and simulation come for free.
The network and its inputs are described in :mod:`choicernn.models.rnn_network`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data import ChoiceData
from .base import ChoiceModel, NotFittedError, resolve_device
from .parametric import show_progress
from .rnn_network import CELLS, CellType, ChoiceRNN, InputKind, RNNAgent, n_features, sequence_inputs

SplitKind = Literal["auto", "sessions", "blocks", "none"]
_FORMAT = "choicernn.GRUModel"
_FORMAT_VERSION = 1


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
class _Prepared:
    """Training tensors: inputs, targets (-1: not counted), subject rows, lengths to run."""

    x: torch.Tensor
    y: torch.Tensor
    subject: torch.Tensor
    lengths: torch.Tensor
    n_choices: int = field(init=False)

    def __post_init__(self) -> None:
        self.n_choices = int((self.y >= 0).sum())

    def take(self, rows: torch.Tensor) -> _Prepared:
        return _Prepared(self.x[rows], self.y[rows], self.subject[rows], self.lengths[rows])


class GRUModel(ChoiceModel):
    """A recurrent network of trial-by-trial choices, pooled over subjects.

    Parameters
    ----------
    hidden_size : int
        Units per layer, from 1 ("tiny" networks, Ji-An et al. 2025) to a few hundred.
    cell : {"gru", "lstm", "rnn"}
        Recurrent cell (``"rnn"``: vanilla tanh RNN).
    n_layers : int
        Stacked recurrent layers.
    inputs : {"reward", "choice_only"}
        ``"reward"``: previous choice, reward, their interaction and (full feedback) every
        option's outcome; ``"choice_only"``: previous choices only, the reward-oblivious
        baseline of Fintz, Osadchy & Hertz (2022).
    subject_embedding : int
        Size of a learned per-subject vector appended to the inputs (0: none). Subjects the
        model was not fitted on get the mean of the fitted subjects' vectors.
    training : TrainingConfig or None
        Optimisation settings; None means ``TrainingConfig()``.
    device : {"auto", "cpu", "cuda"} or torch.device
        Where to train and score; ``"auto"`` uses CUDA when present.
    name : str, optional
        Label in result tables (default ``"<cell><hidden_size>"``, e.g. ``"gru8"``).

    Attributes
    ----------
    network_ : ChoiceRNN
        The trained network (the best seed's best epoch).
    n_options_ : int
    subjects_ : list
        Subjects seen in training, in embedding-row order.
    reward_scale_ : float
        Rewards and outcomes are divided by it (largest absolute reward in the training data).
    uses_outcomes_ : bool
        Whether every option's outcome was an input (full-feedback data, ``inputs="reward"``).
    history_ : pandas.DataFrame
        ``seed, epoch, train_nll, val_nll``: NLL per observed choice after every epoch.
    seeds_ : pandas.DataFrame
        ``seed, best_epoch, train_nll, val_nll, kept``: one row per seed.
    validation_nll_ : float or None
        Validation NLL per choice of the kept network (None with ``split="none"``).

    Examples
    --------
    >>> model = cr.GRUModel(hidden_size=8).fit(data, seed=0)   # doctest: +SKIP
    >>> model.trial_log_likelihood(test_data)                    # doctest: +SKIP
    >>> sim = cr.simulate(model, "reversal", n_subjects=50)     # doctest: +SKIP
    """

    def __init__(
        self,
        hidden_size: int = 8,
        cell: CellType = "gru",
        n_layers: int = 1,
        inputs: InputKind = "reward",
        subject_embedding: int = 0,
        training: TrainingConfig | None = None,
        device: str | torch.device = "auto",
        name: str | None = None,
    ) -> None:
        self.hidden_size = hidden_size
        self.cell = cell
        self.n_layers = n_layers
        self.inputs = inputs
        self.subject_embedding = subject_embedding
        self.training = training
        self.device = device
        self.name = f"{cell}{hidden_size}" if name is None else name
        self._validate()

    def _validate(self) -> None:
        for arg in ("hidden_size", "n_layers"):
            value = getattr(self, arg)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{arg} must be a positive integer, got {value!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        if self.inputs not in ("reward", "choice_only"):
            raise ValueError(f"inputs must be 'reward' or 'choice_only', got {self.inputs!r}")
        emb = self.subject_embedding
        if not isinstance(emb, int) or isinstance(emb, bool) or emb < 0:
            raise ValueError(f"subject_embedding must be an integer >= 0 (0: none), got {emb!r}")
        if self.training is not None and not isinstance(self.training, TrainingConfig):
            raise TypeError(
                f"training must be a TrainingConfig or None, got {type(self.training).__name__}"
            )

    # ------------------------------------------------------------------ sklearn manners
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments (scikit-learn manners)."""
        names = ("hidden_size", "cell", "n_layers", "inputs", "subject_embedding", "training")
        out = {n: getattr(self, n) for n in names}
        out.update(device=self.device, name=self.name)
        return out

    def clone(self) -> GRUModel:
        """An unfitted copy with the same constructor arguments."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"GRUModel({args})"

    @property
    def config(self) -> TrainingConfig:
        """The training settings in use (``training`` or the defaults)."""
        return self.training if self.training is not None else TrainingConfig()

    def _check_fitted(self) -> None:
        if not hasattr(self, "network_"):
            raise NotFittedError(
                f"{self.name} is not fitted yet: call fit first (model.fit(data)), or load a "
                f"trained network with GRUModel.load(path)."
            )

    # ------------------------------------------------------------------ data to tensors
    def _prepare(self, data: ChoiceData, dev: torch.device) -> _Prepared:
        """Inputs and targets of every sequence of ``data`` for the fitted network."""
        if self.uses_outcomes_ and not data.has_outcomes:
            raise ValueError(
                f"{self.name} was fitted on full-feedback data (every option's outcome is an "
                f"input); these data have no outcome columns"
            )
        batch = data.tensors(dev, torch.float32)
        x = sequence_inputs(batch, self.inputs, self.uses_outcomes_, self.reward_scale_)
        rows = {s: i for i, s in enumerate(self.subjects_)}
        index = [rows.get(s, -1) for s in data.sequences["subject"]]
        subject = torch.tensor(index, dtype=torch.long, device=dev)
        return _Prepared(x, batch.choices, subject, batch.lengths.clone())

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: ChoiceData,
        *,
        seed: int | None = 0,
        validation: ChoiceData | None = None,
        progress: bool | None = None,
    ) -> GRUModel:
        """Train the network on ``data``; returns ``self``.

        Parameters
        ----------
        data : ChoiceData
        seed : int or None
            Seeds the initial weights and the order of mini-batches of every seed; the global
            torch random state is left untouched. Training on the CPU is reproducible.
        validation : ChoiceData, optional
            Held-out data for early stopping and choosing among seeds. When omitted, the
            training config's ``split`` holds out sessions or trial blocks of ``data``.
        progress : bool or None
            Show a progress bar (default: when standard error is a terminal).

        Returns
        -------
        self
        """
        if not isinstance(data, ChoiceData):
            raise TypeError(f"fit expects a ChoiceData, got {type(data).__name__}")
        if validation is not None and not isinstance(validation, ChoiceData):
            raise TypeError(f"validation must be a ChoiceData, got {type(validation).__name__}")
        if validation is not None and validation.n_options != data.n_options:
            raise ValueError(
                f"validation data have n_options={validation.n_options}, training data "
                f"{data.n_options}"
            )
        cfg = self.config
        dev = resolve_device(self.device)
        observed = data.to_frame()["reward"][data.to_frame()["choice"].notna()]
        scale = float(np.abs(observed.to_numpy(dtype=float)).max()) if len(observed) else 0.0
        self.n_options_ = data.n_options
        self.subjects_ = list(data.subjects)
        self.reward_scale_ = scale if scale > 0 else 1.0
        self.uses_outcomes_ = bool(data.has_outcomes and self.inputs == "reward")
        train, val = self._split(data, validation, cfg, dev)
        if train.n_choices == 0:
            raise ValueError("no observed choices left to train on after the validation split")
        root = np.random.SeedSequence(seed)
        run_seeds = [int(s.generate_state(1, np.uint64)[0] >> np.uint64(1)) for s in root.spawn(cfg.n_seeds)]
        bar = tqdm(
            total=cfg.n_seeds * cfg.max_epochs,
            desc=f"fit {self.name}",
            disable=not show_progress(progress),
            leave=False,
        )
        runs, history = [], []
        try:
            for i, run_seed in enumerate(run_seeds):
                runs.append(self._train_one(i, run_seed, train, val, cfg, dev, bar, history))
        finally:
            bar.close()
        best = int(np.argmin([r["score"] for r in runs]))
        self.network_ = runs[best]["network"].eval()
        self.history_ = pd.DataFrame(history, columns=["seed", "epoch", "train_nll", "val_nll"])
        self.seeds_ = pd.DataFrame(
            {
                "seed": range(cfg.n_seeds),
                "best_epoch": [r["best_epoch"] for r in runs],
                "train_nll": [r["train_nll"] for r in runs],
                "val_nll": [r["val_nll"] for r in runs],
                "kept": [i == best for i in range(cfg.n_seeds)],
            }
        )
        self.validation_nll_ = runs[best]["val_nll"]
        return self

    def _split(self, data, validation, cfg, dev) -> tuple[_Prepared, _Prepared | None]:
        """Training and validation tensors (validation None with ``split="none"``)."""
        full = self._prepare(data, dev)
        if validation is not None:
            return full, self._prepare(validation, dev)
        split = cfg.split
        seqs = data.sequences
        n_sessions = seqs.groupby("subject", sort=False)["session"].transform("size").to_numpy()
        if split == "auto":
            split = "sessions" if (n_sessions >= 2).all() else "blocks"
        if split == "none":
            return full, None
        if split == "sessions":
            single = seqs.loc[n_sessions < 2, "subject"].tolist()
            if single:
                raise ValueError(
                    f"split='sessions' needs two sessions or more per subject; subjects "
                    f"{single[:5]} have one. Use split='blocks' or pass validation=."
                )
            order = seqs.groupby("subject", sort=False).cumcount().to_numpy()
            n_val = np.clip(np.round(n_sessions * cfg.validation_fraction), 1, n_sessions - 1)
            held = torch.as_tensor(order >= n_sessions - n_val, device=dev)
            rows = torch.arange(len(seqs), device=dev)
            return full.take(rows[~held]), full.take(rows[held])
        # Trial blocks: the last fraction of every sequence is validation; inputs stay whole.
        n_t = full.y.shape[1]
        start = torch.floor(full.lengths * (1 - cfg.validation_fraction)).long().clamp(min=1)
        late = torch.arange(n_t, device=dev).unsqueeze(0) >= start.unsqueeze(1)
        none = torch.full_like(full.y, -1)
        train = _Prepared(full.x, torch.where(late, none, full.y), full.subject, start)
        val = _Prepared(full.x, torch.where(late, full.y, none), full.subject, full.lengths)
        if val.n_choices == 0:
            raise ValueError("the held-out trial blocks contain no observed choice")
        return train, val

    def _new_network(self, n_subjects: int) -> ChoiceRNN:
        n_in = n_features(self.n_options_, self.inputs, self.uses_outcomes_)
        return ChoiceRNN(
            n_in,
            self.n_options_,
            self.hidden_size,
            self.cell,
            self.n_layers,
            n_subjects,
            self.subject_embedding,
        )

    def _train_one(self, index, run_seed, train, val, cfg, dev, bar, history) -> dict[str, Any]:
        """Train one seed with early stopping; returns its best network and scores."""
        devices = [dev] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(run_seed)
            net = self._new_network(len(self.subjects_)).to(dev)
        gen = torch.Generator().manual_seed(run_seed)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        n_seq = train.x.shape[0]
        batch_size = cfg.batch_size or n_seq
        best = {"score": math.inf, "best_epoch": 0, "train_nll": math.nan, "val_nll": None}
        best_state, wait = None, 0
        for epoch in range(cfg.max_epochs):
            net.train()
            total = torch.zeros((), device=dev)
            for rows in torch.randperm(n_seq, generator=gen).to(dev).split(batch_size):
                total += _train_step(net, opt, train, rows, cfg.clip)
            train_nll = float(total) / train.n_choices
            val_nll = None if val is None else _evaluate(net, val)
            history.append((index, epoch, train_nll, val_nll))
            bar.update(1)
            bar.set_postfix(seed=index, train=f"{train_nll:.4f}",
                            val="-" if val_nll is None else f"{val_nll:.4f}", refresh=False)
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
        if not math.isfinite(best["score"]):
            raise FloatingPointError(
                f"{self.name}: training diverged (NLL {score}) for seed {index}; lower lr "
                f"(now {cfg.lr}) or set clip"
            )
        net.load_state_dict(best_state)
        best["network"] = net
        return best

    # ------------------------------------------------------------------ prediction
    def logits(self, data: ChoiceData) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options), float32, detached, on the CPU.

        The logit of trial ``t`` is computed from trials ``< t`` of its sequence only; the
        state restarts at each sequence (subject-session). Subjects the model was not fitted on
        get the mean subject embedding (when the model has embeddings).
        """
        self._check_fitted()
        self._check_options(data)
        net = self.network_.eval()
        dev = next(net.parameters()).device
        prep = self._prepare(data, dev)
        out = []
        with torch.no_grad():
            for rows in torch.arange(prep.x.shape[0], device=dev).split(1024):
                logits, _ = net(prep.x[rows], prep.subject[rows])
                out.append(logits.cpu())
        return torch.cat(out)

    def agent(
        self,
        n_agents: int,
        *,
        seed: Any = None,
        params: Any = None,
        n_options: int | None = None,
    ) -> tuple[RNNAgent, pd.DataFrame | None]:
        """The fitted network as an agent for ``n_agents`` simulated subjects.

        Parameters
        ----------
        n_agents : int
        seed : ignored
            The network is deterministic; :func:`choicernn.simulate` samples the choices.
        params : sequence or pandas.DataFrame, optional
            With subject embeddings only: the fitted subject each agent takes its embedding
            from (a sequence of subject labels, or a table with a ``source_subject`` column),
            used in turn; labels the model was not fitted on get the mean embedding. Default:
            agent ``i`` is fitted subject ``i % n_subjects``.
        n_options : int, optional
            Checked against the fitted number of options.

        Returns
        -------
        (agent, params)
            The agent and, with subject embeddings, a table with the ``source_subject`` of
            every agent (None without embeddings).
        """
        self._check_fitted()
        if n_options is not None and n_options != self.n_options_:
            raise ValueError(f"{self.name} was fitted with n_options={self.n_options_}, got {n_options}")
        if not isinstance(n_agents, int | np.integer) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        index, table = None, None
        if self.subject_embedding > 0:
            if params is None:
                sources = [self.subjects_[i % len(self.subjects_)] for i in range(n_agents)]
            else:
                labels = list(params["source_subject"]) if isinstance(params, pd.DataFrame) else list(params)
                if not labels:
                    raise ValueError("params gives no source subject")
                sources = [labels[i % len(labels)] for i in range(n_agents)]
            rows = {s: i for i, s in enumerate(self.subjects_)}
            index = torch.tensor([rows.get(s, -1) for s in sources], dtype=torch.long)
            table = pd.DataFrame({"source_subject": sources})
        elif params is not None:
            raise ValueError(f"{self.name} has no per-subject parameters (subject_embedding=0); "
                             f"params must be None")
        net = self._new_network(len(self.subjects_))
        net.load_state_dict({k: v.cpu() for k, v in self.network_.state_dict().items()})
        agent = RNNAgent(net.eval(), self.n_options_, self.inputs, self.uses_outcomes_,
                         self.reward_scale_, index, int(n_agents))
        return agent, table

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> Path:
        """Write the trained network to the directory ``path``: ``config.json`` + ``weights.pt``.

        The weights are a plain ``state_dict`` (no pickled code) and the configuration is JSON;
        :meth:`load` restores a model that gives identical log-likelihoods. Subject labels must
        be strings or numbers. Returns the directory.
        """
        self._check_fitted()
        subjects = [s.item() if isinstance(s, np.generic) else s for s in self.subjects_]
        bad = [s for s in subjects if not isinstance(s, str | int | float)]
        if bad:
            raise TypeError(f"subject labels must be str, int or float to be saved; got {bad[:3]}")
        params = self.get_params()
        params["device"] = str(params["device"])
        params["training"] = None if self.training is None else asdict(self.training)
        config = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "params": params,
            "fitted": {
                "n_options": self.n_options_,
                "subjects": subjects,
                "reward_scale": self.reward_scale_,
                "uses_outcomes": self.uses_outcomes_,
                "validation_nll": self.validation_nll_,
            },
        }
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=2))
        torch.save({k: v.cpu() for k, v in self.network_.state_dict().items()}, out / "weights.pt")
        self.history_.to_csv(out / "history.csv", index=False)
        return out

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> GRUModel:
        """Load a model written by :meth:`save` (weights read with ``weights_only=True``).

        ``device`` overrides the saved device setting.
        """
        folder = Path(path)
        if not (folder / "config.json").is_file() or not (folder / "weights.pt").is_file():
            raise FileNotFoundError(f"{folder} does not hold config.json and weights.pt written by GRUModel.save")
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != _FORMAT or config.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{folder / 'config.json'} is not a GRUModel config of version {_FORMAT_VERSION}")
        params = dict(config["params"])
        if params["training"] is not None:
            params["training"] = TrainingConfig(**params["training"])
        if device is not None:
            params["device"] = device
        model = cls(**params)
        fitted = config["fitted"]
        model.n_options_ = int(fitted["n_options"])
        model.subjects_ = list(fitted["subjects"])
        model.reward_scale_ = float(fitted["reward_scale"])
        model.uses_outcomes_ = bool(fitted["uses_outcomes"])
        model.validation_nll_ = fitted["validation_nll"]
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
        net = model._new_network(len(model.subjects_))
        net.load_state_dict(state)
        model.network_ = net.to(resolve_device(model.device)).eval()
        history = folder / "history.csv"
        if history.is_file():
            model.history_ = pd.read_csv(history)
        return model


def _train_step(net, opt, data: _Prepared, rows: torch.Tensor, clip: float | None) -> torch.Tensor:
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


def _evaluate(net: ChoiceRNN, data: _Prepared, chunk: int = 1024) -> float:
    """NLL per counted choice of ``data``."""
    net.eval()
    total = 0.0
    with torch.no_grad():
        for rows in torch.arange(data.x.shape[0], device=data.x.device).split(chunk):
            n_t = int(data.lengths[rows].max())
            logits, _ = net(data.x[rows, :n_t], data.subject[rows])
            y = data.y[rows, :n_t]
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-1, reduction="sum"
            ))
    net.train()
    return total / max(data.n_choices, 1)
