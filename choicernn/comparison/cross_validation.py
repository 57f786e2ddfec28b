"""Cross-validated predictive likelihood of many models on the same folds of a ChoiceData."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from ..execution import Executor, UnitFailure, UnitsFailedError, as_executor, failure_table
from ..execution.failures import Raised
from ..models.base import ChoiceModel
from ..models.scoring import chosen_log_prob, top_choice_credit
from ..progress import progress_disabled, show_progress
from .folds import Fold, FoldScheme, fold_from_labels, fold_labels, make_folds
from .unit_cache import (
    TRIAL_COLUMNS,
    CacheFileError,
    data_fingerprint,
    load_fitted,
    model_path,
    read_trials,
    safe_name,
    save_fitted,
    unit_key,
    write_trials,
)


class SuspectResultWarning(UserWarning):
    """A comparison result that is likely wrong or meaningless (e.g. held-out NLL above chance)."""


@dataclass
class CrossValidationResult:
    """Held-out predictions of several models on the same folds.

    Attributes
    ----------
    trials : pandas.DataFrame
        One row per model and held-out observed choice: ``model, fold, subject, session, trial,
        choice, log_lik`` (log-probability of the choice), ``p_choice`` (its probability),
        ``correct`` (1 if the choice had the highest predicted probability; 1/n when n options
        tie), and the user's own ``row`` (position in the input table) and ``choice_label``
        (the choice as written in the file), so predictions merge back onto the input with one
        ``merge`` (see :meth:`ChoiceData.original_labels`).
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
    n_options: int | None = None
    repeat_accuracy: float = float("nan")
    covariates: pd.DataFrame | None = field(default=None, repr=False)
    _warned: set = field(default_factory=set, repr=False, compare=False)

    def subject_table(self) -> pd.DataFrame:
        """Per model and subject, summed over folds: ``model, subject, nll, n_trials,
        nll_per_trial, normalized_lik, accuracy``, then the data's per-subject covariates (e.g.
        a diagnosis, for :func:`choicernn.compare_groups`); only models with every fold
        (``models``)."""
        out = score_table(self.trials[self.trials["model"].isin(self.models)], ["model", "subject"])
        if self.covariates is not None:
            out = out.merge(self.covariates, on="subject", how="left")
        return out

    def summary(self, *, reference: str | None = None, holm: bool = False) -> pd.DataFrame:
        """Per-model comparison, best first; see :func:`choicernn.comparison.compare_subjects`.

        Adds ``accuracy`` (mean over subjects), ``above_chance`` (True when the mean held-out
        NLL per choice is above chance, ln K: the model predicts worse than guessing, which
        also raises a :class:`SuspectResultWarning`) and, where available, in-sample ``aic`` and
        ``bic`` (summed over subjects). ``reference`` tests every model against a chosen one
        instead of the best; ``holm`` adds Holm-adjusted p-values. ``attrs``: ``best_model``,
        ``metric``, ``bor``, ``reference``, ``chance_nll_per_trial``; the trivial floors are in
        :meth:`floors`.
        """
        from .statistics import compare_subjects

        subjects = self.subject_table()
        out = compare_subjects(subjects, reference=reference, holm=holm)
        attrs = dict(out.attrs)
        out["accuracy"] = subjects.groupby("model")["accuracy"].mean().reindex(out.index)
        chance = float(np.log(self.n_options)) if self.n_options else np.nan
        out["above_chance"] = out["mean_nll_per_trial"] > chance
        if self.in_sample is not None:
            ic = self.in_sample.groupby("model")[["aic", "bic"]].sum()
            out = out.join(ic, how="left")
        out.attrs = {**attrs, "chance_nll_per_trial": chance}  # join drops attrs (pandas 3)
        bad = out.index[out["above_chance"]].tolist()
        if bad and set(bad) - self._warned:
            self._warned.update(bad)  # once per result, not at every summary() call
            warnings.warn(
                f"held-out NLL per choice above chance (ln {self.n_options} = {chance:.3f}) for "
                f"{bad}: these models predict held-out choices worse than guessing (overfitting, "
                f"or a fit that failed); try method='map' or a smaller network",
                SuspectResultWarning,
                stacklevel=2,
            )
        return out

    def floors(self) -> pd.DataFrame:
        """Trivial predictors on the same held-out choices, to read every model against.

        Returns
        -------
        pandas.DataFrame
            Indexed by ``floor``: ``chance`` (every option 1/K: NLL per choice ln K, accuracy
            1/K) and ``repeat_last`` (predict the previous observed choice of the sequence:
            accuracy only, its NLL is infinite). Columns ``nll_per_trial``, ``accuracy``.
        """
        k = self.n_options or 2
        rows = {"chance": {"nll_per_trial": float(np.log(k)), "accuracy": 1.0 / k}}
        rows["repeat_last"] = {"nll_per_trial": np.inf, "accuracy": self.repeat_accuracy}
        out = pd.DataFrame.from_dict(rows, orient="index")
        out.index.name = "floor"
        return out

    def bms(self, **options: Any):
        """Random-effects Bayesian model selection on per-subject held-out log-likelihoods.

        Models enter in name order, as in :meth:`summary`, so with the same ``seed`` the
        Monte Carlo exceedance probabilities of both tables are the same draws.
        """
        from .bms import bms

        evidence = -self.subject_table().pivot(index="subject", columns="model", values="nll")
        return bms(evidence[sorted(self.models, key=str)], **options)

    def paired_test(self, model: str, reference: str) -> pd.Series:
        """Paired comparison of two chosen models over subjects: mean difference of held-out
        NLL per choice (``model - reference``), its SEM, Wilcoxon and paired t-test p-values."""
        table = self.summary(reference=reference)
        return table.loc[model, ["delta_nll_per_trial", "delta_sem", "wilcoxon_p", "ttest_p"]]

    def plot(self, kind: str = "paired", ax=None, metric: str = "nll_per_trial"):
        """``kind="paired"``: per-subject held-out likelihood per model with paired lines and
        mean ± CI; ``kind="difference"``: paired differences to the best model. Returns the Axes."""
        from .. import plots

        if kind == "paired":
            ax = plots.plot_model_comparison(self.subject_table(), metric=metric, ax=ax)
            if metric == "nll_per_trial" and self.n_options:  # the floor every model must beat
                chance = float(np.log(self.n_options))
                ax.axhline(chance, color="0.5", linestyle=":", linewidth=1, zorder=0)
                ax.annotate(
                    f"chance (ln {self.n_options})",
                    (1.0, chance),
                    xycoords=("axes fraction", "data"),
                    ha="right",
                    va="bottom",
                    fontsize="small",
                    color="0.4",
                    bbox={"fc": "white", "ec": "none", "pad": 0.5},
                )
            return ax
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


def fit_quietly(model: ChoiceModel, data: ChoiceData, seed: int | None) -> ChoiceModel:
    """``model.fit(data, seed=seed)`` with progress bars off (the study has its own)."""
    with progress_disabled():
        return model.fit(data, seed=seed)


def held_out_trials(
    model: ChoiceModel, data: ChoiceData, held_out: np.ndarray | None = None
) -> pd.DataFrame:
    """Per held-out observed choice: ``subject, session, trial, choice, log_lik, p_choice,
    correct``.

    ``held_out`` (one flag per canonical row of ``data``) selects the trials to score; the model
    runs over every trial of ``data``, so its state is carried through the training trials that
    precede a held-out block (scoring in context). Without it every trial of ``data`` is scored.
    """
    logits = model.logits(data).to(torch.float64)
    choices = data.tensors().choices
    ll = data.trial_values(chosen_log_prob(logits, choices))
    credit = data.trial_values(top_choice_credit(logits, choices))
    table = data.to_frame()
    keep = table["choice"].notna().to_numpy()
    if held_out is not None:
        keep = keep & np.asarray(held_out, dtype=bool)
    out = table.loc[keep, ["subject", "session", "trial", "choice"]].reset_index(drop=True)
    out["log_lik"] = ll[keep]
    out["p_choice"] = np.exp(out["log_lik"])
    out["correct"] = credit[keep]
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
    scoring: str
    _folds: dict = field(default_factory=dict, repr=False)

    def fold(self, index: int) -> Fold:
        if index not in self._folds:  # built once per worker
            if self.labels is None:
                self._folds[index] = make_folds(self.data, test_sessions=self.test_sessions)[0]
            else:
                self._folds[index] = fold_from_labels(self.data, self.labels, index)
        return self._folds[index]

    def held_out(self, index: int) -> np.ndarray | None:
        """Flags of the fold's held-out rows of ``data`` when scoring in context, else None."""
        if self.scoring != "in_context" or self.labels is None:
            return None
        return self.labels == index

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


@dataclass(frozen=True)
class _FoldGroup:
    """Several folds of one model fitted together (``model.fit_many``: one batched training).

    ``keep`` (default: all of ``folds``) are the folds whose results are wanted; the others
    are fitted only so that the batch is the same as in a fresh study (a resumed study then
    gives the same numbers to the last bit).
    """

    model: ChoiceModel
    folds: tuple[int, ...]
    keep: tuple[int, ...] | None = None

    @property
    def kept(self) -> tuple[int, ...]:
        return self.folds if self.keep is None else self.keep

    @property
    def label(self) -> str:
        kept = ",".join(map(str, self.kept))
        out = f"model={self.model.name} {'folds' if len(self.kept) > 1 else 'fold'}={kept}"
        if self.kept != self.folds:
            out += f" (fitted with folds {','.join(map(str, self.folds))})"
        return out

    def units(self) -> list[_Unit]:
        return [_Unit(self.model, f) for f in self.kept]


def run_unit(study: _Study, unit: _Unit | _FoldGroup):
    """Fit one unit and score its held-out trials: ``(fit, trials)``, with ``trials`` None for an
    in-sample fit; for a group of folds, a list of ``(unit, fit, trials)`` per fold."""
    if isinstance(unit, _FoldGroup):
        folds = [study.fold(f) for f in unit.folds]
        with progress_disabled():
            fits = unit.model.fit_many([f.train for f in folds], seed=study.seed)
        by_fold = dict(zip(unit.folds, fits, strict=True))
        out = []
        for one in unit.units():
            fit = by_fold[int(one.fold)]
            try:  # a fold that fails its scoring fails alone, as its own unit would
                out.append((one, fit, score_unit(study, one, fit)))
            except Exception as err:  # noqa: BLE001 - reported like a failed unit
                out.append((one, fit, Raised.capture(err)))
        return out
    if unit.fold == "all":
        fit = fit_quietly(unit.model.clone(), study.data, study.seed)
        check_in_sample(fit, unit.model.name)
        return fit, None
    fit = fit_quietly(unit.model.clone(), study.fold(int(unit.fold)).train, study.seed)
    return fit, score_unit(study, unit, fit)


def score_unit(study: _Study, unit: _Unit, fit: ChoiceModel) -> pd.DataFrame:
    """The held-out trials of the unit's fold, scored by its fitted model."""
    held_out = study.held_out(int(unit.fold))
    if held_out is None:
        trials = held_out_trials(fit, study.fold(int(unit.fold)).test)
    else:
        trials = held_out_trials(fit, study.data, held_out)
    check_held_out(trials, unit)
    trials.insert(0, "fold", unit.fold)
    trials.insert(0, "model", unit.model.name)
    return trials


def group_units(units: list[_Unit], workers: int, all_folds: list[int]) -> list[_Unit | _FoldGroup]:
    """The fold units of models with batched fits (``capabilities().batched_fits``) as groups
    of folds fitted together, each at the place of its first unit.

    A network's folds (the long units) go in one group of contiguous folds per worker. A
    per-subject model's stacked fit always covers every fold of the study (``all_folds``), also
    when only some are still to compute (a resumed study), so that its numbers do not depend
    on the back end or on which folds were cached: the batch is always the same.
    """
    batched: dict[int, list[_Unit]] = {}
    for unit in units:
        if unit.fold != "all" and unit.model.capabilities().batched_fits:
            batched.setdefault(id(unit.model), []).append(unit)
    groups: dict[int, list[_Unit | _FoldGroup]] = {}
    for key, members in batched.items():
        model = members[0].model
        folds = tuple(int(u.fold) for u in members)
        if not model.capabilities().network:
            full = tuple(int(f) for f in all_folds)
            if len(full) == 1:
                groups[key] = list(members)
            else:
                groups[key] = [_FoldGroup(model, full, None if folds == full else folds)]
            continue
        made: list[_Unit | _FoldGroup] = []
        for chunk in np.array_split(np.array(folds), min(max(workers, 1), len(folds))):
            if len(chunk) == 1:  # one fold left (e.g. a resumed study): an ordinary unit
                made.append(_Unit(model, int(chunk[0])))
            else:
                made.append(_FoldGroup(model, tuple(int(f) for f in chunk)))
        groups[key] = made
    out: list[_Unit | _FoldGroup] = []
    for unit in units:
        key = id(unit.model)
        if unit.fold != "all" and key in groups:
            out.extend(groups.pop(key))  # the group, where its first fold was
        elif unit.fold == "all" or key not in batched:
            out.append(unit)
    return out


def check_in_sample(fit: ChoiceModel, name: str) -> None:
    """An in-sample fit with a non-finite NLL is an error naming the subjects."""
    table = fit.in_sample_table()
    nll = table["nll"].to_numpy(dtype=float)
    if not np.isfinite(nll).all():
        bad = table["subject"].to_numpy()[~np.isfinite(nll)]
        raise FloatingPointError(
            f"model {name!r} fitted to all the data gave a non-finite NLL for "
            f"subject(s) {[str(b) for b in bad[:5]]} ({len(bad)} in all)"
        )


def check_held_out(trials: pd.DataFrame, unit: _Unit) -> None:
    """A non-finite held-out log-likelihood is an error naming fold, subject, session, trial."""
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


def cross_validate(
    models: Sequence[ChoiceModel],
    data: ChoiceData,
    folds: int = 5,
    by: FoldScheme = "block",
    seed: int | None = 0,
    *,
    test_sessions: Sequence | None = None,
    scoring: Literal["in_context", "fresh"] = "in_context",
    in_sample: bool = True,
    cache_dir: str | Path | None = None,
    executor: Executor | str | None = None,
) -> CrossValidationResult:
    """Fit every model on the training part of every fold and score it on the held-out part.

    Every setting of a model (fitting method, restarts, priors, device, training schedule) is
    its own constructor setting; this function only decides the folds and runs the units.

    Parameters
    ----------
    models : sequence of ChoiceModel
        Unfitted models (each is cloned per fold); their ``name`` must be unique.
    data : ChoiceData
    folds : int
    by : {"block", "session", "subject"}
        What is held out; see :func:`choicernn.comparison.folds.make_folds`. Models with
        per-subject parameters (``capabilities().per_subject_parameters``: Q-learning,
        heuristics, per-subject networks) cannot predict unseen subjects, so ``"subject"`` is
        for pooled networks only.
    seed : int or None
        Seeds the folds (session and subject schemes) and every fit.
    test_sessions : sequence, optional
        One fixed split instead of folds: these session labels are held out for every subject.
    scoring : {"in_context", "fresh"}
        How held-out trial blocks (``by="block"``) are predicted. ``"in_context"`` (default):
        the fitted model runs through each whole sequence, its state carried through the
        training trials, and only the held-out trials are scored (one-step-ahead prediction,
        the usual reading of a held-out likelihood). ``"fresh"``: each held-out block is its own
        sequence, predicted from a fresh state (pessimistic for learning models). Parameters are
        fitted on the training trials only either way. Session and subject folds hold out whole
        sequences, where the two agree.
    in_sample : bool
        Also fit the models that have an in-sample table (per-subject parametric models) to
        all the data for AIC/BIC.
    cache_dir : path, optional
        Each finished unit is saved there as soon as it finishes (held-out trials as a CSV
        with exact subject and session labels; the fitted model with ``model.save`` when its
        type is registered; never a pickle) and read back instead of recomputed when the call
        is repeated, so an interrupted or partly failed study resumes and gives the same
        tables, fitted models included. File names carry a hash of the model's settings, the
        seed, the data and the held-out trials, so a changed model, scheme or data set is
        recomputed; a cached file that does not match the study is an error naming it.
    executor : Executor or {"in-process", "processes", "dask"}, optional
        Where the (model, fold) units and the in-sample fits run; see
        :class:`choicernn.Executor`. Results are identical on every back end; it also sets the
        failure policy. Models that train several fits as one batched computation
        (``capabilities().batched_fits``: the recurrent networks, and per-subject models
        fitted by MAP or ML) get all their folds as one unit
        (:meth:`~choicernn.models.base.ChoiceModel.fit_many`: every fold and seed of a network
        a replica of one recurrence; every fold's subjects in one batched BFGS), a network one
        group of contiguous folds per worker; each fold is still cached and reported on its
        own, and equals fitting that fold alone. A resumed study refits every fold of a
        per-subject model whose folds are not all cached (its stacked batch is then the same
        as in a fresh study: the same numbers to the last bit) and keeps the missing ones.

    Returns
    -------
    CrossValidationResult
        ``.table`` (per model, fold and subject), ``.trials``, ``.summary()``, ``.bms()``,
        ``.plot()``; ``.failures`` lists units skipped under ``on_error="skip"``.
    """
    models = list(models)
    names = _check_models(models, by)
    if scoring not in ("in_context", "fresh"):
        raise ValueError(f"scoring must be 'in_context' or 'fresh', got {scoring!r}")
    runner = as_executor(executor)
    labels = None if test_sessions is not None else fold_labels(data, folds, by, seed)
    study = _Study(
        data, labels, None if test_sessions is None else list(test_sessions), seed, scoring
    )
    fold_list = (
        [study.fold(0)]
        if labels is None
        else [study.fold(f) for f in range(folds)]  # checks every fold has test trials
    )
    cache = _Cache(cache_dir, data, labels, (folds, by, seed, test_sessions, scoring))
    pieces: dict[tuple[str, int], pd.DataFrame] = {}
    fitted: dict = {}
    todo: list[_Unit] = []
    for fold in fold_list:
        expected = _held_out_rows(study, fold)
        for model in models:
            cached = cache.read_unit(model, fold.index, expected)
            if cached is None:
                todo.append(_Unit(model, fold.index))
            else:
                pieces[(model.name, fold.index)], fit = cached
                if fit is not None:
                    fitted[(model.name, fold.index)] = fit
    for model in models if in_sample else []:
        if not model.capabilities().in_sample_table:
            continue
        fit = cache.read_in_sample(model)
        if fit is None:
            todo.append(_Unit(model, "all"))
        else:
            fitted[(model.name, "all")] = fit

    fold_failures: list[UnitFailure] = []

    def keep(unit: _Unit | _FoldGroup, value) -> None:
        for one, fit, trials in value if isinstance(unit, _FoldGroup) else [(unit, *value)]:
            if isinstance(trials, Raised):
                fold_failures.append(
                    UnitFailure(
                        one.label, "error", trials.error, trials.message, 1, trials.traceback
                    )
                )
                continue
            key = (one.model.name, one.fold)
            fitted[key] = fit
            cache.write(one, fit, trials)
            if trials is not None:
                pieces[key] = trials

    todo = group_units(todo, runner.workers, [f.index for f in fold_list])
    log = runner.run(run_unit, study, todo, keep, progress=show_progress(), desc="cross-validation")
    log.failures = fold_failures + log.failures
    result = _assemble(models, names, fold_list, pieces, fitted, log, by, seed, data)
    _report_failures(log.failures, result, runner, cache.folder)
    return result


def _check_models(models: list[ChoiceModel], by: str) -> list[str]:
    if not models:
        raise ValueError("models is empty")
    bad = [type(m).__name__ for m in models if not isinstance(m, ChoiceModel)]
    if bad:
        raise TypeError(f"models must be choicernn models (ChoiceModel); got {bad}")
    names = [m.name for m in models]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(
            f"model names must be unique; repeated: {dup}. Pass name= to tell them apart."
        )
    if by == "subject":
        per_subject = [m.name for m in models if m.capabilities().per_subject_parameters]
        if per_subject:
            raise ValueError(
                f"by='subject' holds out whole subjects, which models with per-subject "
                f"parameters {per_subject} cannot predict; use by='block' or by='session'."
            )
    return names


def _held_out_rows(study: _Study, fold: Fold) -> pd.DataFrame:
    """The fold's held-out observed choices in the order a fresh unit writes them."""
    held_out = study.held_out(fold.index)
    if held_out is None:
        frame = fold.test.to_frame()
        keep = frame["choice"].notna().to_numpy()
    else:
        frame = study.data.to_frame()
        keep = frame["choice"].notna().to_numpy() & held_out
    return frame.loc[keep, ["subject", "session", "trial", "choice"]].reset_index(drop=True)


class _Cache:
    """The units of one study in ``cache_dir`` (or nothing when it is None)."""

    def __init__(self, folder, data: ChoiceData, labels, scheme: tuple) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.data = data
        self.scheme = scheme
        if self.folder is not None:  # the data and the exact held-out trials
            drawn = b"" if labels is None else np.ascontiguousarray(labels).tobytes()
            self.data_key = data_fingerprint(data) + hashlib.sha1(drawn).hexdigest()[:10]

    def _path(self, model: ChoiceModel, fold) -> Path | None:
        if self.folder is None:
            return None
        if fold == "all":
            digest = unit_key(model, None, None, self.scheme[2], None, self.data_key)
            return self.folder / f"{safe_name(model.name)}__all__{digest}.model"
        digest = unit_key(model, *self.scheme, self.data_key)
        return self.folder / f"{safe_name(model.name)}__fold{fold}__{digest}.csv"

    def read_unit(self, model: ChoiceModel, fold: int, expected: pd.DataFrame):
        path = self._path(model, fold)
        if path is None or not path.exists():
            return None
        trials = read_trials(path, self.data, expected)
        if (trials["model"] != model.name).any() or (trials["fold"] != fold).any():
            raise CacheFileError(f"cached unit {path} is of another model or fold; delete it")
        return trials, load_fitted(model_path(path), model)

    def read_in_sample(self, model: ChoiceModel) -> ChoiceModel | None:
        path = self._path(model, "all")
        return None if path is None else load_fitted(path, model)

    def write(self, unit: _Unit, fit: ChoiceModel, trials: pd.DataFrame | None) -> None:
        path = self._path(unit.model, unit.fold)
        if path is None:
            return
        if trials is None:
            save_fitted(fit, path)
            return
        save_fitted(fit, model_path(path))  # first, so a unit's trials imply its model
        write_trials(trials, path, self.data)


def _assemble(
    models, names, fold_list, pieces, fitted, log, by, seed, data
) -> CrossValidationResult:
    order = [(m.name, f.index) for f in fold_list for m in models]
    present = [pieces[k][TRIAL_COLUMNS] for k in order if k in pieces]
    trials = (
        pd.concat(present, ignore_index=True) if present else pd.DataFrame(columns=TRIAL_COLUMNS)
    )
    trials, repeat = _with_user_labels(trials, data)
    table = score_table(trials, ["model", "fold", "subject"])
    rows = [
        fitted[(m.name, "all")].in_sample_table()[
            ["model", "subject", "nll", "n_trials", "n_params", "aic", "bic"]
        ]
        for m in models
        if (m.name, "all") in fitted
    ]
    ic = pd.concat(rows, ignore_index=True) if rows else None
    complete = [n for n in names if all((n, f.index) in pieces for f in fold_list)]
    return CrossValidationResult(
        trials,
        table,
        ic,
        complete,
        by,
        len(fold_list),
        seed,
        fitted,
        failure_table(log.failures),
        log.timing_table(),
        data.n_options,
        repeat,
        data.covariates,
    )


def _with_user_labels(trials: pd.DataFrame, data: ChoiceData) -> tuple[pd.DataFrame, float]:
    """Add the user's own ``row`` and ``choice_label`` to the held-out trials (so predictions
    merge back onto the input table), and the accuracy of repeating the previous choice."""
    labels = data.original_labels()
    frame = data.to_frame()
    keys = ["subject", "session", "trial"]
    previous = frame.groupby(["subject", "session"], sort=False)["choice"].transform(
        lambda c: c.ffill().shift(1)
    )
    extra = labels[[*keys, "row", "choice_label"]].assign(previous_choice=previous.to_numpy())
    out = trials.merge(extra, on=keys, how="left", validate="many_to_one")
    first = out[out["model"] == out["model"].iloc[0]] if len(out) else out
    # the first choice of a sequence has no previous one: it counts as not predicted
    prev = first["previous_choice"].astype("float64").to_numpy()
    same = prev == first["choice"].astype("float64").to_numpy()
    repeat = float(same.mean()) if len(first) else np.nan
    return out.drop(columns="previous_choice"), repeat


def _report_failures(failures, result, runner, cache) -> None:
    if not failures:
        return
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
        stacklevel=3,
    )
