"""The lagged-regression kernel figure: weight per lag and feature, mean ± SEM over subjects."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ._common import COLORBLIND, LINESTYLES, MARKERS, _axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_lag_kernel(
    table: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Weights of a lagged regression over lags, one line per feature (mean ± SEM over subjects).

    Parameters
    ----------
    table : pandas.DataFrame
        ``subject, feature, lag, weight`` (``LaggedRegression.kernel_table()``).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    for i, (feature, part) in enumerate(table.groupby("feature", sort=False)):
        stats = part.groupby("lag")["weight"].agg(["mean", "std", "count"])
        sem = (stats["std"] / stats["count"].pow(0.5)).fillna(0.0)
        ax.errorbar(
            stats.index,
            stats["mean"],
            yerr=sem,
            label=feature,
            color=COLORBLIND[i % len(COLORBLIND)],
            marker=MARKERS[i % len(MARKERS)],
            linestyle=LINESTYLES[i % len(LINESTYLES)],
            capsize=3,
        )
    ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
    ax.set_xlabel("Lag (observed trials back)")
    ax.set_ylabel("Weight (log-odds)")
    ax.set_xticks(sorted(table["lag"].unique()))
    ax.legend(title="Feature", frameon=False)
    if title:
        ax.set_title(title)
    return ax
