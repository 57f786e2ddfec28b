"""Figures that explain and audit networks: logit portraits, agreement by value, membership ROC."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._common import _as_table, _axes, _legend_outside, _require, _style

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _input_label(choice: Any, rewarded: Any) -> str:
    """``"chose option 2, reward"``: options numbered from 1."""
    return f"chose option {int(choice) + 1}, {'reward' if bool(rewarded) else 'no reward'}"


def plot_logit_portrait(
    table: Any,
    *,
    n_bins: int = 20,
    points: bool = True,
    model: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Logit phase portrait of a two-option network: ΔL against L, per previous-trial input.

    Parameters
    ----------
    table : pandas.DataFrame or PortraitResult
        ``logit, delta_logit, prev_choice, rewarded`` (and ``input``), as from
        :func:`choicernn.logit_portrait`.
    n_bins : int
        Bins of L over which the mean ΔL line is drawn.
    points : bool
        Draw every visited state as a faint point.
    model : str, optional
        The network's name, for the title.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        One colour, marker and line style per input (previous choice x reward; options
        numbered from 1): the mean ΔL in bins of L as a line, the states as faint points.
    """
    table = _as_table(table, "table")
    _require(table, "table", ["logit", "delta_logit", "prev_choice", "rewarded"])
    ax = _axes(ax, figsize=(6.5, 4.0))
    lo, hi = float(table["logit"].min()), float(table["logit"].max())
    edges = np.linspace(lo, hi, n_bins + 1) if hi > lo else np.array([lo - 0.5, hi + 0.5])
    for i, ((choice, rewarded), rows) in enumerate(
        table.groupby(["prev_choice", "rewarded"], sort=True)
    ):
        style = _style(i)
        if points:
            ax.scatter(
                rows["logit"],
                rows["delta_logit"],
                s=6,
                alpha=0.15,
                color=style["color"],
                marker=style["marker"],
                linewidths=0,
            )
        bins = pd.cut(rows["logit"], edges, include_lowest=True)
        mean = rows.groupby(bins, observed=True)[["logit", "delta_logit"]].mean()
        ax.plot(
            mean["logit"],
            mean["delta_logit"],
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            markersize=5,
            label=_input_label(choice, rewarded),
        )
    ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
    ax.set_xlabel("Choice log-odds L, option 2 over option 1 (nats)")
    ax.set_ylabel("Change of L after the trial (nats)")
    if model:
        ax.set_title(f"Logit portrait: {model}", fontsize="medium")
    _legend_outside(ax, title="previous trial;\nline: binned mean", fontsize="small")
    return ax


def plot_agreement(
    table: Any,
    *,
    labels: tuple[str, str] = ("Q-learning model", "reward-oblivious network"),
    ax: Axes | None = None,
) -> Axes:
    """Agreement of a network with a Q-model and with a reward-oblivious model, by value gap.

    Parameters
    ----------
    table : pandas.DataFrame
        ``value_diff, agree_q, sem_q, agree_oblivious, sem_oblivious``, as from
        :func:`choicernn.agreement_by_value`.
    labels : (str, str)
        Legend names of the Q-model and of the reward-oblivious model.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Per model, the proportion of trials on which its most likely choice is the network's,
        ± 1 SEM, against the mean value difference of each bin.
    """
    table = _as_table(table, "table")
    columns = ["value_diff", "agree_q", "sem_q", "agree_oblivious", "sem_oblivious"]
    _require(table, "table", columns)
    ax = _axes(ax, figsize=(6.5, 4.0))
    pairs = [("agree_q", "sem_q"), ("agree_oblivious", "sem_oblivious")]
    for i, ((col, sem), label) in enumerate(zip(pairs, labels)):
        style = _style(i)
        ax.errorbar(
            table["value_diff"],
            table[col],
            yerr=table[sem],
            color=style["color"],
            marker=style["marker"],
            linestyle=style["linestyle"],
            capsize=2,
            label=label,
        )
    ax.set_xlabel("Value difference |Q best − Q second| (reward units)")
    ax.set_ylabel("Agreement with the network (proportion of trials)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(frameon=False, title="model; mean ± 1 SEM", loc="best")
    return ax


def plot_membership_roc(
    result: Any,
    *,
    auc: float | None = None,
    auc_ci: tuple[float, float] | None = None,
    model: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """ROC curve of a membership-inference attack on a network, beside the chance diagonal.

    Parameters
    ----------
    result : MembershipAuditResult or pandas.DataFrame
        A result of :func:`choicernn.membership_audit` (its ``roc()``, ``auc``, ``auc_ci``) or
        an ROC table ``false_positive_rate, true_positive_rate``.
    auc, auc_ci : float and (float, float), optional
        For the legend (default: the result's).
    model : str, optional
        The audited network's name, for the legend.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.

    Returns
    -------
    matplotlib.axes.Axes
        Held-out subjects called members (false positive rate) on x, training subjects called
        members (true positive rate) on y, square.
    """
    if isinstance(result, pd.DataFrame):
        roc = result
    elif callable(getattr(result, "roc", None)):
        roc = result.roc()
        auc = result.auc if auc is None else auc
        auc_ci = result.auc_ci if auc_ci is None else auc_ci
    else:
        raise TypeError(
            "result must be a MembershipAuditResult or an ROC DataFrame, got "
            f"{type(result).__name__}"
        )
    _require(roc, "roc", ["false_positive_rate", "true_positive_rate"])
    ax = _axes(ax, figsize=(6.5, 4.2))
    name = f"attack on {model}" if model else "attack"
    if auc is not None:
        name += f": AUC {auc:.2f}"
        if auc_ci is not None:
            name += f",\n95% CI {auc_ci[0]:.2f} to {auc_ci[1]:.2f}"
    ax.plot([0, 1], [0, 1], color="0.5", linestyle=":", label="chance, AUC 0.5")
    ax.step(
        roc["false_positive_rate"],
        roc["true_positive_rate"],
        where="post",
        color="black",
        marker="o",
        markersize=3,
        label=name,
    )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.set_xlabel("Held-out subjects called members (false positive rate)")
    ax.set_ylabel("Training subjects called members (true positive rate)")
    _legend_outside(ax, fontsize="small")
    return ax
