"""Recurrent choice networks with a leading replica dimension, trained together.

A *replica* is one independent network: one subject's network, one initialisation (seed) of a
pooled network, one L1 penalty, and later one cross-validation fold. Every weight carries a
leading replica axis ``(R, ...)``; the GRU / LSTM / vanilla RNN cells are written by hand with
batched matrix products over replicas, so that a hundred tiny networks run as one recurrence.

Training (:func:`train_replicas`) sums every replica's mean NLL (plus its own L1 penalty) into
one loss and takes one step of :class:`ReplicaAdamW` for all of them. Replicas share no weight
and AdamW's moments are per parameter, so each replica follows exactly the trajectory it would
follow alone; per-replica gradient clipping, step counts and update masks keep it so when some
replicas stop early (each on its own validation NLL, keeping its own best epoch) or have no
choices in a mini-batch. Each replica's initial weights and mini-batch order come from its own
seed, so a replica's result does not depend on which other replicas train beside it.

Data layout: the training data are *groups* ``(G, S, T, F)`` (G = 1 for a pooled network, one
group per subject for per-subject networks; S sequences per group, padded with empty ones);
replica ``r`` trains on group ``group_of_replica[r]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .scoring import chosen_log_prob

GATES = {"gru": 3, "lstm": 4, "rnn": 1}


class ReplicaRNN(nn.Module):
    """``n_replicas`` independent recurrent networks (cells, learned initial state, readout).

    Parameters (each with leading axis R): per layer ``l`` ``w_ih_l`` (R, inputs, G*H),
    ``w_hh_l`` (R, H, G*H), ``b_ih_l`` and ``b_hh_l`` (R, G*H) with gates in PyTorch's order
    (GRU: reset, update, new; LSTM: input, forget, cell, output); ``h0`` (R, L, H) (and ``c0``
    for an LSTM); ``readout_w`` (R, H, K), ``readout_b`` (R, K); optionally ``embedding``
    (R, n_subjects, E), appended to every trial's input.
    """

    def __init__(
        self,
        n_replicas: int,
        n_inputs: int,
        n_options: int,
        hidden_size: int,
        cell: str = "gru",
        n_layers: int = 1,
        n_subjects: int = 0,
        embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        if cell not in GATES:
            raise ValueError(f"cell must be one of {sorted(GATES)}, got {cell!r}")
        self.cell, self.hidden_size, self.n_layers = cell, hidden_size, n_layers
        self.n_inputs, self.n_options, self.embedding_dim = n_inputs, n_options, embedding_dim
        r, h, g = n_replicas, hidden_size, GATES[cell] * hidden_size
        for layer in range(n_layers):
            n_in = n_inputs + embedding_dim if layer == 0 else h
            self.register_parameter(f"w_ih_{layer}", nn.Parameter(torch.zeros(r, n_in, g)))
            self.register_parameter(f"w_hh_{layer}", nn.Parameter(torch.zeros(r, h, g)))
            self.register_parameter(f"b_ih_{layer}", nn.Parameter(torch.zeros(r, g)))
            self.register_parameter(f"b_hh_{layer}", nn.Parameter(torch.zeros(r, g)))
        self.h0 = nn.Parameter(torch.zeros(r, n_layers, h))
        if cell == "lstm":
            self.c0 = nn.Parameter(torch.zeros(r, n_layers, h))
        self.readout_w = nn.Parameter(torch.zeros(r, h, n_options))
        self.readout_b = nn.Parameter(torch.zeros(r, n_options))
        if embedding_dim > 0:
            self.embedding = nn.Parameter(torch.zeros(r, max(n_subjects, 1), embedding_dim))

    @property
    def n_replicas(self) -> int:
        return int(self.h0.shape[0])

    def penalized(self) -> list[torch.Tensor]:
        """The weights under the L1 penalty: input and recurrent weights of every layer."""
        return [
            getattr(self, f"{kind}_{layer}")
            for layer in range(self.n_layers)
            for kind in ("w_ih", "w_hh")
        ]

    def reset_parameters(self, seeds: list[int], embedding_rows: list[int] | None = None) -> None:
        """Draw replica ``r``'s weights from a generator seeded by ``seeds[r]`` alone.

        Weights and biases: uniform in ``±1/sqrt(H)`` (PyTorch's recurrent and linear
        defaults); initial states zero; embeddings normal with sd 0.01. ``embedding_rows``
        (one per replica) draws only that many embedding rows, exactly as a network with that
        many subjects would, and zeroes the rest (replicas of fits with fewer subjects).
        """
        if len(seeds) != self.n_replicas:
            raise ValueError(f"need {self.n_replicas} seeds, got {len(seeds)}")
        bound = 1.0 / math.sqrt(self.hidden_size)
        names = [n for n, _ in self.named_parameters()]
        with torch.no_grad():
            for r, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                for name in names:
                    p = getattr(self, name)
                    shape = p.shape[1:]
                    if name in ("h0", "c0"):
                        value = torch.zeros(shape)
                    elif name == "embedding":
                        n_rows = shape[0] if embedding_rows is None else int(embedding_rows[r])
                        value = torch.zeros(shape)
                        value[:n_rows] = torch.randn((n_rows, *shape[1:]), generator=gen) * 0.01
                    else:
                        value = (torch.rand(shape, generator=gen) * 2 - 1) * bound
                    p[r] = value.to(p.device, p.dtype)

    def params(self) -> dict[str, torch.Tensor]:
        return dict(self.named_parameters())

    def run(
        self,
        x: torch.Tensor,
        params: dict[str, torch.Tensor] | None = None,
        emb: torch.Tensor | None = None,
        state=None,
        keep_states: bool = False,
    ):
        """Logits (R, S, T, K) from inputs x (R, S, T, F) (R may be 1 and broadcast).

        ``params`` defaults to this module's own (gathered per sequence for scoring);
        ``emb`` (R, S, E) is appended to every trial's input; ``state`` continues from an
        earlier call (a list over layers of ``h`` or ``(h, c)``, each (R, S, H)). Returns
        ``(logits, final_state, states)``: ``states`` (with ``keep_states``) is a list over layers
        of (R, S, T, H) tensors (LSTM: pairs ``(h, c)``), else None.
        """
        p = self.params() if params is None else params
        n_r = p["h0"].shape[0]
        x = x.expand(n_r, *x.shape[1:]) if x.shape[0] == 1 and n_r > 1 else x
        n_s, n_t = x.shape[1], x.shape[2]
        h_size = self.hidden_size
        out, final, kept = x, [], []
        for layer in range(self.n_layers):
            w_ih, w_hh = p[f"w_ih_{layer}"], p[f"w_hh_{layer}"]
            b_ih, b_hh = p[f"b_ih_{layer}"], p[f"b_hh_{layer}"]
            if layer == 0 and self.embedding_dim > 0:
                w_x, w_e = w_ih[:, : self.n_inputs], w_ih[:, self.n_inputs :]
                gi = torch.einsum("rstf,rfg->trsg", out, w_x)
                gi = gi + torch.einsum("rse,reg->rsg", emb, w_e).unsqueeze(0)
            else:
                gi = torch.einsum("rstf,rfg->trsg", out, w_ih)
            gi = gi + b_ih.unsqueeze(1)
            # Time steps by unbind (one backward node; slicing gi[t] would allocate a full-size
            # gradient per step), GRU gates split once.
            if self.cell == "gru":
                gi_rz = gi[..., : 2 * h_size].unbind(0)
                gi_n = gi[..., 2 * h_size :].unbind(0)
            else:
                gi_all = gi.unbind(0)
            b_hh = b_hh.unsqueeze(1)
            if state is None:
                h = p["h0"][:, layer].unsqueeze(1).expand(n_r, n_s, h_size)
                c = p["c0"][:, layer].unsqueeze(1).expand(n_r, n_s, h_size) if "c0" in p else None
            elif self.cell == "lstm":
                h, c = state[layer]
            else:
                h, c = state[layer], None
            hs, cs = [], []
            for t in range(n_t):
                gh = torch.baddbmm(b_hh, h, w_hh)
                if self.cell == "gru":
                    gh_rz, gh_n = gh.split([2 * h_size, h_size], -1)
                    r, z = torch.sigmoid(gi_rz[t] + gh_rz).split(h_size, -1)
                    n = torch.tanh(gi_n[t] + r * gh_n)
                    h = n + z * (h - n)
                elif self.cell == "lstm":
                    a = gi_all[t] + gh
                    i_g, f_g, _, o_g = torch.sigmoid(a).split(h_size, -1)
                    c = f_g * c + i_g * torch.tanh(a[..., 2 * h_size : 3 * h_size])
                    h = o_g * torch.tanh(c)
                    cs.append(c)
                else:
                    h = torch.tanh(gi_all[t] + gh)
                hs.append(h)
            out = torch.stack(hs, 2)
            final.append((h, c) if self.cell == "lstm" else h)
            if keep_states:
                kept.append((out, torch.stack(cs, 2)) if self.cell == "lstm" else out)
        logits = torch.einsum("rsth,rhk->rstk", out, p["readout_w"])
        logits = logits + p["readout_b"][:, None, None, :]
        return logits, final, (kept if keep_states else None)


# ---------------------------------------------------------------------- optimiser
class ReplicaAdamW:
    """AdamW over parameters with a leading replica axis, each replica with its own step count.

    :meth:`step` updates only the replicas in ``active`` (the others keep their weights and
    moments exactly), with the same formula as :class:`torch.optim.AdamW`.
    """

    def __init__(
        self,
        params: list[torch.Tensor],
        lr: float,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        n_r = self.params[0].shape[0]
        dev = self.params[0].device
        self.steps = torch.zeros(n_r, dtype=torch.float64, device=dev)
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        b1, b2 = self.betas
        self.steps += active.to(self.steps.dtype)
        steps = self.steps.clamp(min=1)
        bc1 = (1 - b1**steps).to(self.params[0].dtype)
        bc2_sqrt = (1 - b2**steps).sqrt().to(self.params[0].dtype)
        for p, m, v in zip(self.params, self.m, self.v, strict=True):
            if p.grad is None:
                continue
            shape = (-1,) + (1,) * (p.dim() - 1)
            on = active.view(shape)
            g = p.grad
            m.copy_(torch.where(on, m * b1 + g * (1 - b1), m))
            v.copy_(torch.where(on, v * b2 + g * g * (1 - b2), v))
            denom = v.sqrt() / bc2_sqrt.view(shape) + self.eps
            new = p * (1 - self.lr * self.weight_decay) - (self.lr / bc1.view(shape)) * m / denom
            p.copy_(torch.where(on, new, p))


def clip_per_replica(params: list[torch.Tensor], clip: float) -> None:
    """Scale each replica's gradient to norm at most ``clip`` (replicas independently)."""
    grads = [p.grad for p in params if p.grad is not None]
    sq = sum(g.detach().pow(2).flatten(1).sum(1) for g in grads)
    factor = (clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(factor.view((-1,) + (1,) * (g.dim() - 1)))


# ---------------------------------------------------------------------- data
@dataclass
class GroupData:
    """Sequences by group: x (G, S, T, F), y (G, S, T) with -1 = not counted, subject rows
    (G, S) (-1 on padding), lengths (G, S) to run, soft targets (G, S, T, K) or None."""

    x: torch.Tensor
    y: torch.Tensor
    subject: torch.Tensor
    lengths: torch.Tensor
    soft: torch.Tensor | None = None

    @property
    def n_sequences(self) -> torch.Tensor:
        """Real (non-padding) sequences per group, shape (G,)."""
        return (self.subject >= 0).sum(1)


def to_groups(
    x: torch.Tensor,
    y: torch.Tensor,
    subject: torch.Tensor,
    lengths: torch.Tensor,
    group_of_sequence: np.ndarray,
    n_groups: int,
    soft: torch.Tensor | None = None,
) -> GroupData:
    """Pad flat sequences (N, ...) into groups (G, S, ...), keeping their order within a group."""
    group_of_sequence = np.asarray(group_of_sequence)
    counts = np.bincount(group_of_sequence, minlength=n_groups)
    n_s = max(int(counts.max()), 1)
    slot = np.zeros(len(group_of_sequence), dtype=np.int64)
    seen = np.zeros(n_groups, dtype=np.int64)
    for i, g in enumerate(group_of_sequence):
        slot[i], seen[g] = seen[g], seen[g] + 1
    dev = x.device
    gi = torch.as_tensor(group_of_sequence, device=dev)
    si = torch.as_tensor(slot, device=dev)

    def place(values: torch.Tensor, fill) -> torch.Tensor:
        out = torch.full((n_groups, n_s, *values.shape[1:]), fill, dtype=values.dtype, device=dev)
        out[gi, si] = values
        return out

    return GroupData(
        place(x, 0),
        place(y, -1),
        place(subject, -1),
        place(lengths, 0),
        None if soft is None else place(soft, 0),
    )


def concat_groups(parts: list[GroupData]) -> GroupData:
    """The groups of several fits side by side, ``(G1 + G2 + ..., S, T, ...)``, each padded to
    the most sequences and trials (padding: empty sequences, uncounted trials)."""
    if len(parts) == 1:
        return parts[0]
    n_s = max(p.x.shape[1] for p in parts)
    n_t = max(p.x.shape[2] for p in parts)

    def pad(tensors: list[torch.Tensor], fill, timed: bool) -> torch.Tensor:
        out = []
        for t in tensors:
            shape = (t.shape[0], n_s, n_t, *t.shape[3:]) if timed else (t.shape[0], n_s)
            full = t.new_full(shape, fill)
            if timed:
                full[:, : t.shape[1], : t.shape[2]] = t
            else:
                full[:, : t.shape[1]] = t
            out.append(full)
        return torch.cat(out)

    softs = [p.soft for p in parts]
    if any(s is None for s in softs) and not all(s is None for s in softs):
        raise ValueError("fits trained together need soft targets in all of them or none")
    return GroupData(
        pad([p.x for p in parts], 0, True),
        pad([p.y for p in parts], -1, True),
        pad([p.subject for p in parts], -1, False),
        pad([p.lengths for p in parts], 0, False),
        None if softs[0] is None else pad(softs, 0, True),
    )


# ---------------------------------------------------------------------- training
@dataclass
class ReplicaSettings:
    """Concrete training settings of :func:`train_replicas` (see ``TrainingConfig``)."""

    lr: float
    weight_decay: float
    max_epochs: int
    patience: int
    batch_size: int | None
    clip: float | None


@dataclass
class ReplicaResult:
    """Per replica: the best weights (in the module), best epoch and scores, and the record.

    ``train_nll`` and ``val_nll`` of shape (n_epochs, R) hold each replica's NLL per choice
    after every epoch (NaN once it stopped); ``best_*`` have shape (R,).
    """

    best_epoch: np.ndarray
    best_train: np.ndarray
    best_val: np.ndarray | None
    train_nll: np.ndarray
    val_nll: np.ndarray | None
    n_epochs: np.ndarray

    def take(self, replicas: np.ndarray) -> ReplicaResult:
        """The record of ``replicas`` only (in that order), epochs cut to the last they ran."""
        replicas = np.asarray(replicas)
        last = int(self.n_epochs[replicas].max()) if len(replicas) else 0
        return ReplicaResult(
            best_epoch=self.best_epoch[replicas],
            best_train=self.best_train[replicas],
            best_val=None if self.best_val is None else self.best_val[replicas],
            train_nll=self.train_nll[:last, replicas],
            val_nll=None if self.val_nll is None else self.val_nll[:last, replicas],
            n_epochs=self.n_epochs[replicas],
        )


def _batch_nll(logits, y, soft):
    """Summed NLL per replica (R,) and counted choices per replica (R,)."""
    count = (y >= 0).sum((1, 2))
    if soft is None:
        nll = -chosen_log_prob(logits, y).sum((1, 2))
    else:
        logp = torch.log_softmax(logits, -1)
        per = -(soft * logp).sum(-1)
        nll = torch.where(y >= 0, per, torch.zeros_like(per)).sum((1, 2))
    return nll, count


def train_replicas(
    net: ReplicaRNN,
    train: GroupData,
    val: GroupData | None,
    group_of_replica: torch.Tensor,
    seeds: list[int],
    settings: ReplicaSettings,
    l1: torch.Tensor | float = 0.0,
    progress: bool = False,
    label: str = "fit",
    penalty: Callable[[], torch.Tensor] | None = None,
) -> ReplicaResult:
    """Train every replica of ``net`` (already initialised) on its group; restores best epochs.

    ``l1`` is one penalty or one per replica (R,). ``penalty``, when given, is called at every
    step and returns a further term per replica (R,) added to its loss (e.g. a prior on
    subject embeddings, :func:`gaussian_prior`, or toward a pooled network's weights,
    :func:`anchor_prior`); like ``l1`` it counts in the loss, not in the recorded NLL. Early
    stopping is on each replica's validation NLL (hard choices of ``val``); without ``val``
    every replica trains
    ``max_epochs`` and keeps its best training epoch. When ``val`` shares its inputs with
    ``train`` (held-out trial blocks of the same sequences) and every step takes all of a
    replica's sequences, one forward pass gives both the training loss and the validation NLL
    of the current weights.
    """
    dev = group_of_replica.device
    n_r = net.n_replicas
    params = [p for _, p in net.named_parameters()]
    opt = ReplicaAdamW(params, settings.lr, settings.weight_decay)
    l1 = torch.as_tensor(l1, dtype=params[0].dtype, device=dev).expand(n_r)
    use_l1 = bool((l1 > 0).any())
    g_of_r = group_of_replica
    x_r = train.x[g_of_r]  # (R, S, T, F)
    y_r, soft_r = train.y[g_of_r], None if train.soft is None else train.soft[g_of_r]
    subj_r = train.subject[g_of_r]
    n_seq = train.n_sequences[g_of_r]  # real sequences per replica
    n_s = x_r.shape[1]
    full_batch = settings.batch_size is None or settings.batch_size >= int(n_seq.max())
    fused = full_batch and val is not None and val.x is train.x
    if val is not None:
        yv_r, subj_v = val.y[g_of_r], val.subject[g_of_r]
        xv_r = x_r if fused else val.x[g_of_r]
        val_count = (yv_r >= 0).sum((1, 2))
        no_val = val_count == 0
        if bool(no_val.all()):
            raise ValueError(
                "no network has a validation choice; every subject needs held-out choices "
                "for early stopping (split='blocks' gives each one)"
            )
        if bool(no_val.any()):
            import warnings

            warnings.warn(
                f"{label}: {int(no_val.sum())} network(s) have no validation choice (a subject "
                f"who missed almost every trial); they keep the epoch with the lowest training "
                f"NLL and train for max_epochs",
                TrainingWarning,
                stacklevel=3,
            )
    else:
        no_val = None
    train_count = (y_r >= 0).sum((1, 2))
    if (train_count == 0).any():
        raise ValueError("some networks have no observed choice left to train on")
    gens = [torch.Generator().manual_seed(int(s) ^ 0x5DEECE66D) for s in seeds]
    emb_dim = net.embedding_dim
    rows = torch.arange(n_r, device=dev)

    def embed(subj: torch.Tensor) -> torch.Tensor | None:
        if emb_dim == 0:
            return None
        return net.embedding[rows.unsqueeze(1), subj.clamp(min=0)]

    def forward(x, subj, steps):
        logits, _, _ = net.run(x[:, :, :steps], emb=embed(subj))
        return logits

    def l1_term():
        return l1 * sum(w.abs().flatten(1).sum(1) for w in net.penalized())

    def penalised(loss_r):
        if use_l1:
            loss_r = loss_r + l1_term()
        if penalty is not None:
            loss_r = loss_r + penalty()
        return loss_r

    best_state = {n: p.detach().clone() for n, p in net.named_parameters()}
    best_score = torch.full((n_r,), math.inf, dtype=torch.float64, device=dev)
    best_epoch = torch.full((n_r,), -1, dtype=torch.long, device=dev)
    best_train = torch.full((n_r,), math.nan, dtype=torch.float64, device=dev)
    best_val = torch.full((n_r,), math.nan, dtype=torch.float64, device=dev)
    wait = torch.zeros(n_r, dtype=torch.long, device=dev)
    stopped = torch.zeros(n_r, dtype=torch.bool, device=dev)
    hist_train = np.full((settings.max_epochs, n_r), np.nan)
    hist_val = None if val is None else np.full((settings.max_epochs, n_r), np.nan)
    n_epochs = np.zeros(n_r, dtype=np.int64)
    t_train = int(train.lengths.max())
    t_val = None if val is None else int(val.lengths.max())
    bar = tqdm(total=settings.max_epochs, desc=label, disable=not progress, leave=False)

    def record(epoch, train_nll, val_nll):
        nonlocal best_score
        active = ~stopped
        hist_train[epoch, active.cpu().numpy()] = train_nll[active].cpu().numpy()
        if val_nll is not None:
            hist_val[epoch, active.cpu().numpy()] = val_nll[active].cpu().numpy()
        n_epochs[active.cpu().numpy()] = epoch + 1
        if val_nll is None:
            score = train_nll
        else:  # networks without validation choices are judged on their training NLL
            score = torch.where(no_val, train_nll, val_nll)
        better = active & torch.isfinite(score) & (score < best_score)
        with torch.no_grad():
            for n, p in net.named_parameters():
                on = better.view((-1,) + (1,) * (p.dim() - 1))
                best_state[n].copy_(torch.where(on, p, best_state[n]))
        best_score = torch.where(better, score, best_score)
        best_epoch.copy_(torch.where(better, epoch, best_epoch))
        best_train.copy_(torch.where(better, train_nll, best_train))
        if val_nll is not None:
            best_val.copy_(torch.where(better, val_nll, best_val))
        wait.copy_(torch.where(better, 0, wait + 1))
        if val_nll is not None:
            stopped.copy_(stopped | (active & (wait >= settings.patience) & ~no_val))
        stopped.copy_(stopped | (active & ~torch.isfinite(score)))

    def step(loss_r, active):
        loss = torch.where(active, loss_r, torch.zeros_like(loss_r)).sum()
        opt.zero_grad()
        loss.backward()
        if settings.clip is not None:
            clip_per_replica(params, settings.clip)
        opt.step(active)

    def train_epoch(active):
        """One epoch of steps for the ``active`` replicas; their summed training NLL (R,)."""
        total = torch.zeros(n_r, dtype=torch.float64, device=dev)
        if full_batch:
            batches = [None]
        else:
            size = int(settings.batch_size)
            perms = []
            for r in range(n_r):
                perm = torch.randperm(int(n_seq[r]), generator=gens[r])
                padded = torch.full((n_s,), -1, dtype=torch.long)
                padded[: len(perm)] = perm
                perms.append(padded)
            order = torch.stack(perms).to(dev)
            n_steps = math.ceil(int(n_seq.max()) / size)
            batches = [order[:, i * size : (i + 1) * size] for i in range(n_steps)]
        for idx in batches:
            if idx is None:
                xb, yb, sb, softb, tb = x_r, y_r, subj_r, soft_r, t_train
            else:
                pad = idx < 0
                take = (rows.unsqueeze(1), idx.clamp(min=0))
                xb = x_r[take]
                yb = y_r[take].masked_fill(pad.unsqueeze(-1), -1)
                sb = subj_r[take]
                softb = None if soft_r is None else soft_r[take]
                lens = train.lengths[g_of_r][take].masked_fill(pad, 0)
                tb = max(int(lens.max()), 1)
            logits = forward(xb, sb, tb)
            nll, count = _batch_nll(
                logits, yb[:, :, :tb], None if softb is None else softb[:, :, :tb]
            )
            if softb is not None:
                with torch.no_grad():
                    total += _batch_nll(logits.detach(), yb[:, :, :tb], None)[0].double()
            else:
                total += nll.detach().double()
            loss_r = penalised(nll / count.clamp(min=1))
            step(loss_r, active & (count > 0))
        return total

    last_train = torch.full((n_r,), math.nan, dtype=torch.float64, device=dev)
    try:
        for epoch in range(settings.max_epochs):
            if fused:
                t_all = max(t_train, t_val)
                logits = forward(x_r, subj_r, t_all)
                soft_t = None if soft_r is None else soft_r[:, :, :t_all]
                nll, count = _batch_nll(logits, y_r[:, :, :t_all], soft_t)
                with torch.no_grad():
                    v_nll, v_count = _batch_nll(logits.detach(), yv_r[:, :, :t_all], None)
                    hard = nll.detach()
                    if soft_t is not None:  # record the NLL of the real training choices
                        hard = _batch_nll(logits.detach(), y_r[:, :, :t_all], None)[0]
                train_nll = (hard / count.clamp(min=1)).double()
                record(epoch, train_nll, (v_nll / v_count.clamp(min=1)).double())
                active = ~stopped
                bar.update(1)
                if not bool(active.any()):
                    break
                step(penalised(nll / count.clamp(min=1)), active)
                continue
            # Mini-batches, or validation on separate sequences. With validation, the weights
            # after `epoch` epochs are scored first (as in the fused pass), so that both paths
            # take the same steps and record the same epochs.
            if val is not None:
                with torch.no_grad():
                    logits = forward(xv_r, subj_v, t_val)
                    v_nll, v_count = _batch_nll(logits, yv_r[:, :, :t_val], None)
                record(epoch, last_train, (v_nll / v_count.clamp(min=1)).double())
                if not bool((~stopped).any()):
                    bar.update(1)
                    break
            total = train_epoch(~stopped)
            last_train = total / train_count.double()
            if val is None:
                record(epoch, last_train, None)
            bar.update(1)
    finally:
        bar.close()
    if bool((best_epoch < 0).any()):
        bad = (best_epoch < 0).nonzero().flatten().tolist()
        raise FloatingPointError(
            f"training diverged (non-finite NLL from the first epoch) for networks {bad[:5]}; "
            f"lower lr (now {settings.lr}) or set clip"
        )
    with torch.no_grad():
        for n, p in net.named_parameters():
            p.copy_(best_state[n])
    _warn_if_still_improving(best_epoch, settings, val is not None, label)
    last = int(n_epochs.max())
    return ReplicaResult(
        best_epoch=best_epoch.cpu().numpy(),
        best_train=best_train.cpu().numpy(),
        best_val=None if val is None else best_val.cpu().numpy(),
        train_nll=hist_train[:last],
        val_nll=None if hist_val is None else hist_val[:last],
        n_epochs=n_epochs,
    )


class TrainingWarning(UserWarning):
    """Training ended in a way that makes the result suspect (e.g. still improving)."""


def _warn_if_still_improving(best_epoch, settings: ReplicaSettings, has_val: bool, label: str):
    """Warn when networks kept their last epoch as the best one: training stopped at
    ``max_epochs`` while the validation NLL was still falling, so more epochs would help."""
    if not has_val or settings.max_epochs < 10:
        return
    last = best_epoch >= settings.max_epochs - 1
    if bool(last.any()):
        import warnings

        warnings.warn(
            f"{label}: {int(last.sum())} of {len(best_epoch)} network(s) were still improving "
            f"on validation at max_epochs={settings.max_epochs}; raise "
            f"TrainingConfig(max_epochs=...) (the result is undertrained)",
            TrainingWarning,
            stacklevel=4,
        )


def gaussian_prior(
    weight: torch.Tensor, sd: float, n_choices: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """A zero-mean Gaussian prior on ``weight`` (R, ...): ``sum(w**2) / (2 sd**2)`` per
    replica, divided by its training choices ``n_choices`` (R,) (the loss is an NLL per choice).
    """
    scale = 1.0 / (2.0 * float(sd) ** 2 * n_choices.clamp(min=1).to(weight.dtype))

    def term() -> torch.Tensor:
        return scale * weight.pow(2).flatten(1).sum(1)

    return term


def anchor_prior(
    net: ReplicaRNN, anchor: dict[str, torch.Tensor], sd: float, n_choices: torch.Tensor
) -> Callable[[], torch.Tensor]:
    """A Gaussian prior of sd ``sd`` around ``anchor`` (name -> tensor broadcastable to the
    parameter, e.g. a pooled network's weights (1, ...)) on every weight of every replica,
    ``sum((w - anchor)**2) / (2 sd**2)`` divided by the replica's training choices (R,)."""
    names = [n for n in anchor if n != "embedding"]
    dtype = net.h0.dtype
    scale = 1.0 / (2.0 * float(sd) ** 2 * n_choices.clamp(min=1).to(dtype))

    def term() -> torch.Tensor:
        total = sum((getattr(net, n) - anchor[n]).pow(2).flatten(1).sum(1) for n in names)
        return scale * total

    return term


def replica_seeds(seed: int | None, keys: list[tuple[int, ...]]) -> list[int]:
    """One 63-bit seed per replica from the fit's ``seed`` and the replica's key.

    A replica's seed depends only on ``seed`` and its own key (e.g. ``(seed_index,
    subject_hash)``), never on the other replicas.
    """
    base = np.random.SeedSequence().entropy if seed is None else int(seed)
    out = []
    for key in keys:
        ss = np.random.SeedSequence([base, *[int(k) for k in key]])
        out.append(int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    return out
