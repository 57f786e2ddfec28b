"""Posterior predictive check figure: behavioural signatures of the data beside a model's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..signatures import mean_ci
from ._common import _as_table, _axes, _legend_outside, _require, _style, _yerr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# (signature, condition) -> tick label, in drawing order
_CONDITIONS = {
    ("p_stay", "rewarded"): "stay after\nreward",
    ("p_stay", "unrewarded"): "stay after\nno reward",
    ("p_switch", "all"): "switch",
}


def plot_ppc(result: Any, *, model: str | None = None, ax: Axes | None = None) -> Axes:
    """Signatures of the data beside those of a fitted model's simulations.

    Parameters
    ----------
    result : PosteriorPredictiveResult or pandas.DataFrame
        Its ``.table``: ``source`` (``"data"`` or ``"model"``), ``subject``, ``signature``,
        ``condition``, ``value`` and optionally ``simulation`` (each simulated subject's value
        is first averaged over simulations), as from :func:`choicernn.posterior_predictive`.
    model : str, optional
        The model's name, for the legend and title; default: the result's ``model_name`` or
        the table's ``model`` column when present, else ``"model"``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Grouped bars per signature (stay probability after reward and after no reward,
        switch rate, then any other signature), one hatch per source, with the mean across
        subjects and its t-based 95% CI.
    """
    table = _as_table(result, "result")
    _require(table, "result", ["source", "subject", "signature", "condition", "value"])
    if model is None:
        model = getattr(result, "model_name", None)
    if model is None and "model" in table.columns and table["model"].nunique() == 1:
        model = str(table["model"].iloc[0])
    model = "model" if model is None else str(model)
    per_subject = (
        table.groupby(["source", "subject", "signature", "condition"], sort=False)["value"]
        .mean()
        .reset_index()
    )
    summary = mean_ci(per_subject, "value", by=["source", "signature", "condition"])
    present = list(dict.fromkeys(zip(summary["signature"], summary["condition"])))
    order = [k for k in _CONDITIONS if k in present] + [k for k in present if k not in _CONDITIONS]
    sources = list(pd.unique(summary["source"]))
    sources = [s for s in ("data", "model") if s in sources] + [
        s for s in sources if s not in ("data", "model")
    ]
    names = {"data": "data", "model": f"{model}, simulated"}
    ax = _axes(ax, figsize=(6.5, 4.0))
    width = 0.8 / len(sources)
    for i, source in enumerate(sources):
        style = _style(i)
        part = summary[summary["source"] == source].set_index(["signature", "condition"])
        part = part.reindex(pd.MultiIndex.from_tuples(order))
        x = np.arange(len(order)) - 0.4 + width * (i + 0.5)
        ax.bar(
            x,
            part["mean"],
            width=width,
            color=style["color"],
            alpha=0.35,
            edgecolor="black",
            hatch=style["hatch"],
            label=names.get(source, str(source)),
        )
        ax.errorbar(x, part["mean"], yerr=_yerr(part), fmt="none", ecolor="black", capsize=3)
    ticks = [_CONDITIONS.get(k, f"{k[0]},\n{k[1]}") for k in order]
    ax.set_xticks(np.arange(len(order)), ticks)
    ax.set_xlabel("Behavioural signature")
    ax.set_ylabel("Probability (proportion of choices)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Posterior predictive check: {model}", fontsize="medium")
    _legend_outside(ax, title="mean ± 95% CI\nacross subjects")
    return ax
