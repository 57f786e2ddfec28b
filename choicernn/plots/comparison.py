"""Model comparison figures: per-subject fits paired across models, differences to the best."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..signatures import mean_ci
from ._common import _as_table, _axes, _require, _yerr

# metric -> (axis label, higher is better); computed from nll and n_trials when missing
_METRICS = {
    "nll_per_trial": ("NLL per trial (nats)", False),
    "normalized_lik": ("Normalized likelihood (geometric mean p(choice))", True),
    "nll": ("Total NLL (nats)", False),
}


# other columns where greater is better (the rest: lower is better)
_HIGHER_IS_BETTER = {"accuracy", "log_lik", "score", "elpd"}


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
        per, label, higher = table, metric, metric in _HIGHER_IS_BETTER
    if higher_is_better is not None:
        higher = bool(higher_is_better)
    wide = per.pivot(index="subject", columns="model", values=metric)
    means = wide.mean()
    order = means.sort_values(ascending=not higher, kind="stable").index
    return wide[order], label, higher


def plot_model_comparison(
    subject_table: Any,
    *,
    metric: str = "nll_per_trial",
    higher_is_better: bool | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Per-subject fit of every model, paired across models, with the mean ± 95% CI.

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
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Models on x, best first (lowest mean ``nll_per_trial``; highest ``normalized_lik``):
        one open point per subject, thin grey lines joining each subject across models, and
        the mean with a t-based 95% CI beside them.
    """
    ax = _axes(ax)
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
    long = wide.melt(ignore_index=False, var_name="model", value_name=metric)
    summary = mean_ci(long, metric, by=["model"]).set_index("model").loc[wide.columns]
    ax.errorbar(
        x + 0.2,
        summary["mean"],
        yerr=_yerr(summary),
        fmt="D",
        color="black",
        markersize=5,
        capsize=3,
        zorder=3,
    )
    ax.set_xticks(x, [str(m) for m in wide.columns], rotation=30 if len(x) > 4 else 0)
    ax.set_xlim(-0.5, len(x) - 0.3)
    ax.set_xlabel("Model (best first)")
    ax.set_ylabel(label + (" (higher is better)" if higher else " (lower is better)"))
    handles = [
        Line2D(
            [],
            [],
            color="0.75",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="0.35",
            linewidth=0.6,
            label="subject",
        ),
        Line2D([], [], color="black", marker="D", linestyle="none", label="mean ± 95% CI"),
    ]
    ax.legend(handles=handles, frameon=False)
    return ax


def plot_difference_to_best(
    subject_table: Any,
    *,
    metric: str = "nll_per_trial",
    higher_is_better: bool | None = None,
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
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        The other models on x (best first); y is ``metric(model) - metric(best)`` per subject
        (so positive is worse when lower is better, e.g. NLL, and negative is worse when higher
        is better, e.g. ``normalized_lik``), a dashed line at zero, and the mean with a t-based 95% CI. Subjects missing from the best model are left
        out.
    """
    ax = _axes(ax)
    wide, label, higher = _comparison(subject_table, metric, higher_is_better)
    if wide.shape[1] < 2:
        raise ValueError(
            f"plot_difference_to_best needs two or more models, got {list(wide.columns)}"
        )
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
            label="subject" if i == 0 else None,
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
        label="mean ± 95% CI",
    )
    ax.set_xticks(x, [str(m) for m in diff.columns], rotation=30 if len(x) > 4 else 0)
    ax.set_xlim(-0.5, len(x) - 0.3)
    ax.set_xlabel(f"Model (compared with the best, {best})")
    worse = "above" if not higher else "below"
    ax.set_ylabel(f"Δ {label}: model − {best} ({worse} 0: worse)")
    ax.legend(frameon=False)
    return ax
