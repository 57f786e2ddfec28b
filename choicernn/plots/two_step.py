"""The two-step task's classic figure: stay probability by previous reward and transition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..signatures import mean_ci
from ._common import COLORBLIND, _axes, _legend_outside, _sources, _yerr

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_OUTCOMES = (("rewarded", "Rewarded"), ("unrewarded", "Unrewarded"))
_TRANSITIONS = (
    ("common", "Common", {"color": COLORBLIND[0], "hatch": ""}),
    ("rare", "Rare", {"color": COLORBLIND[1], "hatch": "//"}),
)


def plot_two_step_stay(tables: Any, ax: Axes | None = None) -> Axes:
    """First-stage stay probability after rewarded / unrewarded trials with a common / rare
    transition (Daw et al. 2011, Fig. 2): data beside simulated models.

    Parameters
    ----------
    tables : dict of str to DataFrame, or DataFrame
        Per source (``"data"``, a model's name, ...), the output of
        :func:`choicernn.signatures.two_step_stay` (``subject, previous_reward, transition,
        p_stay``); or one table with a ``source`` column (without one, a single source
        ``"data"``).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One group of four bars per source: "Rewarded" and "Unrewarded", each with a "Common"
        (plain) and a "Rare" (hatched) bar; bar heights are the mean ``p_stay`` across
        subjects with t-based 95% CIs. A model-free learner shows a main effect of reward, a
        model-based learner a reward x transition interaction.
    """
    columns = ["subject", "previous_reward", "transition", "p_stay"]
    table, sources = _sources(tables, "tables", columns)
    ax = _axes(ax, figsize=(3.0 + 2.2 * len(sources), 4.0))
    summary = mean_ci(table, "p_stay", by=["source", "previous_reward", "transition"])
    width, gap = 0.38, 2.6
    ticks, names = [], []
    for i, source in enumerate(sources):
        part = summary[summary["source"] == source].set_index(["previous_reward", "transition"])
        for j, (outcome, outcome_label) in enumerate(_OUTCOMES):
            centre = i * gap + j * 1.0
            ticks.append(centre)
            names.append(outcome_label)
            for k, (transition, label, style) in enumerate(_TRANSITIONS):
                key = (outcome, transition)
                row = part.loc[[key]] if key in part.index else None
                if row is None:
                    continue
                x = centre + (k - 0.5) * width
                ax.bar(
                    x,
                    row["mean"].to_numpy(),
                    width=width,
                    color=style["color"],
                    alpha=0.45,
                    edgecolor="black",
                    hatch=style["hatch"],
                    label=label if (i, j) == (0, 0) else None,
                )
                ax.errorbar(
                    [x],
                    row["mean"].to_numpy(),
                    yerr=_yerr(row),
                    fmt="none",
                    ecolor="black",
                    capsize=3,
                )
        if len(sources) > 1:
            ax.text(
                i * gap + 0.5,
                -0.13,
                str(source),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontweight="bold",
            )
    ax.set_xticks(ticks, names)
    ax.set_xlim(-0.6, (len(sources) - 1) * gap + 1.6)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("Previous trial's outcome" + (", by source" if len(sources) > 1 else ""))
    if len(sources) > 1:
        ax.xaxis.labelpad = 26
    ax.set_ylabel("Stay probability (proportion of trials)")
    _legend_outside(ax, title="Previous transition\nmean ± 95% CI\nacross subjects")
    return ax
