"""Scoring both stages of two-step data from per-stage logits, for any two-step model.

A two-step model (the hybrid :class:`~choicernn.models.two_step.TwoStepModel`, the lagged
regression, a recurrent network) predicts two choices per trial: the first-stage choice
(``SequenceBatch.choices``) and the second-stage choice in the state reached
(``SequenceBatch.choices2``). These helpers turn the two stages' logits into per-trial
log-likelihoods through the one scoring path (:func:`~choicernn.models.scoring.chosen_log_prob`)
and into the trial table every two-step model returns from ``trial_log_likelihood``.

A second-stage choice counts only when its state is known, and only with ``stages="both"``.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd
import torch

from ..data import ChoiceData, SequenceBatch
from .scoring import chosen_log_prob

Stages = Literal["both", "first"]


def check_stages(stages: object) -> None:
    """Raise ``ValueError`` unless ``stages`` is ``"both"`` or ``"first"``."""
    if stages not in ("both", "first"):
        raise ValueError(f"stages must be 'both' or 'first', got {stages!r}")


def scored_choices2(batch: SequenceBatch, stages: Stages) -> torch.Tensor:
    """Second-stage choices that count, shape (n_sequences, n_trials); ``-1`` where not counted
    (missed, no state known, padding, or every trial with ``stages="first"``)."""
    check_stages(stages)
    if batch.choices2 is None:
        raise ValueError("scored_choices2 needs two-step data (a batch with choices2)")
    if stages == "first":
        return torch.full_like(batch.choices2, -1)
    return batch.choices2.where(batch.states >= 0, -1)


def stage_log_likelihoods(
    logits1: torch.Tensor, logits2: torch.Tensor, batch: SequenceBatch, stages: Stages
) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each trial's first- and second-stage choice.

    Parameters
    ----------
    logits1, logits2 : torch.Tensor, shape (n_sequences, n_trials, 2)
        First-stage logits and second-stage logits (of the options of the state reached).
    batch : SequenceBatch
        Two-step data (the choices scored).
    stages : {"both", "first"}
        ``"first"``: the second-stage log-likelihoods are all 0.

    Returns
    -------
    (ll1, ll2) : two float64 tensors of shape (n_sequences, n_trials), 0 where not counted.
    """
    ll1 = chosen_log_prob(logits1.to(torch.float64), batch.choices.to(logits1.device))
    choices2 = scored_choices2(batch, stages).to(logits2.device)
    ll2 = chosen_log_prob(logits2.to(torch.float64), choices2)
    return ll1, ll2


def stage_trial_table(data: ChoiceData, ll1: torch.Tensor, ll2: torch.Tensor) -> pd.DataFrame:
    """The ``trial_log_likelihood`` table of a two-step model from per-stage log-likelihoods.

    Parameters
    ----------
    data : ChoiceData
        Two-step data.
    ll1, ll2 : torch.Tensor, shape (n_sequences, n_trials)
        From :func:`stage_log_likelihoods`.

    Returns
    -------
    pandas.DataFrame
        One row per trial with a first-stage choice: ``subject, session, trial, choice,
        log_lik`` (the trial's scored stages together), ``choice2, log_lik_stage1,
        log_lik_stage2`` (0 when the second stage is missed or not scored).
    """
    table = data.to_frame()
    observed = table["choice"].notna().to_numpy()
    out = table.loc[observed, ["subject", "session", "trial", "choice"]].copy()
    first = data.trial_values(ll1.cpu())[observed]
    second = data.trial_values(ll2.cpu())[observed]
    out["log_lik"] = first + second
    out["choice2"] = table.loc[observed, "choice2"]
    out["log_lik_stage1"] = first
    out["log_lik_stage2"] = second
    return out.reset_index(drop=True)


def n_scored_second_stage(data: ChoiceData) -> pd.Series:
    """Per subject (in ``data.subjects`` order), the second-stage choices with a known state:
    what ``stages="both"`` adds to a fit's ``n_trials`` (for AIC/BIC)."""
    table = data.to_frame()
    scored = table["choice2"].notna() & table["state"].notna()
    return scored.groupby(table["subject"], sort=False).sum().reindex(data.subjects)
