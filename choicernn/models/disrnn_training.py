"""Training :class:`~choicernn.models.disrnn.DisRNNModel` fits as replicas of one network.

A *part* is one fit: one model (already given its data-dependent attributes) with its training
and validation tensors. :meth:`DisRNNModel.fit` trains one part, :meth:`DisRNNModel.fit_many`
(every cross-validation fold at once) several: seed ``i`` of part ``d`` is replica
``d * n_seeds + i`` of one :class:`~choicernn.models.disrnn.DisRNNCore`. Every part keeps what
it has when fitted alone: its replicas' initial weights (from ``replica_seeds(seed, [(i,)])``),
its own mini-batch order and bottleneck-noise generators (noise drawn in the shapes of its own
mini-batch, then padded), its beta warm-up, early stopping per replica and its own choice of the
kept seed. Parts are padded to the most sequences and trials (padding is never counted), so
every part's result equals fitting it alone up to floating-point summation order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..progress import show_progress
from .rnn_replicas import ReplicaAdamW, clip_per_replica, replica_seeds
from .rnn_training import Prepared, TrainingConfig
from .scoring import chosen_log_prob

if TYPE_CHECKING:
    from .disrnn import DisRNNCore, DisRNNModel

#: Share of the epochs over which beta ramps up linearly from 0.
WARMUP_FRACTION = 0.1

Part = tuple[Prepared, Prepared | None]


@dataclass
class Stacked:
    """The tensors of several parts side by side: x (D, S, T, F), y (D, S, T) (-1: not
    counted), subject (D, S) and lengths (D, S) (padding: -1 and 0); per part its number of
    sequences and of counted choices."""

    x: torch.Tensor
    y: torch.Tensor
    subject: torch.Tensor
    lengths: torch.Tensor
    n_sequences: list[int]
    n_choices: torch.Tensor

    @classmethod
    def of(cls, parts: Sequence[Prepared]) -> Stacked:
        n_s = max(p.x.shape[0] for p in parts)
        n_t = max(p.x.shape[1] for p in parts)

        def pad(values: list[torch.Tensor], fill) -> torch.Tensor:
            shape = (n_s, n_t, *values[0].shape[2:])[: values[0].dim()]
            return torch.stack([_pad(v, shape, fill) for v in values])

        dev = parts[0].x.device
        return cls(
            pad([p.x for p in parts], 0),
            pad([p.y for p in parts], -1),
            pad([p.subject for p in parts], -1),
            pad([p.lengths for p in parts], 0),
            [int(p.x.shape[0]) for p in parts],
            torch.tensor([p.n_choices for p in parts], device=dev),
        )


def _pad(t: torch.Tensor, shape: tuple[int, ...], fill=0) -> torch.Tensor:
    """``t`` in the leading corner of a tensor of ``shape`` filled with ``fill``."""
    if tuple(t.shape) == tuple(shape):
        return t
    out = t.new_full(shape, fill)
    out[tuple(slice(0, k) for k in t.shape)] = t
    return out


def _batch_rows(batches: list, k: int, dev) -> torch.Tensor:
    """Rows (D, B) of every part's ``k``-th mini-batch, in its own order (-1: padding; a part
    with fewer mini-batches gets none)."""
    width = max(len(b[k]) for b in batches if k < len(b))
    idx = torch.full((len(batches), width), -1, dtype=torch.long)
    for d, b in enumerate(batches):
        if k < len(b):
            idx[d, : len(b[k])] = b[k]
    return idx.to(dev)


def _noise(core: DisRNNCore, gens, n_seeds: int, sizes: list[int], lengths: list[int], padded):
    """The bottleneck noise of one step: each part's drawn from its own generator in the
    shapes of its own mini-batch (``sizes[d]`` sequences, ``lengths[d]`` trials; none when
    ``sizes[d]`` is 0), as when it is trained alone, then padded to ``padded`` (sequences,
    trials) and put side by side."""
    dev = gens[0].device
    drawn = [
        core.draw_noise(g, n_seeds, n, t) if n > 0 else None
        for g, n, t in zip(gens, sizes, lengths, strict=True)
    ]
    return tuple(
        torch.cat(
            [_pad(b[j], full) if b is not None else torch.zeros(full, device=dev) for b in drawn],
            axis,
        )
        for j, (full, axis) in enumerate(core.noise_shapes(n_seeds, *padded))
    )


def _evaluate(core: DisRNNCore, data: Stacked, fit_of: torch.Tensor):
    """Noise-free summed NLL and KL (R,) of each replica over its part's counted choices."""
    n_r = core.n_replicas
    nll = torch.zeros(n_r, dtype=torch.float64, device=data.x.device)
    kl = torch.zeros_like(nll)
    with torch.no_grad():
        for rows in torch.arange(data.x.shape[1], device=data.x.device).split(256):
            steps = max(int(data.lengths[:, rows].max()), 1)
            y = data.y[:, rows, :steps][fit_of]
            x = data.x[:, rows, :steps][fit_of]
            logits, _, k = core.run(x, core.embed(data.subject[:, rows][fit_of]), with_kl=True)
            nll -= chosen_log_prob(logits, y).double().sum((1, 2))
            kl += torch.where(y >= 0, k, torch.zeros_like(k)).double().sum((1, 2))
    return nll, kl


def train_together(
    models: Sequence[DisRNNModel], parts: Sequence[Part], cfg: TrainingConfig, seed, dev
) -> None:
    """Train every model on its part (all as replicas of one network) and store each one's
    ``network_``, ``history_``, ``seeds_``, ``validation_nll_`` and ``open_latents_``."""
    lead, n_fits, n_seeds = models[0], len(models), int(cfg.n_seeds)
    if len({val is None for _, val in parts}) > 1:
        raise ValueError("fits trained together need validation data in all of them or none")
    n_r, beta = n_fits * n_seeds, float(lead.beta)
    seeds = replica_seeds(seed, [(i,) for i in range(n_seeds)])
    n_subjects = [len(m.subjects_) for m in models]
    core = lead._new_core(n_r, max(n_subjects))
    core.reset_parameters(seeds * n_fits, [max(n, 1) for n in n_subjects for _ in range(n_seeds)])
    core.to(dev)
    params = list(core.parameters())
    opt = ReplicaAdamW(params, float(cfg.lr), float(cfg.weight_decay))
    fit_of = torch.arange(n_fits, device=dev).repeat_interleave(n_seeds)
    train = Stacked.of([t for t, _ in parts])
    val = None if parts[0][1] is None else Stacked.of([v for _, v in parts])
    order_gens = [torch.Generator().manual_seed(seeds[0] ^ 0x5DEECE66D) for _ in models]
    noise_gens = [torch.Generator(device=dev).manual_seed(seeds[0]) for _ in models]
    sizes = [
        n if cfg.batch_size is None else min(int(cfg.batch_size), n) for n in train.n_sequences
    ]
    warm = int(WARMUP_FRACTION * cfg.max_epochs)
    best_state = {n: p.detach().clone() for n, p in core.named_parameters()}
    best = torch.full((n_r,), math.inf, dtype=torch.float64, device=dev)
    best_epoch = torch.full((n_r,), -1, dtype=torch.long, device=dev)
    best_val = torch.full((n_r,), math.nan, dtype=torch.float64, device=dev)
    wait = torch.zeros(n_r, dtype=torch.long, device=dev)
    stopped = torch.zeros(n_r, dtype=torch.bool, device=dev)
    fits = torch.arange(n_fits, device=dev).unsqueeze(1)
    rows: list[list[tuple]] = [[] for _ in models]
    label = f"fit {lead.name}" + (f" ({n_fits} fits)" if n_fits > 1 else "")
    bar = tqdm(total=cfg.max_epochs, desc=label, disable=not show_progress(), leave=False)
    try:
        for epoch in range(cfg.max_epochs):
            beta_e = beta * min(1.0, epoch / warm) if warm > 0 else beta
            active = ~stopped
            on_fits = active.view(n_fits, n_seeds).any(1).tolist()
            batches = [
                torch.randperm(n, generator=g).split(s) if on else ()
                for n, g, s, on in zip(train.n_sequences, order_gens, sizes, on_fits, strict=True)
            ]
            tot_nll = torch.zeros(n_r, dtype=torch.float64, device=dev)
            tot_kl = torch.zeros_like(tot_nll)
            tot_n = torch.zeros(n_fits, dtype=torch.long, device=dev)
            for k in range(max(len(b) for b in batches)):
                batch_rows = _batch_rows(batches, k, dev)
                pad, take = batch_rows < 0, (fits, batch_rows.clamp(min=0))
                lens = train.lengths[take].masked_fill(pad, 0)  # (D, B)
                y = train.y[take].masked_fill(pad.unsqueeze(-1), -1)
                count = (y >= 0).sum((1, 2))  # (D,)
                go = (count > 0).tolist()
                if not any(go):
                    continue
                own = lens.max(1).values.tolist()
                steps = max(own[d] for d in range(n_fits) if go[d])
                sizes_k = [len(b[k]) if on else 0 for b, on in zip(batches, go, strict=True)]
                noise = _noise(core, noise_gens, n_seeds, sizes_k, own, (pad.shape[1], steps))
                y = y[:, :, :steps][fit_of]
                logits, _, kl = core.run(
                    train.x[take][:, :, :steps][fit_of],
                    core.embed(train.subject[take][fit_of]),
                    noise,
                    with_kl=True,
                )
                per = -chosen_log_prob(logits, y)
                kl = torch.where(y >= 0, kl, torch.zeros_like(kl))
                loss = (per.sum((1, 2)) + beta_e * kl.sum((1, 2))) / count[fit_of].clamp(min=1)
                step = active & torch.as_tensor(go, device=dev)[fit_of]
                opt.zero_grad()
                torch.where(step, loss, torch.zeros_like(loss)).sum().backward()
                if cfg.clip is not None:
                    clip_per_replica(params, float(cfg.clip))
                opt.step(step)
                tot_nll += per.detach().double().sum((1, 2))
                tot_kl += kl.detach().double().sum((1, 2))
                tot_n += count
            t_nll = tot_nll / tot_n.clamp(min=1)[fit_of]
            t_kl = tot_kl / tot_n.clamp(min=1)[fit_of]
            if val is not None:
                n_val = val.n_choices.clamp(min=1)[fit_of]
                v_nll, v_kl = (v / n_val for v in _evaluate(core, val, fit_of))
                score = v_nll + beta * v_kl
            else:
                v_nll = v_kl = torch.full_like(t_nll, math.nan)
                score = t_nll + beta * t_kl
            for r in active.nonzero().flatten().tolist():
                values = (float(v[r]) for v in (t_nll, t_kl, v_nll, v_kl))
                rows[r // n_seeds].append((r % n_seeds, epoch, beta_e, *values))
            if epoch >= warm:
                better = active & torch.isfinite(score) & (score < best)
                with torch.no_grad():
                    for n, p in core.named_parameters():
                        on = better.view((-1,) + (1,) * (p.dim() - 1))
                        best_state[n].copy_(torch.where(on, p, best_state[n]))
                best = torch.where(better, score, best)
                best_epoch = torch.where(better, epoch, best_epoch)
                best_val = torch.where(better, v_nll, best_val)
                wait = torch.where(better, 0, wait + 1)
                if val is not None:
                    stopped |= active & (wait >= int(cfg.patience))
            stopped |= active & ~torch.isfinite(score)
            bar.update(1)
            if bool(stopped.all()):
                break
    finally:
        bar.close()
    _store(models, core, best_state, best, best_epoch, best_val, rows, cfg, val is not None)


def _store(models, core, best_state, best, best_epoch, best_val, rows, cfg, has_val) -> None:
    """Each model's kept replica (its best seed), record and seed table."""
    n_seeds = int(cfg.n_seeds)
    best, best_val = best.view(-1, n_seeds).cpu(), best_val.view(-1, n_seeds).cpu()
    best_epoch = best_epoch.view(-1, n_seeds).cpu()
    diverged = [d for d in range(len(models)) if bool((best_epoch[d] < 0).all())]
    if diverged:
        which = f" (fits {diverged})" if len(models) > 1 else ""
        raise FloatingPointError(
            f"{models[0].name}: training diverged (non-finite loss){which}; lower lr (now {cfg.lr})"
        )
    cols = ["seed", "epoch", "beta", "train_nll", "train_kl", "val_nll", "val_kl"]
    for d, model in enumerate(models):
        kept = int(torch.argmin(torch.where(best_epoch[d] >= 0, best[d], math.inf)))
        final = model._new_core(1, len(model.subjects_)).to(next(core.parameters()).device)
        with torch.no_grad():
            for n, p in final.named_parameters():
                value = best_state[n][d * n_seeds + kept].unsqueeze(0)
                p.copy_(value[:, : p.shape[1]] if n == "embedding" else value)
        model.network_ = final.eval()
        model.history_ = pd.DataFrame(rows[d], columns=cols)
        model.seeds_ = pd.DataFrame(
            {
                "seed": np.arange(n_seeds),
                "best_epoch": best_epoch[d].numpy(),
                "objective": best[d].numpy(),
                "val_nll": best_val[d].numpy(),
                "kept": np.arange(n_seeds) == kept,
            }
        )
        model.validation_nll_ = float(best_val[d, kept]) if has_val else None
        model.open_latents_ = model._open_latents()
