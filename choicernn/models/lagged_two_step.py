"""The lagged regression on two-step data (Daw et al. 2011 task): design, batched logits, agent.

:class:`~choicernn.models.lagged_regression.LaggedRegression` uses this design when it reads
two-step data (:attr:`ChoiceData.is_two_step`).

First stage: the trial-type regression of Miller, Botvinick & Brody (2016). A past trial has
one of four types, from its transition (common: the state reached is the common state of the
first-stage option chosen, ``state == choice``; rare otherwise) and its outcome (rewarded:
``reward > 0``; with graded rewards this thresholds them)::

    common_rewarded, common_unrewarded, rare_rewarded, rare_unrewarded

For each type ``y`` and lag ``l = 1..L`` the feature of first-stage option ``a`` is 1 when the
``l``-th previous counted trial was of type ``y`` and ``a`` was chosen at its first stage, else
0, and the choice follows a conditional logit with weights shared across the two options::

    logit1(a) = sum_y sum_l w_{y,l} * [type_l == y] * [choice_l == a] + bias_a

(``bias_1`` with ``side_bias``; option 0 the reference). This equals Miller et al.'s logistic
regression with +1/-1 coding up to a factor of 2 in the weights. Model-free learning shows as
rewarded > unrewarded whatever the transition; model-based planning as common_rewarded and
rare_unrewarded positive, rare_rewarded and common_unrewarded negative. Perseveration is the
average of the four kernels.

Second stage: in the state reached ``s``, the second-stage choice is regressed on the history of
that state alone (its ``l``-th previous counted visit), with the choice and reward features of
the single-stage lagged regression and weights shared by the two states::

    logit2(a | s) = sum_l w_choice2_l * [c2 on visit l of s == a]
                    + w_reward2_l * r_visit_l * [c2 on visit l of s == a] + bias2_a

(``bias2_1`` with ``side_bias``). With ``stages="first"`` the second stage is neither scored nor
parametrised.

Counted trials are those with both stages observed (first-stage choice, state and second-stage
choice); other trials neither count nor shift the lags. Before the ``l``-th counted trial (of
the session, or of the state) the lag-``l`` features are 0. The stages are interleaved along
time as in :class:`~choicernn.models.two_step.TwoStepModel` (``2 T`` steps: stage 1, stage 2 of
each trial), so the parametric fitting scores both stages unchanged.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import distributions as D

from ..data import SequenceBatch
from ..fitting.parameters import Parameter, weight

TRIAL_TYPES = ("common_rewarded", "common_unrewarded", "rare_rewarded", "rare_unrewarded")
STAGE2_FEATURES = ("choice2", "reward2")
_TYPE_TEXT = {
    "common_rewarded": "a rewarded trial after a common transition",
    "common_unrewarded": "an unrewarded trial after a common transition",
    "rare_rewarded": "a rewarded trial after a rare transition",
    "rare_unrewarded": "an unrewarded trial after a rare transition",
    "choice2": "having chosen the option in the same state",
    "reward2": "its reward in the same state",
}


def features(stages: Literal["both", "first"]) -> tuple[str, ...]:
    """The kernel features of the two-step design, in parameter order."""
    return TRIAL_TYPES + (STAGE2_FEATURES if stages == "both" else ())


def two_step_parameters(
    n_lags: int, side_bias: bool, stages: Literal["both", "first"], ridge_sd: float
) -> list[Parameter]:
    """Parameters of the two-step design: ``<type>_<lag>`` for the four trial types, then (with
    ``stages="both"``) ``choice2_<lag>``, ``reward2_<lag>``, then ``bias_1`` and ``bias2_1``
    (with ``side_bias``; ``bias2_1`` only with ``stages="both"``)."""
    prior = D.Normal(
        torch.tensor(0.0, dtype=torch.float64), torch.tensor(float(ridge_sd), dtype=torch.float64)
    )
    out = []
    for feature in features(stages):
        where = "visit(s) of the state" if feature in STAGE2_FEATURES else "counted trial(s)"
        for lag in range(1, n_lags + 1):
            out.append(
                Parameter(
                    f"{feature}_{lag}",
                    -10.0,
                    10.0,
                    prior,
                    (-1.0, 1.0, "linear"),
                    f"weight of {_TYPE_TEXT[feature]} {lag} {where} ago",
                    0.0,
                )
            )
    if side_bias:
        out.append(weight("bias_1", "fixed first-stage preference for option 1 over option 0"))
        if stages == "both":
            out.append(weight("bias2_1", "fixed second-stage preference for option 1 over 0"))
    return out


class TrialHistory:
    """Lagged features of ``n`` sequences (or agents), updated one trial at a time.

    ``stage1`` (n, 2, 4 L): the trial-type features of the two first-stage options (type-major,
    then lag); ``stage2(states)`` (n, 2, 2 L): the choice and reward features of the options of
    each sequence's state (zeros where the state is unknown).
    """

    def __init__(self, n: int, n_lags: int, dtype: torch.dtype, device=None) -> None:
        self.n_lags = n_lags
        self.h1 = torch.zeros(n, 2, 4, n_lags, dtype=dtype, device=device)
        self.h2 = torch.zeros(n, 2, 2, 2, n_lags, dtype=dtype, device=device)  # state, option

    def stage1(self) -> torch.Tensor:
        return self.h1.flatten(-2)

    def stage2(self, states: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(states.shape[0], device=states.device)
        known = (states >= 0).to(self.h2.dtype)[:, None, None, None]
        return (self.h2[rows, states.clamp(min=0)] * known).flatten(-2)

    def push(
        self,
        choices: torch.Tensor,
        states: torch.Tensor,
        choices2: torch.Tensor,
        rewards: torch.Tensor,
    ) -> None:
        """Add one trial (each argument (n,); ``-1`` where missed); a trial counts only with both
        stages observed (its reward is ignored, and may be NaN, otherwise)."""
        dtype = self.h1.dtype
        counted = (choices >= 0) & (states >= 0) & (choices2 >= 0)
        r = torch.where(counted, rewards.to(dtype), torch.zeros((), dtype=dtype))
        kind = 2 * (states != choices).long() + (r <= 0).long()
        onehot = lambda x, k: torch.nn.functional.one_hot(x.clamp(min=0).long(), k).to(dtype)  # noqa: E731
        trial1 = onehot(choices, 2).unsqueeze(-1) * onehot(kind, 4).unsqueeze(-2)  # (n, 2, 4)
        c2 = onehot(choices2, 2)
        trial2 = torch.stack([c2, c2 * r.unsqueeze(-1)], -1)  # (n, 2, 2)
        keep = counted[:, None, None, None]
        shifted1 = torch.cat([trial1.unsqueeze(-1), self.h1[..., :-1]], -1)
        self.h1 = torch.where(keep, shifted1, self.h1)
        rows = torch.arange(choices.shape[0], device=choices.device)
        s = states.clamp(min=0)
        old = self.h2[rows, s]
        new = torch.where(keep, torch.cat([trial2.unsqueeze(-1), old[..., :-1]], -1), old)
        self.h2 = self.h2.index_put((rows, s), new)


def prepare_two_step(
    batch: SequenceBatch, n_lags: int, stages: Literal["both", "first"]
) -> dict[str, torch.Tensor]:
    """Data-only tensors: ``lagged1`` (T, n, 2, 4 L), ``lagged2`` (T, n, 2, 2 L) and, over the
    ``2 T`` interleaved steps, ``onehot`` (2 T, n, 2) and ``mask`` (2 T, n, 1) of the scored
    choices (the second stage only with ``stages="both"`` and a known state)."""
    dtype = batch.rewards.dtype
    n, n_t = batch.choices.shape
    history = TrialHistory(n, n_lags, dtype, batch.device)
    lagged1, lagged2 = [], []
    for t in range(n_t):
        lagged1.append(history.stage1())
        lagged2.append(history.stage2(batch.states[:, t]))
        history.push(
            batch.choices[:, t], batch.states[:, t], batch.choices2[:, t], batch.rewards[:, t]
        )
    m1 = batch.choices >= 0
    m2 = (batch.choices2 >= 0) & (batch.states >= 0)
    if stages == "first":
        m2 = torch.zeros_like(m2)
    c1 = batch.onehot(dtype) * m1.unsqueeze(-1).to(dtype)
    c2 = torch.nn.functional.one_hot(batch.choices2.clamp(min=0), 2).to(dtype)
    c2 = c2 * m2.unsqueeze(-1).to(dtype)
    onehot = torch.stack([c1, c2], 2).reshape(n, 2 * n_t, 2).transpose(0, 1)
    mask = torch.stack([m1, m2], 2).reshape(n, 2 * n_t, 1).transpose(0, 1).to(dtype)
    return {
        "lagged1": torch.stack(lagged1),
        "lagged2": torch.stack(lagged2),
        "onehot": onehot.contiguous(),
        "mask": mask.contiguous(),
    }


def _with_bias(logits: torch.Tensor, theta: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    if name not in theta:
        return logits
    bias = theta[name]
    return logits + torch.cat([torch.zeros_like(bias), bias], -1)


def stage_logits(
    theta: dict[str, torch.Tensor],
    lagged1: torch.Tensor,
    lagged2: torch.Tensor,
    n_lags: int,
    stages: Literal["both", "first"],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of both stages from lagged features (..., n, 2, F) and ``theta`` (name -> (n, 1));
    second-stage logits are 0 with ``stages="first"``."""
    lags = range(1, n_lags + 1)
    w1 = torch.cat([theta[f"{y}_{lag}"] for y in TRIAL_TYPES for lag in lags], -1)
    logits1 = _with_bias(torch.einsum("...nkf,nf->...nk", lagged1, w1), theta, "bias_1")
    if stages == "first":
        return logits1, torch.zeros_like(logits1)
    w2 = torch.cat([theta[f"{y}_{lag}"] for y in STAGE2_FEATURES for lag in lags], -1)
    logits2 = _with_bias(torch.einsum("...nkf,nf->...nk", lagged2, w2), theta, "bias2_1")
    return logits1, logits2


def batched_two_step_logits(
    theta: dict[str, torch.Tensor],
    prep: dict[str, torch.Tensor],
    n_lags: int,
    stages: Literal["both", "first"],
) -> torch.Tensor:
    """Logits (2 T, n, 2): stage 1 and stage 2 of every trial, interleaved in time."""
    logits1, logits2 = stage_logits(theta, prep["lagged1"], prep["lagged2"], n_lags, stages)
    n_t, n = logits1.shape[:2]
    return torch.stack([logits1, logits2], 1).reshape(2 * n_t, n, 2)


class LaggedTwoStepAgent:
    """A two-step lagged regression playing the two-step task for ``n_agents`` subjects.

    Follows the two-stage agent protocol of :mod:`choicernn.simulation`, with the same
    :class:`TrialHistory` and :func:`stage_logits` as the batched likelihood.
    """

    n_options = 2

    def __init__(
        self, theta: dict[str, torch.Tensor], n_lags: int, stages: Literal["both", "first"]
    ) -> None:
        self.theta = {k: v.to(torch.float64) for k, v in theta.items()}
        self.n_lags = n_lags
        self.stages = stages
        self.n_agents = int(next(iter(theta.values())).shape[0])
        self.start_session()

    def start_session(self) -> None:
        self.history = TrialHistory(self.n_agents, self.n_lags, torch.float64)

    def _logits(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return stage_logits(
            self.theta,
            self.history.stage1(),
            self.history.stage2(states),
            self.n_lags,
            self.stages,
        )

    def logits(self) -> torch.Tensor:
        """First-stage logits of the coming trial, shape (n_agents, 2)."""
        return self._logits(torch.full((self.n_agents,), -1))[0]

    def probabilities(self) -> np.ndarray:
        """First-stage choice probabilities, shape (n_agents, 2)."""
        return torch.softmax(self.logits(), -1).numpy()

    def second_stage_logits(self, states) -> torch.Tensor:
        """Second-stage logits in ``states`` (n_agents,), shape (n_agents, 2)."""
        return self._logits(torch.as_tensor(np.asarray(states), dtype=torch.long))[1]

    def second_stage_probabilities(self, states) -> np.ndarray:
        """Second-stage choice probabilities in ``states`` (n_agents,), shape (n_agents, 2)."""
        return torch.softmax(self.second_stage_logits(states), -1).numpy()

    def update(self, choices, rewards, outcomes=None, *, states=None, choices2=None) -> None:
        """Learn from one trial; without ``states`` and ``choices2`` the trial is not counted."""
        c1 = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        missing = torch.full_like(c1, -1)
        s = missing if states is None else torch.as_tensor(np.asarray(states), dtype=torch.long)
        c2 = missing if choices2 is None else torch.as_tensor(np.asarray(choices2)).long()
        r = torch.as_tensor(np.asarray(rewards, dtype=float))
        self.history.push(c1, s, c2, r)
