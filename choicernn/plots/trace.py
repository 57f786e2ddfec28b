"""One subject's session: a model's predicted choice probability with the actual choices."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from ..data import ChoiceData
from ..signatures import _reward_is_high, _trials
from ._common import _as_table, _axes, _require


def plot_choice_trace(
    probabilities: Any,
    data: ChoiceData | pd.DataFrame,
    subject: Any,
    session: Any = None,
    option: int = 1,
    ax: Axes | None = None,
) -> Axes:
    """A model's predicted probability of one option over a session, with the actual choices.

    Parameters
    ----------
    probabilities : pandas.DataFrame or result with ``.table``
        ``subject, session, trial, option, probability``, as from
        ``model.choice_probabilities(data)``.
    data : ChoiceData or pandas.DataFrame
        The choices (``subject, session, trial, choice, reward``).
    subject : scalar
    session : scalar, optional
        Default: the subject's first session.
    option : int
        The option (0-based) whose probability is drawn.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        Trial number on x; the predicted probability as a line; each observed choice as a
        circle at the top (chose ``option``) or bottom (another option), filled when rewarded
        (see :func:`choicernn.signatures.stay_probabilities` for graded rewards); missed trials
        shaded grey.
    """
    ax = _axes(ax)
    probs = _as_table(probabilities, "probabilities")
    _require(probs, "probabilities", ["subject", "session", "trial", "option", "probability"])
    frame = _trials(data)
    mine = frame[frame["subject"] == subject]
    if mine.empty:
        raise ValueError(
            f"subject {subject!r} is not in data; subjects are "
            f"{list(pd.unique(frame['subject']))[:10]}"
        )
    high = _reward_is_high(mine)
    session = mine["session"].iloc[0] if session is None else session
    rows = mine[mine["session"] == session]
    if rows.empty:
        raise ValueError(
            f"subject {subject!r} has no session {session!r}; sessions are "
            f"{list(pd.unique(mine['session']))}"
        )
    keep = (
        (probs["subject"] == subject) & (probs["session"] == session) & (probs["option"] == option)
    )
    p = probs.loc[keep, ["trial", "probability"]]
    if p.empty:
        raise ValueError(
            f"probabilities has no row for subject {subject!r}, session {session!r}, "
            f"option {option!r}; options are {sorted(pd.unique(probs['option']))}"
        )
    p = rows[["trial"]].merge(p, on="trial", how="left")
    trial, choice, rewarded = rows["trial"].to_numpy(), rows["choice"].to_numpy(), high[rows.index]
    for t in trial[np.isnan(choice)]:
        ax.axvspan(t - 0.5, t + 0.5, color="0.88", linewidth=0, zorder=0)
    ax.plot(p["trial"], p["probability"], color="black", linewidth=1.2, zorder=2)
    y = np.where(choice == option, 1.07, -0.07)
    for filled, face in ((1.0, "black"), (0.0, "white")):
        sel = (rewarded == filled).to_numpy() & ~np.isnan(choice)
        ax.scatter(
            trial[sel],
            y[sel],
            s=12,
            marker="o",
            facecolor=face,
            edgecolor="black",
            linewidth=0.7,
            zorder=3,
            clip_on=False,
        )
    ax.set_ylim(-0.15, 1.15)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1])
    ax.set_xlabel("Trial (number in session)")
    ax.set_ylabel(f"P(choose option {option}) (predicted)")
    ax.set_title(f"subject {subject}, session {session}", fontsize="medium")
    handles = [
        Line2D([], [], color="black", linewidth=1.2, label=f"model: P(option {option})"),
        Line2D(
            [],
            [],
            color="none",
            marker="o",
            markerfacecolor="black",
            markeredgecolor="black",
            label=f"choice, rewarded (top: option {option}; bottom: other)",
        ),
        Line2D(
            [],
            [],
            color="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="black",
            label="choice, unrewarded",
        ),
    ]
    if np.isnan(choice).any():
        handles.append(Patch(facecolor="0.88", label="missed trial"))
    ax.legend(
        handles=handles,
        frameon=False,
        fontsize="small",
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
    )
    return ax
