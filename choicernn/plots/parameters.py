"""Distributions of fitted parameters across subjects, one panel per parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._common import (
    MARKER_NAMES,
    MARKERS,
    _as_table,
    _bound_text,
    _bounds,
    _category_ticks,
    _mark_bounds,
    _plt,
    _require,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    params: Any,
    *,
    models: Sequence[str] | None = None,
    bounds: Any = None,
    col_wrap: int = 4,
    seed: int = 0,
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
    bounds : pandas.DataFrame or dict, optional
        Parameter bounds: ``model.parameter_table()`` (columns ``name, lower, upper``; several
        models' tables may be concatenated) or a dict ``name -> (lower, upper)``. Each panel's
        title states its parameter's bounds, and a bound near the fitted values is drawn as a
        dashed line (a far one would squash the panel).
    col_wrap : int
        Panels per row.
    seed : int
        Seeds the horizontal jitter of the points.

    Returns
    -------
    matplotlib.figure.Figure
        A new figure with one Axes per parameter (``fig.axes``, in column order of ``params``),
        each with its own y range: per model, a box plot and one point per subject, in the
        model's own marker shape (named in the figure legend).
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
    limits = _bounds(bounds)
    ncols = min(col_wrap, len(names))
    nrows = math.ceil(len(names) / ncols)
    width = max(2.8, 0.9 + 0.55 * len(models))
    fig, axes = _plt().subplots(
        nrows,
        ncols,
        figsize=(width * ncols, 2.8 * nrows + 0.4),
        squeeze=False,
        layout="constrained",
    )
    rng = np.random.default_rng(seed)
    for k, (ax, name) in enumerate(zip(axes.flat, names)):
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
        for i, (m, v) in enumerate(zip(present, values)):
            ax.scatter(
                i + rng.uniform(-0.15, 0.15, v.size),
                v,
                s=10,
                marker=MARKERS[models.index(m) % len(MARKERS)],
                facecolor="none",
                edgecolor="0.3",
                linewidth=0.7,
                zorder=3,
            )
        bound = limits.get(str(name))
        if len(part):
            _mark_bounds(ax, bound, float(part["value"].min()), float(part["value"].max()))
        ax.set_xlim(-0.6, len(present) - 0.4)
        _category_ticks(ax, np.arange(len(present)), present)
        text = _bound_text(bound)
        ax.set_title(f"{name}, {text}" if text else str(name), fontsize="medium")
        ax.set_xlabel("")
        if k % ncols == 0:
            ax.set_ylabel("Fitted value (parameter's scale)")
    for ax in axes.flat[len(names) :]:
        ax.remove()
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker=MARKERS[i % len(MARKERS)],
            linestyle="none",
            markerfacecolor="none",
            markeredgecolor="0.3",
            label=f"{m}: {MARKER_NAMES[MARKERS[i % len(MARKERS)]]}" if str(m) else "subject",
        )
        for i, m in enumerate(models)
    ]
    if any(limits.get(str(n)) for n in names):
        handles.append(Line2D([], [], color="0.45", linestyle="--", label="parameter bound"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 5),
        frameon=False,
        fontsize="small",
        title="one point per subject; box: quartiles",
        title_fontsize="small",
    )
    return fig
