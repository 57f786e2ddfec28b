"""Behavioural-signature figures: stay probabilities, reversal and learning curves by source."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..signatures import mean_ci
from ._common import _axes, _integer_ticks, _legend_outside, _sources, _style, _yerr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_LEGEND_TITLE = "mean ± 95% CI\nacross subjects"


def plot_stay_probabilities(tables: Any, ax: Axes | None = None) -> Axes:
    """Stay probability after rewarded and unrewarded choices: data beside model simulations.

    Parameters
    ----------
    tables : dict of str to DataFrame, or DataFrame
        Per source (``"data"``, a model's name, ...), the output of
        :func:`choicernn.signatures.stay_probabilities` (``subject, previous_reward, p_stay``);
        or one table with a ``source`` column (without one, a single source ``"data"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Grouped bars (one hatch per source) of the mean ``p_stay`` across subjects with t-based
        95% CIs, after a rewarded and after an unrewarded choice.
    """
    table, sources = _sources(tables, "tables", ["subject", "previous_reward", "p_stay"])
    ax = _axes(ax, figsize=(6.5, 4.0))
    summary = mean_ci(table, "p_stay", by=["source", "previous_reward"])
    levels = ["rewarded", "unrewarded"]
    width = 0.8 / len(sources)
    for i, source in enumerate(sources):
        style = _style(i)
        part = summary[summary["source"] == source].set_index("previous_reward").reindex(levels)
        x = np.arange(2) - 0.4 + width * (i + 0.5)
        ax.bar(
            x,
            part["mean"],
            width=width,
            color=style["color"],
            alpha=0.35,
            edgecolor="black",
            hatch=style["hatch"],
            label=str(source),
        )
        ax.errorbar(x, part["mean"], yerr=_yerr(part), fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(np.arange(2), ["after reward", "after no reward"])
    ax.set_xlabel("Outcome of the previous choice")
    ax.set_ylabel("Stay probability (proportion of choices)")
    ax.set_ylim(0, 1.05)
    _legend_outside(ax, title=_LEGEND_TITLE)
    return ax


def _plot_curves(
    tables: Any, x: str, y: str, ax: Axes | None, xlabel: str, ylabel: str, shift: int = 0
) -> Axes:
    table, sources = _sources(tables, "tables", ["subject", x, y])
    ax = _axes(ax, figsize=(6.5, 4.0))
    summary = mean_ci(table, y, by=["source", x])
    summary[x] = summary[x] + shift
    for i, source in enumerate(sources):
        style = _style(i)
        part = summary[summary["source"] == source].sort_values(x)
        ax.plot(
            part[x],
            part["mean"],
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=4,
            label=str(source),
        )
        ax.fill_between(
            part[x], part["ci_low"], part["ci_high"], color=style["color"], alpha=0.15, linewidth=0
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    _integer_ticks(ax, "x")
    _legend_outside(ax, title=_LEGEND_TITLE)
    return ax


def plot_reversal_curves(tables: Any, ax: Axes | None = None) -> Axes:
    """Probability of choosing the new best option around reversals, per source.

    Parameters
    ----------
    tables : dict of str to DataFrame, or DataFrame
        Per source, the output of :func:`choicernn.signatures.reversal_curves`
        (``subject, lag, p_new_best``), or one table with a ``source`` column.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One line per source (own marker and line style) of the mean across subjects with a
        shaded t-based 95% CI; a dotted line marks the reversal (between lags -1 and 0).
    """
    ax = _plot_curves(
        tables,
        "lag",
        "p_new_best",
        ax,
        "Trials from reversal, 0 = first trial after it",
        "Choices of the new best option (proportion)",
    )
    ax.axvline(-0.5, color="0.4", linestyle=":", linewidth=1, label="reversal")
    _legend_outside(ax, title=_LEGEND_TITLE)
    return ax


def plot_learning_curves(tables: Any, ax: Axes | None = None) -> Axes:
    """Probability of choosing the best option across each session, per source.

    Parameters
    ----------
    tables : dict of str to DataFrame, or DataFrame
        Per source, the output of :func:`choicernn.signatures.learning_curve`
        (``subject, trial_bin, p_best``), or one table with a ``source`` column.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One line per source of the mean across subjects with a shaded t-based 95% CI; bins
        are numbered from 1 (the first part of the session).
    """
    return _plot_curves(
        tables,
        "trial_bin",
        "p_best",
        ax,
        "Trial bin within the session, 1 = first",
        "Choices of the best option (proportion)",
        shift=1,
    )
