"""Distributions of fitted parameters across subjects, one panel per parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ._common import MARKERS, _as_table, _require

# columns of params_/results_/comparison tables that are not parameters
_NOT_PARAMETERS = {
    "subject",
    "model",
    "fold",
    "source",
    "nll",
    "n_trials",
    "n_choices",
    "n_params",
    "aic",
    "bic",
    "converged",
    "n_iter",
    "log_prior",
    "log_lik",
    "nll_per_trial",
    "normalized_lik",
    "accuracy",
}


def plot_parameter_distributions(
    params: Any, *, models: Sequence[str] | None = None, col_wrap: int = 4, seed: int = 0
) -> Figure:
    """Distributions of fitted parameters across subjects, one panel per parameter.

    Parameters
    ----------
    params : pandas.DataFrame or result with ``.table``
        A model's ``params_`` (``subject`` and one column per parameter) or ``results_``
        (with ``model``; fit statistics such as ``nll, aic, bic, n_trials`` are not parameters),
        possibly several models' tables concatenated (parameters a model lacks are NaN).
    models : sequence of str, optional
        Models to show, in this order (default: all, in order of appearance).
    col_wrap : int
        Panels per row.
    seed : int
        Seeds the horizontal jitter of the points.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure with one Axes per parameter (``fig.axes``, in column order of ``params``):
        per model, a box plot and one point per subject.
    """
    table = _as_table(params, "params")
    _require(table, "params", ["subject"])
    table = table if "model" in table.columns else table.assign(model="")
    names = [
        c
        for c in table.columns
        if c not in _NOT_PARAMETERS
        and not str(c).startswith("_")
        and pd.api.types.is_numeric_dtype(table[c])
        and not pd.api.types.is_bool_dtype(table[c])
    ]
    known = list(pd.unique(table["model"]))
    models = known if models is None else list(models)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"models {unknown} are not in params; it has {known}")
    chosen = table[table["model"].isin(models)]
    names = [c for c in names if chosen[c].notna().any()]  # parameters of the chosen models
    if not names:
        raise ValueError(f"params has no parameter columns; it has {list(table.columns)}")
    long = chosen.melt(
        id_vars=["model", "subject"], value_vars=names, var_name="parameter", value_name="value"
    ).dropna(subset=["value"])
    ncols = min(col_wrap, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(2.8 * ncols, 2.6 * nrows), squeeze=False, layout="constrained"
    )
    rng = np.random.default_rng(seed)
    for ax, name in zip(axes.flat, names):
        part = long[long["parameter"] == name]
        present = [m for m in models if (part["model"] == m).any()]
        values = [part.loc[part["model"] == m, "value"].to_numpy(dtype=float) for m in present]
        ax.boxplot(
            values,
            positions=np.arange(len(present)),
            widths=0.5,
            showfliers=False,
            medianprops={"color": "black"},
        )
        for i, v in enumerate(values):
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, v.size),
                v,
                s=10,
                marker=MARKERS[i % 8],
                facecolor="none",
                edgecolor="0.3",
                linewidth=0.7,
                zorder=3,
            )
        ax.set_xticks(np.arange(len(present)), [str(m) for m in present])
        ax.set_title(str(name), fontsize="medium")
        ax.set_xlabel("")
        ax.set_ylabel("fitted value (parameter's scale)")
        ax.tick_params(axis="x", labelrotation=30 if len(present) > 3 else 0)
    for ax in axes.flat[len(names) :]:
        ax.remove()
    return fig
