"""Simple heuristic models: noisy win-stay-lose-shift, biased random choice, Kalman-filter learner.

Each is a :class:`~choicernn.models.parametric.ParametricModel`: fitted per subject by the same
batched ML/MAP machinery as the Q-learning family, scored through the same interface.
"""

from __future__ import annotations

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
    **settings
        Fitting settings (``method``, ``n_restarts``, ...; see
        :class:`~choicernn.models.parametric.ParametricModel`).
    """

    def __init__(self, win_threshold: float = 0.0, name: str = "wsls", **settings) -> None:
        super().__init__(**settings)
        self.win_threshold = win_threshold
        self.name = name
        self._check_settings()

    def parameters(self, n_options: int) -> list[Parameter]:
        return [
            rate("epsilon", "probability of choosing at random instead of win-stay-lose-shift", 0.2)
        ]

    def initial_state(self, theta, n_options):
        eps = theta["epsilon"]
        n = eps.shape[0]
        zeros = torch.zeros(n, 1, dtype=eps.dtype)
        return {"prev": torch.zeros(n, n_options, dtype=eps.dtype), "win": zeros, "seen": zeros}

    def update(self, state, theta, trial):
        won = (trial["reward"] > self.win_threshold).to(trial["onehot"].dtype)
        return {"prev": trial["onehot"], "win": won, "seen": torch.ones_like(state["seen"])}

    def readout(self, state, theta):
        k = state["prev"].shape[-1]
        return _wsls_logits(theta["epsilon"], state["prev"], state["win"], state["seen"], k)

    def prepare(self, batch):
        prep = super().prepare(batch)
        prep["prev"], prep["win"], prep["seen"] = _previous(prep, self.win_threshold)
        return prep

    def batched_logits(self, theta, prep):
        """The step declaration's logits, from data-only states computed once per batch."""
        k = prep["onehot"].shape[-1]
        return _wsls_logits(
            theta["epsilon"].unsqueeze(0), prep["prev"], prep["win"], prep["seen"], k
        )


class Bias(ParametricModel):
    """Biased random choice: fixed preferences ``bias_1 .. bias_{K-1}`` over option 0, no learning.

    With all biases at 0 this is chance (log-likelihood ``n_trials * log(1/K)``).
    """

    def __init__(self, name: str = "bias", **settings) -> None:
        super().__init__(**settings)
        self.name = name
        self._check_settings()

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

    def initial_state(self, theta, n_options):
        like = theta["bias_1"]
        return {"zeros": torch.zeros(like.shape[0], n_options, dtype=like.dtype)}

    def update(self, state, theta, trial):
        return state

    def readout(self, state, theta):
        return self._logits_from(theta, state["zeros"])

    def batched_logits(self, theta, prep):
        return self._logits_from(theta, prep["onehot"])


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
    **settings
        Fitting settings (see :class:`~choicernn.models.parametric.ParametricModel`).
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
        **settings,
    ) -> None:
        super().__init__(**settings)
        self.decay = decay
        self.decay_center = decay_center
        self.sigma_obs = sigma_obs
        self.sigma_drift = sigma_drift
        self.mu0 = mu0
        self.var0 = var0
        self.name = name
        self._check_settings()

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

    def initial_state(self, theta, n_options):
        beta = theta["beta"]
        shape = (beta.shape[0], n_options)
        return {
            "mu": torch.full(shape, float(self.mu0), dtype=beta.dtype),
            "var": torch.full(shape, float(self.var0), dtype=beta.dtype),
        }

    def update(self, state, theta, trial):
        mu, var = self._step(
            state["mu"], state["var"], trial["onehot"], trial["mask"], trial["reward"]
        )
        return {"mu": mu, "var": var}

    def readout(self, state, theta):
        return theta["beta"] * (state["mu"] + theta["bonus"] * state["var"].sqrt())

    def prepare(self, batch):
        prep = super().prepare(batch)
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        mu = torch.full_like(onehot[0], self.mu0)
        var = torch.full_like(onehot[0], self.var0)
        mus, sds = torch.empty_like(onehot), torch.empty_like(onehot)
        for t in range(onehot.shape[0]):
            mus[t], sds[t] = mu, var.sqrt()
            mu, var = self._step(mu, var, onehot[t], mask[t], reward[t])
        prep["mu"], prep["sd"] = mus, sds
        return prep

    def batched_logits(self, theta, prep):
        """The step declaration's logits; the filter depends on the data only, so its means and
        SDs are computed once per batch."""
        return theta["beta"].unsqueeze(0) * (prep["mu"] + theta["bonus"].unsqueeze(0) * prep["sd"])
