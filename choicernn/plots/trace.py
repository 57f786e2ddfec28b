"""One subject's session: a model's predicted choice probability with the actual choices."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..signatures import reward_is_high, trial_table
from ._common import _as_table, _axes, _integer_ticks, _require

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ..data import ChoiceData


def plot_choice_trace(
    probabilities: Any,
    data: ChoiceData | pd.DataFrame,
    subject: Any,
    session: Any = None,
    option: int = 1,
    ax: Axes | None = None,
    *,
    model: str | None = None,
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
        The session's label in ``data``. Default: the subject's first session.
    option : int
        The option whose probability is drawn, coded as in the library (``0 .. K-1``); labels
        number options from 1, as users do (``option=1`` is drawn as "option 2").
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new figure.
    model : str, optional
        The model's name for the legend; default: the ``model`` column of ``probabilities``
        when it has a single value, else ``"model"``.

    Returns
    -------
    matplotlib.axes.Axes
        Trial number in the session on x (from 1); the predicted probability as a line; each
        observed choice as a circle at the top (chose ``option``) or bottom (another option),
        filled when rewarded (see :func:`choicernn.signatures.stay_probabilities` for graded
        rewards); missed trials shaded grey. The title numbers the session from 1 among the
        subject's sessions.
    """
    probs = _as_table(probabilities, "probabilities")
    _require(probs, "probabilities", ["subject", "session", "trial", "option", "probability"])
    frame = trial_table(data)
    mine = frame[frame["subject"] == subject]
    if mine.empty:
        raise ValueError(
            f"subject {subject!r} is not in data; subjects are "
            f"{list(pd.unique(frame['subject']))[:10]}"
        )
    high = reward_is_high(mine)
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
    if model is None:
        names = pd.unique(probs["model"]) if "model" in probs.columns else []
        model = str(names[0]) if len(names) == 1 else "model"
    sessions = list(pd.unique(mine["session"]))
    number = sessions.index(session) + 1
    p = rows[["trial", "_pos"]].merge(p, on="trial", how="left")
    ax = _axes(ax, figsize=(9.0, 3.2))
    trial = rows["_pos"].to_numpy() + 1  # trial number within the session, from 1
    choice, rewarded = rows["choice"].to_numpy(), high[rows.index]
    for t in trial[np.isnan(choice)]:
        ax.axvspan(t - 0.5, t + 0.5, color="0.88", linewidth=0, zorder=0)
    ax.plot(p["_pos"] + 1, p["probability"], color="black", linewidth=1.2, zorder=2)
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
    _integer_ticks(ax, "x")
    shown = option + 1
    ax.set_xlabel("Trial in the session, 1 = first")
    ax.set_ylabel(f"Predicted P(option {shown})")
    title = f"Subject {subject}, session {number} of {len(sessions)}"
    if str(session) not in (str(number), str(number - 1)):
        title += f", labelled {session}"
    ax.set_title(title, fontsize="medium")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color="black", linewidth=1.2, label=f"{model}: P(option {shown})"),
        Line2D(
            [],
            [],
            color="none",
            marker="o",
            markerfacecolor="black",
            markeredgecolor="black",
            label=f"choice, rewarded: filled circle;\ntop: option {shown}, bottom: other",
        ),
        Line2D(
            [],
            [],
            color="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="black",
            label="choice, unrewarded: open circle",
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
