"""Study recipes: one TOML file in ``fits/`` names the data, task, models and cross-validation.

``choicernn run fits/NAME.toml`` (or :func:`run_recipe`) writes ``fits/NAME/``: tables (CSV),
per-subject parameters, saved networks, figures (PDF/SVG/PNG) and ``report.md``. Every file is
written atomically; finished cross-validation units are kept in ``units/`` and not recomputed
when a run is repeated or resumed after an interruption.

A recipe::

    name = "demo"
    description = "..."

    [data]                       # a file (path relative to the recipe) and its column map,
    path = "../shared/data/hbayesdm/bandit2arm_exampleData.txt"
    subject = "subjID"           # ... or `bundled = "demo"`, or `loader = "<dataset loader>"`
    choice = "choice"
    reward = "outcome"
    n_options = 2
    choice_base = 1

    [task]                       # for simulations of the fitted models (behavioural signatures)
    name = "two_armed_fixed"

    [cv]
    folds = 5
    by = "block"                 # "block", "session" or "subject"
    seed = 0

    [run]
    device = "auto"

    [execution]                  # optional; where the units run (default: in this process)
    backend = "processes"        # "in-process", "processes" or "dask"
    n_jobs = 4                   # local workers; dask also takes address = "tcp://host:8786"
    retries = 2                  # re-runs of a unit whose worker died
    on_error = "raise"           # or "skip": report failed units and go on

    [[models]]
    type = "qlearning"
    preset = "rw"

    [[models]]
    type = "gru"
    hidden_size = 4
    training = { max_epochs = 100 }
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .comparison.cross_validation import CrossValidationResult, cross_validate
from .data import ChoiceData, read_csv
from .execution import Executor, UnitsFailedError
from .io import write_csv_atomic, write_text_atomic
from .models.base import ChoiceModel
from .models.registry import make_model
from .report import markdown_table

_SECTIONS = {
    "name",
    "description",
    "data",
    "task",
    "cv",
    "run",
    "execution",
    "models",
    "analyses",
}
_ANALYSIS_KEYS = {"posterior_predictive", "explain", "membership_audit"}
_DATA_KEYS = {
    "path",
    "bundled",
    "loader",
    "subject",
    "choice",
    "reward",
    "n_options",
    "choice_base",
    "session",
    "trial",
    "outcomes",
    "option_labels",
    "missing",
    "covariates",
    "sep",
    "state",
    "choice2",
    "state_labels",
}
_CV_KEYS = {"folds", "by", "seed", "test_sessions", "scoring"}
_RUN_KEYS = {"device", "seed", "simulations"}
_EXECUTION_KEYS = {"backend", "n_jobs", "address", "retries", "on_error", "threads_per_worker"}


class RecipeError(ValueError):
    """A recipe with a missing, unknown or invalid field (the message names it)."""


@dataclass
class Recipe:
    """A validated study recipe; see the module docstring for the layout."""

    name: str
    data: dict[str, Any]
    models: list[dict[str, Any]]
    cv: dict[str, Any] = field(default_factory=lambda: {"folds": 5, "by": "block", "seed": 0})
    task: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    analyses: dict[str, Any] = field(default_factory=dict)
    execution: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: Path | None = None

    def load_data(self) -> ChoiceData:
        """The recipe's data as ChoiceData."""
        spec = dict(self.data)
        if "bundled" in spec:
            from .demo import load_demo

            if spec["bundled"] != "demo":
                raise RecipeError(f"{self._where()}: data.bundled: only 'demo' is bundled")
            return load_demo()
        if "loader" in spec:
            from . import datasets

            name = spec.pop("loader")
            loader = getattr(datasets, name, None) if name in datasets.__all__ else None
            if loader is None:
                raise RecipeError(
                    f"{self._where()}: data.loader: unknown; loaders are {datasets.__all__}"
                )
            path = self._resolve(spec.pop("path"))
            return loader(path, **spec)
        if "path" not in spec:
            raise RecipeError(f"{self._where()}: [data] needs 'path', 'bundled' or 'loader'")
        path = self._resolve(spec.pop("path"))
        return read_csv(path, **spec)

    def _resolve(self, path: str) -> Path:
        p = Path(path)
        if not p.is_absolute() and self.source is not None:
            p = (self.source.parent / p).resolve()
        if not p.exists():
            raise FileNotFoundError(
                f"{self._where()}: data file {p} not found (data.path = {path!r})"
            )
        return p

    def _where(self) -> str:
        return f"recipe {self.source or self.name}"

    def make_models(self) -> list[ChoiceModel]:
        """The recipe's models; ``[run] device`` reaches every model that has a device setting."""
        models = [make_model(spec) for spec in self.models]
        device = self.run.get("device")
        if device is not None:
            for model in models:
                if "device" in model.get_params(deep=False):
                    model.set_params(device=device)
        return models

    def make_executor(self, **overrides: Any) -> Executor:
        """The recipe's ``[execution]`` settings as an :class:`~choicernn.Executor`; keyword
        arguments that are not ``None`` (e.g. from the command line) replace them."""
        settings = {**self.execution, **{k: v for k, v in overrides.items() if v is not None}}
        if "address" in overrides and overrides["address"] is not None:
            settings["backend"] = "dask"
        try:
            return Executor(**settings)
        except (TypeError, ValueError) as err:
            raise RecipeError(f"{self._where()}: [execution]: {err}") from None


def _check_keys(where: str, section: str, table: dict, allowed: set[str]) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise RecipeError(
            f"{where}: [{section}] has unknown fields {sorted(unknown)}; known fields are {sorted(allowed)}"
        )


def recipe_from_dict(spec: dict[str, Any], source: Path | None = None) -> Recipe:
    """Validate a recipe mapping (as read from TOML)."""
    where = f"recipe {source or spec.get('name', '?')}"
    unknown = set(spec) - _SECTIONS
    if unknown:
        raise RecipeError(
            f"{where}: unknown fields {sorted(unknown)}; a recipe has {sorted(_SECTIONS)}"
        )
    for required in ("name", "data", "models"):
        if required not in spec:
            raise RecipeError(f"{where}: field {required!r} is required")
    _check_keys(where, "data", spec["data"], _DATA_KEYS)
    cv = {"folds": 5, "by": "block", "seed": 0, **spec.get("cv", {})}
    _check_keys(where, "cv", cv, _CV_KEYS)
    if "fit_options" in spec.get("run", {}):
        raise RecipeError(
            f"{where}: [run] fit_options is gone: write fitting settings on the model itself, "
            f'e.g. [[models]] type = "qlearning", preset = "rw", n_restarts = 20'
        )
    _check_keys(where, "run", spec.get("run", {}), _RUN_KEYS)
    _check_keys(where, "analyses", spec.get("analyses", {}), _ANALYSIS_KEYS)
    _check_keys(where, "execution", spec.get("execution", {}), _EXECUTION_KEYS)
    models = spec["models"]
    if not isinstance(models, list) or not models:
        raise RecipeError(f"{where}: 'models' must be a non-empty list of [[models]] tables")
    for i, m in enumerate(models):
        if "type" not in m:
            raise RecipeError(f"{where}: models[{i}] needs a 'type'")
    recipe = Recipe(
        name=str(spec["name"]),
        data=dict(spec["data"]),
        models=[dict(m) for m in models],
        cv=cv,
        task=dict(spec.get("task", {})),
        run=dict(spec.get("run", {})),
        analyses=dict(spec.get("analyses", {})),
        execution=dict(spec.get("execution", {})),
        description=str(spec.get("description", "")),
        source=source,
    )
    _check_name(where, recipe.name)
    try:
        names = [m.name for m in recipe.make_models()]
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{where}: {err}") from None
    _check_task_and_analyses(where, recipe, names)
    recipe.make_executor()
    return recipe


def _check_name(where: str, name: str) -> None:
    """A recipe name is one folder name: no separators, no '..', so outputs stay in fits/."""
    if not name or name in (".", "..") or any(c in name for c in "/\\:") or name.startswith("."):
        raise RecipeError(
            f"{where}: name {name!r} must be a plain folder name (letters, digits, '_', '-'), "
            f"so that outputs stay inside the recipe's fits/ folder"
        )


def _check_task_and_analyses(where: str, recipe: Recipe, names: list[str]) -> None:
    """Task name and analyses refer to things that exist, checked before any unit runs."""
    from .tasks import TaskSpecError, load_task

    task = recipe.task.get("name")
    if task is not None:
        try:
            load_task(task)
        except (TaskSpecError, FileNotFoundError, ValueError) as err:
            raise RecipeError(f"{where}: [task] name: {err}") from None
    analyses = recipe.analyses
    for key in ("explain", "membership_audit"):
        entries = analyses.get(key, [])
        if not isinstance(entries, list):
            raise RecipeError(f"{where}: analyses.{key} must be a list of model names")
        for entry in entries:
            name = entry.get("model") if isinstance(entry, dict) else entry
            if name not in names:
                raise RecipeError(
                    f"{where}: analyses.{key}: no model named {name!r}; models are {names}"
                )
            if isinstance(entry, dict) and "candidates" in entry:
                try:
                    [make_model(c) for c in entry["candidates"]]
                except (TypeError, ValueError) as err:
                    raise RecipeError(f"{where}: analyses.{key} candidates: {err}") from None
    if (analyses.get("explain") or analyses.get("posterior_predictive")) and task is None:
        if analyses.get("explain"):
            raise RecipeError(f"{where}: analyses.explain needs a [task] name to simulate in")


def shipped_recipes() -> list[str]:
    """Names of the recipes shipped with choicernn (the TOML files in ``fits/``)."""
    root = resources.files("choicernn.study_recipes")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_recipe(name_or_path: str | os.PathLike) -> Recipe:
    """Load a recipe from a TOML file, or a shipped one by name (e.g. ``"demo"``)."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if not path.exists():
        if text in shipped_recipes():
            path = Path(str(resources.files("choicernn.study_recipes").joinpath(f"{text}.toml")))
        else:
            raise FileNotFoundError(
                f"no recipe file {text!r}; shipped recipes are {shipped_recipes()}"
            )
    try:
        spec = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise RecipeError(f"recipe {path}: not valid TOML: {err}") from None
    return recipe_from_dict(spec, source=path)


def default_output(recipe: Recipe, name_or_path: str | os.PathLike) -> Path:
    """``fits/NAME/`` beside a recipe file; ``./fits/NAME`` for a shipped recipe given by name."""
    if Path(os.fspath(name_or_path)).exists():
        return Path(os.fspath(name_or_path)).resolve().parent / recipe.name
    return Path.cwd() / "fits" / recipe.name


def run_recipe(
    recipe: Recipe,
    out: str | os.PathLike,
    *,
    figures: bool = True,
    executor: Executor | str | None = None,
) -> CrossValidationResult:
    """Run a study: cross-validation, statistics, fitted parameters, figures and a report in ``out``.

    ``executor`` replaces the recipe's ``[execution]`` settings. Finished units are kept in
    ``out/units``; when some fail (:class:`~choicernn.UnitsFailedError`), running the recipe
    again computes only those.
    """
    out = Path(out)
    start = time.perf_counter()
    data = recipe.load_data()
    models = recipe.make_models()
    failures_file = out / "failures.csv"
    try:
        cv = cross_validate(
            models,
            data,
            folds=recipe.cv["folds"],
            by=recipe.cv["by"],
            seed=recipe.cv["seed"],
            test_sessions=recipe.cv.get("test_sessions"),
            scoring=recipe.cv.get("scoring", "in_context"),
            cache_dir=out / "units",
            executor=recipe.make_executor() if executor is None else executor,
        )
    except UnitsFailedError as err:
        write_csv_atomic(err.failures, failures_file)
        raise
    if cv.failures.empty:
        failures_file.unlink(missing_ok=True)  # from an earlier run, now completed
    else:
        write_csv_atomic(cv.failures, failures_file)
    write_csv_atomic(cv.table, out / "cv_table.csv")
    subjects = cv.subject_table()
    write_csv_atomic(subjects, out / "subject_table.csv")
    summary = cv.summary()
    write_csv_atomic(summary.reset_index(), out / "summary.csv")
    bms = None
    if len(cv.models) >= 2:  # fewer only when units failed and were skipped
        bms = cv.bms(seed=recipe.cv["seed"] or 0)
        write_csv_atomic(bms.table.reset_index(), out / "bms.csv")
    if cv.in_sample is not None:
        write_csv_atomic(cv.in_sample, out / "in_sample.csv")
    fitted = _fit_all(models, cv, out)
    removed = _move_aside_removed(models, out)
    figure_files = _figures(cv, fitted, data, recipe, out) if figures else []
    figure_files += _analyses(recipe, fitted, data, out)
    elapsed = time.perf_counter() - start
    timing = _unit_time(cv, out)
    _report(
        recipe, data, summary, bms, figure_files, out, elapsed, cv.failures, timing, removed, cv
    )
    return cv


def _unit_time(cv, out: Path) -> dict[str, float]:
    """Compute time of every unit of the study, kept in ``units/timings.csv`` across runs, so a
    resumed study reports the same total as a fresh one (and says what this run computed)."""
    path = out / "units" / "timings.csv"
    known = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["unit", "seconds"])
    now = cv.timings[["unit", "seconds"]] if cv.timings is not None else known.iloc[:0]
    table = pd.concat([known[~known["unit"].isin(now["unit"])], now], ignore_index=True)
    write_csv_atomic(table, path)
    return {
        "total": float(table["seconds"].sum()),
        "computed_now": len(now),
        "from_cache": len(table) - len(now),
    }


def _move_aside_removed(models, out: Path) -> list[str]:
    """Outputs of models no longer in the recipe (``params/NAME.csv``, ``networks/NAME/``) are
    moved to ``removed/``, so the folder holds only this recipe's models; returns their names."""
    import shutil

    names = {m.name for m in models}
    moved = []
    for folder, is_dir in (("params", False), ("networks", True)):
        base = out / folder
        if not base.is_dir():
            continue
        for item in sorted(base.iterdir()):
            name = item.name if is_dir else item.stem
            if (item.is_dir() == is_dir) and name not in names and not name.startswith("."):
                target = out / "removed" / folder / item.name
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    shutil.rmtree(target) if target.is_dir() else target.unlink()
                shutil.move(str(item), str(target))
                moved.append(name)
    return sorted(set(moved))


def _fit_all(models, cv, out) -> dict[str, ChoiceModel]:
    """Fitted models for figures and files: the in-sample fit of models that have one
    (parameters saved), else the fit of fold 0 (saved under ``networks/`` when its type is
    registered). Fits of cached units are read back from the cache, so a resumed study writes
    the same outputs as a fresh one."""
    from .models.registry import is_registered

    fitted = {}
    for model in models:
        if model.capabilities().in_sample_table:
            fit = cv.fitted.get((model.name, "all"))  # the in-sample fit made for AIC/BIC
            if fit is None:  # it failed and was skipped (listed in failures.csv)
                continue
            write_csv_atomic(fit.in_sample_table(), out / "params" / f"{model.name}.csv")
            fitted[model.name] = fit
        elif (model.name, 0) in cv.fitted:
            fit = cv.fitted[(model.name, 0)]
            if is_registered(fit):
                fit.save(out / "networks" / model.name)
            fitted[model.name] = fit
    return fitted


def _figures(cv, fitted, data, recipe, out) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from . import plots, signatures
    from .simulation import simulate
    from .tasks import load_task

    files = []
    kinds = [("paired", "model_comparison"), ("difference", "difference_to_best")]
    if len(cv.models) < 2:  # e.g. --on-error skip left one model: no difference to draw
        kinds = kinds[:1] if cv.models else []
    for kind, stem in kinds:
        fig, ax = plt.subplots(figsize=(6, 4))
        cv.plot(kind=kind, ax=ax)
        files += plots.save_figure(fig, out / "figures" / stem)
        plt.close(fig)
    params = [m.in_sample_table() for m in fitted.values() if m.capabilities().parameter_table]
    if params:
        fig = plots.plot_parameter_distributions(pd.concat(params, ignore_index=True))
        files += plots.save_figure(fig, out / "figures" / "parameters")
        plt.close(fig)
    if recipe.task.get("name"):
        task = load_task(recipe.task["name"])
        n_trials = int(data.sequences["n_trials"].max())
        seed = recipe.cv["seed"] or 0
        tables = {"data": signatures.stay_probabilities(data)}
        for name, model in fitted.items():
            sim = simulate(model, task, n_subjects=data.n_subjects, n_trials=n_trials, seed=seed)
            tables[name] = signatures.stay_probabilities(sim)
        fig, ax = plt.subplots(figsize=(7, 4))
        plots.plot_stay_probabilities(tables, ax=ax)
        files += plots.save_figure(fig, out / "figures" / "stay_probabilities")
        plt.close(fig)
        if data.is_two_step:
            files += _two_step_figure(data, fitted, task, n_trials, seed, out)
    best = cv.summary().index[0]
    if best in fitted:
        fig, ax = plt.subplots(figsize=(8, 3))
        subject = data.subjects[0]
        one = data.subject(subject)
        plots.plot_choice_trace(fitted[best].choice_probabilities(one), one, subject, ax=ax)
        files += plots.save_figure(fig, out / "figures" / "choice_trace")
        plt.close(fig)
    return [str(Path(f).relative_to(out)) for f in files]


def _two_step_figure(data, fitted, task, n_trials, seed, out) -> list[str]:
    """The classic 2 x 2 first-stage stay figure, data beside every fitted model."""
    from . import plots, signatures
    from .simulation import simulate

    tables = {"data": signatures.two_step_stay(data)}
    for name, model in fitted.items():
        sim = simulate(model, task, n_subjects=data.n_subjects, n_trials=n_trials, seed=seed)
        tables[name] = signatures.two_step_stay(sim)
    ax = plots.plot_two_step_stay(tables)
    files = plots.save_figure(ax.figure, out / "figures" / "two_step_stay")
    ax.figure.clf()
    return files


def _analyses(recipe, fitted, data, out) -> list[str]:
    """The recipe's ``[analyses]``: posterior predictive checks, explaining networks, privacy audit.

    ``posterior_predictive = true`` checks every fitted model (replaying the data's payoffs when
    every option's outcome is known, else in the recipe's task); ``explain = ["gru16"]`` fits the
    classical models to each named network's simulated behaviour in the task (an entry can be a
    table: ``{model = "gru16", candidates = [{type = "qlearning", preset = "rw"}], n_subjects =
    30, n_trials = 200, folds = 3}``); ``membership_audit
    = ["gru16"]`` retrains each named network on a random half of the subjects and audits it
    against the other half. Tables go to ``analyses/``, figures to ``figures/``.
    """
    spec = recipe.analyses
    if not spec:
        return []
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    from . import plots
    from .analysis.explain import explain
    from .analysis.ppc import posterior_predictive
    from .analysis.privacy import membership_audit
    from .comparison.cross_validation import fit_quietly

    files: list = []
    seed = recipe.cv.get("seed") or 0
    task = recipe.task.get("name")

    def save(result, stem):
        fig, ax = plt.subplots(figsize=(6, 4))
        result.plot(ax=ax)
        files.extend(plots.save_figure(fig, out / "figures" / stem))
        plt.close(fig)

    if spec.get("posterior_predictive"):
        tables = []
        for name, model in fitted.items():
            result = posterior_predictive(
                model, data, None if data.has_outcomes else task, seed=seed
            )
            tables.append(result.pooled.assign(model=name))
            save(result, f"ppc_{name}")
        write_csv_atomic(
            pd.concat(tables, ignore_index=True), out / "analyses" / "posterior_predictive.csv"
        )
    for entry in spec.get("explain", []):
        # "gru16", or {model = "gru16", candidates = [{type = ...}, ...], n_subjects = ..., ...}
        options = dict(entry) if isinstance(entry, dict) else {"model": entry}
        name = options.pop("model", None)
        if name not in fitted:
            raise RecipeError(
                f"{recipe._where()}: analyses.explain: no fitted model named {name!r}"
            )
        if "candidates" in options:
            options["candidates"] = [make_model(c) for c in options["candidates"]]
        result = explain(fitted[name], task, seed=seed, **options)
        write_csv_atomic(result.table.reset_index(), out / "analyses" / f"explain_{name}.csv")
        save(result, f"explain_{name}")
    for name in spec.get("membership_audit", []):
        model = next((m for m in recipe.make_models() if m.name == name), None)
        if model is None:
            raise RecipeError(
                f"{recipe._where()}: analyses.membership_audit: no model named {name!r}"
            )
        order = np.random.default_rng(seed).permutation(data.n_subjects)
        half = data.n_subjects // 2
        train = data.subset([data.subjects[i] for i in sorted(order[:half])])
        test = data.subset([data.subjects[i] for i in sorted(order[half:])])
        network = fit_quietly(model.clone(), train, seed)
        result = membership_audit(network, train, test, seed=seed)
        table = result.table.assign(
            auc=result.auc, auc_low=result.auc_ci[0], auc_high=result.auc_ci[1]
        )
        write_csv_atomic(table, out / "analyses" / f"membership_{name}.csv")
        save(result, f"membership_{name}")
    return [str(Path(f).relative_to(out)) for f in files]


def _failure_lines(failures) -> list[str]:
    if failures is None or failures.empty:
        return []
    listed = "; ".join(
        f"{u} ({e}: {m})"
        for u, e, m in failures[["unit", "error", "message"]].itertuples(index=False)
    )
    return [
        f"**{len(failures)} unit(s) failed and were skipped** (`failures.csv`); models without "
        f"every fold are left out of the comparison: {listed}",
        "",
    ]


def _bms_lines(bms) -> list[str]:
    if bms is None:
        return ["Random-effects BMS: needs two models with every fold."]
    return [
        f"Random-effects BMS (Bayesian omnibus risk {bms.bor:.3g}):",
        "",
        markdown_table(bms.table),
    ]


def _floor_lines(cv) -> list[str]:
    if cv is None:
        return []
    return [
        f"Floors: chance is {cv.floors().loc['chance', 'nll_per_trial']:.3f} nats per choice; "
        f"repeating the previous choice is right on {cv.repeat_accuracy:.1%} of the held-out "
        f"choices.",
        "",
    ]


def _removed_lines(removed) -> list[str]:
    if not removed:
        return []
    return [
        f"Outputs of models no longer in the recipe were moved to `removed/`: "
        f"{', '.join(removed)}.",
        "",
    ]


def _report(
    recipe,
    data,
    summary,
    bms,
    figure_files,
    out,
    elapsed,
    failures=None,
    timing=None,
    removed=(),
    cv=None,
) -> None:
    cols = [
        c
        for c in [
            "mean_nll_per_trial",
            "sem_nll_per_trial",
            "mean_normalized_lik",
            "delta_nll_per_trial",
            "delta_sem",
            "wilcoxon_p",
            "ttest_p",
            "accuracy",
            "aic",
            "bic",
            "protected_exceedance_prob",
        ]
        if c in summary.columns
    ]
    pngs = [f for f in figure_files if f.endswith(".png")]
    lines = [
        f"# {recipe.name}",
        "",
        recipe.description,
        "",
        f"Data: {data}.",
        "",
        (
            f"Held-out sessions {recipe.cv['test_sessions']} of every subject (one fixed split); "
            if recipe.cv.get("test_sessions") is not None
            else f"Cross-validation: {recipe.cv['folds']} folds by {recipe.cv['by']} (seed {recipe.cv['seed']}); "
        )
        + "held-out negative log-likelihood per choice (lower is better), mean ± SEM over subjects; "
        "differences are paired, to the best model.",
        "",
        markdown_table(summary[cols]),
        "",
        *_failure_lines(failures),
        *_bms_lines(bms),
        "",
        *_floor_lines(cv),
        *_removed_lines(removed),
        *[f"![{Path(f).stem}]({f})" for f in pngs],
        "",
        (
            f"Compute time of the study's units: {timing['total']:.0f} s (kept in "
            f"`units/timings.csv` across resumed runs). "
            if timing
            else ""
        )
        + "Tables: `summary.csv`, `subject_table.csv`, `cv_table.csv`, `bms.csv`, "
        "`in_sample.csv`, `params/`.",
        "",
        "Recipe:",
        "",
        "```json",
        json.dumps(
            {
                "data": recipe.data,
                "cv": recipe.cv,
                "models": recipe.models,
                "task": recipe.task,
                "run": recipe.run,
                "execution": recipe.execution,
            },
            indent=2,
            default=str,
        ),
        "```",
        "",
    ]
    write_text_atomic("\n".join(lines), out / "report.md")
