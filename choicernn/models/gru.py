"""Recurrent-network choice models: GRU (default), LSTM or vanilla RNN, from 1 unit up.

:class:`GRUModel` is one network pooled over subjects (optionally with a learned per-subject
embedding), or one tiny network per subject (``scope="subject"``, Ji-An, Benna & Mattar 2025),
optionally distilled from a pooled teacher network. Every network maps a session's past choices
and rewards to the logits of the next choice. It implements the shared interface of
:mod:`choicernn.models.base` (``fit``, ``logits``, ``agent``, ``hidden_states``), so per-trial
log-likelihoods, probabilities, scores and simulation come for free. The inputs are described
in :mod:`choicernn.models.rnn_network`, the batched training engine (every seed and every
subject's network as replicas of one recurrence) in :mod:`choicernn.models.rnn_replicas`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from .base import Capabilities, ChoiceModel, check_datasets, resolve_device
from .gru_fitting import train_together
from .network_files import read_network, write_network
from .persistence import ModelFileError, load_model
from .rnn_network import (
    CELLS,
    CellType,
    ChoiceRNN,
    InputKind,
    RNNAgent,
    n_features,
    sequence_inputs,
)
from .rnn_replicas import GroupData, to_groups
from .rnn_training import InitKind, Prepared, TrainingConfig, split_kind, split_validation
from .rnn_two_step import (
    N_TWO_STEP_FEATURES,
    TwoStepRNNAgent,
    split_stages,
    two_step_inputs,
    two_step_lengths,
    two_step_targets,
)
from .two_step_scoring import Stages, check_stages, stage_log_likelihoods, stage_trial_table

ScopeKind = Literal["pooled", "subject"]


def option_permutations(n_options: int) -> list[tuple[int, ...]]:
    """Non-identity relabellings used by ``augment_permutations``: all of them for 2 or 3
    options, the cyclic shifts for more."""
    if n_options <= 3:
        return [p for p in itertools.permutations(range(n_options)) if list(p) != sorted(p)]
    return [tuple((k + s) % n_options for k in range(n_options)) for s in range(1, n_options)]


def permute_options(data: ChoiceData, perm: tuple[int, ...]) -> ChoiceData:
    """``data`` with option ``k`` relabelled ``perm[k]`` (choices and outcome columns)."""
    frame = data.to_frame()
    mapping = dict(enumerate(perm))
    frame["choice"] = frame["choice"].map(mapping)
    outcomes = None
    if data.has_outcomes:
        outcomes = [f"outcome_{k}" for k in range(data.n_options)]
        old = frame[outcomes].to_numpy().copy()
        for k, target in enumerate(perm):
            frame[f"outcome_{target}"] = old[:, k]
    return ChoiceData.from_frame(
        frame, n_options=data.n_options, session="session", trial="trial", outcomes=outcomes
    )


class GRUModel(ChoiceModel):
    """A recurrent network of trial-by-trial choices: pooled over subjects, or one per subject.

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
        Size of a learned per-subject vector appended to the inputs (0: none; pooled networks
        only). Subjects the model was not fitted on get the mean of the fitted subjects' vectors.
    training : TrainingConfig or None
        Optimisation settings; None means ``TrainingConfig()``. Unset fields are chosen by size
        and scope (:meth:`TrainingConfig.resolve`).
    device : {"auto", "cpu", "cuda"} or torch.device
        Where to train and score; ``"auto"`` uses CUDA when present.
    name : str, optional
        Label in result tables (default ``"<cell><hidden_size>"``, e.g. ``"gru8"``, with
        ``"_subj"`` for per-subject networks and ``"_distilled"`` with a teacher).
    scope : {"pooled", "subject"}
        ``"pooled"``: one network for all subjects. ``"subject"``: one network per subject
        (Ji-An et al. 2025), all trained together as one batched recurrence; each subject's
        network is early-stopped on its own held-out choices and keeps its own best
        initialisation. A per-subject model scores only the subjects it was fitted on.
    teacher : ChoiceModel or None
        Knowledge distillation: a model (typically ``GRUModel(hidden_size=20)``) fitted on the
        same training data first; this model's network(s) are then trained to match the
        teacher's choice probabilities on their training sequences (soft cross-entropy) and
        early-stopped on the real held-out choices. The fitted teacher is ``teacher_`` (not
        saved with the model). A GRUModel teacher left at ``split="auto"`` is given the
        student's validation split, so it never trains on the student's held-out choices.
    init : {"random", "pooled"}
        Per-subject networks only. ``"random"``: each subject's network starts from random
        weights (``n_seeds`` of them). ``"pooled"``: one pooled network of the same size is
        trained on every subject first (on the same training choices, distilled when there
        is a teacher), then every subject's copy of it is fine-tuned on that subject's choices
        under a Gaussian prior toward the pooled weights (``TrainingConfig.pooled_sd``) and
        early-stopped on the subject's held-out choices, the pooled weights themselves being
        the first candidate: hierarchical shrinkage, for subjects with few choices. The pooled
        stage is trained with the settings of a pooled network of this size.
    stages : {"both", "first"}
        Two-step data only (Daw et al. 2011; ``data.is_two_step``): which choices the network is
        trained on and scored by, both stages of every trial (default) or the first-stage
        choices only. On two-step data the network reads both stages of every trial
        interleaved in time (:mod:`choicernn.models.rnn_two_step`: first choice, state reached,
        second choice, reward), predicts the first-stage choice from the trials before and the
        second-stage choice from them and the state reached; :meth:`logits` gives the
        first-stage logits (the generic contract, as for :class:`~choicernn.TwoStepModel`),
        :meth:`stage_logits` both stages, and :meth:`trial_log_likelihood` scores the stages
        chosen here.

    Attributes
    ----------
    network_ : ChoiceRNN
        The trained network(s) (per subject: the best seed's best epoch of each subject).
    n_options_ : int
    subjects_ : list
        Subjects seen in training, in embedding-row (or per-subject network) order.
    reward_scale_ : float
        Rewards and outcomes are divided by it (largest absolute reward in the training data).
    uses_outcomes_ : bool
        Whether every option's outcome was an input (full-feedback data, ``inputs="reward"``).
    training_ : TrainingConfig
        The training settings used, automatic values resolved.
    history_ : pandas.DataFrame
        Pooled: ``seed, epoch, train_nll, val_nll`` (NLL per observed choice of each seed after
        every epoch). Per subject: ``seed, epoch, train_nll, val_nll, n_training``: NLL per choice
        over all subjects' current networks of that seed, and how many still train.
    seeds_ : pandas.DataFrame
        ``seed, best_epoch, train_nll, val_nll, kept`` per seed (per subject and seed, with a
        leading ``subject`` column, for per-subject networks).
    validation_nll_ : float or None
        Validation NLL per choice of the kept network(s) (None with ``split="none"``).
    pooled_validation_nll_ : float or None
        With ``init="pooled"``: the pooled stage's validation NLL per choice (same choices).

    Examples
    --------
    >>> model = cr.GRUModel(hidden_size=8).fit(data, seed=0)   # doctest: +SKIP
    >>> tiny = cr.GRUModel(hidden_size=2, scope="subject").fit(data, seed=0)   # doctest: +SKIP
    >>> student = cr.GRUModel(2, scope="subject", teacher=cr.GRUModel(20))  # doctest: +SKIP
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
        scope: ScopeKind = "pooled",
        teacher: ChoiceModel | None = None,
        init: InitKind = "random",
        stages: Stages = "both",
    ) -> None:
        self.hidden_size = hidden_size
        self.cell = cell
        self.n_layers = n_layers
        self.inputs = inputs
        self.subject_embedding = subject_embedding
        self.training = training
        self.device = device
        if name is None:
            name = f"{cell}{hidden_size}"
            name += "_subj" if scope == "subject" else ""
            name += "_from_pooled" if init == "pooled" else ""
            name += "_distilled" if teacher is not None else ""
        self.name = name
        self.scope = scope
        self.teacher = teacher
        self.init = init
        self.stages = stages
        self._check_settings()

    def _check_settings(self) -> None:
        for arg in ("hidden_size", "n_layers", "subject_embedding"):
            value = getattr(self, arg)
            if isinstance(value, np.integer):  # e.g. from a numpy grid: a plain int from here on
                setattr(self, arg, int(value))
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
        if self.scope not in ("pooled", "subject"):
            raise ValueError(f"scope must be 'pooled' or 'subject', got {self.scope!r}")
        if self.scope == "subject" and emb > 0:
            raise ValueError(
                "subject_embedding is for pooled networks; with scope='subject' every subject "
                "already has its own network (set subject_embedding=0)"
            )
        check_stages(self.stages)
        if self.init not in ("random", "pooled"):
            raise ValueError(f"init must be 'random' or 'pooled', got {self.init!r}")
        if self.init == "pooled" and self.scope != "subject":
            raise ValueError(
                "init='pooled' starts per-subject networks from a pooled one; it needs "
                "scope='subject'"
            )
        if self.teacher is not None and not isinstance(self.teacher, ChoiceModel):
            raise TypeError(
                f"teacher must be a choice model (e.g. GRUModel(hidden_size=20)) or None, got "
                f"{type(self.teacher).__name__}"
            )

    @property
    def config(self) -> TrainingConfig:
        """The training settings in use, automatic values resolved for this size and scope."""
        base = self.training if self.training is not None else TrainingConfig()
        return base.resolve(self.hidden_size, self.scope, self.init)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network=True,
            batched_fits=True,
            per_subject_parameters=self.scope == "subject",
            subject_specific=self.scope == "subject" or self.subject_embedding > 0,
            fixed_agent=True,
        )

    # ------------------------------------------------------------------ data to tensors
    def _prepare(self, data: ChoiceData, dev: torch.device) -> Prepared:
        """Inputs and targets of every sequence of ``data`` for the fitted network."""
        if self.uses_outcomes_ and not data.has_outcomes:
            raise ValueError(
                f"{self.name} was fitted on full-feedback data (every option's outcome is an "
                f"input); these data have no outcome columns"
            )
        if data.is_two_step != self.two_step_:
            kind = "two-step" if self.two_step_ else "single-stage"
            raise ValueError(f"{self.name} was fitted on {kind} data; these data are not {kind}")
        batch = data.tensors(dev, torch.float32)
        if self.two_step_:
            x = two_step_inputs(batch, self.reward_scale_)
            y, lengths = two_step_targets(batch, self.stages), two_step_lengths(batch)
        else:
            x = sequence_inputs(batch, self.inputs, self.uses_outcomes_, self.reward_scale_)
            y, lengths = batch.choices, batch.lengths.clone()
        rows = {s: i for i, s in enumerate(self.subjects_)}
        index = [rows.get(s, -1) for s in data.sequences["subject"]]
        if self.scope == "subject" and min(index, default=0) < 0:
            unknown = [s for s, i in zip(data.sequences["subject"], index, strict=True) if i < 0]
            raise ValueError(
                f"{self.name} has one network per fitted subject; subjects "
                f"{list(dict.fromkeys(unknown))[:5]} were not in its training data"
            )
        subject = torch.tensor(index, dtype=torch.long, device=dev)
        return Prepared(x, y, subject, lengths)

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        data: ChoiceData,
        *,
        seed: int | None = None,
        validation: ChoiceData | None = None,
    ) -> GRUModel:
        """Train the network(s) on ``data``; returns ``self``.

        Parameters
        ----------
        data : ChoiceData
        seed : int or None
            Seeds every network's initial weights and order of mini-batches (each seed and,
            per subject, each subject's network from its own stream: a subject's network does
            not depend on the other subjects); the global torch random state is left
            untouched. Training on the CPU is reproducible.
        validation : ChoiceData, optional
            Held-out data for early stopping and choosing among seeds. When omitted, the
            training config's ``split`` holds out sessions or trial blocks of ``data``.

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
        self._start(data)
        teacher = None
        try:
            if self.teacher is not None:
                teacher = self._teacher_for(data, cfg, validation is None)
                extra = {} if validation is None else {"validation": validation}
                teacher.fit(data, seed=seed, **extra)
                self.teacher_ = teacher
            part = self._training_tensors(data, validation, teacher, cfg, dev)
            train_together([self], [part], cfg, seed, dev)
        except BaseException:
            del self.n_options_  # not fitted after a failed fit
            raise
        return self

    def fit_many(
        self, datasets: Sequence[ChoiceData], *, seed: int | None = None
    ) -> list[GRUModel]:
        """Fit one clone of this model to each data set, all as one batched recurrence.

        Every network of every fit (each seed and, per subject, each subject's network) is a
        replica of one recurrence (:mod:`choicernn.models.gru_fitting`), trained with its own
        early stopping; each fit equals ``self.clone().fit(data, seed=seed)`` (same initial
        weights, mini-batches and stopping epochs; to floating-point summation order).
        :func:`choicernn.cross_validate` uses it to train every fold of a network at once.
        A teacher is fitted for every data set first (batched too when it is a GRUModel).

        Parameters
        ----------
        datasets : sequence of ChoiceData
        seed : int or None

        Returns
        -------
        list of GRUModel
            The fitted clones, in the order of ``datasets``; ``self`` stays unfitted.
        """
        datasets = check_datasets(datasets)
        if not datasets:
            return []
        cfg = self.config
        dev = resolve_device(self.device)
        models = [self.clone() for _ in datasets]
        for model, data in zip(models, datasets, strict=True):
            model._start(data)
        teachers: list[ChoiceModel | None] = [None] * len(models)
        if self.teacher is not None:
            teachers = [m._teacher_for(d, cfg, True) for m, d in zip(models, datasets, strict=True)]
            if len({repr(t) for t in teachers}) == 1:  # the same settings: batched when it can
                teachers = teachers[0].fit_many(datasets, seed=seed)
            else:
                teachers = [t.fit(d, seed=seed) for t, d in zip(teachers, datasets, strict=True)]
            for model, teacher in zip(models, teachers, strict=True):
                model.teacher_ = teacher
        parts = [
            m._training_tensors(d, None, t, cfg, dev)
            for m, d, t in zip(models, datasets, teachers, strict=True)
        ]
        train_together(models, parts, cfg, seed, dev)
        return models

    def _start(self, data: ChoiceData) -> None:
        """The data-dependent attributes set before training (options, subjects, scales)."""
        if data.is_two_step and self.inputs != "reward":
            raise ValueError(
                f"{self.name}: on two-step data the network reads choices, states and rewards; "
                f"inputs={self.inputs!r} is for single-stage data"
            )
        if data.is_two_step and self.config.augment_permutations:
            raise ValueError(
                f"{self.name}: augment_permutations relabels options of single-stage data; the "
                f"two-step task's options are not symmetric (transitions), set it to False"
            )
        batch = data.tensors()
        scale = float(batch.rewards[batch.mask].abs().max()) if data.n_choices else 0.0
        self.n_options_ = data.n_options
        self.subjects_ = list(data.subjects)
        self.reward_scale_ = scale if scale > 0 else 1.0
        self.uses_outcomes_ = bool(
            data.has_outcomes and self.inputs == "reward" and not data.is_two_step
        )
        self.two_step_ = bool(data.is_two_step)
        self.training_ = self.config

    def _teacher_for(self, data: ChoiceData, cfg: TrainingConfig, own_split: bool) -> ChoiceModel:
        """An unfitted copy of the teacher; a GRUModel teacher left at ``split="auto"`` gets
        this model's validation split (``own_split``), so it never trains on our held-out
        choices."""
        teacher = self.teacher.clone()
        if own_split and isinstance(teacher, GRUModel):
            taught = teacher.training if teacher.training is not None else TrainingConfig()
            if taught.split == "auto":
                kind = split_kind(data.sequences, cfg, self.scope)
                teacher.set_params(
                    training=replace(
                        taught,
                        split=kind,
                        validation_fraction=cfg.validation_fraction,
                        validation_block=cfg.validation_block,
                    )
                )
        return teacher

    def _n_inputs(self) -> int:
        if getattr(self, "two_step_", False):
            return N_TWO_STEP_FEATURES
        return n_features(self.n_options_, self.inputs, self.uses_outcomes_)

    def _soft_targets(self, teacher: ChoiceModel | None, data: ChoiceData, dev) -> Any:
        if teacher is None:
            return None
        if data.is_two_step:  # both stages, interleaved in time as the network reads them
            if not hasattr(teacher, "stage_logits"):
                raise TypeError(
                    f"a teacher on two-step data needs stage_logits (e.g. a GRUModel or "
                    f"TwoStepModel); {type(teacher).__name__} has none"
                )
            first, second = teacher.stage_logits(data)
            both = torch.stack([first, second], 2).flatten(1, 2)  # (S, 2T, K)
            return torch.softmax(both.to(torch.float32), -1).to(dev)
        return torch.softmax(teacher.logits(data).to(torch.float32), -1).to(dev)

    def _training_tensors(self, data, validation, teacher, cfg, dev):
        """Flat training and validation tensors (augmented copies appended to training)."""
        full = self._prepare(data, dev)
        full.soft = self._soft_targets(teacher, data, dev)
        if validation is not None:
            train, val = full, self._prepare(validation, dev)
        else:
            train, val = split_validation(full, data.sequences, cfg, self.scope)
        if not cfg.augment_permutations:
            return train, val
        shared = val is not None and val.x is train.x
        xs, ys, subs, lens, softs, yv = (
            [train.x],
            [train.y],
            [train.subject],
            [train.lengths],
            [train.soft],
            [val.y if shared else None],
        )
        for perm in option_permutations(data.n_options):
            copy = permute_options(data, perm)
            prep = self._prepare(copy, dev)
            prep.soft = self._soft_targets(teacher, copy, dev)
            if validation is None:
                part, _ = split_validation(prep, copy.sequences, cfg, self.scope)
            else:
                part = prep
            xs.append(part.x)
            ys.append(part.y)
            subs.append(part.subject)
            lens.append(part.lengths)
            softs.append(part.soft)
            yv.append(torch.full_like(part.y, -1) if shared else None)
        x = torch.cat(xs)
        soft = None if teacher is None else torch.cat(softs)
        aug = Prepared(x, torch.cat(ys), torch.cat(subs), torch.cat(lens), soft)
        if shared:
            val = Prepared(x, torch.cat(yv), aug.subject, torch.cat([val.lengths] * len(xs)))
        return aug, val

    def _groups(
        self,
        prep: Prepared,
        n_groups: int,
        x: torch.Tensor | None = None,
        per_subject: bool | None = None,
    ) -> GroupData:
        """Flat sequences into groups: one group (pooled) or one per subject."""
        if per_subject is None:
            per_subject = self.scope == "subject"
        if per_subject:
            group = prep.subject.cpu().numpy()
        else:
            group = np.zeros(prep.x.shape[0], dtype=np.int64)
        return to_groups(
            prep.x if x is None else x,
            prep.y,
            prep.subject,
            prep.lengths,
            group,
            n_groups,
            prep.soft,
        )

    def _new_network(self, n_subjects: int, per_subject: bool | None = None) -> ChoiceRNN:
        if per_subject is None:
            per_subject = self.scope == "subject"
        return ChoiceRNN(
            self._n_inputs(),
            self.n_options_,
            self.hidden_size,
            self.cell,
            self.n_layers,
            n_subjects,
            0 if per_subject else self.subject_embedding,
            per_subject=per_subject,
        )

    # ------------------------------------------------------------------ prediction
    def logits(self, data: ChoiceData) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options), float32, detached, on the CPU.

        The logit of trial ``t`` is computed from trials ``< t`` of its sequence only; the
        state restarts at each sequence (subject-session). Subjects the model was not fitted on
        get the mean subject embedding (when the model has embeddings); a per-subject model
        refuses them. On two-step data: the first-stage logits (both: :meth:`stage_logits`).
        """
        out = self._step_logits(data)
        return split_stages(out)[0].contiguous() if self.two_step_ else out

    def stage_logits(self, data: ChoiceData) -> tuple[torch.Tensor, torch.Tensor]:
        """Two-step data: the logits of both stages, each (n_sequences, n_trials, 2).

        The second-stage logits are those of the two options of the state reached, computed
        from the trials before and that state (not from the trial's second choice or reward).
        """
        self.check_fitted()
        if not self.two_step_:
            raise ValueError(f"{self.name} was fitted on single-stage data; use logits()")
        first, second = split_stages(self._step_logits(data))
        return first.contiguous(), second.contiguous()

    def _step_logits(self, data: ChoiceData) -> torch.Tensor:
        """The network's logits at every input step (two per trial on two-step data)."""
        self.check_fitted()
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

    def log_likelihood_tensor(self, data: ChoiceData, **logit_options: Any) -> torch.Tensor:
        """Log-probability of each trial's scored choices, (n_sequences, n_trials); on two-step
        data both stages together (the first only with ``stages="first"``)."""
        if not getattr(self, "two_step_", False) or logit_options:
            return super().log_likelihood_tensor(data, **logit_options)
        first, second = stage_log_likelihoods(*self.stage_logits(data), data.tensors(), self.stages)
        return first + second

    def trial_log_likelihood(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Per observed trial: ``subject, session, trial, choice, log_lik``; on two-step data
        also ``choice2, log_lik_stage1, log_lik_stage2`` (as :class:`~choicernn.TwoStepModel`)."""
        if not getattr(self, "two_step_", False) or logit_options:
            return super().trial_log_likelihood(data, **logit_options)
        ll1, ll2 = stage_log_likelihoods(*self.stage_logits(data), data.tensors(), self.stages)
        return stage_trial_table(data, ll1, ll2)

    def hidden_states(self, data: ChoiceData) -> pd.DataFrame:
        """The network's state on every trial of ``data``, in tidy form.

        The state of trial ``t`` is the one the logits of trial ``t`` are read from: the
        state after reading trials ``< t`` of the sequence (on the first trial, after the
        "nothing before" input from the learned initial state). Missed trials are included.

        Returns
        -------
        pandas.DataFrame
            ``subject, session, trial, layer, unit, state, value``: one row per trial, layer,
            unit and state (``"h"``; an LSTM also has its cell state ``"c"``). On two-step
            data, the state the first-stage logits of the trial are read from.
        """
        self.check_fitted()
        self._check_options(data)
        net = self.network_.eval()
        dev = next(net.parameters()).device
        prep = self._prepare(data, dev)
        with torch.no_grad():
            chunks = [
                net.states(prep.x[r], prep.subject[r])
                for r in torch.arange(prep.x.shape[0], device=dev).split(256)
            ]
        values, labels = [], []  # one (n_rows, H) array per (layer, state)
        for layer in range(self.n_layers):
            parts = [c[layer] for c in chunks]
            kinds = (
                [("h", [p[0] for p in parts]), ("c", [p[1] for p in parts])]
                if (self.cell == "lstm")
                else [("h", parts)]
            )
            for kind, tensors in kinds:
                steps = torch.cat(tensors).cpu()
                if self.two_step_:  # the state the first-stage choice is read from
                    steps = split_stages(steps)[0]
                values.append(data.trial_values(steps))
                labels.append((layer, kind))
        frame = data.to_frame()[["subject", "session", "trial"]]
        n_rows, n_units, n_kinds = len(frame), self.hidden_size, len(labels)
        stacked = np.stack(values, 1).astype(np.float64)  # (n_rows, n_kinds, H)
        out = frame.loc[frame.index.repeat(n_kinds * n_units)].reset_index(drop=True)
        out["layer"] = np.tile(np.repeat([lab[0] for lab in labels], n_units), n_rows)
        out["unit"] = np.tile(np.arange(n_units), n_rows * n_kinds)
        out["state"] = np.tile(np.repeat([lab[1] for lab in labels], n_units), n_rows)
        out["value"] = stacked.reshape(-1)
        return out

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
            With subject embeddings or per-subject networks only: the fitted subject each agent
            takes its embedding (or network) from (a sequence of subject labels, or a table
            with a ``source_subject`` column), used in turn; with embeddings, labels the model
            was not fitted on get the mean embedding. Default: agent ``i`` is fitted subject
            ``i % n_subjects``.
        n_options : int, optional
            Checked against the fitted number of options.

        Returns
        -------
        (agent, params)
            The agent and, with subject embeddings or per-subject networks, a table with the
            ``source_subject`` of every agent (None otherwise).
        """
        self.check_fitted()
        if n_options is not None and n_options != self.n_options_:
            raise ValueError(
                f"{self.name} was fitted with n_options={self.n_options_}, got {n_options}"
            )
        if not isinstance(n_agents, int | np.integer) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        index, table = None, None
        if self.subject_embedding > 0 or self.scope == "subject":
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
            if self.scope == "subject" and bool((index < 0).any()):
                unknown = [s for s in sources if s not in rows]
                raise ValueError(
                    f"{self.name} has one network per fitted subject; {unknown[:5]} are not "
                    f"fitted subjects"
                )
            table = pd.DataFrame({"source_subject": sources})
        elif params is not None:
            raise ValueError(
                f"{self.name} has no per-subject parameters (subject_embedding=0); "
                f"params must be None"
            )
        net = self._new_network(len(self.subjects_))
        net.load_state_dict({k: v.cpu() for k, v in self.network_.state_dict().items()})
        if self.two_step_:
            return TwoStepRNNAgent(net.eval(), self.reward_scale_, index, int(n_agents)), table
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
    def write_fitted(self, folder: Path) -> dict[str, Any]:
        """Write ``weights.pt`` (a plain state dict of CPU tensors) and return the fitted state
        (see :mod:`choicernn.models.network_files`)."""
        state = write_network(self, folder)
        if self.two_step_:  # absent for single-stage data: their model files are unchanged
            state["two_step"] = True
        return state

    def read_fitted(self, folder: Path, fitted: dict[str, Any]) -> None:
        """Restore the state written by :meth:`write_fitted`, validating every entry."""
        two_step = fitted.get("two_step", False)
        if not isinstance(two_step, bool):
            raise ModelFileError(f"{Path(folder) / 'model.json'}: two_step must be true or false")
        self.two_step_ = two_step
        read_network(self, folder, fitted, self._new_network)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> GRUModel:
        """Load a network written by ``model.save(path)`` (see :func:`choicernn.load_model`).

        ``device`` overrides the saved device setting.
        """
        model = load_model(path, device=None if device is None else str(device))
        if not isinstance(model, cls):
            raise ModelFileError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
