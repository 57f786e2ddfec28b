"""Model selection inside a fit: the inner loop of nested cross-validation.

:class:`SelectByCV` is itself a model. Its ``fit`` cross-validates each candidate on the data it
is given (the outer training fold), keeps the candidate with the lowest held-out NLL per choice
and refits it on all of that data. Passed to :func:`~choicernn.cross_validate`, it gives nested
cross-validation: hyper-parameters (GRU size, weight decay, ...) are chosen without ever seeing
the outer test fold.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch

from ..data import ChoiceData
from ..execution import Executor
from ..models.base import ChoiceModel, NotFittedError
from .folds import FoldScheme


class SelectByCV(ChoiceModel):
    """Choose among candidate models by inner cross-validation, then refit the winner.

    Parameters
    ----------
    candidates : sequence of ChoiceModel
        Unfitted models with unique names (e.g. GRUs of several sizes or weight decays).
    folds : int
        Inner folds.
    by : {"block", "session", "subject"}
        Inner fold scheme.
    name : str
        Label in result tables.

    Attributes
    ----------
    selected_ : str
        Name of the chosen candidate.
    selection_ : pandas.DataFrame
        ``model, nll_per_trial`` of every candidate that finished the inner cross-validation.
    failures_ : pandas.DataFrame
        Candidates' inner units that failed (e.g. a diverging network); such a candidate is not
        chosen, and an error is raised only when every candidate failed.
    best_ : ChoiceModel
        The chosen candidate refitted on all the data given to ``fit``.

    Examples
    --------
    >>> sizes = [cr.GRUModel(hidden_size=h) for h in (2, 8, 32)]          # doctest: +SKIP
    >>> cv = cr.cross_validate([SelectByCV(sizes, name="gru_nested")], data)   # doctest: +SKIP
    """

    def __init__(
        self,
        candidates: Sequence[ChoiceModel],
        folds: int = 3,
        by: FoldScheme = "block",
        name: str = "selected",
    ) -> None:
        self.candidates = list(candidates)
        self.folds = folds
        self.by = by
        self.name = name
        if len(self.candidates) < 1:
            raise ValueError("SelectByCV needs at least one candidate model")

    def fit(
        self,
        data: ChoiceData,
        *,
        seed: int | None = 0,
        progress: bool | None = False,
        device: str | None = "auto",
    ) -> SelectByCV:
        """Inner cross-validation of every candidate on ``data``; refit the best; returns ``self``."""
        from .cross_validation import _fit, cross_validate

        with warnings.catch_warnings():  # a failed candidate is recorded in failures_
            warnings.simplefilter("ignore", RuntimeWarning)
            inner = cross_validate(
                self.candidates,
                data,
                folds=self.folds,
                by=self.by,
                seed=seed,
                in_sample=False,
                device=device,
                executor=Executor(on_error="skip"),
                progress=progress,
            )
        self.failures_ = inner.failures
        if not inner.models:
            raise RuntimeError(
                f"{self.name}: every candidate failed in the inner cross-validation:\n"
                + "\n".join(
                    f"  {u}: {m}" for u, m in zip(inner.failures["unit"], inner.failures["message"])
                )
            )
        complete = inner.trials[inner.trials["model"].isin(inner.models)]
        pooled = complete.groupby("model", sort=False)["log_lik"].agg(["sum", "size"])
        self.selection_ = pd.DataFrame(
            {"model": pooled.index, "nll_per_trial": (-pooled["sum"] / pooled["size"]).to_numpy()}
        )
        self.selected_ = str(self.selection_.sort_values("nll_per_trial")["model"].iloc[0])
        chosen = next(m for m in self.candidates if m.name == self.selected_)
        self.best_ = _fit(chosen.clone(), data, seed, device, {})
        self.n_options_ = data.n_options
        return self

    def _check(self) -> ChoiceModel:
        if not hasattr(self, "best_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(data) first.")
        return self.best_

    def logits(self, data: ChoiceData, **options: Any) -> torch.Tensor:
        """The chosen model's logits."""
        return self._check().logits(data, **options)

    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ):
        """The chosen model's agent."""
        return self._check().agent(n_agents, seed=seed, params=params, n_options=n_options)

    def get_params(self) -> dict[str, Any]:
        return {
            "candidates": [m.clone() for m in self.candidates],
            "folds": self.folds,
            "by": self.by,
            "name": self.name,
        }
