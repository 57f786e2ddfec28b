"""Parameter and model recovery studies (Wilson & Collins 2019).

:func:`parameter_recovery` simulates subjects from a model with known parameters, refits the
model and compares true with fitted values. :func:`model_recovery` simulates a data set from
each of several models, cross-validates all of them on every data set and counts which model
wins (lowest held-out negative log-likelihood) for each simulated subject: the confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ..comparison.cross_validation import cross_validate, fit_quietly
from ..data import ChoiceData
from ..execution import Executor, as_executor
from ..models.base import ChoiceModel
from ..models.parametric import ParametricModel
from ..simulation import simulate
from ..tasks import Task, load_task

SUMMARY_COLUMNS = ["parameter", "r", "spearman", "bias", "rmse", "n"]
RECOVERY_TABLE_COLUMNS = ["subject", "parameter", "true", "fitted"]
MODEL_TABLE_COLUMNS = [
    "generating",
    "subject",
    "fitted_model",
    "nll",
    "n_trials",
    "nll_per_trial",
    "best",
]


def _int_seed(seq: np.random.SeedSequence) -> int:
    """A plain integer seed derived from ``seq`` (for functions that take an int seed)."""
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def _task(task: Task | str) -> Task:
    if isinstance(task, str):
        return load_task(task)
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task or a task name, got {type(task).__name__}")
    return task


def _check_sizes(n_subjects: int, n_trials: int) -> None:
    if n_subjects < 2:
        raise ValueError(f"n_subjects must be >= 2 for a recovery study, got {n_subjects}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")


# --------------------------------------------------------------------------- parameters
def _correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman correlation; NaN when either side is constant or n < 2."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, math.nan
    return float(np.corrcoef(x, y)[0, 1]), float(stats.spearmanr(x, y).statistic)


def recovery_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: ``parameter, r, spearman, bias, rmse, n`` from a tidy recovery table.

    ``r`` is the Pearson and ``spearman`` the rank correlation of true and fitted values (NaN
    when the true values do not vary), ``bias`` the mean of ``fitted - true``, ``rmse`` the root
    mean squared error and ``n`` the number of subjects.
    """
    rows = []
    for name, part in table.groupby("parameter", sort=False):
        true = part["true"].to_numpy(dtype=float)
        fitted = part["fitted"].to_numpy(dtype=float)
        r, rho = _correlation(true, fitted)
        err = fitted - true
        rows.append(
            {
                "parameter": name,
                "r": r,
                "spearman": rho,
                "bias": float(err.mean()),
                "rmse": float(np.sqrt((err**2).mean())),
                "n": len(part),
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


@dataclass
class ParameterRecoveryResult:
    """True against refitted parameters of simulated subjects.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per subject and parameter: ``subject, parameter, true, fitted``.
    summary : pandas.DataFrame
        One row per parameter: ``parameter, r`` (Pearson correlation of true and fitted),
        ``spearman`` (rank correlation), ``bias`` (mean of fitted - true), ``rmse``, ``n``
        (subjects).
    data : ChoiceData
        The simulated data; ``data.params`` holds the generating parameters.
    fitted : ParametricModel
        The clone of the model fitted to ``data``.
    scales : dict
        Parameter name -> ``"linear"`` or ``"log"`` (the scale of its default range), used for
        the axes of :meth:`plot`.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    data: ChoiceData = field(repr=False)
    fitted: ParametricModel = field(repr=False)
    scales: dict[str, str] = field(default_factory=dict, repr=False)

    def plot(self, ax=None):
        """True against fitted values, one panel per parameter, with the identity line and the
        parameter bounds; see :func:`choicernn.plots.plot_parameter_recovery`. Returns the
        Figure."""
        from ..plots import plot_parameter_recovery

        return plot_parameter_recovery(
            self, ax=ax, bounds=self.fitted.parameter_table(self.data.n_options)
        )


def parameter_recovery(
    model: ParametricModel,
    task: Task | str,
    n_subjects: int = 100,
    n_trials: int = 500,
    *,
    seed: int | np.random.SeedSequence | None = 0,
    params: pd.DataFrame | None = None,
) -> ParameterRecoveryResult:
    """Simulate subjects with known parameters, refit the model and compare.

    Parameters
    ----------
    model : ChoiceModel
        A model with per-subject interpretable parameters (Q-learning, heuristics; see
        ``capabilities().parameter_table``). It is not changed: a clone generates the data (so
        a fitted model's parameters are not reused) and another clone is fitted with the
        model's own settings (``method``, ``n_restarts``, ``device``, ...).
    task : Task or str
        The task (or its name; see :func:`choicernn.available_tasks`).
    n_subjects : int
        Simulated subjects (one session each).
    n_trials : int
        Trials per subject.
    seed : int, SeedSequence or None
        One seed for the whole study: the parameter draws, the task's schedules, the choices and
        the fit's restarts use independent streams spawned from it.
    params : pandas.DataFrame, optional
        Generating parameters, one row per subject and one column per parameter (rows are reused
        cyclically when fewer than ``n_subjects``). Default: drawn from each parameter's default
        range (``Parameter.init``, e.g. alpha uniform in (0.05, 0.95), beta log-uniform in
        (0.3, 15)).
    Returns
    -------
    ParameterRecoveryResult
        ``.table`` (``subject, parameter, true, fitted``), ``.summary`` (``parameter, r,
        spearman, bias, rmse, n``), ``.plot()``, ``.data``, ``.fitted``.
    """
    if not isinstance(model, ChoiceModel) or not model.capabilities().parameter_table:
        raise TypeError(
            f"parameter_recovery needs a model with per-subject named parameters (QLearning, "
            f"WSLS, Bias, KalmanFilter, ...), got {type(model).__name__}"
        )
    if params is not None and not isinstance(params, pd.DataFrame):
        raise TypeError(
            f"params must be a DataFrame with one row per subject, got {type(params).__name__}"
        )
    _check_sizes(n_subjects, n_trials)
    task = _task(task)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sim_seq, fit_seq = root.spawn(2)
    data = simulate(
        model.clone(), task, n_subjects, n_trials, n_sessions=1, seed=sim_seq, params=params
    )
    fitted = fit_quietly(model.clone(), data, _int_seed(fit_seq))
    parameters = fitted.parameters(task.n_options)
    names = [p.name for p in parameters]
    true = data.params.set_index("subject")[names]
    est = fitted.params_.set_index("subject")[names].reindex(true.index)
    table = (
        true.rename_axis(columns="parameter")
        .stack()
        .rename("true")
        .to_frame()
        .join(est.rename_axis(columns="parameter").stack().rename("fitted"))
        .reset_index()
    )
    # parameter-major order: all subjects of the first parameter, then the next
    table["parameter"] = pd.Categorical(table["parameter"], categories=names)
    table = table.sort_values(["parameter", "subject"], kind="stable").reset_index(drop=True)
    table["parameter"] = table["parameter"].astype(str)
    table = table[RECOVERY_TABLE_COLUMNS]
    return ParameterRecoveryResult(
        table=table,
        summary=recovery_summary(table),
        data=data,
        fitted=fitted,
        scales={p.name: p.init[2] for p in parameters},
    )


# --------------------------------------------------------------------------- models
@dataclass
class ModelRecoveryResult:
    """Which model wins, by held-out likelihood, on data simulated from each model.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per generating model, simulated subject and fitted model:
        ``generating, subject, fitted_model, nll`` (held-out negative log-likelihood summed over
        folds), ``n_trials`` (held-out choices), ``nll_per_trial``, ``best`` (True for the
        fitted model with the lowest ``nll`` for that subject; ties go to the earlier model).
    confusion : pandas.DataFrame
        Index ``generating`` and columns ``fitted`` (model names, in the given order): the
        fraction of the generating model's subjects best fitted by each model. Rows sum to 1;
        a recoverable model set has a dominant diagonal.
    data : dict
        Generating model name -> its simulated ChoiceData (``.params`` holds the parameters).
    models : list of str
    """

    table: pd.DataFrame
    confusion: pd.DataFrame
    data: dict[str, ChoiceData] = field(repr=False)
    models: list[str] = field(default_factory=list)

    def plot(self, ax=None):
        """The confusion matrix as an annotated heatmap; returns the Axes."""
        from ..plots import plot_confusion

        return plot_confusion(self.confusion, ax=ax)


def model_recovery(
    models: Sequence[ChoiceModel],
    task: Task | str,
    n_subjects: int = 50,
    n_trials: int = 300,
    *,
    folds: int = 5,
    seed: int | np.random.SeedSequence | None = 0,
    executor: Executor | str | None = None,
) -> ModelRecoveryResult:
    """Simulate from each model, cross-validate all models on every data set, count winners.

    Parameters
    ----------
    models : sequence of ChoiceModel
        The candidate set; each is both a generating model and a fitted one. Names must be
        unique. Generating parameters are drawn from each model's default parameter range
        (an unfitted clone simulates, so a fitted model's parameters are not reused).
    task : Task or str
    n_subjects, n_trials : int
        Simulated subjects per generating model (one session each) and trials per subject.
    folds : int
        Block folds of the cross-validation (``by="block"``, no in-sample fits).
    seed : int, SeedSequence or None
        One seed for the whole study; each generating model gets its own stream (spawned from
        it), which seeds its simulation and its cross-validation.
    executor : Executor or str, optional
        Where the (fitted model, fold) units of each data set's cross-validation run; see
        :class:`choicernn.Executor`. A failed unit always raises
        :class:`~choicernn.UnitsFailedError` here (a candidate missing for some subjects would
        bias the confusion matrix).

    Returns
    -------
    ModelRecoveryResult
        ``.table`` (``generating, subject, fitted_model, nll, n_trials, nll_per_trial, best``),
        ``.confusion`` (generating x fitted fractions), ``.plot()``, ``.data``.
    """
    models = list(models)
    if not models:
        raise ValueError("models is empty; give at least two models to compare")
    bad = [type(m).__name__ for m in models if not isinstance(m, ChoiceModel)]
    if bad:
        raise TypeError(f"models must be ChoiceModel instances, got {bad}")
    names = [m.name for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(
            f"model names must be unique; repeated: {dup}. Pass name= to tell them apart."
        )
    _check_sizes(n_subjects, n_trials)
    task = _task(task)
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    pieces, datasets = [], {}
    for generator, child in zip(models, root.spawn(len(models))):
        sim_seq, cv_seq = child.spawn(2)
        data = simulate(generator.clone(), task, n_subjects, n_trials, n_sessions=1, seed=sim_seq)
        datasets[generator.name] = data
        cv = cross_validate(
            [m.clone() for m in models],
            data,
            folds=folds,
            by="block",
            seed=_int_seed(cv_seq),
            in_sample=False,
            # a candidate missing on some subjects would bias the confusion matrix: no skipping
            executor=replace(as_executor(executor), on_error="raise"),
        )
        subjects = cv.subject_table()
        part = pd.DataFrame(
            {
                "generating": generator.name,
                "subject": subjects["subject"].to_numpy(),
                "fitted_model": subjects["model"].to_numpy(),
                "nll": subjects["nll"].to_numpy(dtype=float),
                "n_trials": subjects["n_trials"].to_numpy(),
                "nll_per_trial": subjects["nll_per_trial"].to_numpy(dtype=float),
            }
        )
        # model order within each subject, so that idxmin breaks ties towards earlier models
        rank = part["fitted_model"].map({n: i for i, n in enumerate(names)})
        part = part.iloc[np.lexsort((rank.to_numpy(), part["subject"].to_numpy()))]
        part = part.reset_index(drop=True)
        part["best"] = part.index.isin(part.groupby("subject", sort=False)["nll"].idxmin())
        pieces.append(part)
    table = pd.concat(pieces, ignore_index=True)[MODEL_TABLE_COLUMNS]
    return ModelRecoveryResult(
        table=table, confusion=confusion_matrix(table, names), data=datasets, models=names
    )


def confusion_matrix(table: pd.DataFrame, models: Sequence[str] | None = None) -> pd.DataFrame:
    """Fractions of each generating model's subjects won by each fitted model.

    ``table`` is a :class:`ModelRecoveryResult` table (``generating, subject, fitted_model,
    best``); returns a DataFrame indexed by ``generating`` with one column per fitted model
    (``fitted``), rows summing to 1.
    """
    models = list(pd.unique(table["generating"])) if models is None else list(models)
    fitted = list(dict.fromkeys([*models, *pd.unique(table["fitted_model"])]))
    wins = table[table["best"]]
    counts = pd.crosstab(wins["generating"], wins["fitted_model"])
    counts = counts.reindex(index=models, columns=fitted, fill_value=0)
    confusion = counts.div(counts.sum(axis=1), axis=0).astype(float)
    confusion.index.name = "generating"
    confusion.columns.name = "fitted"
    return confusion
