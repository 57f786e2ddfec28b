"""Figures of disentangled RNNs and of the dynamics of tiny networks.

:func:`plot_bottlenecks` (which bottlenecks of a :class:`~choicernn.models.disrnn.DisRNNModel`
stay open), :func:`plot_update_rules` (each open latent's update rule, per input),
:func:`plot_fixed_points` (fixed points of a tiny GRU, alone or on a logit portrait) and
:func:`plot_vector_field` (the GRU's update map per input, with its fixed points). Each takes the
tidy table computed by the model or by :mod:`choicernn.models.rnn_dynamics`. Options, latents and
units are numbered from 1 in the figures (from 0 in the tables).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._common import _as_table, _axes, _category_ticks, _legend_outside, _plt, _require, _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def display_name(name: Any) -> str:
    """A table label for a figure, numbered from 1: ``"reward x choice 0"`` ->
    ``"reward × chose 1"``, ``"latent 2"`` -> ``"latent 3"``."""
    if name is None or (isinstance(name, float) and np.isnan(name)):
        return "the latent itself"
    text = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), str(name))
    return text.replace(" x ", " × ").replace("choice", "chose")


def _condition_title(choice: Any, rewarded: Any) -> str:
    return f"chose option {int(choice) + 1}, {'reward' if bool(rewarded) else 'no reward'}"


def plot_bottlenecks(table: Any, *, model: str | None = None, ax: Axes | None = None) -> Axes:
    """Every bottleneck of a disentangled RNN as a heatmap of its noise scale.

    Parameters
    ----------
    table : pandas.DataFrame
        ``latent, input, kind, sigma, open``, as from ``DisRNNModel.bottleneck_table()``.
    model : str, optional
        The model's name, for the title.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One row per latent (most open first), one column for the latent's own bottleneck and
        one per input of its update MLP; dark = open (small noise), each cell's sigma written
        in it, in bold where open.
    """
    table = _as_table(table, "table")
    _require(table, "table", ["latent", "input", "kind", "sigma", "open"])
    own = table[table["kind"] == "latent"].sort_values("sigma")
    order = list(own["latent"])
    inputs = list(pd.unique(table.loc[table["kind"] == "update_input", "input"]))
    columns = ["the latent itself", *[display_name(n) for n in inputs]]
    sigma = np.full((len(order), len(columns)), np.nan)
    is_open = np.zeros_like(sigma, dtype=bool)
    for r, latent in enumerate(order):
        rows = table[table["latent"] == latent]
        sigma[r, 0] = float(rows.loc[rows["kind"] == "latent", "sigma"].iloc[0])
        is_open[r, 0] = bool(rows.loc[rows["kind"] == "latent", "open"].iloc[0])
        upd = rows[rows["kind"] == "update_input"].set_index("input")
        for c, name in enumerate(inputs, start=1):
            sigma[r, c] = float(upd.loc[name, "sigma"])
            is_open[r, c] = bool(upd.loc[name, "open"])
    ax = _axes(ax, figsize=(0.55 * len(columns) + 3.0, 0.45 * len(order) + 2.4))
    image = ax.imshow(sigma, cmap="Greys_r", vmin=0.0, vmax=1.2, aspect="auto")
    for r in range(len(order)):
        for c in range(len(columns)):
            colour = "white" if sigma[r, c] < 0.6 else "black"
            weight = "bold" if is_open[r, c] else "normal"
            ax.text(
                c,
                r,
                f"{sigma[r, c]:.2f}",
                ha="center",
                va="center",
                fontsize="x-small",
                color=colour,
                fontweight=weight,
            )
    ax.axvline(0.5, color="tab:orange", linewidth=1.5)
    ax.set_yticks(range(len(order)), [f"latent {int(v) + 1}" for v in order])
    _category_ticks(ax, range(len(columns)), columns)
    ax.set_xlabel("Bottleneck: the latent's own, then each input of its update MLP")
    ax.set_ylabel("Latent, most open first")
    bar = ax.figure.colorbar(image, ax=ax, shrink=0.85)
    bar.set_label("Noise sigma, open below 0.5 (sd)")
    if model:
        ax.set_title(f"Bottlenecks: {model}", fontsize="medium")
    return ax


def plot_update_rules(table: Any, *, model: str | None = None, axes: Any = None) -> Figure:
    """The update rule of each latent: its value after a trial against its value before.

    Parameters
    ----------
    table : pandas.DataFrame
        ``latent, prev_choice, rewarded, other_latent, other_value, value, next_value``, as from
        ``DisRNNModel.update_rule_table()``.
    model : str, optional
        For the figure title.
    axes : sequence of matplotlib.axes.Axes, optional
        One per latent of the table; default: a new figure with one panel per latent.

    Returns
    -------
    matplotlib.figure.Figure
        Per latent: one line (colour, marker and line style) per previous-trial input; the dashed
        diagonal is "no change". When the rule also reads another latent, its line is drawn for
        three values of that latent, faint to dark.
    """
    table = _as_table(table, "table")
    columns = [
        "latent",
        "prev_choice",
        "rewarded",
        "other_latent",
        "other_value",
        "value",
        "next_value",
    ]
    _require(table, "table", columns)
    latents = list(pd.unique(table["latent"]))
    if not latents:
        raise ValueError("table has no latent (the model has no open latent); nothing to draw")
    if axes is None:
        fig, grid = _plt().subplots(
            1,
            len(latents),
            figsize=(3.6 * len(latents) + 2.2, 3.8),
            layout="constrained",
            squeeze=False,
        )
        axes = list(grid[0])
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(latents):
            raise ValueError(f"axes has {len(axes)} Axes; the table has {len(latents)} latents")
        fig = axes[0].figure
    for ax, latent in zip(axes, latents, strict=True):
        rows = table[table["latent"] == latent]
        lo, hi = float(rows["value"].min()), float(rows["value"].max())
        ax.plot([lo, hi], [lo, hi], color="0.5", linestyle="--", linewidth=0.8, label="no change")
        other = int(rows["other_latent"].iloc[0])
        levels = sorted(pd.unique(rows["other_value"].dropna())) if other >= 0 else [np.nan]
        alphas = np.linspace(0.35, 1.0, len(levels)) if len(levels) > 1 else [1.0]
        for i, ((choice, rewarded), part) in enumerate(
            rows.groupby(["prev_choice", "rewarded"], sort=True)
        ):
            style = _style(i)
            for level, alpha in zip(levels, alphas, strict=True):
                line = part if other < 0 else part[np.isclose(part["other_value"], level)]
                last = level == levels[-1] or other < 0
                ax.plot(
                    line["value"],
                    line["next_value"],
                    color=style["color"],
                    linestyle=style["linestyle"],
                    marker=style["marker"],
                    markevery=max(len(line) // 6, 1),
                    markersize=4,
                    alpha=alpha,
                    label=_condition_title(choice, rewarded) if last else None,
                )
        name = f"latent {int(latent) + 1}"
        ax.set_xlabel(f"{name.capitalize()} before the trial (a.u.)")
        ax.set_ylabel(f"{name.capitalize()} after the trial (a.u.)")
        title = name.capitalize()
        if other >= 0:
            values = ", ".join(f"{v:.2f}" for v in levels)
            title += f"\nfaint to dark: latent {other + 1} at {values}"
        ax.set_title(title, fontsize="small")
    _legend_outside(axes[-1], title="previous trial", fontsize="small")
    if model:
        fig.suptitle(f"Update rules: {model}", fontsize="medium")
    return fig


def plot_fixed_points(table: Any, *, model: str | None = None, ax: Axes | None = None) -> Axes:
    """Fixed points of a network in logit coordinates (on a logit portrait, or alone).

    Parameters
    ----------
    table : pandas.DataFrame or FixedPointResult
        ``logit, stable, prev_choice, rewarded``, as from
        :func:`choicernn.models.rnn_dynamics.fixed_points`.
    model : str, optional
        For the title (only when drawing on a new figure).
    ax : matplotlib.axes.Axes, optional
        Typically the Axes of :func:`choicernn.plots.plot_logit_portrait` (a fixed point has
        ΔL = 0; its colour and marker are those of the same input there). Default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Stable fixed points filled, unstable ones hollow, at ΔL = 0.
    """
    table = _as_table(table, "table")
    _require(table, "table", ["logit", "stable", "prev_choice", "rewarded"])
    new = ax is None
    ax = _axes(ax, figsize=(6.5, 4.0))
    for i, ((choice, rewarded), rows) in enumerate(
        table.groupby(["prev_choice", "rewarded"], sort=True)
    ):
        style = _style(i)
        for stable, part in rows.groupby("stable"):
            ax.scatter(
                part["logit"],
                np.zeros(len(part)),
                s=90,
                marker=style["marker"],
                facecolors=style["color"] if stable else "none",
                edgecolors=style["color"],
                linewidths=1.8,
                zorder=5,
                label=f"{_condition_title(choice, rewarded)}, {'stable' if stable else 'unstable'}"
                if new
                else None,
            )
    if not new:
        ax.scatter(
            [],
            [],
            s=90,
            marker="o",
            facecolors="0.3",
            edgecolors="0.3",
            label="stable fixed point: filled",
        )
        ax.scatter(
            [],
            [],
            s=90,
            marker="o",
            facecolors="none",
            edgecolors="0.3",
            label="unstable fixed point: hollow",
        )
    else:
        ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
        ax.set_xlabel("Choice log-odds L at the fixed point, option 2 over option 1 (nats)")
        ax.set_ylabel("Change of L after the trial (nats)")
        if model:
            ax.set_title(f"Fixed points: {model}", fontsize="medium")
    _legend_outside(ax, fontsize="small")
    return ax


def plot_vector_field(
    field: Any, *, fixed: Any = None, model: str | None = None, axes: Any = None
) -> Figure:
    """The update map of a 1- or 2-unit network, one panel per previous-trial input.

    Parameters
    ----------
    field : pandas.DataFrame
        From :func:`choicernn.models.rnn_dynamics.vector_field`: ``prev_choice, rewarded,
        unit_0, delta_0`` (and ``unit_1, delta_1, logit`` for two units).
    fixed : pandas.DataFrame or FixedPointResult, optional
        Fixed points to mark (stable filled, unstable hollow).
    model : str, optional
        For the figure title.
    axes : sequence of matplotlib.axes.Axes, optional
        One per input condition; default: a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        One unit: the change of the unit over one trial against its value. Two units: arrows of
        the change in the plane of the two units, over contours of the choice log-odds.
    """
    field = _as_table(field, "field")
    _require(field, "field", ["prev_choice", "rewarded", "unit_0", "delta_0"])
    two = "unit_1" in field.columns
    groups = list(field.groupby(["prev_choice", "rewarded"], sort=True))
    if axes is None:
        fig, grid = _plt().subplots(
            1,
            len(groups),
            figsize=(3.4 * len(groups), 3.6),
            layout="constrained",
            squeeze=False,
            sharey=True,
        )
        axes = list(grid[0])
    else:
        axes = list(np.ravel(axes))
        if len(axes) != len(groups):
            raise ValueError(f"axes has {len(axes)} Axes; the field has {len(groups)} inputs")
        fig = axes[0].figure
    points = None if fixed is None else _as_table(fixed, "fixed")
    for i, (ax, ((choice, rewarded), rows)) in enumerate(zip(axes, groups, strict=True)):
        style = _style(i)
        if two:
            side = int(round(np.sqrt(len(rows))))
            u = rows["unit_0"].to_numpy().reshape(side, side)
            v = rows["unit_1"].to_numpy().reshape(side, side)
            levels = ax.contour(
                u, v, rows["logit"].to_numpy().reshape(side, side), colors="0.7", linewidths=0.7
            )
            ax.clabel(levels, fontsize="xx-small")
            ax.quiver(
                u,
                v,
                rows["delta_0"].to_numpy().reshape(side, side),
                rows["delta_1"].to_numpy().reshape(side, side),
                color=style["color"],
                angles="xy",
            )
            ax.set_ylabel("Unit 2 state (a.u.)")
            ax.set_aspect("equal")
        else:
            ax.plot(
                rows["unit_0"], rows["delta_0"], color=style["color"], linestyle=style["linestyle"]
            )
            ax.axhline(0.0, color="0.5", linewidth=0.8)
            ax.set_ylabel("Change of unit 1 over one trial (a.u.)")
        if points is not None:
            mine = points[(points["prev_choice"] == choice) & (points["rewarded"] == rewarded)]
            for stable, part in mine.groupby("stable"):
                y = part["unit_1"] if two else np.zeros(len(part))
                ax.scatter(
                    part["unit_0"],
                    y,
                    s=70,
                    marker=style["marker"],
                    facecolors=style["color"] if stable else "none",
                    edgecolors="black",
                    zorder=5,
                )
        ax.set_xlabel("Unit 1 state (a.u.)")
        ax.set_title(_condition_title(choice, rewarded), fontsize="small")
    note = "marker: fixed point, filled stable, hollow unstable"
    if two:
        note += "; grey contours: choice log-odds, nats"
    fig.supxlabel(note, fontsize="x-small")
    if model:
        fig.suptitle(f"Update map: {model}", fontsize="medium")
    return fig
