"""Group comparison figure: a value per subject by group, one panel position per model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._common import COLORBLIND, MARKERS, _as_table, _axes, _legend_outside

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_group_comparison(
    table: Any,
    group: str,
    value: str = "nll_per_trial",
    *,
    by: str | None = "model",
    label: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Per-subject ``value`` by group (points and group mean with 95% CI), side by side per model.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per subject (and model), e.g. ``cv.subject_table()`` (held-out NLL per
        choice, with the data's covariates) or ``model.results_`` (parameters).
    group : str
        The grouping column (e.g. a diagnosis).
    value : str
        The column drawn.
    by : str or None
        One position on the x axis per level of this column (``"model"``); None: one position.
    label : str, optional
        Y-axis label (default: "Held-out NLL per choice (nats)" for ``nll_per_trial``, else the
        column name).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
    """
    table = _as_table(table, "table")
    data = table[table[group].notna()]
    levels = [None] if by is None else list(pd.unique(data[by]))
    groups = list(pd.unique(data[group]))
    ax = _axes(ax, (max(4.0, 1.6 * len(levels) + 2), 4))
    width = 0.8 / max(len(groups), 1)
    rng = np.random.default_rng(0)
    for j, g in enumerate(groups):
        for i, level in enumerate(levels):
            part = data if level is None else data[data[by] == level]
            v = part.loc[part[group] == g, value].dropna().to_numpy(float)
            if not len(v):
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.scatter(x + rng.uniform(-width / 4, width / 4, len(v)), v, s=10, alpha=0.4,
                       color=COLORBLIND[j % len(COLORBLIND)], marker=MARKERS[j % len(MARKERS)],
                       linewidths=0)
            ci = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
            ax.errorbar(x, v.mean(), yerr=ci, fmt=MARKERS[j % len(MARKERS)], color="black",
                        mfc=COLORBLIND[j % len(COLORBLIND)], ms=7, capsize=3,
                        label=f"{g} (mean, 95% CI)" if i == 0 else None)
    ax.set_xticks(range(len(levels)))
    ax.set_xticklabels(["" if lv is None else str(lv) for lv in levels])
    if by is not None:
        ax.set_xlabel(by.capitalize())
    default = "Held-out NLL per choice (nats)" if value == "nll_per_trial" else value
    ax.set_ylabel(label or default)
    _legend_outside(ax, title=group)
    return ax
