"""Several data sets' subjects fitted as one batch (``ParametricModel.fit_many``).

Cross-validation fits a per-subject model once per fold; every fold's subjects are independent
minimisations, so the folds can share one batched BFGS (:mod:`choicernn.fitting.bfgs`), which
spends most of its time on per-trial overhead that a larger batch shares. :class:`StackedData`
puts the subjects of every data set side by side (subject ``j`` of data set ``d`` is problem
subject ``offsets[d] + j``) with each data set's own starting points, and :func:`part_of`
takes one data set's share of the batched result back out, so each fit equals fitting that
data set alone (the same starting points, restarts, retirements and optimum; up to
floating-point summation order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..data import ChoiceData, SequenceBatch
from ..fitting.bfgs import BatchedResult


class StackedData:
    """The subjects of ``datasets`` side by side, as fitting reads data (``n_subjects``,
    ``n_options``, ``n_trials``, ``tensors``); sequences padded to the longest."""

    def __init__(self, datasets: Sequence[ChoiceData]) -> None:
        self.parts = list(datasets)
        sizes = [d.n_subjects for d in self.parts]
        self.offsets = [int(o) for o in np.cumsum([0, *sizes[:-1]])]
        self.sizes = sizes
        self.n_subjects = int(sum(sizes))
        self.n_options = self.parts[0].n_options
        self.n_trials = int(sum(d.n_trials for d in self.parts))
        self._cache: dict = {}

    def tensors(
        self, device: torch.device | str | None = None, dtype: torch.dtype = torch.float64
    ) -> SequenceBatch:
        key = (str(device), dtype)
        if key not in self._cache:
            batches = [d.tensors(device, dtype) for d in self.parts]
            n_t = max(b.n_trials for b in batches)

            def cat(name: str, fill) -> torch.Tensor | None:
                values = [getattr(b, name) for b in batches]
                if values[0] is None:
                    return None
                padded = []
                for v in values:
                    extra = n_t - v.shape[1]
                    pad = (0, 0, 0, extra) if v.dim() == 3 else (0, extra)
                    padded.append(F.pad(v, pad, value=fill))
                return torch.cat(padded)

            subject = torch.cat(
                [b.subject_index + off for b, off in zip(batches, self.offsets, strict=True)]
            )
            self._cache[key] = SequenceBatch(
                choices=cat("choices", -1),
                rewards=cat("rewards", 0.0),
                mask=cat("mask", False),
                lengths=torch.cat([b.lengths for b in batches]),
                subject_index=subject,
                n_options=self.n_options,
                outcomes=cat("outcomes", 0.0),
                states=cat("states", -1),
                choices2=cat("choices2", -1),
            )
        return self._cache[key]

    def starting_points(self, per_part: Sequence[torch.Tensor], n_restarts: int) -> torch.Tensor:
        """Each data set's own starting points (restart-major (n_restarts * n_d, P)) placed
        into the stacked problem order (restart-major over all subjects)."""
        blocks = [x.reshape(n_restarts, n, -1) for x, n in zip(per_part, self.sizes, strict=True)]
        return torch.cat(blocks, 1).reshape(n_restarts * self.n_subjects, -1)

    def part_of(self, result: BatchedResult, extra: dict[str, Any], part: int):
        """Data set ``part``'s share of a stacked fit: ``(result, extra)`` as its own fit
        would return them (restart-major problems, ``.nll`` (n_restarts, n_d), standard errors
        of its subjects)."""
        off, n = self.offsets[part], self.sizes[part]
        n_restarts = result.x.shape[0] // self.n_subjects
        rows = (
            torch.arange(n_restarts, device=result.x.device).unsqueeze(1) * self.n_subjects
            + off
            + torch.arange(n, device=result.x.device)
        ).reshape(-1)
        own = replace(
            result,
            x=result.x[rows],
            fun=result.fun[rows],
            grad=result.grad[rows],
            converged=result.converged[rows],
            n_iter=result.n_iter[rows],
        )
        own.nll = result.nll[:, off : off + n]
        mine: dict[str, Any] = {}
        for key, value in extra.items():
            if key == "_standard_errors":
                mine[key] = {name: v[off : off + n] for name, v in value.items()}
            else:
                mine[key] = value
        return own, mine
