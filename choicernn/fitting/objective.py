"""The batched negative log-likelihood (plus penalty) of many subject-restart problems at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from ..data import SequenceBatch
from .likelihood import sequence_nll
from .parameters import Parameter


class LogitModel(Protocol):
    """What the objective needs of a model: two plain functions, nothing else.

    ``prepare(batch)`` turns a :class:`~choicernn.SequenceBatch` into time-major tensors (at
    least ``onehot`` (T, n, K) and ``mask`` (T, n, 1)); ``batched_logits(theta, prepared)``
    gives time-major logits (T, n, K) from parameter values ``theta`` (name -> (n, 1)).
    """

    def prepare(self, batch: SequenceBatch) -> dict[str, torch.Tensor]: ...

    def batched_logits(
        self, theta: dict[str, torch.Tensor], prepared: dict[str, torch.Tensor]
    ) -> torch.Tensor: ...


class BatchedObjective:
    """``objective(x, index)`` for :func:`~choicernn.fitting.bfgs.minimize_batched`.

    Problem ``i`` owns the sequences with ``sequence_problem == i``; its value is the summed
    negative log-likelihood of those sequences plus ``penalty`` of its parameters. The data of
    the problems being optimised are gathered into a working set that is rebuilt only when the
    active problems shrink well below it, so converged problems stop costing time.
    """

    def __init__(
        self,
        model: LogitModel,
        parameters: list[Parameter],
        batch: SequenceBatch,
        sequence_problem: torch.Tensor,
        n_problems: int,
        penalty: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor] | None = None,
        chunk_elements: int = 2_000_000,
    ) -> None:
        self.prepare = model.prepare
        self.batched_logits = model.batched_logits
        self.parameters = parameters
        self.batch = batch
        self.sequence_problem = sequence_problem
        self.n_problems = n_problems
        self.penalty = penalty
        self.chunk_elements = chunk_elements
        self._sets: list = []
        self.n_evaluations = 0

    def _rebuild(self, index: torch.Tensor) -> None:
        """Gather the data of problems ``index`` into a working set (kept with one earlier one)."""
        dev = self.sequence_problem.device
        position = torch.full((self.n_problems,), -1, dtype=torch.long, device=dev)
        position[index] = torch.arange(index.numel(), device=dev)
        selected = torch.nonzero(position[self.sequence_problem] >= 0).squeeze(1)
        # Sequences are processed in chunks small enough for the per-trial tensors to stay in
        # cache: on a CPU the likelihood is bound by memory traffic, not arithmetic.
        per_chunk = max(
            1, self.chunk_elements // max(1, self.batch.n_trials * self.batch.n_options)
        )
        chunks = []
        for part in selected.split(per_chunk):
            sub = self.batch.select(part)
            chunks.append((self.prepare(sub), position[self.sequence_problem[part]]))
        self._sets = [(index.clone(), position, chunks)] + self._sets[:1]
        self._use(0)

    def _use(self, k: int) -> None:
        self._working, self._position, self._chunks = self._sets[k]
        if k:
            self._sets.insert(0, self._sets.pop(k))

    def _select(self, index: torch.Tensor) -> None:
        """Make a working set that holds ``index`` and is not much larger current."""
        for k, (working, position, _) in enumerate(self._sets):
            if (position[index] >= 0).all() and index.numel() >= 0.5 * working.numel():
                self._use(k)
                return
        self._rebuild(index)

    def values(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameter values (one (n,) tensor per name) from unconstrained ``x`` (n, P)."""
        return {p.name: p.to_value(x[:, j]) for j, p in enumerate(self.parameters)}

    def _chunk_nll(self, values, prep, local) -> torch.Tensor:
        theta = {k: v[local].unsqueeze(-1) for k, v in values.items()}
        return sequence_nll(self.batched_logits(theta, prep), prep["onehot"], prep["mask"])

    def nll_all(self, x: torch.Tensor) -> torch.Tensor:
        """Summed NLL (no penalty) of every problem at ``x`` (n_problems, P), without gradient."""
        self._rebuild(torch.arange(self.n_problems, device=x.device))
        with torch.no_grad():
            return self.nll(x)

    def nll(self, x_working: torch.Tensor) -> torch.Tensor:
        """Summed NLL of every working-set problem at ``x_working`` (n_working, P)."""
        values = self.values(x_working)
        out = torch.zeros(x_working.shape[0], dtype=x_working.dtype, device=x_working.device)
        for prep, local in self._chunks:
            out = out.index_add(0, local, self._chunk_nll(values, prep, local))
        return out

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._select(index)
        pos = self._position[index]
        xw = torch.zeros(self._working.numel(), x.shape[1], dtype=x.dtype, device=x.device)
        xw[pos] = x
        requested = torch.zeros(self._working.numel(), dtype=x.dtype, device=x.device)
        requested[pos] = 1.0
        f = torch.zeros(self._working.numel(), dtype=x.dtype, device=x.device)
        grad = torch.zeros_like(xw)
        with torch.enable_grad():
            for prep, local in self._chunks:
                xc = xw.detach().requires_grad_(True)
                part = self._chunk_nll(self.values(xc), prep, local)
                (g,) = torch.autograd.grad((part * requested[local]).sum(), xc)
                f.index_add_(0, local, part.detach())
                grad += g
            if self.penalty is not None:
                xc = xw.detach().requires_grad_(True)
                pen = self.penalty(xc, self.values(xc))
                (g,) = torch.autograd.grad((pen * requested).sum(), xc)
                f += pen.detach()
                grad += g
        self.n_evaluations += 1
        return f[pos], grad[pos]
