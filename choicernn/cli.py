"""The ``choicernn`` command line: ``demo``, ``run``, ``compare``, ``fit``, ``simulate``, ``tasks``,
``parameter-recovery``, ``model-recovery``."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .execution import BACKENDS, Executor, UnitsFailedError
from .io import write_csv_atomic


def _model(spec: str, **settings):
    """A model from a command-line name: a Q-learning preset, or a registered type (wsls, ...).

    ``settings`` (e.g. ``method``, ``n_restarts``, ``device``) are set on the models that have
    them; ``None`` values are left at the model's default.
    """
    from .models.qlearning import PRESETS
    from .models.registry import available_models, make_model

    model = None
    if spec in PRESETS:
        model = make_model({"type": "qlearning", "preset": spec})
    elif spec in available_models() and spec not in ("qlearning", "select"):
        model = make_model({"type": spec})
    if model is not None:
        own = model.get_params(deep=False)
        model.set_params(**{k: v for k, v in settings.items() if v is not None and k in own})
        return model
    raise SystemExit(
        f"unknown model {spec!r}; choose from Q-learning presets {sorted(PRESETS)} or "
        f"{sorted(set(available_models()) - {'qlearning', 'select'})}"
    )


def _print_summary(cv, out: Path, figures: bool = True) -> None:
    cols = [
        "mean_nll_per_trial",
        "sem_nll_per_trial",
        "mean_normalized_lik",
        "delta_nll_per_trial",
        "wilcoxon_p",
        "accuracy",
        "protected_exceedance_prob",
    ]
    summary = cv.summary()
    with pd.option_context("display.width", 160, "display.precision", 4, "display.max_columns", 20):
        print(summary[[c for c in cols if c in summary.columns]].to_string())
    written = "tables, figures and report.md" if figures else "tables and report.md"
    print(f"\n{written} in {out}/")


def cmd_run(args: argparse.Namespace) -> int:
    from .recipes import default_output, load_recipe, run_recipe

    start = time.perf_counter()
    recipe = load_recipe(args.recipe)
    out = Path(args.out) if args.out else default_output(recipe, args.recipe)
    scheme = (
        f"held-out sessions {recipe.cv['test_sessions']}"
        if recipe.cv.get("test_sessions") is not None
        else f"{recipe.cv['folds']}-fold CV by {recipe.cv['by']}"
    )
    executor = recipe.make_executor(
        backend=args.backend, n_jobs=args.n_jobs, address=args.address, on_error=args.on_error
    )
    where = "" if executor.backend == "in-process" else f" on {_describe(executor)}"
    print(f"study {recipe.name!r}: {len(recipe.models)} models, {scheme}{where} -> {out}")
    try:
        _quiet(args)
        cv = run_recipe(recipe, out, figures=not args.no_figures, executor=executor)
    except UnitsFailedError as err:
        print(f"error: {err}", file=sys.stderr)
        print(f"failed units listed in {out / 'failures.csv'}", file=sys.stderr)
        return 1
    _warn_skipped(cv, out)
    _print_summary(cv, out, figures=not args.no_figures)
    print(f"done in {time.perf_counter() - start:.1f} s")
    return 0


def _warn_skipped(cv, out: Path) -> None:
    if not cv.failures.empty:
        print(
            f"warning: {len(cv.failures)} unit(s) failed and were skipped (--on-error skip); "
            f"listed in {out / 'failures.csv'}; models without every fold are not compared",
            file=sys.stderr,
        )


def _describe(executor: Executor) -> str:
    if executor.backend == "dask" and (executor.address or executor.client):
        return f"the Dask cluster at {executor.address or executor.client}"
    return f"{executor.workers} {executor.backend} worker(s)"


def _add_execution_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (replaces the recipe's [execution] settings)")
    g.add_argument("--backend", choices=list(BACKENDS), help="where the units run")
    g.add_argument("--n-jobs", type=int, help="local worker processes (default: one per core)")
    g.add_argument("--address", help="Dask scheduler address (implies --backend dask)")
    g.add_argument(
        "--on-error", choices=["raise", "skip"], help="after the other units finish: fail or go on"
    )


def _executor(args: argparse.Namespace) -> Executor:
    """The executor the command line asks for (no recipe)."""
    return Executor(
        args.backend or ("dask" if args.address else "in-process"),
        n_jobs=args.n_jobs,
        address=args.address,
        on_error=args.on_error or "raise",
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import load_demo

    print(
        f"demo study: {load_demo()}  (bundled CSV, simulated from 'rw_persev' on the reversal task)"
    )
    args.recipe = "demo"
    return cmd_run(args)


def cmd_compare(args: argparse.Namespace) -> int:
    from .comparison.cross_validation import cross_validate

    data = _read_data(args)
    models = [
        _model(spec, method=args.method, n_restarts=args.restarts, device=args.device)
        for spec in args.models
    ]
    out = Path(args.out)
    executor = _executor(args)
    _quiet(args)
    try:
        cv = cross_validate(
            models,
            data,
            folds=args.folds,
            by=args.by,
            seed=args.seed,
            executor=executor,
            cache_dir=out / "units",
        )
    except UnitsFailedError as err:
        print(f"error: {err}", file=sys.stderr)
        write_csv_atomic(err.failures, out / "failures.csv")
        print(f"failed units listed in {out / 'failures.csv'}", file=sys.stderr)
        return 1
    if cv.failures.empty:
        (out / "failures.csv").unlink(missing_ok=True)
    else:
        write_csv_atomic(cv.failures, out / "failures.csv")
    _warn_skipped(cv, out)
    summary = cv.summary()
    write_csv_atomic(cv.table, out / "cv_table.csv")
    write_csv_atomic(cv.trials, out / "trials.csv")
    write_csv_atomic(summary.reset_index(), out / "summary.csv")
    figures = [] if args.no_figures else _comparison_figures(cv, out)
    _write_compare_report(args, data, cv, summary, figures, out)
    _print_summary(cv, out, figures=not args.no_figures)
    return 0


def _comparison_figures(cv, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .plots import save_figure

    files = []
    kinds = [("paired", "model_comparison"), ("difference", "difference_to_best")]
    if len(cv.models) < 2:  # units skipped: no difference to a best model to draw
        kinds = kinds[:1] if cv.models else []
    for kind, stem in kinds:
        ax = cv.plot(kind=kind)
        files += save_figure(ax.figure, out / "figures" / stem)
        plt.close(ax.figure)
    return [str(Path(f).relative_to(out)) for f in files]


def _write_compare_report(args, data, cv, summary, figures, out: Path) -> None:
    from .io import write_text_atomic
    from .report import markdown_table

    cols = [
        c
        for c in (
            "mean_nll_per_trial",
            "sem_nll_per_trial",
            "delta_nll_per_trial",
            "wilcoxon_p",
            "accuracy",
            "protected_exceedance_prob",
        )
        if c in summary
    ]
    lines = [
        f"# Model comparison: {Path(args.data).name}",
        "",
        f"{data}. {args.folds}-fold cross-validation by {args.by} (seed {args.seed}); held-out "
        f"trials scored in context. Chance: {np.log(data.n_options):.3f} nats per choice.",
        "",
        markdown_table(summary[cols]),
        "",
        "Files: `summary.csv`, `cv_table.csv` (per model, fold, subject), `trials.csv` (every "
        "held-out choice with its probability; `row` is the row of the input file).",
    ]
    lines += [f"![{f}]({f})" for f in figures if f.endswith(".png")]
    write_text_atomic("\n".join(lines) + "\n", out / "report.md")


def _read_data(args: argparse.Namespace):
    from .data import read_csv

    return read_csv(
        args.data,
        subject=args.subject,
        choice=args.choice,
        reward=args.reward,
        session=args.session,
        trial=args.trial,
        n_options=args.n_options,
        choice_base=args.choice_base,
        missing=_number_or_text(args.missing),
        sep=args.sep,
    )


def _number_or_text(value: str | None):
    if value is None:
        return None
    try:
        return float(value) if "." in value else int(value)
    except ValueError:
        return value


def _add_data_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="CSV/TSV file, one row per trial")
    p.add_argument("--subject", default="subject", help="subject column")
    p.add_argument("--choice", default="choice", help="choice column")
    p.add_argument("--reward", default="reward", help="reward column")
    p.add_argument("--session", default=None, help="session/block column (optional)")
    p.add_argument("--trial", default=None, help="trial-number column (optional)")
    p.add_argument("--n-options", type=int, required=True, help="number of options K")
    p.add_argument(
        "--choice-base", type=int, default=0, choices=[0, 1], help="choices coded from 0 or 1"
    )
    p.add_argument("--missing", default=None, help="code of a missed trial in the choice column")
    p.add_argument("--sep", default=None, help="column separator (default: detected)")


def _add_fit_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--method",
        default=None,
        choices=["map", "mle", "em"],
        help="fitting method of per-subject models (default: map, with the documented priors)",
    )
    p.add_argument("--restarts", type=int, default=None, help="restarts per subject (default: 10)")
    p.add_argument(
        "--device", default=None, help="auto, cpu or cuda (default: auto = CUDA when present)"
    )


def cmd_tasks(args: argparse.Namespace) -> int:
    from .tasks import available_tasks, load_task

    for name in available_tasks():
        task = load_task(name)
        print(f"{name:22s} {task.kind:9s} K={task.n_options}  {task.description}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulation import simulate

    data = simulate(
        _model(args.model),
        args.task,
        n_subjects=args.n_subjects,
        n_trials=args.n_trials,
        n_sessions=args.n_sessions,
        seed=args.seed,
    )
    write_csv_atomic(data.to_frame(), args.out)
    if data.params is not None:
        write_csv_atomic(data.params, Path(args.out).with_suffix(".params.csv"))
    print(f"{data} written to {args.out}")
    return 0


def _quiet(args: argparse.Namespace) -> None:
    from .progress import set_progress

    if getattr(args, "quiet", False):
        set_progress(False)


def cmd_fit(args: argparse.Namespace) -> int:
    data = _read_data(args)
    _quiet(args)
    tables = []
    for spec in args.models:
        model = _model(spec, method=args.method, n_restarts=args.restarts, device=args.device)
        model.fit(data, seed=args.seed)
        table = model.in_sample_table()
        if table is None:  # e.g. a network: per-subject log-likelihood of the fitted data
            table = model.subject_log_likelihood(data)
            table.insert(1, "model", model.name)
            table["nll"] = -table["log_lik"]
        tables.append(table)
    results = pd.concat(tables, ignore_index=True)
    write_csv_atomic(results, args.out)
    cols = [c for c in ("nll", "aic", "bic") if c in results.columns]
    summary = results.groupby("model", sort=False)[cols].sum(min_count=1)
    print(summary.to_string())
    print(f"per-subject fits written to {args.out}")
    return 0


def cmd_parameter_recovery(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    from .analysis.recovery import parameter_recovery
    from .plots import save_figure

    result = parameter_recovery(
        _model(args.model, method=args.method),
        args.task,
        n_subjects=args.n_subjects,
        n_trials=args.n_trials,
        seed=args.seed,
    )
    out = Path(args.out)
    write_csv_atomic(result.table, out / "parameter_recovery.csv")
    write_csv_atomic(result.summary, out / "parameter_recovery_summary.csv")
    save_figure(result.plot(), out / "parameter_recovery")
    print(result.summary.to_string(index=False))
    print(f"tables and figure written to {out}/")
    return 0


def cmd_model_recovery(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .analysis.recovery import model_recovery
    from .plots import save_figure

    try:
        result = model_recovery(
            [_model(m) for m in args.models],
            args.task,
            n_subjects=args.n_subjects,
            n_trials=args.n_trials,
            folds=args.folds,
            seed=args.seed,
            executor=_executor(args),
        )
    except UnitsFailedError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    write_csv_atomic(result.table, out / "model_recovery.csv")
    write_csv_atomic(result.confusion.reset_index(), out / "confusion.csv")
    fig, ax = plt.subplots(figsize=(5, 4))
    result.plot(ax=ax)
    save_figure(fig, out / "model_recovery")
    print(result.confusion.round(2).to_string())
    print(f"tables and figure written to {out}/")
    return 0


class _HelpWithDefaults(argparse.HelpFormatter):
    """Every option's help ends with its default (unless it has none or says it already)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default is not None
            and default is not False
            and default != argparse.SUPPRESS
            and "default" not in text
            and action.option_strings
        ):
            shown = " ".join(map(str, default)) if isinstance(default, list) else default
            text += f" (default: {shown})"
        return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="choicernn",
        description="Fit, compare and simulate models of choices in bandit tasks.",
        formatter_class=_HelpWithDefaults,
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_parser = sub.add_parser

    def add_parser(name, **kwargs):
        kwargs.setdefault("formatter_class", _HelpWithDefaults)
        return _add_parser(name, **kwargs)

    sub.add_parser = add_parser

    p = sub.add_parser("demo", help="run the bundled demo study (the shipped recipe 'demo')")
    p.add_argument("--out", help="output folder (default: ./fits/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="tables and report only")
    _add_execution_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("run", help="run a study recipe (fits/NAME.toml) and write fits/NAME/")
    p.add_argument("recipe", help="recipe TOML file, or the name of a shipped recipe")
    p.add_argument("--out", help="output folder (default: NAME/ beside the recipe)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="tables and report only")
    _add_execution_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("tasks", help="list the shipped tasks")
    p.set_defaults(func=cmd_tasks)

    p = sub.add_parser("simulate", help="simulate a model playing a task; writes a tidy CSV")
    p.add_argument("--model", default="rw", help="Q-learning preset or wsls / bias / kalman")
    p.add_argument("--task", default="two_armed_fixed", help="task name or TOML path")
    p.add_argument("--n-subjects", type=int, default=50, help="simulated subjects")
    p.add_argument(
        "--n-trials", type=int, default=None, help="trials per session (default: the task's)"
    )
    p.add_argument(
        "--n-sessions", type=int, default=None, help="sessions per subject (default: the task's)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", required=True, help="CSV to write (parameters go to OUT.params.csv)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("fit", help="fit models to a tidy CSV of choices; writes per-subject fits")
    _add_data_arguments(p)
    p.add_argument(
        "--models", nargs="+", default=["rw"], help="Q-learning presets or wsls / bias / kalman"
    )
    _add_fit_settings(p)
    p.add_argument("--seed", type=int, default=0, help="seed of restarts and training (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, help="CSV of per-subject fits")
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("compare", help="cross-validate models on a tidy CSV; writes the tables")
    _add_data_arguments(p)
    p.add_argument(
        "--models",
        nargs="+",
        default=["bias", "wsls", "rw", "rw_persev"],
        help="Q-learning presets or wsls / bias / kalman",
    )
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument(
        "--by",
        default="block",
        choices=["block", "session", "subject"],
        help="what a fold holds out: trial blocks, sessions or subjects",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    _add_fit_settings(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="tables and report only")
    p.add_argument("--out", required=True, help="output folder")
    _add_execution_options(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "parameter-recovery", help="simulate a model, refit it, compare true and fitted parameters"
    )
    p.add_argument("--model", default="rw", help="Q-learning preset or wsls / bias / kalman")
    p.add_argument("--task", default="drifting_two_armed", help="task name or TOML path")
    p.add_argument("--n-subjects", type=int, default=100, help="simulated subjects")
    p.add_argument("--n-trials", type=int, default=500, help="trials per subject")
    p.add_argument(
        "--method", default="map", choices=["mle", "map", "em"], help="how the model is refitted"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=cmd_parameter_recovery)

    p = sub.add_parser(
        "model-recovery", help="simulate each model, cross-validate all, print the confusion matrix"
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=["bias", "wsls", "rw_persev"],
        help="generating and fitted models",
    )
    p.add_argument("--task", default="drifting_two_armed", help="task name or TOML path")
    p.add_argument("--n-subjects", type=int, default=50, help="simulated subjects")
    p.add_argument("--n-trials", type=int, default=300, help="trials per subject")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--out", required=True, help="output folder")
    _add_execution_options(p)
    p.set_defaults(func=cmd_model_recovery)
    return parser


_FLAGS = {
    "subject": "--subject",
    "choice": "--choice",
    "reward": "--reward",
    "session": "--session",
    "trial": "--trial",
    "n_options": "--n-options",
    "choice_base": "--choice-base",
    "missing": "--missing",
}


def _as_flags(message: str) -> str:
    """Python argument names in a message (``subject=``) as the command line's flags."""
    for name, flag in _FLAGS.items():
        message = re.sub(rf"\b{name}=", f"{flag} ", message)
    return message


def main(argv: list[str] | None = None) -> int:
    """Run the command line; errors in the user's data, recipes, tasks or model files are
    printed as one line (``error: ...``) with exit status 2 (``--debug`` shows the traceback)."""
    from .data import ChoiceDataError
    from .models.persistence import ModelFileError
    from .recipes import RecipeError
    from .tasks import TaskSpecError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ChoiceDataError, RecipeError, TaskSpecError, ModelFileError, FileNotFoundError) as err:
        if args.debug:
            raise
        print(f"error: {_as_flags(str(err))}", file=sys.stderr)
        return 2
    except ValueError as err:
        if args.debug:
            raise
        print(f"error: {_as_flags(str(err))} (run with --debug for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
