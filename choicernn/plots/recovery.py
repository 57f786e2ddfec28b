"""Recovery figures: true against refitted parameters, and the model-recovery confusion matrix."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._common import _as_table, _axes, _bounds, _category_ticks, _mark_bounds, _plt, _require

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def _log_ticks(ax: Axes) -> None:
    """Readable log axes: major ticks at 1, 2, 5 x 10^k written plainly, no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def plot_parameter_recovery(
    table: Any,
    *,
    summary: pd.DataFrame | None = None,
    scales: Mapping[str, str] | None = None,
    bounds: Any = None,
    ax: Axes | Sequence[Axes] | None = None,
) -> Figure:
    """True against fitted values, one panel per parameter, with the identity line.

    Parameters
    ----------
    table : pandas.DataFrame or result with ``.table``
        ``subject, parameter, true, fitted`` (one row per subject and parameter), as in
        :class:`~choicernn.analysis.recovery.ParameterRecoveryResult`; a result also supplies
        ``summary`` and ``scales`` when they are not given.
    summary : pandas.DataFrame, optional
        ``parameter, r``: the panel order and the Pearson r in each title (default: parameters
        in order of appearance, r computed here).
    scales : dict, optional
        Parameter -> ``"linear"`` or ``"log"``; log-scaled parameters get log axes with plain
        labels at 1, 2 and 5 x 10^k.
    bounds : pandas.DataFrame or dict, optional
        ``model.parameter_table()`` or ``name -> (lower, upper)``: bounds near the values are
        drawn as dashed lines.
    ax : Axes or sequence of Axes, optional
        One Axes per parameter (a single Axes for a one-parameter model). Default: a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the panels; each panel has equal x and y ranges, one circle per
        simulated subject, the identity line and a title ``"<parameter>: r = <r>"``.
    """
    result = table
    table = _as_table(table, "table")
    _require(table, "table", ["parameter", "true", "fitted"])
    if summary is None:
        summary = getattr(result, "summary", None)
        summary = summary if isinstance(summary, pd.DataFrame) else None
    if scales is None:
        scales = getattr(result, "scales", None) or {}
    limits = _bounds(bounds)
    if summary is not None:
        names = [str(n) for n in summary["parameter"]]
        r_by = dict(zip(names, summary["r"]))
    else:
        names = [str(n) for n in pd.unique(table["parameter"])]
        r_by = {}
    if ax is None:
        ncols = min(len(names), 4)
        nrows = math.ceil(len(names) / ncols)
        fig, grid = _plt().subplots(
            nrows, ncols, figsize=(3.0 * ncols, 3.1 * nrows), squeeze=False, layout="constrained"
        )
        axes = list(grid.ravel())
        for extra in axes[len(names) :]:
            extra.remove()
        axes = axes[: len(names)]
    else:
        from matplotlib.axes import Axes as _Axes

        axes = [ax] if isinstance(ax, _Axes) else list(ax)
        if len(axes) != len(names):
            raise ValueError(
                f"ax must hold one Axes per parameter ({len(names)}: {names}), got {len(axes)}"
            )
        fig = axes[0].figure
    any_bound = False
    for a, name in zip(axes, names):
        part = table[table["parameter"].astype(str) == name]
        true = part["true"].to_numpy(float)
        fitted = part["fitted"].to_numpy(float)
        a.scatter(true, fitted, s=14, facecolor="none", edgecolor="black", marker="o", zorder=3)
        values = np.concatenate([true, fitted])
        values = values[np.isfinite(values)]
        low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        log = scales.get(name) == "log" and low > 0
        if log:
            a.set_xscale("log")
            a.set_yscale("log")
            lo_lim, hi_lim = low / 1.25, high * 1.25
        else:
            pad = 0.06 * max(high - low, 1e-9)
            lo_lim, hi_lim = low - pad, high + pad
        bound = limits.get(name)
        drawn = _mark_bounds(a, bound, low, high, axis="y")
        _mark_bounds(a, bound, low, high, axis="x")
        any_bound = any_bound or bool(drawn)
        if drawn:
            lo_lim = min([lo_lim, *drawn]) if not log else lo_lim
            hi_lim = max([hi_lim, *drawn]) if not log else hi_lim
        a.plot([lo_lim, hi_lim], [lo_lim, hi_lim], color="0.5", linewidth=1, zorder=1)
        a.set_xlim(lo_lim, hi_lim)
        a.set_ylim(lo_lim, hi_lim)
        if log:
            _log_ticks(a)
        a.set_xlabel(f"True {name}")
        a.set_ylabel(f"Fitted {name}")
        r = r_by.get(name)
        if r is None and len(part) > 1 and np.std(true) > 0 and np.std(fitted) > 0:
            r = float(np.corrcoef(true, fitted)[0, 1])
        a.set_title(f"{name}: r = {r:.2f}" if r is not None and np.isfinite(r) else name)
    from matplotlib.lines import Line2D

    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="none",
            markerfacecolor="none",
            markeredgecolor="black",
            label="one simulated subject: circle",
        ),
        Line2D([], [], color="0.5", linewidth=1, label="identity, fitted = true"),
    ]
    if any_bound:
        handles.append(Line2D([], [], color="0.45", linestyle="--", label="parameter bound"))
    fig.legend(
        handles=handles,
        loc="outside lower center" if ax is None else "lower center",
        ncols=len(handles),
        frameon=False,
        fontsize="small",
    )
    return fig


def plot_confusion(confusion: Any, ax: Axes | None = None) -> Axes:
    """The model-recovery confusion matrix as an annotated grey-scale heatmap.

    Parameters
    ----------
    confusion : pandas.DataFrame or result with ``.confusion``
        Index: generating models; columns: fitted models; values: the fraction of each
        generating model's subjects best fitted (lowest held-out NLL) by each fitted model, as
        :class:`~choicernn.analysis.recovery.ModelRecoveryResult` ``.confusion``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Generating models on y, fitted models on x, every cell annotated with its fraction
        and a colour bar from 0 to 1.
    """
    if not isinstance(confusion, pd.DataFrame):
        inner = getattr(confusion, "confusion", None)
        if not isinstance(inner, pd.DataFrame):
            raise TypeError(
                "confusion must be a DataFrame or have a .confusion DataFrame, got "
                f"{type(confusion).__name__}"
            )
        confusion = inner
    n_rows, n_cols = confusion.shape
    ax = _axes(ax, figsize=(1.6 + 0.9 * n_cols, 1.4 + 0.7 * n_rows))
    values = confusion.to_numpy(dtype=float)
    image = ax.imshow(values, cmap="Greys", vmin=0.0, vmax=1.0, aspect="equal")
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if v > 0.5 else "black",
                )
    ax.set_yticks(np.arange(n_rows), [str(m) for m in confusion.index])
    ax.set_xlim(-0.5, n_cols - 0.5)
    _category_ticks(ax, np.arange(n_cols), confusion.columns)
    ax.set_xlabel("Fitted model, best by held-out NLL")
    ax.set_ylabel("Generating model")
    ax.set_title("Model recovery", fontsize="medium")
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("Subjects best fitted (proportion)")
    return ax
