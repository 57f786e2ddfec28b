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

Components of hBayesDM's bandit and reversal models (see ``fits/README_hbayesdm_models.md``)::

    reward_punishment:  alpha_t = alpha_rew if r > 0 else alpha_pun    (prl_rp: by the outcome's sign)
    gain_loss:          r_eff = rho_gain * max(r, 0) + rho_loss * min(r, 0), beta fixed at 1
    counterfactual:     Q[u] += alpha_t * (-r_eff - Q[u])   for every unchosen u   (prl_fictitious)
    full_feedback:      Q[k] += alpha_t * (o_k - Q[k])      for every option k, o_k its shown outcome
    lapse:              p = (1 - epsilon) * softmax(logits) + epsilon / K   (logits returned: log p)

With ``counterfactual`` and ``dual_alpha`` both updates take the rate of the chosen option's
prediction error sign (as hBayesDM's ``prl_fictitious_rp``); with ``full_feedback`` and
``dual_alpha`` each option takes the rate of its own error's sign. ``counterfactual`` is the
two-option rule of hBayesDM (in a K-option task every unchosen option moves toward ``-r``);
``full_feedback`` needs data with every option's outcome (``outcomes=`` columns). A simulated
full-feedback agent learns from every option's payoff whatever the task's ``feedback`` says: it is
a model of a full-feedback task.

Given the choices and rewards, each update is linear in the state, ``h[t+1] = a[t] * h[t] + b[t]``,
so the batched likelihood runs :func:`~choicernn.fitting.scan.linear_scan` with a hand-written
backward pass; the sign-dependent learning rates are selected in a first pass without gradient.
The agent steps the very same coefficient functions one trial at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import distributions as D

from ..fitting.parameters import Parameter, inverse_temperature, rate, weight
from ..fitting.scan import linear_scan
from .parametric import ParametricModel
from .persistence import register_setting_type


def lapse_rate() -> Parameter:
    """The lapse rate ``epsilon`` in (0, 1), Beta(1.1, 1.1) prior, restarts in (0.01, 0.3)."""
    prior = D.Beta(torch.tensor(1.1, dtype=torch.float64), torch.tensor(1.1, dtype=torch.float64))
    return Parameter(
        "epsilon",
        0.0,
        1.0,
        prior,
        (0.01, 0.3, "linear"),
        "lapse rate: probability of a uniformly random choice",
        0.05,
    )


@register_setting_type
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
    lapse : bool
        Lapses: with probability ``epsilon`` the choice is uniform over the K options.
    counterfactual : bool
        Unchosen options move toward minus the obtained (scaled) reward at the chosen option's
        learning rate (hBayesDM ``prl_fictitious``, Glascher et al. 2009). Not with
        ``forgetting`` or ``full_feedback``.
    full_feedback : bool
        Every option moves toward its own shown outcome (data with ``outcomes=`` columns).
        Not with ``forgetting`` or ``counterfactual``.
    reward_punishment : bool
        Learning rate ``alpha_rew`` after a reward (r > 0) and ``alpha_pun`` otherwise (r <= 0)
        (hBayesDM ``prl_rp``). Not with ``dual_alpha``.
    gain_loss : bool
        Separate sensitivities ``rho_gain`` (r > 0) and ``rho_loss`` (r < 0) scale rewards; the
        inverse temperature is fixed at 1 (hBayesDM ``bandit4arm_4par``'s R and P, applied to
        one net reward). Not with ``reward_sensitivity``.
    """

    dual_alpha: bool = False
    forgetting: bool = False
    perseveration: bool = False
    choice_kernel: bool = False
    reward_sensitivity: bool = False
    side_bias: bool = False
    lapse: bool = False
    counterfactual: bool = False
    full_feedback: bool = False
    reward_punishment: bool = False
    gain_loss: bool = False

    def __post_init__(self) -> None:
        for f in self.__dataclass_fields__:
            if not isinstance(getattr(self, f), bool):
                raise TypeError(f"QComponents.{f} must be True or False, got {getattr(self, f)!r}")
        clashes = [
            ("dual_alpha", "reward_punishment"),
            ("reward_sensitivity", "gain_loss"),
            ("forgetting", "counterfactual"),
            ("forgetting", "full_feedback"),
            ("counterfactual", "full_feedback"),
        ]
        for a, b in clashes:
            if getattr(self, a) and getattr(self, b):
                raise ValueError(f"QComponents: {a} and {b} cannot be combined; choose one")

    @property
    def extended(self) -> bool:
        """Whether a component beyond the original seven presets' set is on."""
        return self.counterfactual or self.full_feedback or self.reward_punishment or self.gain_loss


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
    # hBayesDM's reversal-learning models (fits/README_hbayesdm_models.md)
    "fictitious": QComponents(counterfactual=True, side_bias=True),
    "fictitious_woa": QComponents(counterfactual=True),
    "fictitious_rp": QComponents(counterfactual=True, dual_alpha=True, side_bias=True),
    "reward_punishment": QComponents(reward_punishment=True),
    "gain_loss": QComponents(reward_punishment=True, gain_loss=True),
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
        side bias), ``"fictitious"`` (alpha, beta, bias_1..: counterfactual update, hBayesDM
        ``prl_fictitious`` with its indecision point as a side bias), ``"fictitious_woa"`` (alpha,
        beta), ``"fictitious_rp"`` (alpha_pos, alpha_neg, beta, bias_1..),
        ``"reward_punishment"`` (alpha_rew, alpha_pun, beta; ``prl_rp``), ``"gain_loss"``
        (alpha_rew, alpha_pun, rho_gain, rho_loss), or a :class:`QComponents` for a custom
        variant (e.g. ``QComponents(lapse=True)`` adds a lapse rate ``epsilon``).
    q0 : float
        Initial value of every option at each session start (default 0).
    name : str, optional
        Label in result tables (default: the preset name).
    **settings
        Fitting settings of every parametric model: ``method`` (``"map"`` by default,
        ``"mle"``, ``"em"``), ``n_restarts``, ``priors``, ``max_iter``, ``device``, ``dtype``,
        ``em_iterations``, ``em_tol``; see :class:`~choicernn.models.parametric.ParametricModel`.

    Examples
    --------
    >>> model = cr.QLearning("rw", method="map").fit(data, seed=0)   # doctest: +SKIP
    >>> model.params_                                               # doctest: +SKIP
    """

    def __init__(
        self,
        preset: str | QComponents = "rw",
        q0: float = 0.0,
        name: str | None = None,
        **settings,
    ) -> None:
        super().__init__(**settings)
        self.preset = preset
        self.q0 = q0
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        super()._check_settings()
        preset = self.preset
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
        if isinstance(self.q0, bool) or not isinstance(self.q0, int | float) or self.q0 != self.q0:
            raise ValueError(f"q0 must be a finite number, got {self.q0!r}")
        if abs(float(self.q0)) == float("inf"):
            raise ValueError(f"q0 must be a finite number, got {self.q0!r}")
        if self.name is None:
            self.name = preset if isinstance(preset, str) else "q_custom"

    def parameters(self, n_options: int) -> list[Parameter]:
        c = self.components
        out = []
        if c.dual_alpha:
            out += [
                rate("alpha_pos", "learning rate after a positive prediction error"),
                rate("alpha_neg", "learning rate after a negative prediction error"),
            ]
        elif c.reward_punishment:
            out += [
                rate("alpha_rew", "learning rate after a reward (r > 0)"),
                rate("alpha_pun", "learning rate after no reward or a punishment (r <= 0)"),
            ]
        else:
            out.append(rate("alpha", "learning rate"))
        if c.forgetting:
            out.append(rate("phi", "forgetting rate of unchosen options toward q0", 0.1))
        if c.reward_sensitivity:
            out.append(
                inverse_temperature("rho", "reward sensitivity (inverse temperature fixed at 1)")
            )
        elif c.gain_loss:
            out += [
                inverse_temperature("rho_gain", "sensitivity to gains, r > 0 (beta fixed at 1)"),
                inverse_temperature("rho_loss", "sensitivity to losses, r < 0 (beta fixed at 1)"),
            ]
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
        if c.lapse:
            out.append(lapse_rate())
        return out

    # --------------------------------------------------------------- the recurrence
    def _scaled_reward(self, theta, reward):
        if self.components.gain_loss:
            return theta["rho_gain"] * reward.clamp(min=0) + theta["rho_loss"] * reward.clamp(max=0)
        return theta["rho"] * reward if self.components.reward_sensitivity else reward

    def _targets(self, theta, onehot, mask, reward, outcomes):
        """Extended components: what each option moves toward, and which options learn."""
        c = self.components
        if c.full_feedback:
            if outcomes is None:
                raise ValueError(
                    f"{self.name}: full_feedback needs every option's outcome; read the data "
                    f"with outcomes= (one column per option)"
                )
            return self._scaled_reward(theta, outcomes), mask
        r = self._scaled_reward(theta, reward)
        if c.counterfactual:
            return (2.0 * onehot - mask) * r, mask
        return r, onehot

    def _positive(self, theta, q, onehot, mask, reward, outcomes):
        """Sign of the prediction error that selects ``alpha_pos``/``alpha_neg``: (n, 1) from the
        chosen option, or (n, K) per option with ``full_feedback``."""
        if self.components.full_feedback:
            target, _ = self._targets(theta, onehot, mask, reward, outcomes)
            return ((target - q) > 0).to(q.dtype)
        r = self._scaled_reward(theta, reward)
        return ((r - (q * onehot).sum(-1, keepdim=True)) > 0).to(q.dtype)

    def _q_coefficients(self, theta, onehot, mask, reward, positive, outcomes=None):
        """``a, b`` of the value update; shapes broadcast over any leading (trial) axes."""
        c = self.components
        if c.extended:
            return self._extended_coefficients(theta, onehot, mask, reward, positive, outcomes)
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

    def _extended_coefficients(self, theta, onehot, mask, reward, positive, outcomes):
        c = self.components
        target, learns = self._targets(theta, onehot, mask, reward, outcomes)
        if c.dual_alpha:
            alpha = theta["alpha_neg"] + positive * (theta["alpha_pos"] - theta["alpha_neg"])
        elif c.reward_punishment:
            rewarded = (reward > 0).to(onehot.dtype)
            alpha = theta["alpha_pun"] + rewarded * (theta["alpha_rew"] - theta["alpha_pun"])
        else:
            alpha = theta["alpha"]
        alpha_e = alpha * learns
        return 1.0 - alpha_e, alpha_e * target

    def _ck_coefficients(self, theta, onehot, mask):
        a = 1.0 - theta["alpha_ck"] * mask
        b = theta["alpha_ck"] * onehot
        return a, b

    def _readout(self, theta, q, prev, ck):
        c = self.components
        logits = q if (c.reward_sensitivity or c.gain_loss) else theta["beta"] * q
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
        if c.lapse:
            eps = theta["epsilon"]
            k = logits.shape[-1]
            logits = torch.logaddexp(
                torch.log1p(-eps) + torch.log_softmax(logits, -1), torch.log(eps / k)
            )
        return logits

    # --------------------------------------------------------------- one trial (the declaration)
    def initial_state(self, theta, n_options):
        n = next(iter(theta.values())).shape[0]
        dtype = next(iter(theta.values())).dtype
        shape = (n, n_options)
        return {
            "q": torch.full(shape, float(self.q0), dtype=dtype),
            "prev": torch.zeros(shape, dtype=dtype),
            "ck": torch.zeros(shape, dtype=dtype),
        }

    def update(self, state, theta, trial):
        onehot, mask, reward = trial["onehot"], trial["mask"], trial["reward"]
        outcomes = trial.get("outcomes")
        q = state["q"]
        positive = self._positive(theta, q, onehot, mask, reward, outcomes)
        a, b = self._q_coefficients(theta, onehot, mask, reward, positive, outcomes)
        out = {"q": a * q + b, "prev": onehot, "ck": state["ck"]}
        if self.components.choice_kernel:
            a_ck, b_ck = self._ck_coefficients(theta, onehot, mask)
            out["ck"] = a_ck * state["ck"] + b_ck
        return out

    def readout(self, state, theta):
        return self._readout(theta, state["q"], state["prev"], state["ck"])

    # --------------------------------------------------------------- the fast batched path
    def _positive_errors(self, theta, prep) -> torch.Tensor:
        """First pass (no gradient): was each trial's prediction error positive? (T, n, 1)."""
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        outcomes = prep.get("outcomes") if self.components.full_feedback else None
        with torch.no_grad():
            theta = {k: v.detach() for k, v in theta.items()}
            n_t = onehot.shape[0]
            q = torch.full_like(onehot[0], float(self.q0))
            out = torch.empty_like(onehot if outcomes is not None else mask)
            for t in range(n_t):
                o_t = None if outcomes is None else outcomes[t]
                pos = self._positive(theta, q, onehot[t], mask[t], reward[t], o_t)
                out[t] = pos
                a, b = self._q_coefficients(theta, onehot[t], mask[t], reward[t], pos, o_t)
                q = a * q + b
        return out

    def prepare(self, batch):
        prep = super().prepare(batch)
        if self.components.perseveration:
            # Previous observed choice (one-hot): data only, so computed once per batch.
            onehot, mask = prep["onehot"], prep["mask"]
            prev = torch.zeros_like(onehot)
            for t in range(1, onehot.shape[0]):
                prev[t] = torch.where(mask[t - 1] > 0, onehot[t - 1], prev[t - 1])
            prep["previous_choice"] = prev
        return prep

    def batched_logits(self, theta, prep):
        """The same recurrence as the step declaration, as a linear scan over trials."""
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        positive = self._positive_errors(theta, prep)[:-1] if self.components.dual_alpha else None
        outcomes = None
        if self.components.full_feedback:
            if "outcomes" not in prep:
                raise ValueError(
                    f"{self.name}: full_feedback needs every option's outcome; read the data "
                    f"with outcomes= (one column per option)"
                )
            outcomes = prep["outcomes"][:-1]
        # Updates after trials 0 .. T-2 give the states of trials 1 .. T-1.
        a, b = self._q_coefficients(theta, onehot[:-1], mask[:-1], reward[:-1], positive, outcomes)
        q = linear_scan(a, b, torch.full_like(onehot[0], float(self.q0)))
        ck = None
        if self.components.choice_kernel:
            a_ck, b_ck = self._ck_coefficients(theta, onehot[:-1], mask[:-1])
            ck = linear_scan(a_ck, b_ck, torch.zeros_like(onehot[0]))
        theta_t = {k: v.unsqueeze(0) for k, v in theta.items()}
        return self._readout(theta_t, q, prep.get("previous_choice"), ck)
