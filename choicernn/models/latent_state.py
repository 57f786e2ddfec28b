"""A latent-state (Bayesian) reversal learner: the belief that each option is the good one.

The subject assumes exactly one option is "good" (it pays with probability ``p_good``; every other
option pays with probability ``1 - p_good``) and that after every trial the good option moves,
with probability ``hazard``, to one of the other options uniformly. Its belief ``b[k] = P(option
k is the good one)`` starts uniform (``1/K``) at every session start. After an observed choice
``c`` with reward ``r`` (a win when ``r > 0``, a loss otherwise: rewards are read as binary)::

    L[k] = p_good      if (k == c) == win        (likelihood of the outcome if k were good)
           1 - p_good  otherwise
    post = b * L / sum(b * L)                                   (Bayes)
    b    = (1 - hazard) * post + hazard * (1 - post) / (K - 1)  (a reversal may happen)

and the next choice follows ``softmax(beta * b + persev * P)``, ``P`` the previous observed
choice (one-hot). In a two-option task this is the reversal model of e.g. Hampton, Bossaerts &
O'Doherty (2006). Missed trials neither count nor update anything.
"""

from __future__ import annotations

import torch
from torch import distributions as D

from ..fitting.parameters import Parameter, inverse_temperature, rate, weight
from .parametric import ParametricModel


def _p_good() -> Parameter:
    prior = D.Uniform(
        torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64)
    )
    return Parameter(
        "p_good",
        0.5,
        1.0,
        prior,
        (0.6, 0.95, "linear"),
        "reward probability the subject assumes for the good option (bad ones: 1 - p_good)",
        0.75,
    )


def _hazard() -> Parameter:
    h = rate("hazard", "assumed probability of a reversal after each trial", 0.05)
    return Parameter(h.name, h.lower, h.upper, h.prior, (0.01, 0.3, "log"), h.description, 0.05)


class LatentStateModel(ParametricModel):
    """Bayesian reversal learner with a hazard rate (see the module docstring).

    Parameters: ``hazard`` in (0, 1), Beta(1.1, 1.1) prior; ``p_good`` in (0.5, 1), uniform
    prior; ``beta`` in (0, 50), Gamma(shape 2, scale 3) prior (the weight of a belief, itself in
    (0, 1)); ``persev`` in (-10, 10), Normal(0, 2) prior.

    Parameters
    ----------
    name : str
    **settings
        Fitting settings (``method``, ``n_restarts``, ...; see
        :class:`~choicernn.models.parametric.ParametricModel`).
    """

    def __init__(self, name: str = "latent_state", **settings) -> None:
        super().__init__(**settings)
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        super()._check_settings()
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")

    def parameters(self, n_options: int) -> list[Parameter]:
        return [
            _hazard(),
            _p_good(),
            inverse_temperature("beta", "weight of the belief that an option is the good one", 5.0),
            weight("persev", "weight on repeating the previous choice"),
        ]

    def initial_state(self, theta, n_options):
        like = theta["beta"]
        n = like.shape[0]
        return {
            "belief": torch.full((n, n_options), 1.0 / n_options, dtype=like.dtype),
            "prev": torch.zeros(n, n_options, dtype=like.dtype),
        }

    def update(self, state, theta, trial):
        onehot, reward = trial["onehot"], trial["reward"]
        k = onehot.shape[-1]
        p = theta["p_good"]
        win = (reward > 0).to(onehot.dtype)
        # 1 where "option k good" predicts this outcome with p_good: chosen & win, or unchosen & loss
        agree = onehot * win + (1 - onehot) * (1 - win)
        lik = agree * p + (1 - agree) * (1 - p)
        joint = state["belief"] * lik
        post = joint / joint.sum(-1, keepdim=True)
        h = theta["hazard"]
        belief = (1 - h) * post + h * (1 - post) / (k - 1)
        # the base class's step keeps the state of a missed trial
        return {"belief": belief, "prev": onehot}

    def readout(self, state, theta):
        return theta["beta"] * state["belief"] + theta["persev"] * state["prev"]
