"""The batched negative log-likelihood (plus penalty) of many subject-restart problems at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from ..data import SequenceBatch
from .likelihood import sequence_nll
from .parameters import Parameter

if TYPE_CHECKING:
    from ..models.parametric import ParametricModel


class BatchedObjective:
    """``objective(x, index)`` for :func:`~choicernn.fitting.bfgs.minimize_batched`.

    Problem ``i`` owns the sequences with ``sequence_problem == i``; its value is the summed
    negative log-likelihood of those sequences plus ``penalty`` of its parameters. The data of
    the problems being optimised are gathered into a working set that is rebuilt only when the
    active problems shrink well below it, so converged problems stop costing time.
    """

    def __init__(
        self,
        model: ParametricModel,
        parameters: list[Parameter],
        batch: SequenceBatch,
        sequence_problem: torch.Tensor,
        n_problems: int,
        penalty: Callable[[torch.Tensor, dict[str, torch.Tensor]], torch.Tensor] | None = None,
    ) -> None:
        self.model = model
        self.parameters = parameters
        self.batch = batch
        self.sequence_problem = sequence_problem
        self.n_problems = n_problems
        self.penalty = penalty
        self._working: torch.Tensor | None = None
        self.n_evaluations = 0

    def _rebuild(self, index: torch.Tensor) -> None:
        dev = self.sequence_problem.device
        self._working = index.clone()
        self._position = torch.full((self.n_problems,), -1, dtype=torch.long, device=dev)
        self._position[index] = torch.arange(index.numel(), device=dev)
        selected = torch.nonzero(self._position[self.sequence_problem] >= 0).squeeze(1)
        sub = self.batch.select(selected)
        self._prep = self.model._prepare(sub)
        self._local = self._position[self.sequence_problem[selected]]

    def values(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameter values (one (n,) tensor per name) from unconstrained ``x`` (n, P)."""
        return {p.name: p.to_value(x[:, j]) for j, p in enumerate(self.parameters)}

    def nll(self, x_working: torch.Tensor) -> torch.Tensor:
        """Summed NLL of every working-set problem at ``x_working`` (n_working, P)."""
        theta = {k: v[self._local].unsqueeze(-1) for k, v in self.values(x_working).items()}
        per_seq = sequence_nll(
            self.model._forward(theta, self._prep), self._prep["onehot"], self._prep["mask"]
        )
        out = torch.zeros(x_working.shape[0], dtype=per_seq.dtype, device=per_seq.device)
        return out.index_add(0, self._local, per_seq)

    def __call__(self, x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if (
            self._working is None
            or (self._position[index] < 0).any()
            or index.numel() < 0.6 * self._working.numel()
        ):
            self._rebuild(index)
        pos = self._position[index]
        xw = torch.zeros(self._working.numel(), x.shape[1], dtype=x.dtype, device=x.device)
        xw[pos] = x
        xw.requires_grad_(True)
        with torch.enable_grad():
            f = self.nll(xw)
            if self.penalty is not None:
                f = f + self.penalty(xw, self.values(xw))
            f_sel = f[pos]
            (grad,) = torch.autograd.grad(f_sel.sum(), xw)
        self.n_evaluations += 1
        return f_sel.detach(), grad[pos]
