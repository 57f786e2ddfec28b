"""Cross-validated predictive likelihood of many models on the same folds of a ChoiceData."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data import ChoiceData
from ..io import write_csv_atomic
from ..models.base import ChoiceModel
from ..models.parametric import ParametricModel, show_progress
from .folds import FoldScheme, make_folds

TRIAL_COLUMNS = [
    "model",
    "fold",
    "subject",
    "session",
    "trial",
    "choice",
    "log_lik",
    "p_choice",
    "correct",
]


@dataclass
class CrossValidationResult:
    """Held-out predictions of several models on the same folds.

    Attributes
    ----------
    trials : pandas.DataFrame
        One row per model and held-out observed choice: ``model, fold, subject, session, trial,
        choice, log_lik`` (log-probability of the choice), ``p_choice`` (its probability),
        ``correct`` (1 if the choice had the highest predicted probability; 1/n when n options
        tie).
    table : pandas.DataFrame
        Per model, fold and subject: ``model, fold, subject, nll, n_trials, nll_per_trial,
        normalized_lik`` (``exp(-nll / n_trials)``), ``accuracy``.
    in_sample : pandas.DataFrame or None
        Per model and subject, for per-subject parametric models fitted to all the data:
        ``model, subject, nll, n_trials, n_params, aic, bic``.
    models : list of str
    by : str
    n_folds : int
    seed : int or None
    fitted : dict
        ``(model name, fold) -> fitted model`` for the units computed in this run, and
        ``(model name, "all")`` for the in-sample fits of per-subject models.
    """

    trials: pd.DataFrame
    table: pd.DataFrame
    in_sample: pd.DataFrame | None
    models: list[str]
    by: str
    n_folds: int
    seed: int | None
    fitted: dict = field(default_factory=dict, repr=False)

    def subject_table(self) -> pd.DataFrame:
        """Per model and subject, summed over folds: ``model, subject, nll, n_trials,
        nll_per_trial, normalized_lik, accuracy``."""
        t = self.trials
        out = (
            t.groupby(["model", "subject"], sort=False)
            .agg(
                nll=("log_lik", lambda x: -x.sum()),
                n_trials=("log_lik", "size"),
                accuracy=("correct", "mean"),
            )
            .reset_index()
        )
        out["nll_per_trial"] = out["nll"] / out["n_trials"]
        out["normalized_lik"] = np.exp(-out["nll_per_trial"])
        return out[
            ["model", "subject", "nll", "n_trials", "nll_per_trial", "normalized_lik", "accuracy"]
        ]

    def summary(self) -> pd.DataFrame:
        """Per-model comparison, best first; see :func:`choicernn.comparison.compare_subjects`.

        Adds ``accuracy`` (mean over subjects) and, where available, in-sample ``aic`` and
        ``bic`` (summed over subjects).
        """
        from .statistics import compare_subjects

        subjects = self.subject_table()
        out = compare_subjects(subjects)
        out["accuracy"] = subjects.groupby("model")["accuracy"].mean().reindex(out.index)
        if self.in_sample is not None:
            ic = self.in_sample.groupby("model")[["aic", "bic"]].sum()
            out = out.join(ic, how="left")
        return out

    def bms(self, **options: Any):
        """Random-effects Bayesian model selection on per-subject held-out log-likelihoods."""
        from .bms import bms

        evidence = -self.subject_table().pivot(index="subject", columns="model", values="nll")
        return bms(evidence[self.models], **options)

    def plot(self, kind: str = "paired", ax=None, metric: str = "nll_per_trial"):
        """``kind="paired"``: per-subject held-out likelihood per model with paired lines and
        mean ± CI; ``kind="difference"``: paired differences to the best model. Returns the Axes."""
        from .. import plots

        if kind == "paired":
            return plots.plot_model_comparison(self.subject_table(), metric=metric, ax=ax)
        if kind == "difference":
            return plots.plot_difference_to_best(self.subject_table(), metric=metric, ax=ax)
        raise ValueError(f"kind must be 'paired' or 'difference', got {kind!r}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _unit_key(model, fit_options, folds, by, seed, test_sessions) -> str:
    """Short hash of everything that decides a unit's result, so a changed recipe is recomputed."""
    spec = repr(
        (
            repr(model),
            sorted((fit_options.get(model.name) or {}).items()),
            folds,
            by,
            seed,
            None if test_sessions is None else list(test_sessions),
        )
    )
    return hashlib.sha1(spec.encode()).hexdigest()[:10]


def _fit(model: ChoiceModel, data: ChoiceData, seed, device, options: dict) -> ChoiceModel:
    accepted = inspect.signature(model.fit).parameters
    kwargs = {k: v for k, v in options.items() if k in accepted or "options" in accepted}
    if "seed" in accepted:
        kwargs.setdefault("seed", seed)
    if "progress" in accepted:
        kwargs.setdefault("progress", False)
    if "device" in accepted and device is not None:
        kwargs.setdefault("device", device)
    return model.fit(data, **kwargs)


def held_out_trials(model: ChoiceModel, test: ChoiceData) -> pd.DataFrame:
    """Per observed test choice: ``subject, session, trial, choice, log_lik, p_choice, correct``."""
    logits = model.logits(test).to(torch.float64)
    logp = torch.log_softmax(logits, -1)
    batch = test.tensors()
    chosen = logp.gather(-1, batch.choices.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    top = logits == logits.amax(-1, keepdim=True)
    hit = top.gather(-1, batch.choices.clamp(min=0).unsqueeze(-1)).squeeze(-1).to(torch.float64)
    correct = hit / top.sum(-1).to(torch.float64)
    table = test.to_frame()
    observed = table["choice"].notna().to_numpy()
    out = table.loc[observed, ["subject", "session", "trial", "choice"]].reset_index(drop=True)
    ll = test.trial_values(chosen)[observed]
    out["log_lik"] = ll
    out["p_choice"] = np.exp(ll)
    out["correct"] = test.trial_values(correct)[observed]
    return out


def cross_validate(
    models: Sequence[ChoiceModel],
    data: ChoiceData,
    folds: int = 5,
    by: FoldScheme = "block",
    seed: int | None = 0,
    *,
    fit_options: dict[str, dict[str, Any]] | None = None,
    test_sessions: Sequence | None = None,
    in_sample: bool = True,
    device: str | None = "auto",
    cache_dir: str | Path | None = None,
    progress: bool | None = None,
) -> CrossValidationResult:
    """Fit every model on the training part of every fold and score it on the held-out part.

    Parameters
    ----------
    models : sequence of ChoiceModel
        Unfitted models (each is cloned per fold); their ``name`` must be unique.
    data : ChoiceData
    folds : int
    by : {"block", "session", "subject"}
        What is held out; see :func:`choicernn.comparison.folds.make_folds`. Per-subject models
        (Q-learning, heuristics) cannot predict unseen subjects, so ``"subject"`` is for pooled
        networks only.
    seed : int or None
        Seeds the folds (session and subject schemes) and every fit.
    fit_options : dict, optional
        Model name -> extra keyword arguments for its ``fit`` (e.g. ``{"rw": {"n_restarts": 20}}``).
    test_sessions : sequence, optional
        One fixed split instead of folds: these session labels are held out for every subject.
    in_sample : bool
        Also fit the per-subject parametric models to all the data for AIC/BIC.
    device : str, optional
        Passed to the fits that take one (``"auto"``: CUDA when present).
    cache_dir : path, optional
        Each finished (model, fold) unit is saved there as a CSV (written atomically) and loaded
        instead of recomputed when the call is repeated, so an interrupted study resumes. The
        file name carries a hash of the model's settings, its fit options and the fold scheme,
        so a changed model or scheme is recomputed rather than read from a stale file.
    progress : bool or None
        Progress bar over units (default: when standard error is a terminal).

    Returns
    -------
    CrossValidationResult
        ``.table`` (per model, fold and subject), ``.trials``, ``.summary()``, ``.bms()``, ``.plot()``.
    """
    models = list(models)
    if not models:
        raise ValueError("models is empty")
    names = [m.name for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(
            f"model names must be unique; repeated: {dup}. Pass name= to tell them apart."
        )
    if by == "subject":
        per_subject = [m.name for m in models if isinstance(m, ParametricModel)]
        if per_subject:
            raise ValueError(
                f"by='subject' holds out whole subjects, which per-subject models "
                f"{per_subject} cannot predict; use by='block' or by='session'."
            )
    fit_options = fit_options or {}
    unknown = set(fit_options) - set(names)
    if unknown:
        raise ValueError(f"fit_options names unknown models {sorted(unknown)}; models are {names}")
    fold_list = make_folds(data, folds, by, seed, test_sessions)
    cache = Path(cache_dir) if cache_dir is not None else None
    pieces, fitted = [], {}
    units = [(m, f) for f in fold_list for m in models]
    bar = tqdm(units, desc="cross-validation", disable=not show_progress(progress))
    for model, fold in bar:
        bar.set_postfix(model=model.name, fold=fold.index)
        path = (
            cache
            / f"{_safe(model.name)}__fold{fold.index}__{_unit_key(model, fit_options, folds, by, seed, test_sessions)}.csv"
            if cache
            else None
        )
        if path is not None and path.exists():
            trials = pd.read_csv(path)
            trials["subject"] = trials["subject"].astype(data.to_frame()["subject"].dtype)
        else:
            fit = _fit(model.clone(), fold.train, seed, device, fit_options.get(model.name, {}))
            fitted[(model.name, fold.index)] = fit
            trials = held_out_trials(fit, fold.test)
            trials.insert(0, "fold", fold.index)
            trials.insert(0, "model", model.name)
            if path is not None:
                write_csv_atomic(trials, path)
        pieces.append(trials[TRIAL_COLUMNS])
    trials = pd.concat(pieces, ignore_index=True)
    table = (
        trials.groupby(["model", "fold", "subject"], sort=False)
        .agg(
            nll=("log_lik", lambda x: -x.sum()),
            n_trials=("log_lik", "size"),
            accuracy=("correct", "mean"),
        )
        .reset_index()
    )
    table["nll_per_trial"] = table["nll"] / table["n_trials"]
    table["normalized_lik"] = np.exp(-table["nll_per_trial"])
    table = table[
        [
            "model",
            "fold",
            "subject",
            "nll",
            "n_trials",
            "nll_per_trial",
            "normalized_lik",
            "accuracy",
        ]
    ]
    ic = None
    if in_sample:
        rows = []
        for model in models:
            if isinstance(model, ParametricModel):
                fit = _fit(model.clone(), data, seed, device, fit_options.get(model.name, {}))
                fitted[(model.name, "all")] = fit
                rows.append(
                    fit.results_[["model", "subject", "nll", "n_trials", "n_params", "aic", "bic"]]
                )
        ic = pd.concat(rows, ignore_index=True) if rows else None
    return CrossValidationResult(trials, table, ic, names, by, len(fold_list), seed, fitted)
