"""Training several :class:`~choicernn.GRUModel` fits as one batched recurrence.

A *part* is one fit: one model (already given its data-dependent attributes) with its training
and validation tensors; cross-validation hands every fold of a network model to
:meth:`GRUModel.fit_many`, which trains all of them here at once. Every part contributes its
groups (one for a pooled network, one per subject for per-subject networks) to one
:class:`~choicernn.models.rnn_replicas.GroupData`, and every seed of every group is one replica
of one :class:`~choicernn.models.rnn_replicas.ReplicaRNN`, replica ``i * n_groups + g`` for seed
``i`` and group ``g`` (the groups of part 0 first). A replica's initial weights and mini-batch
order come from its own seed, the same one it gets when its part is fitted alone, and replicas
share no weight and stop early each on its own validation NLL, so every part's result equals
fitting it alone (up to floating-point summation order on padded tensors).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from ..progress import show_progress
from .rnn_replicas import (
    GroupData,
    ReplicaResult,
    ReplicaRNN,
    anchor_prior,
    concat_groups,
    gaussian_prior,
    replica_seeds,
    train_replicas,
)
from .rnn_training import Prepared, TrainingConfig

if TYPE_CHECKING:
    from .gru import GRUModel

#: Replica key of the pooled stage of ``init="pooled"`` (apart from the per-subject keys).
POOLED_STAGE_KEY = 0x900_1ED

Part = tuple[Prepared, Prepared | None]


@dataclass
class Layout:
    """Where each part's groups sit among all groups: ``sizes[d]`` groups from ``offsets[d]``."""

    sizes: list[int]
    offsets: list[int]
    n_seeds: int

    @property
    def n_groups(self) -> int:
        return sum(self.sizes)

    def groups(self, part: int) -> np.ndarray:
        return self.offsets[part] + np.arange(self.sizes[part])

    def replicas(self, part: int) -> np.ndarray:
        """The part's replicas, seed-major (as if the part were trained alone)."""
        return np.concatenate([s * self.n_groups + self.groups(part) for s in range(self.n_seeds)])

    def part_of_group(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.sizes)), self.sizes)


@dataclass
class EngineRun:
    """One batched training: the replicas, their record, the kept seed of every group, and
    the training and validation choices counted per group."""

    net: ReplicaRNN
    result: ReplicaResult
    kept: np.ndarray
    layout: Layout
    train_counts: np.ndarray
    val_counts: np.ndarray | None

    def chosen(self, part: int) -> np.ndarray:
        """The kept replica of every group of ``part``."""
        groups = self.layout.groups(part)
        return self.kept[groups] * self.layout.n_groups + groups


def train_together(
    models: Sequence[GRUModel], parts: Sequence[Part], cfg: TrainingConfig, seed, dev
) -> None:
    """Train every model on its part (all as replicas of one recurrence) and store each one's
    fitted network, ``history_``, ``seeds_`` and validation NLLs."""
    lead = models[0]
    anchors = None
    for model in models:
        model.pooled_validation_nll_ = None
    if lead.init == "pooled":
        base = lead.training if lead.training is not None else TrainingConfig()
        pooled_cfg = base.resolve(lead.hidden_size, "pooled")
        run = engine(models, parts, pooled_cfg, seed, dev, per_subject=False)
        anchors = []
        for d, model in enumerate(models):
            chosen = run.chosen(d)
            model.pooled_network_ = model._new_network(len(model.subjects_), per_subject=False).to(
                dev
            )
            copy_replicas(run.net, model.pooled_network_, chosen)
            model.pooled_network_.eval()
            if run.result.best_val is not None:
                model.pooled_validation_nll_ = float(run.result.best_val[int(chosen[0])])
            anchors.append({k: v[chosen].detach().clone() for k, v in run.net.named_parameters()})
    per_subject = lead.scope == "subject"
    run = engine(models, parts, cfg, seed, dev, per_subject=per_subject, anchors=anchors)
    for d, model in enumerate(models):
        final = model._new_network(len(model.subjects_)).to(dev)
        copy_replicas(run.net, final, run.chosen(d))
        model.network_ = final.eval()
        groups = run.layout.groups(d)
        record(
            model,
            run.result.take(run.layout.replicas(d)),
            int(cfg.n_seeds),
            run.kept[groups],
            run.train_counts[groups],
            None if run.val_counts is None else run.val_counts[groups],
        )


def copy_replicas(net: ReplicaRNN, final, chosen: np.ndarray) -> None:
    """Copy replicas ``chosen`` of ``net`` into the fitted network ``final`` (a ChoiceRNN)."""
    dev = next(final.parameters()).device
    index = torch.as_tensor(chosen, device=dev)
    with torch.no_grad():
        for name, p in final.core.named_parameters():
            value = getattr(net, name)[index]
            if name == "embedding":  # the part's own subjects (others are padding)
                value = value[:, : p.shape[1]]
            p.copy_(value)


def engine(
    models: Sequence[GRUModel],
    parts: Sequence[Part],
    cfg: TrainingConfig,
    seed,
    dev,
    per_subject: bool,
    anchors: list[dict[str, torch.Tensor]] | None = None,
) -> EngineRun:
    """Train ``cfg.n_seeds`` pooled networks, or per-subject networks, for every part, as
    replicas of one recurrence, optionally started from and drawn toward each part's
    ``anchors`` (its pooled network's weights, one tensor (1, ...) per name)."""
    lead = models[0]
    n_seeds = int(cfg.n_seeds)
    sizes = [len(m.subjects_) if per_subject else 1 for m in models]
    layout = Layout(sizes, [int(o) for o in np.cumsum([0, *sizes[:-1]])], n_seeds)
    train_g, val_g = _group_data(models, parts, sizes, per_subject)
    part_of_group = layout.part_of_group()
    stage = (POOLED_STAGE_KEY,) if lead.scope == "subject" and not per_subject else ()
    keys: list[tuple[int, ...]] = []
    for i in range(n_seeds):
        for model in models:
            if per_subject:
                keys += [(i, subject_key(s)) for s in model.subjects_]
            else:
                keys.append((*stage, i))
    group_of_replica = np.tile(np.arange(layout.n_groups), n_seeds)
    seeds = replica_seeds(seed, keys)
    embedding = 0 if per_subject else lead.subject_embedding
    n_subjects = max(len(m.subjects_) for m in models)
    net = ReplicaRNN(
        len(keys),
        lead._n_inputs(),
        lead.n_options_,
        lead.hidden_size,
        lead.cell,
        lead.n_layers,
        n_subjects,
        embedding,
    )
    rows = [len(models[part_of_group[g]].subjects_) for g in group_of_replica]
    net.reset_parameters(seeds, embedding_rows=rows if embedding > 0 else None)
    net.to(dev)
    g_of_r = torch.as_tensor(group_of_replica, device=dev)
    n_train = (train_g.y >= 0).sum((1, 2))[g_of_r]
    penalty = None
    if anchors is not None:
        # each replica's anchor: its group's pooled weights (groups of a part are its subjects)
        anchor = {
            name: torch.cat([anchors[part_of_group[g]][name] for g in group_of_replica])
            for name in anchors[0]
        }
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(anchor[name])
        penalty = anchor_prior(net, anchor, float(cfg.pooled_sd), n_train)
    elif embedding > 0 and cfg.embedding_sd is not None:
        penalty = gaussian_prior(net.embedding, float(cfg.embedding_sd), n_train)
    label = f"fit {lead.name}" + (" (pooled stage)" if stage else "")
    label += f" ({len(models)} fits)" if len(models) > 1 else ""
    result = train_replicas(
        net,
        train_g,
        val_g,
        g_of_r,
        seeds,
        cfg.engine_settings(),
        l1=float(cfg.l1),
        progress=show_progress(),
        label=label,
        penalty=penalty,
    )
    score = result.best_train if result.best_val is None else result.best_val
    score = score.reshape(n_seeds, layout.n_groups)
    kept = np.argmin(np.where(np.isfinite(score), score, np.inf), axis=0)  # seed per group
    train_counts = (train_g.y >= 0).sum((1, 2)).cpu().numpy()
    val_counts = None if val_g is None else (val_g.y >= 0).sum((1, 2)).cpu().numpy()
    return EngineRun(net, result, kept, layout, train_counts, val_counts)


def subject_key(label: Any) -> int:
    """A stable 32-bit key of a subject label (the same in every process and data set)."""
    if isinstance(label, np.generic):
        label = label.item()
    text = f"i:{label}" if isinstance(label, int) else f"s:{label}"
    return zlib.crc32(text.encode())


def _group_data(models, parts, sizes, per_subject):
    """Training and validation groups of every part, side by side."""
    has_val = [val is not None for _, val in parts]
    if any(has_val) and not all(has_val):
        raise ValueError("fits trained together need validation data in all of them or none")
    shared = all(val is not None and val.x is train.x for train, val in parts)
    train_parts, val_parts = [], []
    for model, (train, val), n in zip(models, parts, sizes, strict=True):
        groups = model._groups(train, n, per_subject=per_subject)
        train_parts.append(groups)
        if val is None:
            continue
        if shared:  # trial blocks: the same inputs (one forward pass for both)
            held = model._groups(val, n, val.x, per_subject=per_subject)
            val_parts.append(GroupData(groups.x, held.y, held.subject, held.lengths))
        else:
            val_parts.append(model._groups(val, n, per_subject=per_subject))
    train_g = concat_groups(train_parts)
    if not val_parts:
        return train_g, None
    val_g = concat_groups(val_parts)
    if shared:
        val_g = GroupData(train_g.x, val_g.y, val_g.subject, val_g.lengths)
    return train_g, val_g


def record(
    model: GRUModel,
    result: ReplicaResult,
    n_seeds: int,
    kept: np.ndarray,
    train_counts: np.ndarray,
    val_counts: np.ndarray | None,
) -> None:
    """``history_``, ``seeds_`` and ``validation_nll_`` of one fit from its replicas' record
    (``result`` restricted to them, seed-major; counts per group)."""
    n_groups = len(kept)
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
    if model.scope == "subject":
        table.insert(0, "subject", [model.subjects_[g] for g in group_of])
        model.history_ = _subject_history(result, n_seeds, n_groups, train_counts, val_counts)
        if has_val:
            best = result.best_val.reshape(n_seeds, n_groups)[kept, np.arange(n_groups)]
            model.validation_nll_ = float((best * val_counts).sum() / val_counts.sum())
        else:
            model.validation_nll_ = None
    else:
        rows = []
        for s in range(n_seeds):
            for e in range(int(result.n_epochs[s])):
                v = result.val_nll[e, s] if has_val else None
                rows.append((s, e, float(result.train_nll[e, s]), None if v is None else float(v)))
        model.history_ = pd.DataFrame(rows, columns=["seed", "epoch", "train_nll", "val_nll"])
        model.validation_nll_ = float(result.best_val[int(kept[0])]) if has_val else None
    model.seeds_ = table


def _subject_history(result, n_seeds, n_groups, train_counts, val_counts) -> pd.DataFrame:
    """Per seed and epoch, the NLL per choice over all subjects' current networks."""
    has_val = result.val_nll is not None
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
            v = None if v_nll[e] is None else float(v_nll[e])
            rows.append((s, e, float(t_nll[e]), v, int(training[e])))
    return pd.DataFrame(rows, columns=["seed", "epoch", "train_nll", "val_nll", "n_training"])
