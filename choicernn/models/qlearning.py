"""The Q-learning family: one composable recurrence, named presets, and its agent.

State (per sequence, reset at each session start): values ``Q`` (one per option, starting at
``q0``), the previous choice ``P`` (one-hot, for perseveration) and a choice kernel ``CK``
(starting at 0). After an observed choice ``c`` with reward ``r`` (``r`` enters as given, times
``rho`` with reward sensitivity)::

    Q[c] += alpha_t * (r - Q[c])           alpha_t = alpha, or alpha_pos / alpha_neg by the sign of r - Q[c]
    Q[k] += phi * (q0 - Q[k])   for k != c  (forgetting)
    CK   += alpha_ck * (onehot(c) - CK)     (choice kernel, Wilson & Collins 2019)
    P     = onehot(c)                       (perseveration, Dezfouli et al. 2019)

and choices follow ``softmax(beta * Q + persev * P + beta_ck * CK + bias)`` where ``bias`` has
``bias_1 .. bias_{K-1}`` (option 0 is the reference). With reward sensitivity the inverse
temperature is fixed at 1 and ``rho`` scales rewards instead (the two are otherwise confounded).
Missed trials neither count nor update anything (no forgetting either).

Given the choices and rewards, each update is linear in the state, ``h[t+1] = a[t] * h[t] + b[t]``,
so the batched likelihood runs :func:`~choicernn.fitting.scan.linear_scan` with a hand-written
backward pass; the sign-dependent learning rates are selected in a first pass without gradient.
The agent steps the very same coefficient functions one trial at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..fitting.parameters import Parameter, inverse_temperature, rate, weight
from ..fitting.scan import linear_scan
from .parametric import ParametricModel


@dataclass(frozen=True)
class QComponents:
    """Which components a Q-learning model has. Combine freely to declare a new variant.

    Parameters
    ----------
    dual_alpha : bool
        Separate learning rates ``alpha_pos`` / ``alpha_neg`` for positive / negative errors.
    forgetting : bool
        Values of unchosen options decay toward ``q0`` at rate ``phi``.
    perseveration : bool
        Weight ``persev`` on repeating the previous choice.
    choice_kernel : bool
        A choice kernel with learning rate ``alpha_ck`` and weight ``beta_ck``.
    reward_sensitivity : bool
        Rewards scaled by ``rho``; the inverse temperature is then fixed at 1.
    side_bias : bool
        Fixed preferences ``bias_1 .. bias_{K-1}`` relative to option 0.
    """

    dual_alpha: bool = False
    forgetting: bool = False
    perseveration: bool = False
    choice_kernel: bool = False
    reward_sensitivity: bool = False
    side_bias: bool = False


PRESETS: dict[str, QComponents] = {
    "rw": QComponents(),
    "dual_alpha": QComponents(dual_alpha=True),
    "forgetting": QComponents(forgetting=True),
    "rw_persev": QComponents(perseveration=True),
    "choice_kernel": QComponents(choice_kernel=True),
    "reward_sensitivity": QComponents(reward_sensitivity=True),
    "full": QComponents(
        dual_alpha=True, forgetting=True, perseveration=True, choice_kernel=True, side_bias=True
    ),
}


class QLearning(ParametricModel):
    """Q-learning with softmax choice, per-subject parameters.

    Parameters
    ----------
    preset : str or QComponents
        One of ``"rw"`` (alpha, beta), ``"dual_alpha"`` (alpha_pos, alpha_neg, beta),
        ``"forgetting"`` (alpha, phi, beta), ``"rw_persev"`` (alpha, beta, persev),
        ``"choice_kernel"`` (alpha, beta, alpha_ck, beta_ck), ``"reward_sensitivity"``
        (alpha, rho), ``"full"`` (dual learning rates, forgetting, perseveration, choice kernel,
        side bias), or a :class:`QComponents` for a custom variant.
    q0 : float
        Initial value of every option at each session start (default 0).
    name : str, optional
        Label in result tables (default: the preset name).

    Examples
    --------
    >>> model = cr.QLearning("rw").fit(data, seed=0)        # doctest: +SKIP
    >>> model.params_                                       # doctest: +SKIP
    """

    def __init__(
        self, preset: str | QComponents = "rw", q0: float = 0.0, name: str | None = None
    ) -> None:
        self.preset = preset
        self.q0 = q0
        self.name = name
        if isinstance(preset, str):
            if preset not in PRESETS:
                raise ValueError(
                    f"unknown Q-learning preset {preset!r}; presets are {sorted(PRESETS)}, "
                    f"or pass QComponents(...) to declare a variant"
                )
            self.components = PRESETS[preset]
        elif isinstance(preset, QComponents):
            self.components = preset
        else:
            raise TypeError(
                f"preset must be a preset name or QComponents, got {type(preset).__name__}"
            )
        if name is None:
            self.name = preset if isinstance(preset, str) else "q_custom"

    def get_params(self):
        return {"preset": self.preset, "q0": self.q0, "name": self.name}

    def parameters(self, n_options: int) -> list[Parameter]:
        c = self.components
        out = []
        if c.dual_alpha:
            out += [
                rate("alpha_pos", "learning rate after a positive prediction error"),
                rate("alpha_neg", "learning rate after a negative prediction error"),
            ]
        else:
            out.append(rate("alpha", "learning rate"))
        if c.forgetting:
            out.append(rate("phi", "forgetting rate of unchosen options toward q0", 0.1))
        if c.reward_sensitivity:
            out.append(
                inverse_temperature("rho", "reward sensitivity (inverse temperature fixed at 1)")
            )
        else:
            out.append(inverse_temperature("beta", "inverse temperature of the softmax"))
        if c.perseveration:
            out.append(weight("persev", "weight on repeating the previous choice"))
        if c.choice_kernel:
            out += [
                rate("alpha_ck", "choice-kernel learning rate"),
                weight("beta_ck", "choice-kernel weight"),
            ]
        if c.side_bias:
            out += [
                weight(f"bias_{k}", f"fixed preference for option {k} over option 0")
                for k in range(1, n_options)
            ]
        return out

    # --------------------------------------------------------------- the recurrence
    def _scaled_reward(self, theta, reward):
        return theta["rho"] * reward if self.components.reward_sensitivity else reward

    def _q_coefficients(self, theta, onehot, mask, reward, positive):
        """``a, b`` of the value update; shapes broadcast over any leading (trial) axes."""
        c = self.components
        if c.dual_alpha:
            alpha = theta["alpha_neg"] + positive * (theta["alpha_pos"] - theta["alpha_neg"])
        else:
            alpha = theta["alpha"]
        alpha_e = alpha * onehot
        a = 1.0 - alpha_e
        b = alpha_e * self._scaled_reward(theta, reward)
        if c.forgetting:
            unchosen = mask - onehot
            a = a - theta["phi"] * unchosen
            if self.q0 != 0:
                b = b + (theta["phi"] * self.q0) * unchosen
        return a, b

    def _ck_coefficients(self, theta, onehot, mask):
        a = 1.0 - theta["alpha_ck"] * mask
        b = theta["alpha_ck"] * onehot
        return a, b

    def _readout(self, theta, q, prev, ck):
        c = self.components
        logits = q if c.reward_sensitivity else theta["beta"] * q
        if c.perseveration:
            logits = logits + theta["persev"] * prev
        if c.choice_kernel:
            logits = logits + theta["beta_ck"] * ck
        if c.side_bias:
            k = logits.shape[-1]
            bias = torch.cat(
                [torch.zeros_like(theta["bias_1"])] + [theta[f"bias_{j}"] for j in range(1, k)], -1
            )
            logits = logits + bias
        return logits

    def _positive_errors(self, theta, prep) -> torch.Tensor:
        """First pass (no gradient): was each trial's prediction error positive? (T, n, 1)."""
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        with torch.no_grad():
            theta = {k: v.detach() for k, v in theta.items()}
            r = self._scaled_reward(theta, reward)
            n_t = onehot.shape[0]
            q = torch.full_like(onehot[0], float(self.q0))
            out = torch.empty_like(mask)
            for t in range(n_t):
                pos = ((r[t] - (q * onehot[t]).sum(-1, keepdim=True)) > 0).to(q.dtype)
                out[t] = pos
                a, b = self._q_coefficients(theta, onehot[t], mask[t], reward[t], pos)
                q = a * q + b
        return out

    def _prepare(self, batch):
        prep = super()._prepare(batch)
        if self.components.perseveration:
            # Previous observed choice (one-hot): data only, so computed once per batch.
            onehot, mask = prep["onehot"], prep["mask"]
            prev = torch.zeros_like(onehot)
            for t in range(1, onehot.shape[0]):
                prev[t] = torch.where(mask[t - 1] > 0, onehot[t - 1], prev[t - 1])
            prep["previous_choice"] = prev
        return prep

    def _forward(self, theta, prep):
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        positive = self._positive_errors(theta, prep)[:-1] if self.components.dual_alpha else None
        # Updates after trials 0 .. T-2 give the states of trials 1 .. T-1.
        a, b = self._q_coefficients(theta, onehot[:-1], mask[:-1], reward[:-1], positive)
        q = linear_scan(a, b, torch.full_like(onehot[0], float(self.q0)))
        ck = None
        if self.components.choice_kernel:
            a_ck, b_ck = self._ck_coefficients(theta, onehot[:-1], mask[:-1])
            ck = linear_scan(a_ck, b_ck, torch.zeros_like(onehot[0]))
        theta_t = {k: v.unsqueeze(0) for k, v in theta.items()}
        return self._readout(theta_t, q, prep.get("previous_choice"), ck)

    def _make_agent(self, theta, n_options):
        return QLearningAgent(self, theta, n_options)


class QLearningAgent:
    """A :class:`QLearning` model playing a task; steps the model's own coefficient functions."""

    def __init__(self, model: QLearning, theta: dict[str, torch.Tensor], n_options: int) -> None:
        self.model = model
        self.theta = {k: v.to(torch.float64) for k, v in theta.items()}
        self.n_agents = int(next(iter(theta.values())).shape[0])
        self.n_options = n_options
        self.start_session()

    def start_session(self) -> None:
        shape = (self.n_agents, self.n_options)
        self.q = torch.full(shape, float(self.model.q0), dtype=torch.float64)
        self.prev = torch.zeros(shape, dtype=torch.float64)
        self.ck = torch.zeros(shape, dtype=torch.float64)

    def logits(self) -> torch.Tensor:
        return self.model._readout(self.theta, self.q, self.prev, self.ck)

    def probabilities(self) -> np.ndarray:
        return torch.softmax(self.logits(), -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        choices = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        mask = (choices >= 0).to(torch.float64).unsqueeze(-1)
        onehot = (
            torch.nn.functional.one_hot(choices.clamp(min=0), self.n_options).to(torch.float64)
            * mask
        )
        reward = torch.as_tensor(np.asarray(rewards, dtype=float)).unsqueeze(-1) * mask
        r = self.model._scaled_reward(self.theta, reward)
        positive = ((r - (self.q * onehot).sum(-1, keepdim=True)) > 0).to(torch.float64)
        a, b = self.model._q_coefficients(self.theta, onehot, mask, reward, positive)
        self.q = a * self.q + b
        if self.model.components.choice_kernel:
            a_ck, b_ck = self.model._ck_coefficients(self.theta, onehot, mask)
            self.ck = a_ck * self.ck + b_ck
        self.prev = torch.where(mask > 0, onehot, self.prev)
