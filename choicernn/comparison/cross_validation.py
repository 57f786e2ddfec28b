"""Cross-validated predictive likelihood of many models on the same folds of a ChoiceData."""

from __future__ import annotations

import hashlib
import inspect
import pickle
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from ..execution import Executor, UnitsFailedError, as_executor, failure_table
from ..io import write_bytes_atomic, write_csv_atomic
from ..models.base import ChoiceModel
from ..models.parametric import ParametricModel, show_progress
from .folds import Fold, FoldScheme, fold_from_labels, fold_labels, make_folds

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
        Models with a result on every fold (all of them unless units failed); the comparisons
        (``summary``, ``bms``, ``plot``) use these only, while ``trials`` and ``table`` keep
        every finished unit.
    by : str
    n_folds : int
    seed : int or None
    fitted : dict
        ``(model name, fold) -> fitted model`` for the units computed in this run, and
        ``(model name, "all")`` for the in-sample fits of per-subject models.
    failures : pandas.DataFrame
        Units that failed and were skipped (``Executor(on_error="skip")``): ``unit, kind,
        error, message, attempts, traceback``; empty when every unit finished.
    timings : pandas.DataFrame or None
        Per unit computed in this run: ``unit, worker`` (host:pid), ``start`` (Unix time),
        ``seconds`` (time in the worker), to see where a study's time goes.
    """

    trials: pd.DataFrame
    table: pd.DataFrame
    in_sample: pd.DataFrame | None
    models: list[str]
    by: str
    n_folds: int
    seed: int | None
    fitted: dict = field(default_factory=dict, repr=False)
    failures: pd.DataFrame = field(default_factory=lambda: failure_table([]), repr=False)
    timings: pd.DataFrame | None = field(default=None, repr=False)

    def subject_table(self) -> pd.DataFrame:
        """Per model and subject, summed over folds: ``model, subject, nll, n_trials,
        nll_per_trial, normalized_lik, accuracy``; only models with every fold (``models``)."""
        return score_table(
            self.trials[self.trials["model"].isin(self.models)], ["model", "subject"]
        )

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


def score_table(trials: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Held-out trials summed per ``keys``: ``keys..., nll, n_trials, nll_per_trial,
    normalized_lik`` (``exp(-nll / n_trials)``), ``accuracy``."""
    out = (
        trials.groupby(keys, sort=False)
        .agg(
            log_lik=("log_lik", "sum"),
            n_trials=("log_lik", "size"),
            accuracy=("correct", "mean"),
        )
        .reset_index()
    )
    out["nll"] = -out.pop("log_lik")
    out["nll_per_trial"] = out["nll"] / out["n_trials"]
    out["normalized_lik"] = np.exp(-out["nll_per_trial"])
    return out[[*keys, "nll", "n_trials", "nll_per_trial", "normalized_lik", "accuracy"]]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def data_fingerprint(data: ChoiceData) -> str:
    """Short hash of a data set's trials, so cached units of other data are never reused."""
    frame = data.to_frame()
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    spec = repr((list(frame.columns), data.n_options)).encode()
    return hashlib.sha1(spec + hashed.tobytes()).hexdigest()[:10]


def _unit_key(model, fit_options, folds, by, seed, test_sessions, data_key: str) -> str:
    """Short hash of everything that decides a unit's result, so a changed recipe is recomputed."""
    spec = repr(
        (
            repr(model),
            sorted((fit_options.get(model.name) or {}).items()),
            folds,
            by,
            seed,
            None if test_sessions is None else list(test_sessions),
            data_key,
        )
    )
    return hashlib.sha1(spec.encode()).hexdigest()[:10]


def _fit(model: ChoiceModel, data: ChoiceData, seed, device, options: dict) -> ChoiceModel:
    """``model.fit(data, ...)`` with the study's seed, quietly, on its device.

    ``seed`` also reaches a ``fit(data, **options)`` that forwards to its parent; ``progress``
    and ``device`` only a ``fit`` that names them.
    """
    params = inspect.signature(model.fit).parameters
    forwards = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in options.items() if k in params or forwards}
    if "seed" in params or forwards:
        kwargs.setdefault("seed", seed)
    if "progress" in params:
        kwargs.setdefault("progress", False)
    if "device" in params and device is not None:
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


@dataclass
class _Study:
    """What every unit of one cross-validation shares; sent to each worker once.

    The folds travel as one label per trial (drawn once, here), so every worker holds out
    exactly the trials the calling process drew, whatever the seed (``None`` included).
    """

    data: ChoiceData
    labels: np.ndarray | None
    test_sessions: list | None
    seed: int | None
    fit_options: dict
    device: str | None
    _folds: dict = field(default_factory=dict, repr=False)

    def fold(self, index: int) -> Fold:
        if index not in self._folds:  # built once per worker
            if self.labels is None:
                self._folds[index] = make_folds(self.data, test_sessions=self.test_sessions)[0]
            else:
                self._folds[index] = fold_from_labels(self.data, self.labels, index)
        return self._folds[index]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_folds"] = {}  # workers rebuild their folds from the labels
        return state


@dataclass(frozen=True)
class _Unit:
    """One fit: a model on the training part of a fold, or on all the data (``fold="all"``)."""

    model: ChoiceModel
    fold: int | str

    @property
    def label(self) -> str:
        return f"model={self.model.name} fold={self.fold}"


def run_unit(study: _Study, unit: _Unit) -> tuple[ChoiceModel, pd.DataFrame | None]:
    """Fit one unit and score its held-out trials (``None`` for an in-sample fit)."""
    options = study.fit_options.get(unit.model.name, {})
    if unit.fold == "all":
        fit = _fit(unit.model.clone(), study.data, study.seed, study.device, options)
        nll = fit.results_["nll"].to_numpy(dtype=float)
        if not np.isfinite(nll).all():
            bad = fit.results_["subject"].to_numpy()[~np.isfinite(nll)]
            raise FloatingPointError(
                f"model {unit.model.name!r} fitted to all the data gave a non-finite NLL for "
                f"subject(s) {[str(b) for b in bad[:5]]} ({len(bad)} in all)"
            )
        return fit, None
    fold = study.fold(int(unit.fold))
    fit = _fit(unit.model.clone(), fold.train, study.seed, study.device, options)
    trials = held_out_trials(fit, fold.test)
    bad = ~np.isfinite(trials["log_lik"].to_numpy())
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        subject, session, trial = (trials[c].iloc[first] for c in ("subject", "session", "trial"))
        raise FloatingPointError(
            f"model {unit.model.name!r} gave a non-finite held-out log-likelihood "
            f"({float(trials['log_lik'].iloc[first])}) on fold {unit.fold}, subject "
            f"{str(subject)!r}, session {str(session)!r}, trial {int(trial)} "
            f"({int(bad.sum())} trial(s) in all)"
        )
    trials.insert(0, "fold", unit.fold)
    trials.insert(0, "model", unit.model.name)
    return fit, trials


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
    executor: Executor | str | None = None,
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
        Each finished (model, fold) unit is saved there as a CSV, and each in-sample fit as a
        pickle of the fitted model (both written atomically, as soon as they finish), and
        loaded instead of recomputed when the call is repeated, so an interrupted or partly
        failed study resumes. The file name carries a hash of the model's settings, its fit
        options, the seed, the data and the held-out trials of the fold, so a changed model,
        scheme or data set is recomputed rather than read from a stale file. Only point it at
        folders you wrote yourself (pickles are trusted when loaded).
    executor : Executor or {"in-process", "processes", "dask"}, optional
        Where the (model, fold) units and the in-sample fits run; see
        :class:`choicernn.Executor`. Results are identical on every back end; it also sets the
        failure policy (a unit that raises is reported with its model and fold; by default the
        other units finish and :class:`choicernn.UnitsFailedError` is raised, carrying the
        partial result).
    progress : bool or None
        Progress bar over units (default: when standard error is a terminal).

    Returns
    -------
    CrossValidationResult
        ``.table`` (per model, fold and subject), ``.trials``, ``.summary()``, ``.bms()``,
        ``.plot()``; ``.failures`` lists units skipped under ``on_error="skip"``.
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
    runner = as_executor(executor)
    labels = None if test_sessions is not None else fold_labels(data, folds, by, seed)
    study = _Study(
        data,
        labels,
        None if test_sessions is None else list(test_sessions),
        seed,
        fit_options,
        device,
    )
    fold_list = (
        [study.fold(0)]
        if labels is None
        else [study.fold(f) for f in range(folds)]  # checks every fold has test trials
    )
    cache = Path(cache_dir) if cache_dir is not None else None
    data_key = ""
    if cache is not None:  # the data and the exact held-out trials (seed=None draws anew)
        drawn = b"" if labels is None else np.ascontiguousarray(labels).tobytes()
        data_key = data_fingerprint(data) + hashlib.sha1(drawn).hexdigest()[:10]
    subject_dtype = data.to_frame()["subject"].dtype
    pieces: dict[tuple[str, int], pd.DataFrame] = {}
    fitted: dict = {}
    paths: dict[tuple[str, int | str], Path] = {}
    todo: list[_Unit] = []
    for fold in fold_list:
        for model in models:
            key = (model.name, fold.index)
            if cache is not None:
                digest = _unit_key(model, fit_options, folds, by, seed, test_sessions, data_key)
                paths[key] = cache / f"{_safe(model.name)}__fold{fold.index}__{digest}.csv"
                if paths[key].exists():
                    trials = pd.read_csv(paths[key])
                    trials["subject"] = trials["subject"].astype(subject_dtype)
                    pieces[key] = trials
                    continue
            todo.append(_Unit(model, fold.index))
    for model in models if in_sample else []:
        if not isinstance(model, ParametricModel):
            continue
        key = (model.name, "all")
        if cache is not None:
            digest = _unit_key(model, fit_options, None, None, seed, None, data_key)
            paths[key] = cache / f"{_safe(model.name)}__all__{digest}.pkl"
            if paths[key].exists():
                fitted[key] = pickle.loads(paths[key].read_bytes())
                continue
        todo.append(_Unit(model, "all"))

    def keep(unit: _Unit, value) -> None:
        fit, trials = value
        key = (unit.model.name, unit.fold)
        fitted[key] = fit
        if trials is None:  # an in-sample fit
            if key in paths:
                write_bytes_atomic(pickle.dumps(fit), paths[key])
            return
        if key in paths:
            write_csv_atomic(trials, paths[key])
        pieces[key] = trials

    log = runner.run(
        run_unit, study, todo, keep, progress=show_progress(progress), desc="cross-validation"
    )
    failures = log.failures
    order = [(m.name, f.index) for f in fold_list for m in models]
    present = [pieces[k][TRIAL_COLUMNS] for k in order if k in pieces]
    trials = (
        pd.concat(present, ignore_index=True) if present else pd.DataFrame(columns=TRIAL_COLUMNS)
    )
    table = score_table(trials, ["model", "fold", "subject"])
    rows = [
        fitted[(m.name, "all")].results_[
            ["model", "subject", "nll", "n_trials", "n_params", "aic", "bic"]
        ]
        for m in models
        if (m.name, "all") in fitted
    ]
    ic = pd.concat(rows, ignore_index=True) if rows else None
    complete = [n for n in names if all((n, f.index) in pieces for f in fold_list)]
    result = CrossValidationResult(
        trials,
        table,
        ic,
        complete,
        by,
        len(fold_list),
        seed,
        fitted,
        failure_table(failures),
        log.timing_table(),
    )
    if failures:
        if cache is not None:
            hint = (
                f"Finished units are saved in {cache}; once the cause is fixed, the same call "
                f"computes only the failed units."
            )
        else:
            hint = (
                "The finished units are in the exception's .partial result; pass cache_dir= so "
                "that a re-run computes only the failed units."
            )
        if runner.on_error == "raise":
            raise UnitsFailedError(failures, result, hint)
        warnings.warn(
            f"{len(failures)} unit(s) failed and were skipped (see result.failures): "
            + "; ".join(f.describe() for f in failures),
            RuntimeWarning,
            stacklevel=2,
        )
    return result
