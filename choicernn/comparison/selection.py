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
from ..models.base import Capabilities, ChoiceModel, NotFittedError
from ..models.registry import register_model
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
        self.candidates = candidates
        self.folds = folds
        self.by = by
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        if not isinstance(self.candidates, list | tuple) or len(self.candidates) < 1:
            raise ValueError("SelectByCV needs a non-empty list of candidate models")
        bad = [type(m).__name__ for m in self.candidates if not isinstance(m, ChoiceModel)]
        if bad:
            raise TypeError(f"SelectByCV candidates must be choicernn models, got {bad}")
        names = [m.name for m in self.candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"SelectByCV candidates need unique names, got {names}")
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ValueError(f"folds must be an integer >= 2, got {self.folds!r}")
        if self.by not in ("block", "session", "subject"):
            raise ValueError(f"by must be 'block', 'session' or 'subject', got {self.by!r}")

    def capabilities(self) -> Capabilities:
        """Once fitted, those of the chosen model; before, per-subject parameters if any
        candidate has them (the winner is not known yet) and a network when every one is."""
        if self.is_fitted():
            return self.best_.capabilities()
        caps = [m.capabilities() for m in self.candidates]
        return Capabilities(
            per_subject_parameters=any(c.per_subject_parameters for c in caps),
            network=all(c.network for c in caps),
        )

    def is_fitted(self) -> bool:
        return hasattr(self, "best_")

    def fit(self, data: ChoiceData, *, seed: int | None = None) -> SelectByCV:
        """Inner cross-validation of every candidate on ``data``; refit the best; returns ``self``."""
        from .cross_validation import cross_validate, fit_quietly

        with warnings.catch_warnings():  # a failed candidate is recorded in failures_
            warnings.simplefilter("ignore", RuntimeWarning)
            inner = cross_validate(
                self.candidates,
                data,
                folds=self.folds,
                by=self.by,
                seed=seed,
                in_sample=False,
                executor=Executor(on_error="skip"),
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
        self.best_ = fit_quietly(chosen.clone(), data, seed)
        self.n_options_ = data.n_options
        return self

    def _check(self) -> ChoiceModel:
        if not hasattr(self, "best_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(data) first.")
        return self.best_

    def logits(self, data: ChoiceData) -> torch.Tensor:
        """The chosen model's logits."""
        return self._check().logits(data)

    def hidden_states(self, data: ChoiceData) -> pd.DataFrame:
        """The chosen model's hidden states (when it is a network)."""
        return self._check().hidden_states(data)

    def in_sample_table(self) -> pd.DataFrame | None:
        return None

    @property
    def params_(self) -> pd.DataFrame:
        """The chosen model's per-subject parameters (when it has them)."""
        best = self._check()
        if not best.capabilities().parameter_table:
            raise AttributeError(f"{self.name}: the chosen model {best.name!r} has no params_")
        return best.params_

    def write_fitted(self, folder) -> dict[str, Any]:
        from ..models.persistence import table_to_json

        self._check().save(folder / "best")
        return {
            "selected": self.selected_,
            "n_options": int(self.n_options_),
            "selection": table_to_json(self.selection_),
        }

    def read_fitted(self, folder, fitted: dict[str, Any]) -> None:
        from ..models.persistence import ModelFileError, load_model, table_from_json

        best = load_model(folder / "best")
        if best.name != fitted.get("selected") or best.name not in [
            m.name for m in self.candidates
        ]:
            raise ModelFileError(
                f"{folder}: the saved winner {best.name!r} is not the recorded selection "
                f"{fitted.get('selected')!r} among the candidates"
            )
        self.best_ = best
        self.selected_ = best.name
        self.n_options_ = int(fitted["n_options"])
        self.selection_ = table_from_json(fitted.get("selection"), f"{folder}/model.json")
        self.failures_ = pd.DataFrame()

    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ):
        """The chosen model's agent."""
        return self._check().agent(n_agents, seed=seed, params=params, n_options=n_options)


def _select(candidates: list, folds: int = 3, by: str = "block", name: str = "selected"):
    """``type = "select"`` in recipes: candidates are model tables (or models)."""
    from ..models.registry import make_model

    if not isinstance(candidates, list) or not candidates:
        raise ValueError("'candidates' must be a non-empty list of model tables")
    built = [c if isinstance(c, ChoiceModel) else make_model(c) for c in candidates]
    return SelectByCV(built, folds=folds, by=by, name=name)


register_model("select", _select, model_class=SelectByCV)
