"""Recurrent-network choice models: GRU (default), LSTM or vanilla RNN, from 1 unit up.

:class:`GRUModel` pools all subjects into one network (optionally with a learned per-subject
embedding) that maps a session's past choices and rewards to the logits of the next choice.
It implements the shared interface of :mod:`choicernn.models.base` (``fit``, ``logits``,
``agent``), so per-trial log-likelihoods, probabilities, scores and simulation come for free.
The network and its inputs are described in :mod:`choicernn.models.rnn_network`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from .base import ChoiceModel, NotFittedError, resolve_device
from .parametric import show_progress
from .rnn_network import (
    CELLS,
    CellType,
    ChoiceRNN,
    InputKind,
    RNNAgent,
    n_features,
    sequence_inputs,
)
from .rnn_training import Prepared, TrainingConfig, split_validation, train_network

_FORMAT = "choicernn.GRUModel"
_FORMAT_VERSION = 1


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
    def _prepare(self, data: ChoiceData, dev: torch.device) -> Prepared:
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
        return Prepared(x, batch.choices, subject, batch.lengths.clone())

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
        batch = data.tensors()
        scale = float(batch.rewards[batch.mask].abs().max()) if data.n_choices else 0.0
        self.n_options_ = data.n_options
        self.subjects_ = list(data.subjects)
        self.reward_scale_ = scale if scale > 0 else 1.0
        self.uses_outcomes_ = bool(data.has_outcomes and self.inputs == "reward")
        full = self._prepare(data, dev)
        if validation is not None:
            train, val = full, self._prepare(validation, dev)
        else:
            train, val = split_validation(full, data.sequences, cfg)
        result = train_network(
            lambda: self._new_network(len(self.subjects_)),
            train,
            val,
            cfg,
            seed,
            dev,
            show_progress(progress),
            label=f"fit {self.name}",
        )
        self.network_ = result.network
        self.history_ = result.history
        self.seeds_ = result.seeds
        self.validation_nll_ = result.validation_nll
        return self

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

    # ------------------------------------------------------------------ prediction
    def logits(self, data: ChoiceData, **options: Any) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options), float32, detached, on the CPU.

        The logit of trial ``t`` is computed from trials ``< t`` of its sequence only; the
        state restarts at each sequence (subject-session). Subjects the model was not fitted on
        get the mean subject embedding (when the model has embeddings). Takes no options (the
        base signature allows them for parametric models' ``params=``).
        """
        if options:
            raise TypeError(f"GRUModel.logits takes no options, got {sorted(options)}")
        self._check_fitted()
        self._check_options(data)
        net = self.network_.eval()
        dev = next(net.parameters()).device
        prep = self._prepare(data, dev)
        out = []
        with torch.no_grad():
            for rows in torch.arange(prep.x.shape[0], device=dev).split(256):
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
            raise ValueError(
                f"{self.name} was fitted with n_options={self.n_options_}, got {n_options}"
            )
        if not isinstance(n_agents, int | np.integer) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        index, table = None, None
        if self.subject_embedding > 0:
            if params is None:
                sources = [self.subjects_[i % len(self.subjects_)] for i in range(n_agents)]
            else:
                labels = (
                    list(params["source_subject"])
                    if isinstance(params, pd.DataFrame)
                    else list(params)
                )
                if not labels:
                    raise ValueError("params gives no source subject")
                sources = [labels[i % len(labels)] for i in range(n_agents)]
            rows = {s: i for i, s in enumerate(self.subjects_)}
            index = torch.tensor([rows.get(s, -1) for s in sources], dtype=torch.long)
            table = pd.DataFrame({"source_subject": sources})
        elif params is not None:
            raise ValueError(
                f"{self.name} has no per-subject parameters (subject_embedding=0); "
                f"params must be None"
            )
        net = self._new_network(len(self.subjects_))
        net.load_state_dict({k: v.cpu() for k, v in self.network_.state_dict().items()})
        agent = RNNAgent(
            net.eval(),
            self.n_options_,
            self.inputs,
            self.uses_outcomes_,
            self.reward_scale_,
            index,
            int(n_agents),
        )
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
            raise FileNotFoundError(
                f"{folder} does not hold config.json and weights.pt written by GRUModel.save"
            )
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != _FORMAT or config.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{folder / 'config.json'} is not a GRUModel config of version {_FORMAT_VERSION}"
            )
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
