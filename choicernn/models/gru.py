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
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from ..progress import show_progress
from .base import Capabilities, ChoiceModel, resolve_device
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
from .rnn_replicas import (
    GroupData,
    ReplicaRNN,
    anchor_prior,
    gaussian_prior,
    replica_seeds,
    to_groups,
    train_replicas,
)
from .rnn_training import InitKind, Prepared, TrainingConfig, split_kind, split_validation

ScopeKind = Literal["pooled", "subject"]
#: Replica key of the pooled stage of ``init="pooled"`` (apart from the per-subject keys).
POOLED_STAGE_KEY = 0x900_1ED


def subject_key(label: Any) -> int:
    """A stable 32-bit key of a subject label (the same in every process and data set)."""
    if isinstance(label, np.generic):
        label = label.item()
    text = f"i:{label}" if isinstance(label, int) else f"s:{label}"
    return zlib.crc32(text.encode())


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
        batch = data.tensors(dev, torch.float32)
        x = sequence_inputs(batch, self.inputs, self.uses_outcomes_, self.reward_scale_)
        rows = {s: i for i, s in enumerate(self.subjects_)}
        index = [rows.get(s, -1) for s in data.sequences["subject"]]
        if self.scope == "subject" and min(index, default=0) < 0:
            unknown = [s for s, i in zip(data.sequences["subject"], index, strict=True) if i < 0]
            raise ValueError(
                f"{self.name} has one network per fitted subject; subjects "
                f"{list(dict.fromkeys(unknown))[:5]} were not in its training data"
            )
        subject = torch.tensor(index, dtype=torch.long, device=dev)
        return Prepared(x, batch.choices, subject, batch.lengths.clone())

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
        batch = data.tensors()
        scale = float(batch.rewards[batch.mask].abs().max()) if data.n_choices else 0.0
        self.n_options_ = data.n_options
        self.subjects_ = list(data.subjects)
        self.reward_scale_ = scale if scale > 0 else 1.0
        self.uses_outcomes_ = bool(data.has_outcomes and self.inputs == "reward")
        self.training_ = cfg
        teacher = None
        if self.teacher is not None:
            teacher = self.teacher.clone()
            if validation is None and isinstance(teacher, GRUModel):
                taught = teacher.training if teacher.training is not None else TrainingConfig()
                if taught.split == "auto":  # never train the teacher on our held-out choices
                    kind = split_kind(data.sequences, cfg, self.scope)
                    teacher.set_params(
                        training=replace(
                            taught,
                            split=kind,
                            validation_fraction=cfg.validation_fraction,
                            validation_block=cfg.validation_block,
                        )
                    )
            extra = {} if validation is None else {"validation": validation}
            teacher.fit(data, seed=seed, **extra)
            self.teacher_ = teacher
        try:
            train, val = self._training_tensors(data, validation, teacher, cfg, dev)
            self._train(train, val, cfg, seed, dev)
        except BaseException:
            del self.n_options_  # not fitted after a failed fit
            raise
        return self

    def _soft_targets(self, teacher: ChoiceModel | None, data: ChoiceData, dev) -> Any:
        if teacher is None:
            return None
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

    def _train(self, train: Prepared, val: Prepared | None, cfg, seed, dev) -> None:
        n_subjects = len(self.subjects_)
        anchor = None
        self.pooled_validation_nll_ = None
        if self.init == "pooled":
            base = self.training if self.training is not None else TrainingConfig()
            pooled_cfg = base.resolve(self.hidden_size, "pooled")
            net, result, kept, _, _ = self._engine(
                train, val, pooled_cfg, seed, dev, per_subject=False
            )
            anchor = {k: v.detach().clone() for k, v in net.named_parameters()}
            self.pooled_network_ = self._new_network(n_subjects, per_subject=False).to(dev)
            self._copy_replicas(net, self.pooled_network_, kept, 1)
            self.pooled_network_.eval()
            if result.best_val is not None:
                self.pooled_validation_nll_ = float(result.best_val[int(kept[0])])
            anchor = {k: v[int(kept[0])].unsqueeze(0) for k, v in anchor.items()}
        net, result, kept, train_g, val_g = self._engine(
            train, val, cfg, seed, dev, per_subject=self.scope == "subject", anchor=anchor
        )
        n_groups = n_subjects if self.scope == "subject" else 1
        final = self._new_network(n_subjects).to(dev)
        self._copy_replicas(net, final, kept, n_groups)
        self.network_ = final.eval()
        self._record(result, int(cfg.n_seeds), n_groups, kept, val_g, train_g)

    @staticmethod
    def _copy_replicas(net: ReplicaRNN, final: ChoiceRNN, kept: np.ndarray, n_groups: int):
        """Copy the kept seed's replica of every group into ``final``."""
        dev = next(final.parameters()).device
        chosen = torch.as_tensor(kept * n_groups + np.arange(n_groups), device=dev)
        with torch.no_grad():
            for name, p in final.core.named_parameters():
                p.copy_(getattr(net, name)[chosen])

    def _engine(self, train, val, cfg, seed, dev, per_subject: bool, anchor=None):
        """Train ``cfg.n_seeds`` pooled networks or per-subject networks (one replica each
        per seed), optionally started from and drawn toward ``anchor`` (pooled weights).

        Returns ``(net, result, kept, train_groups, val_groups)``; ``kept`` is the kept seed
        of every group.
        """
        n_subjects = len(self.subjects_)
        n_groups = n_subjects if per_subject else 1
        n_seeds = int(cfg.n_seeds)
        train_g = self._groups(train, n_groups, per_subject=per_subject)
        val_g = None
        if val is not None:
            if val.x is train.x:  # trial blocks: the same inputs (one forward pass for both)
                shared = self._groups(val, n_groups, val.x, per_subject=per_subject)
                val_g = GroupData(train_g.x, shared.y, shared.subject, shared.lengths)
            else:
                val_g = self._groups(val, n_groups, per_subject=per_subject)
        if per_subject:
            keys = [(i, subject_key(s)) for i in range(n_seeds) for s in self.subjects_]
            group_of_replica = [g for _ in range(n_seeds) for g in range(n_groups)]
        else:
            stage = (POOLED_STAGE_KEY,) if self.scope == "subject" else ()
            keys = [(*stage, i) for i in range(n_seeds)]
            group_of_replica = [0] * n_seeds
        seeds = replica_seeds(seed, keys)
        n_in = n_features(self.n_options_, self.inputs, self.uses_outcomes_)
        embedding = 0 if per_subject else self.subject_embedding
        stage_of_subject = self.scope == "subject" and not per_subject
        net = ReplicaRNN(
            len(keys),
            n_in,
            self.n_options_,
            self.hidden_size,
            self.cell,
            self.n_layers,
            n_subjects,
            embedding,
        )
        net.reset_parameters(seeds)
        net.to(dev)
        g_of_r = torch.as_tensor(group_of_replica, device=dev)
        n_train = (train_g.y >= 0).sum((1, 2))[g_of_r]
        penalty = None
        if anchor is not None:
            with torch.no_grad():
                for name, p in net.named_parameters():
                    p.copy_(anchor[name].expand_as(p))
            penalty = anchor_prior(net, anchor, float(cfg.pooled_sd), n_train)
        elif embedding > 0 and cfg.embedding_sd is not None:
            penalty = gaussian_prior(net.embedding, float(cfg.embedding_sd), n_train)
        result = train_replicas(
            net,
            train_g,
            val_g,
            g_of_r,
            seeds,
            cfg.engine_settings(),
            l1=float(cfg.l1),
            progress=show_progress(),
            label=f"fit {self.name}" + (" (pooled stage)" if stage_of_subject else ""),
            penalty=penalty,
        )
        score = result.best_train if result.best_val is None else result.best_val
        score = score.reshape(n_seeds, n_groups)
        kept = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=0)  # seed per group
        return net, result, kept, train_g, val_g

    def _record(self, result, n_seeds, n_groups, kept, val_g, train_g) -> None:
        """``history_``, ``seeds_`` and ``validation_nll_`` from the engine's record."""
        has_val = result.val_nll is not None
        seed_of = np.repeat(np.arange(n_seeds), n_groups)
        group_of = np.tile(np.arange(n_groups), n_seeds)
        table = pd.DataFrame(
            {
                "seed": seed_of,
                "best_epoch": result.best_epoch.astype(np.int64),
                "train_nll": result.best_train,
                "val_nll": result.best_val if has_val else np.full(len(seed_of), np.nan),
                "kept": kept[group_of] == seed_of,
            }
        )
        if not has_val:
            table["val_nll"] = None
        val_counts = None
        if has_val:
            val_counts = (val_g.y >= 0).sum((1, 2)).cpu().numpy()
        if self.scope == "subject":
            table.insert(0, "subject", [self.subjects_[g] for g in group_of])
            train_counts = (train_g.y >= 0).sum((1, 2)).cpu().numpy()
            rows = []
            for s in range(n_seeds):
                cols = slice(s * n_groups, (s + 1) * n_groups)
                tr = pd.DataFrame(result.train_nll[:, cols]).ffill().to_numpy()
                t_nll = (tr * train_counts).sum(1) / train_counts.sum()
                if has_val:
                    va = pd.DataFrame(result.val_nll[:, cols]).ffill().to_numpy()
                    v_nll = (va * val_counts).sum(1) / val_counts.sum()
                else:
                    v_nll = [None] * len(t_nll)
                alive = result.val_nll if has_val else result.train_nll
                training = np.isfinite(alive[:, cols]).sum(1)
                for e in range(len(t_nll)):
                    if training[e] == 0:
                        break
                    rows.append(
                        (
                            s,
                            e,
                            float(t_nll[e]),
                            None if v_nll[e] is None else float(v_nll[e]),
                            int(training[e]),
                        )
                    )
            self.history_ = pd.DataFrame(
                rows, columns=["seed", "epoch", "train_nll", "val_nll", "n_training"]
            )
            if has_val:
                best = result.best_val.reshape(n_seeds, n_groups)[kept, np.arange(n_groups)]
                self.validation_nll_ = float((best * val_counts).sum() / val_counts.sum())
            else:
                self.validation_nll_ = None
        else:
            rows = []
            for s in range(n_seeds):
                for e in range(int(result.n_epochs[s])):
                    v = result.val_nll[e, s] if has_val else None
                    rows.append(
                        (s, e, float(result.train_nll[e, s]), None if v is None else float(v))
                    )
            self.history_ = pd.DataFrame(rows, columns=["seed", "epoch", "train_nll", "val_nll"])
            self.validation_nll_ = float(result.best_val[int(kept[0])]) if has_val else None
        self.seeds_ = table

    def _new_network(self, n_subjects: int, per_subject: bool | None = None) -> ChoiceRNN:
        if per_subject is None:
            per_subject = self.scope == "subject"
        n_in = n_features(self.n_options_, self.inputs, self.uses_outcomes_)
        return ChoiceRNN(
            n_in,
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
        refuses them.
        """
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

    def hidden_states(self, data: ChoiceData) -> pd.DataFrame:
        """The network's state on every trial of ``data``, in tidy form.

        The state of trial ``t`` is the one the logits of trial ``t`` are read from: the
        state after reading trials ``< t`` of the sequence (on the first trial, after the
        "nothing before" input from the learned initial state). Missed trials are included.

        Returns
        -------
        pandas.DataFrame
            ``subject, session, trial, layer, unit, state, value``: one row per trial, layer,
            unit and state (``"h"``; an LSTM also has its cell state ``"c"``).
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
                values.append(data.trial_values(torch.cat(tensors).cpu()))
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
        return write_network(self, folder)

    def read_fitted(self, folder: Path, fitted: dict[str, Any]) -> None:
        """Restore the state written by :meth:`write_fitted`, validating every entry."""
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
