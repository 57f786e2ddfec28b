"""Model comparison figures: per-subject fits paired across models, differences to the best."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..signatures import mean_ci
from ._common import _as_table, _axes, _category_ticks, _legend_outside, _require, _yerr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# metric -> (label without "held-out", higher is better); computed from nll and n_trials
_METRICS = {
    "nll_per_trial": ("NLL per choice (nats)", False),
    "normalized_lik": ("likelihood per choice (geometric mean probability)", True),
    "nll": ("total NLL (nats)", False),
}
# labels of other known columns of a subject table
_LABELS = {
    "accuracy": "accuracy (proportion of choices predicted)",
    "nll_per_choice": "NLL per choice (nats)",
}
_SHORT = {"nll_per_trial": "NLL", "normalized_lik": "likelihood", "nll": "NLL"}

# other columns where greater is better (the rest: lower is better)
_HIGHER_IS_BETTER = {"accuracy", "log_lik", "score", "elpd"}


def _label(metric_label: str, held_out: bool) -> str:
    """``"Held-out NLL per choice (nats)"`` (or capitalised without ``held-out``)."""
    if held_out:
        return f"Held-out {metric_label}"
    return metric_label[:1].upper() + metric_label[1:]


def _comparison(
    subject_table: Any, metric: str, higher_is_better: bool | None = None
) -> tuple[pd.DataFrame, str, bool]:
    """Subjects x models table of ``metric``, models best first; the axis label; higher-better.

    Rows repeated per model and subject (e.g. folds) are summed (``nll``, ``n_trials``) before
    ``nll_per_trial = nll / n_trials`` and ``normalized_lik = exp(-nll_per_trial)``.
    """
    table = _as_table(subject_table, "subject_table")
    _require(table, "subject_table", ["model", "subject"])
    if metric in _METRICS:
        _require(table, "subject_table", ["nll", "n_trials"])
        per = table.groupby(["model", "subject"], sort=False)[["nll", "n_trials"]].sum()
        per["nll_per_trial"] = per["nll"] / per["n_trials"]
        per["normalized_lik"] = np.exp(-per["nll_per_trial"])
        per = per.reset_index()
        label, higher = _METRICS[metric]
    else:
        if metric not in table.columns:
            raise ValueError(
                f"metric {metric!r} is neither a column of subject_table nor one of "
                f"{list(_METRICS)}"
            )
        if table.duplicated(["model", "subject"]).any():
            raise ValueError(
                f"subject_table repeats model/subject rows; metric {metric!r} "
                f"must have one value per model and subject"
            )
        per, label, higher = table, _LABELS.get(metric, metric), metric in _HIGHER_IS_BETTER
    if higher_is_better is not None:
        higher = bool(higher_is_better)
    wide = per.pivot(index="subject", columns="model", values=metric)
    means = wide.mean()
    order = means.sort_values(ascending=not higher, kind="stable").index
    return wide[order], label, higher


def _paired_ci(wide: pd.DataFrame) -> pd.DataFrame:
    """Per model: mean over its subjects and the t-based 95% CI of the paired difference to the
    best model (the first column), as ``mean, low, high`` error-bar lengths (0 for the best)."""
    best = wide.columns[0]
    rows = []
    for model in wide.columns:
        mean = float(wide[model].mean())
        if model == best:
            rows.append({"model": model, "mean": mean, "low": 0.0, "high": 0.0})
            continue
        diff = (wide[model] - wide[best]).dropna().rename("d").to_frame()
        ci = mean_ci(diff, "d").iloc[0]
        rows.append(
            {
                "model": model,
                "mean": mean,
                "low": float(np.nan_to_num(ci["mean"] - ci["ci_low"])),
                "high": float(np.nan_to_num(ci["ci_high"] - ci["mean"])),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def plot_model_comparison(
    subject_table: Any,
    *,
    metric: str = "nll_per_trial",
    higher_is_better: bool | None = None,
    held_out: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Per-subject fit of every model, paired across models, with the paired 95% CI to the best.

    Parameters
    ----------
    subject_table : pandas.DataFrame or result with ``.table``
        Columns ``model, subject, nll, n_trials`` (more rows per model and subject, e.g. folds,
        are summed); ``nll_per_trial`` and ``normalized_lik`` are computed from them. Any other
        ``metric`` column (one row per model and subject) is plotted as given.
    metric : {"nll_per_trial", "normalized_lik", "nll"} or column name
    higher_is_better : bool, optional
        Direction of ``metric`` for ordering; default: higher is better for
        ``normalized_lik`` and ``accuracy``, lower for the others.
    held_out : bool
        Whether the table holds held-out (cross-validated) scores, as from
        ``cross_validate(...).subject_table()``; the axis label then says "Held-out".
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Models on x, best first (lowest mean ``nll_per_trial``; highest ``normalized_lik``):
        one open circle per subject and thin grey lines joining each subject across models; a
        black diamond at each model's mean, with an error bar spanning the t-based 95% CI of
        the mean paired (within-subject) difference to the best model, drawn around the
        model's mean; a dotted line at the best model's mean. A bar that does not reach the
        dotted line is a model reliably worse than the best, subject by subject.
    """
    ax = _axes(ax, figsize=(7.0, 4.0))
    wide, label, higher = _comparison(subject_table, metric, higher_is_better)
    x = np.arange(wide.shape[1])
    ax.plot(x, wide.to_numpy().T, color="0.75", linewidth=0.6, zorder=1)
    for i, model in enumerate(wide.columns):
        ax.scatter(
            np.full(len(wide), x[i]),
            wide[model],
            s=14,
            facecolor="white",
            edgecolor="0.35",
            linewidth=0.8,
            zorder=2,
        )
    paired = _paired_ci(wide)
    ax.axhline(paired["mean"].iloc[0], color="black", linestyle=":", linewidth=1, zorder=0)
    ax.errorbar(
        x + 0.2,
        paired["mean"],
        yerr=paired[["low", "high"]].to_numpy().T,
        fmt="D",
        color="black",
        markersize=5,
        capsize=3,
        zorder=3,
    )
    ax.set_xlim(-0.5, len(x) - 0.3)
    _category_ticks(ax, x, wide.columns)
    direction = "highest" if higher else "lowest"
    ax.set_xlabel(f"Model, best first: {direction} mean")
    ax.set_ylabel(_label(label, held_out))
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            color="0.75",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="0.35",
            linewidth=0.6,
            label="one subject: circle,\nline joins its models",
        ),
        Line2D([], [], color="black", marker="D", linestyle="none", label="model mean: diamond"),
        Line2D(
            [],
            [],
            color="black",
            marker="|",
            markersize=10,
            linestyle="none",
            label="bar: 95% CI of the paired\ndifference to the best",
        ),
        Line2D([], [], color="black", linestyle=":", label=f"mean of the best,\n{wide.columns[0]}"),
    ]
    _legend_outside(ax, handles=handles, fontsize="small")
    return ax


def plot_difference_to_best(
    subject_table: Any,
    *,
    metric: str = "nll_per_trial",
    higher_is_better: bool | None = None,
    held_out: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Per-subject paired difference of every model to the best one, with the mean ± 95% CI.

    Parameters
    ----------
    subject_table : pandas.DataFrame or result with ``.table``
        As for :func:`plot_model_comparison`; at least two models.
    metric : {"nll_per_trial", "normalized_lik", "nll"} or column name
    higher_is_better : bool, optional
        As for :func:`plot_model_comparison`.
    held_out : bool
        As for :func:`plot_model_comparison`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        The other models on x (best first); y is ``metric(model) - metric(best)`` per subject
        (so positive is worse when lower is better, e.g. NLL, and negative is worse when higher
        is better, e.g. ``normalized_lik``; the corner text says which), a dashed line at zero,
        and the mean difference with its t-based 95% CI. Subjects missing from the best model
        are left out.
    """
    wide, label, higher = _comparison(subject_table, metric, higher_is_better)
    if wide.shape[1] < 2:
        raise ValueError(
            f"plot_difference_to_best needs two or more models, got {list(wide.columns)}"
        )
    ax = _axes(ax, figsize=(7.0, 4.0))
    best = wide.columns[0]
    diff = wide.iloc[:, 1:].sub(wide[best], axis=0)
    x = np.arange(diff.shape[1])
    ax.axhline(0.0, color="0.4", linestyle="--", linewidth=1)
    for i, model in enumerate(diff.columns):
        ax.scatter(
            np.full(len(diff), x[i]),
            diff[model],
            s=14,
            facecolor="white",
            edgecolor="0.35",
            linewidth=0.8,
            zorder=2,
            label="one subject: circle" if i == 0 else None,
        )
    long = diff.melt(ignore_index=False, var_name="model", value_name="difference")
    summary = mean_ci(long, "difference", by=["model"]).set_index("model").loc[diff.columns]
    ax.errorbar(
        x + 0.2,
        summary["mean"],
        yerr=_yerr(summary),
        fmt="D",
        color="black",
        markersize=5,
        capsize=3,
        zorder=3,
        label="mean: diamond,\nbar: 95% CI",
    )
    ax.plot([], [], color="0.4", linestyle="--", linewidth=1, label=f"no difference\nfrom {best}")
    ax.set_xlim(-0.5, len(x) - 0.3)
    _category_ticks(ax, x, diff.columns)
    ax.set_xlabel(f"Model, Δ = model − {best}, the best")
    ax.set_ylabel(f"Δ {'held-out ' if held_out else ''}{label}")
    worse = "↑ worse than the best" if not higher else "↓ worse than the best"
    ax.text(
        0.01,
        0.98 if not higher else 0.02,
        worse,
        transform=ax.transAxes,
        va="top" if not higher else "bottom",
        ha="left",
        fontsize="small",
        color="0.3",
    )
    _legend_outside(ax, fontsize="small")
    return ax
