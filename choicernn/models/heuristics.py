"""Simple heuristic models: noisy win-stay-lose-shift, biased random choice, Kalman-filter learner.

Each is a :class:`~choicernn.models.parametric.ParametricModel`: fitted per subject by the same
batched ML/MAP machinery as the Q-learning family, scored through the same interface.
"""

from __future__ import annotations

import numpy as np
import torch

from ..fitting.parameters import Parameter, inverse_temperature, rate, weight
from .parametric import ParametricModel


def _previous(prep, win_threshold: float):
    """Data-only state before each trial: previous observed choice (one-hot), win flag, has-previous."""
    onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
    prev = torch.zeros_like(onehot)
    win = torch.zeros_like(mask)
    seen = torch.zeros_like(mask)
    for t in range(1, onehot.shape[0]):
        valid = mask[t - 1] > 0
        prev[t] = torch.where(valid, onehot[t - 1], prev[t - 1])
        win[t] = torch.where(valid, (reward[t - 1] > win_threshold).to(win.dtype), win[t - 1])
        seen[t] = torch.maximum(seen[t - 1], mask[t - 1])
    return prev, win, seen


def _wsls_logits(epsilon, prev, win, seen, k: int):
    """Log choice probabilities of noisy WSLS; broadcasts over leading axes."""
    base = epsilon / k
    stay_win = prev * (1 - epsilon + base) + (1 - prev) * base
    shift_lose = prev * base + (1 - prev) * ((1 - epsilon) / (k - 1) + base)
    probs = seen * (win * stay_win + (1 - win) * shift_lose) + (1 - seen) / k
    return torch.log(probs.clamp(min=1e-300))


class WSLS(ParametricModel):
    """Win-stay-lose-shift with noise ``epsilon`` (Wilson & Collins 2019, model 2, for K options).

    After a win (reward > ``win_threshold``) the previous choice is repeated with probability
    ``1 - epsilon + epsilon/K``; after a loss every other option gets ``(1 - epsilon)/(K-1) +
    epsilon/K``. Before the first observed choice of a session choices are uniform.

    Parameters
    ----------
    win_threshold : float
        Rewards above it count as wins (default 0: any positive reward).
    name : str
    """

    def __init__(self, win_threshold: float = 0.0, name: str = "wsls") -> None:
        self.win_threshold = win_threshold
        self.name = name

    def parameters(self, n_options: int) -> list[Parameter]:
        return [
            rate("epsilon", "probability of choosing at random instead of win-stay-lose-shift", 0.2)
        ]

    def _prepare(self, batch):
        prep = super()._prepare(batch)
        prep["prev"], prep["win"], prep["seen"] = _previous(prep, self.win_threshold)
        return prep

    def _forward(self, theta, prep):
        k = prep["onehot"].shape[-1]
        return _wsls_logits(
            theta["epsilon"].unsqueeze(0), prep["prev"], prep["win"], prep["seen"], k
        )

    def _make_agent(self, theta, n_options):
        return _LastTrialAgent(self, theta, n_options)


class _LastTrialAgent:
    """Agent for WSLS: remembers the previous observed choice and whether it won."""

    def __init__(self, model: WSLS, theta, n_options: int) -> None:
        self.model, self.theta, self.n_options = model, theta, n_options
        self.n_agents = int(theta["epsilon"].shape[0])
        self.start_session()

    def start_session(self) -> None:
        n, k = self.n_agents, self.n_options
        self.prev = torch.zeros(n, k, dtype=torch.float64)
        self.win = torch.zeros(n, 1, dtype=torch.float64)
        self.seen = torch.zeros(n, 1, dtype=torch.float64)

    def probabilities(self) -> np.ndarray:
        logits = _wsls_logits(self.theta["epsilon"], self.prev, self.win, self.seen, self.n_options)
        return torch.softmax(logits, -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        c = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        valid = (c >= 0).unsqueeze(-1)
        onehot = torch.nn.functional.one_hot(c.clamp(min=0), self.n_options).to(torch.float64)
        won = torch.as_tensor(
            np.asarray(rewards, float) > self.model.win_threshold, dtype=torch.float64
        ).unsqueeze(-1)
        self.prev = torch.where(valid, onehot, self.prev)
        self.win = torch.where(valid, won, self.win)
        self.seen = torch.maximum(self.seen, valid.to(torch.float64))


class Bias(ParametricModel):
    """Biased random choice: fixed preferences ``bias_1 .. bias_{K-1}`` over option 0, no learning.

    With all biases at 0 this is chance (log-likelihood ``n_trials * log(1/K)``).
    """

    def __init__(self, name: str = "bias") -> None:
        self.name = name

    def parameters(self, n_options: int) -> list[Parameter]:
        return [
            weight(f"bias_{k}", f"preference for option {k} over option 0")
            for k in range(1, n_options)
        ]

    def _logits_from(self, theta, like: torch.Tensor) -> torch.Tensor:
        k = like.shape[-1]
        zero = torch.zeros_like(theta["bias_1"])
        bias = torch.cat([zero] + [theta[f"bias_{j}"] for j in range(1, k)], -1)
        return (
            bias.expand_as(like) if bias.dim() == like.dim() else bias.unsqueeze(0).expand_as(like)
        )

    def _forward(self, theta, prep):
        return self._logits_from(theta, prep["onehot"])

    def _make_agent(self, theta, n_options):
        return _StaticAgent(
            self._logits_from(
                theta, torch.zeros(len(theta["bias_1"]), n_options, dtype=torch.float64)
            )
        )


class _StaticAgent:
    def __init__(self, logits: torch.Tensor) -> None:
        self._p = torch.softmax(logits, -1).numpy()
        self.n_agents, self.n_options = self._p.shape

    def start_session(self) -> None:
        pass

    def probabilities(self) -> np.ndarray:
        return self._p

    def update(self, choices, rewards, outcomes=None) -> None:
        pass


class KalmanFilter(ParametricModel):
    """Kalman-filter learner for restless bandits with an exploration bonus (Daw et al. 2006).

    Each option's payoff is tracked by a posterior mean ``mu`` and variance ``var``. After a choice
    the chosen option is updated with gain ``var / (var + sigma_obs**2)``; then every option
    diffuses: ``mu = decay * mu + (1 - decay) * decay_center``, ``var = decay**2 * var +
    sigma_drift**2``. Choices follow ``softmax(beta * (mu + bonus * sqrt(var)))``.

    The filter's constants describe the task (the defaults are those of Daw et al.'s four-armed
    restless bandit, payoffs 1-100); the free parameters are ``beta`` and ``bonus``. Since the gains
    depend only on the choices, the means and variances are computed once per data set.

    Parameters
    ----------
    decay, decay_center, sigma_obs, sigma_drift, mu0, var0 : float
    name : str
    """

    def __init__(
        self,
        decay: float = 0.9836,
        decay_center: float = 50.0,
        sigma_obs: float = 4.0,
        sigma_drift: float = 2.8,
        mu0: float = 50.0,
        var0: float = 16.0,
        name: str = "kalman",
    ) -> None:
        self.decay = decay
        self.decay_center = decay_center
        self.sigma_obs = sigma_obs
        self.sigma_drift = sigma_drift
        self.mu0 = mu0
        self.var0 = var0
        self.name = name

    def parameters(self, n_options: int) -> list[Parameter]:
        beta = inverse_temperature("beta", "inverse temperature of the softmax", 0.2)
        beta = Parameter("beta", 0.0, 50.0, beta.prior, (0.01, 2.0, "log"), beta.description, 0.2)
        return [beta, weight("bonus", "exploration bonus per unit of posterior SD")]

    def _step(self, mu, var, onehot, mask, reward):
        gain = var / (var + self.sigma_obs**2) * onehot
        mu = mu + gain * (reward - mu)
        var = var * (1 - gain)
        decay = 1 - (1 - self.decay) * mask
        mu = decay * mu + (1 - decay) * self.decay_center
        var = torch.where(mask > 0, self.decay**2 * var + self.sigma_drift**2, var)
        return mu, var

    def _prepare(self, batch):
        prep = super()._prepare(batch)
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        mu = torch.full_like(onehot[0], self.mu0)
        var = torch.full_like(onehot[0], self.var0)
        mus, sds = torch.empty_like(onehot), torch.empty_like(onehot)
        for t in range(onehot.shape[0]):
            mus[t], sds[t] = mu, var.sqrt()
            mu, var = self._step(mu, var, onehot[t], mask[t], reward[t])
        prep["mu"], prep["sd"] = mus, sds
        return prep

    def _forward(self, theta, prep):
        return theta["beta"].unsqueeze(0) * (prep["mu"] + theta["bonus"].unsqueeze(0) * prep["sd"])

    def _make_agent(self, theta, n_options):
        return _KalmanAgent(self, theta, n_options)


class _KalmanAgent:
    def __init__(self, model: KalmanFilter, theta, n_options: int) -> None:
        self.model, self.theta, self.n_options = model, theta, n_options
        self.n_agents = int(theta["beta"].shape[0])
        self.start_session()

    def start_session(self) -> None:
        shape = (self.n_agents, self.n_options)
        self.mu = torch.full(shape, self.model.mu0, dtype=torch.float64)
        self.var = torch.full(shape, self.model.var0, dtype=torch.float64)

    def probabilities(self) -> np.ndarray:
        logits = self.theta["beta"] * (self.mu + self.theta["bonus"] * self.var.sqrt())
        return torch.softmax(logits, -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        c = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        mask = (c >= 0).to(torch.float64).unsqueeze(-1)
        onehot = (
            torch.nn.functional.one_hot(c.clamp(min=0), self.n_options).to(torch.float64) * mask
        )
        reward = torch.as_tensor(np.asarray(rewards, float)).unsqueeze(-1)
        self.mu, self.var = self.model._step(self.mu, self.var, onehot, mask, reward)
