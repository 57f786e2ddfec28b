"""The two-step task's hybrid model-based / model-free learner (Daw et al. 2011) and its nests.

Notation: first-stage options ``a1`` in {0, 1}; second-stage states ``s`` in {0, 1} (state
``k`` is reached commonly, with probability ``transition_prob``, after option ``k``);
second-stage options ``a2`` in {0, 1}; reward ``r``. Values start at 0 at every session start.

Model-free values ``Q1[a1]`` and ``Q2[s, a2]`` learn by SARSA(lambda) (Daw et al. 2011, eqs.
in the Supplemental Experimental Procedures); after a trial with both stages observed::

    d1 = Q2[s, a2] - Q1[a1]
    d2 = r - Q2[s, a2]
    Q1[a1] += alpha1 * d1
    Q2[s, a2] += alpha2 * d2
    Q1[a1] += alpha1 * lambda * e            e = d2 (Daw), e = r - Q2_new[s, a2] (hBayesDM)

The model-based value of a first-stage option weighs the best second-stage value of each state
by the (known, fixed) transition probabilities, ``QMB[a] = P(s=0|a) max Q2[0, :] + P(s=1|a)
max Q2[1, :]``, and the first-stage choice follows::

    P(a1) ~ exp(beta1 * (w * QMB[a1] + (1 - w) * Q1[a1]) + rho * rep(a1))
    P(a2 | s) ~ exp(beta2 * Q2[s, a2])

where ``rep(a)`` is 1 for the previous observed first-stage choice of the session (0 at the
session start) and ``rho = beta1 * p`` (Daw et al.: perseveration inside the softmax) or
``rho = pi`` (hBayesDM). Missed trials neither count nor update; a trial with a first-stage
choice but no second-stage choice counts its first stage and updates only ``rep``.

Presets (parameters in order):

=============== ================================================== ==========================
preset          parameters                                          fixed
=============== ================================================== ==========================
``hybrid``      alpha1, alpha2, lambda, beta1, beta2, w, p          (Daw et al. 2011)
``model_free``  alpha1, alpha2, lambda, beta1, beta2, p             w = 0
``model_based`` alpha2, beta1, beta2, p                             w = 1 (alpha1, lambda unused)
``ts_par4``     a, beta, pi, w                                      alpha1 = alpha2 = a,
                                                                    beta1 = beta2 = beta,
                                                                    lambda = 1
``ts_par6``     a1, beta1, a2, beta2, pi, w                         lambda = 0
``ts_par7``     a1, beta1, a2, beta2, pi, w, lambda                 --
=============== ================================================== ==========================

The ``ts_par*`` presets follow hBayesDM's Stan code (Ahn et al. 2017): perseveration ``pi``
outside the softmax temperature and the eligibility-trace error computed after the second-stage
update. The other presets follow Daw et al. 2011. Transition probabilities are known and fixed
(``transition_prob``), not learned.

Scoring: with ``stages="both"`` (default) the likelihood of a trial is that of both its choices;
``stages="first"`` scores first-stage choices only. :meth:`TwoStepModel.logits` gives the
*first-stage* logits (the generic contract, so cross-validation and figures see a two-option
model); :meth:`TwoStepModel.stage_logits` gives both stages and
:meth:`TwoStepModel.trial_log_likelihood` scores both (per ``stages``).

Fitting reuses :class:`~choicernn.models.parametric.ParametricModel` unchanged: the batched
logits run over ``2 * n_trials`` steps (stage 1 and stage 2 of each trial interleaved along the
time axis) with matching one-hot choices and masks, so the batched objective scores both stages.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData, SequenceBatch
from ..fitting.parameters import Parameter, inverse_temperature, rate, weight
from ..fitting.scan import linear_scan
from .parametric import ParametricModel
from .scoring import chosen_log_prob

_ROLES = ("alpha1", "alpha2", "lam", "beta1", "beta2", "w", "persev")

#: preset -> (parameter names in order, role -> parameter name or fixed value, convention)
PRESETS: dict[str, tuple[tuple[str, ...], dict[str, str | float], str]] = {
    "hybrid": (
        ("alpha1", "alpha2", "lambda", "beta1", "beta2", "w", "p"),
        dict(
            alpha1="alpha1",
            alpha2="alpha2",
            lam="lambda",
            beta1="beta1",
            beta2="beta2",
            w="w",
            persev="p",
        ),
        "daw",
    ),
    "model_free": (
        ("alpha1", "alpha2", "lambda", "beta1", "beta2", "p"),
        dict(
            alpha1="alpha1",
            alpha2="alpha2",
            lam="lambda",
            beta1="beta1",
            beta2="beta2",
            w=0.0,
            persev="p",
        ),
        "daw",
    ),
    "model_based": (
        ("alpha2", "beta1", "beta2", "p"),
        dict(alpha1=0.0, alpha2="alpha2", lam=0.0, beta1="beta1", beta2="beta2", w=1.0, persev="p"),
        "daw",
    ),
    "ts_par4": (
        ("a", "beta", "pi", "w"),
        dict(alpha1="a", alpha2="a", lam=1.0, beta1="beta", beta2="beta", w="w", persev="pi"),
        "hbayesdm",
    ),
    "ts_par6": (
        ("a1", "beta1", "a2", "beta2", "pi", "w"),
        dict(alpha1="a1", alpha2="a2", lam=0.0, beta1="beta1", beta2="beta2", w="w", persev="pi"),
        "hbayesdm",
    ),
    "ts_par7": (
        ("a1", "beta1", "a2", "beta2", "pi", "w", "lambda"),
        dict(
            alpha1="a1", alpha2="a2", lam="lambda", beta1="beta1", beta2="beta2", w="w", persev="pi"
        ),
        "hbayesdm",
    ),
}

_PARAMETERS = {
    "alpha1": lambda: rate("alpha1", "first-stage (model-free) learning rate"),
    "alpha2": lambda: rate("alpha2", "second-stage learning rate"),
    "a": lambda: rate("a", "learning rate of both stages"),
    "a1": lambda: rate("a1", "first-stage (model-free) learning rate"),
    "a2": lambda: rate("a2", "second-stage learning rate"),
    "lambda": lambda: rate("lambda", "eligibility trace: how much the reward reaches Q1", 0.5),
    "beta1": lambda: inverse_temperature("beta1", "first-stage inverse temperature"),
    "beta2": lambda: inverse_temperature("beta2", "second-stage inverse temperature"),
    "beta": lambda: inverse_temperature("beta", "inverse temperature of both stages"),
    "w": lambda: rate("w", "model-based weight (0: model-free, 1: model-based)", 0.5),
    "p": lambda: weight("p", "first-stage perseveration, inside the softmax (x beta1)"),
    "pi": lambda: weight("pi", "first-stage perseveration weight on the logit"),
}


class TwoStepModel(ParametricModel):
    """Hybrid model-based / model-free learner of the two-step task (Daw et al. 2011).

    Parameters
    ----------
    preset : {"hybrid", "model_free", "model_based", "ts_par4", "ts_par6", "ts_par7"}
        The variant (see the module docstring for the equations and parameters).
    stages : {"both", "first"}
        Which choices count in the likelihood (fitting, :meth:`trial_log_likelihood`): both
        stages (default) or the first-stage choices only.
    transition_prob : float
        The common transition's probability the model-based system assumes (default 0.7).
    name : str, optional
        Label in result tables (default ``"two_step_<preset>"``).
    **settings
        Fitting settings of every parametric model (``method="map"`` by default,
        ``n_restarts``, ``priors``, ``max_iter``, ``device``, ``dtype``, ``em_iterations``,
        ``em_tol``); see :class:`~choicernn.models.parametric.ParametricModel`.

    Notes
    -----
    The model needs two-step data (:attr:`ChoiceData.is_two_step`; read them with
    ``state=`` and ``choice2=``, or simulate them in the ``"two_step"`` task). ``results_``
    counts in ``n_trials`` the choices scored (both stages with ``stages="both"``), which AIC
    and BIC use.

    Examples
    --------
    >>> model = cr.TwoStepModel("hybrid").fit(data, seed=0)   # doctest: +SKIP
    >>> model.params_                                         # doctest: +SKIP
    """

    def __init__(
        self,
        preset: str = "hybrid",
        stages: Literal["both", "first"] = "both",
        transition_prob: float = 0.7,
        name: str | None = None,
        **settings: Any,
    ) -> None:
        super().__init__(**settings)
        self.preset = preset
        self.stages = stages
        self.transition_prob = transition_prob
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        super()._check_settings()
        if self.preset not in PRESETS:
            raise ValueError(
                f"unknown two-step preset {self.preset!r}; presets are {sorted(PRESETS)}"
            )
        if self.stages not in ("both", "first"):
            raise ValueError(f"stages must be 'both' or 'first', got {self.stages!r}")
        p = self.transition_prob
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.5 < p <= 1:
            raise ValueError(f"transition_prob must be a number in (0.5, 1], got {p!r}")
        if self.name is None:
            self.name = f"two_step_{self.preset}"

    # --------------------------------------------------------------- declaration
    def parameters(self, n_options: int) -> list[Parameter]:
        if n_options != 2:
            raise ValueError(
                f"{self.name}: the two-step task has two options per stage, got n_options="
                f"{n_options}"
            )
        return [_PARAMETERS[n]() for n in PRESETS[self.preset][0]]

    def _roles(self, theta: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Role -> parameter tensor (n, 1) or fixed float, plus ``persev`` as a logit weight."""
        _, roles, convention = PRESETS[self.preset]
        out = {r: theta[v] if isinstance(v, str) else v for r, v in roles.items()}
        if convention == "daw":
            out["persev"] = out["beta1"] * out["persev"]
        return out

    def _trace_factor(self, roles: dict[str, Any]):
        """The eligibility-trace error as a multiple of d2 (hBayesDM: after the Q2 update)."""
        return 1.0 if PRESETS[self.preset][2] == "daw" else 1.0 - roles["alpha2"]

    def _stage1_logits(self, roles, q1, q2, prev):
        t = float(self.transition_prob)
        best_0 = torch.maximum(q2[..., 0], q2[..., 1])
        best_1 = torch.maximum(q2[..., 2], q2[..., 3])
        q_mb = torch.stack([t * best_0 + (1 - t) * best_1, (1 - t) * best_0 + t * best_1], -1)
        q_net = roles["w"] * q_mb + (1 - roles["w"]) * q1
        return roles["beta1"] * q_net + roles["persev"] * prev

    @staticmethod
    def _stage2_values(q2, state_onehot):
        """The two second-stage values of the state in ``state_onehot`` (zeros if unknown)."""
        return (q2.unflatten(-1, (2, 2)) * state_onehot.unsqueeze(-1)).sum(-2)

    def initial_state(self, theta, n_options):
        ref = next(iter(theta.values()))
        n = ref.shape[0]
        zeros = lambda k: torch.zeros((n, k), dtype=ref.dtype, device=ref.device)  # noqa: E731
        return {"q1": zeros(2), "q2": zeros(4), "prev": zeros(2)}

    def update(self, state, theta, trial):
        """One trial: ``trial`` holds ``onehot`` (n, 2) and ``mask`` (n, 1) of the first stage,
        ``value_mask`` (n, 1; both stages observed), ``onehot2`` (n, 4; option ``2 * state +
        choice2``, zero unless ``value_mask``) and ``reward`` (n, 1)."""
        roles = self._roles(theta)
        e1 = trial["onehot"] * trial["value_mask"]
        e2, r = trial["onehot2"], trial["reward"]
        q1, q2 = state["q1"], state["q2"]
        q2_sel = (q2 * e2).sum(-1, keepdim=True)
        target = q2_sel + roles["lam"] * self._trace_factor(roles) * (r - q2_sel)
        observed = trial["mask"] > 0
        return {
            "q1": q1 + roles["alpha1"] * e1 * (target - q1),
            "q2": q2 + roles["alpha2"] * e2 * (r - q2),
            "prev": torch.where(observed, trial["onehot"], state["prev"]),
        }

    def readout(self, state, theta):
        """First-stage logits (n, 2)."""
        return self._stage1_logits(self._roles(theta), state["q1"], state["q2"], state["prev"])

    def readout2(self, state, theta, state_onehot):
        """Second-stage logits (n, 2) in the states ``state_onehot`` (n, 2)."""
        return self._roles(theta)["beta2"] * self._stage2_values(state["q2"], state_onehot)

    # --------------------------------------------------------------- the batched path
    def prepare(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Time-major tensors: per trial (T, n, ...) ``c1``, ``m1``, ``e1``, ``e2``, ``reward``,
        ``state_onehot``, ``prev``; and over the 2T interleaved steps (stage 1, stage 2 of each
        trial) ``onehot`` (2T, n, 2) and ``mask`` (2T, n, 1) for the objective."""
        if batch.choices2 is None:
            raise ValueError(_NOT_TWO_STEP)
        dtype = batch.rewards.dtype
        onehot = lambda x, k: torch.nn.functional.one_hot(x.clamp(min=0), k).to(dtype)  # noqa: E731
        m1 = (batch.choices >= 0).to(dtype).T.unsqueeze(-1)
        has_state = (batch.states >= 0).to(dtype).T.unsqueeze(-1)
        m2 = (batch.choices2 >= 0).to(dtype).T.unsqueeze(-1) * has_state
        c1 = onehot(batch.choices.T, 2) * m1
        state_onehot = onehot(batch.states.T, 2) * has_state
        c2 = onehot(batch.choices2.T, 2) * m2
        e2 = onehot((2 * batch.states + batch.choices2).T, 4) * m2
        prev = torch.zeros_like(c1)
        for t in range(1, c1.shape[0]):
            prev[t] = torch.where(m1[t - 1] > 0, c1[t - 1], prev[t - 1])
        m2_scored = m2 if self.stages == "both" else torch.zeros_like(m2)
        n_t, n = c1.shape[:2]
        return {
            "c1": c1.contiguous(),
            "m1": m1.contiguous(),
            "e1": (c1 * m2).contiguous(),
            "e2": e2.contiguous(),
            "reward": (batch.rewards.T.unsqueeze(-1) * m2).contiguous(),
            "state_onehot": state_onehot.contiguous(),
            "prev": prev,
            "onehot": torch.stack([c1, c2], 1).reshape(2 * n_t, n, 2).contiguous(),
            "mask": torch.stack([m1, m2_scored], 1).reshape(2 * n_t, n, 1).contiguous(),
        }

    def batched_logits(self, theta, prep):
        """Logits (2T, n, 2): stage 1 and stage 2 of every trial, interleaved in time.

        The values are linear recurrences given the data (``Q2`` first, then ``Q1`` whose
        update reads the ``Q2`` trajectory), run with :func:`~choicernn.fitting.scan.linear_scan`.
        """
        roles = self._roles({k: v.unsqueeze(0) for k, v in theta.items()})
        e1, e2, r = prep["e1"][:-1], prep["e2"][:-1], prep["reward"][:-1]
        n_t, n = prep["c1"].shape[:2]
        q2 = linear_scan(1.0 - roles["alpha2"] * e2, roles["alpha2"] * e2 * r, e2.new_zeros(n, 4))
        q2_sel = (q2[:-1] * e2).sum(-1, keepdim=True)
        target = q2_sel + roles["lam"] * self._trace_factor(roles) * (r - q2_sel)
        q1 = linear_scan(
            1.0 - roles["alpha1"] * e1, roles["alpha1"] * e1 * target, e1.new_zeros(n, 2)
        )
        logits1 = self._stage1_logits(roles, q1, q2, prep["prev"])
        logits2 = roles["beta2"] * self._stage2_values(q2, prep["state_onehot"])
        logits1, logits2 = torch.broadcast_tensors(logits1, logits2)
        return torch.stack([logits1, logits2], 1).reshape(2 * n_t, n, 2)

    # --------------------------------------------------------------- prediction
    def _check_two_step(self, data: ChoiceData) -> None:
        if not isinstance(data, ChoiceData):
            raise TypeError(f"expected a ChoiceData, got {type(data).__name__}")
        if not data.is_two_step:
            raise ValueError(f"{self.name}: {_NOT_TWO_STEP}")

    def fit(self, data: ChoiceData, *, seed: int | None = None) -> TwoStepModel:
        """Fit every subject (MAP by default); returns ``self``. See :class:`ParametricModel`."""
        self._check_two_step(data)
        return super().fit(data, seed=seed)

    def stage_logits(
        self, data: ChoiceData, params: pd.DataFrame | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of both stages, each of shape (n_sequences, n_trials, 2).

        Stage-2 logits are those of the options of the state reached (zeros where no state is
        known). ``params`` (one row per subject) replaces the fitted parameters.
        """
        if params is None:
            self._check_fitted()
        self._check_two_step(data)
        if params is None:
            self._check_options(data)
        theta = self.theta_for(data, params)
        with torch.no_grad():
            out = self.batched_logits(theta, self.prepare(data.tensors()))
        n_t = out.shape[0] // 2
        out = out.reshape(n_t, 2, *out.shape[1:]).transpose(0, 2)  # (n, 2, T, K)
        return out[:, 0].contiguous(), out[:, 1].contiguous()

    def logits(self, data: ChoiceData, params: pd.DataFrame | None = None) -> torch.Tensor:
        """First-stage logits (n_sequences, n_trials, 2): the generic contract (the prediction
        of ``choice``). Both stages: :meth:`stage_logits`."""
        return self.stage_logits(data, params)[0]

    def log_likelihood_tensor(self, data: ChoiceData, **logit_options: Any) -> torch.Tensor:
        """Log-probability of each trial's scored choices (both stages with ``stages="both"``),
        shape (n_sequences, n_trials); 0 where nothing is scored."""
        return sum(self._stage_log_likelihoods(data, **logit_options))

    def _stage_log_likelihoods(self, data, **logit_options):
        l1, l2 = self.stage_logits(data, **logit_options)
        batch = data.tensors()
        ll1 = chosen_log_prob(l1.to(torch.float64), batch.choices)
        choices2 = batch.choices2.where(batch.states >= 0, -1)
        ll2 = chosen_log_prob(l2.to(torch.float64), choices2)
        return ll1, (ll2 if self.stages == "both" else torch.zeros_like(ll2))

    def trial_log_likelihood(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Log-likelihood of every trial with a first-stage choice.

        Returns
        -------
        pandas.DataFrame
            ``subject, session, trial, choice, log_lik`` (the trial's scored stages together)
            and ``choice2, log_lik_stage1, log_lik_stage2`` (0 when the second stage is
            missed or not scored, ``stages="first"``).
        """
        ll1, ll2 = self._stage_log_likelihoods(data, **logit_options)
        table = data.to_frame()
        observed = table["choice"].notna().to_numpy()
        out = table.loc[observed, ["subject", "session", "trial", "choice"]].copy()
        first = data.trial_values(ll1)[observed]
        second = data.trial_values(ll2)[observed]
        out["log_lik"] = first + second
        out["choice2"] = table.loc[observed, "choice2"]
        out["log_lik_stage1"] = first
        out["log_lik_stage2"] = second
        return out.reset_index(drop=True)

    def _store(self, data, params, fitted, settings) -> None:
        super()._store(data, params, fitted, settings)
        if self.stages == "both":  # AIC/BIC count every scored choice
            table = data.to_frame()
            scored = table["choice2"].notna() & table["state"].notna()
            extra = scored.groupby(table["subject"], sort=False).sum().reindex(data.subjects)
            n = self.results_["n_trials"].to_numpy() + extra.to_numpy()
            self.results_["n_trials"] = n
            k = self.results_["n_params"].to_numpy()
            self.results_["bic"] = 2 * self.results_["nll"].to_numpy() + k * np.log(n)

    # --------------------------------------------------------------- simulation
    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ):
        """A two-stage agent (see :mod:`choicernn.simulation`) for ``n_agents`` subjects and the
        table of their parameters (from ``params``, the fitted subjects, or drawn with
        ``seed``; see :meth:`ParametricModel.agent`)."""
        from .parametric_agent import agent_parameters

        table, k = agent_parameters(self, n_agents, seed, params, n_options or 2)
        names = [p.name for p in self.parameters(k)]
        theta = {n: torch.tensor(table[n].to_numpy(dtype=float)).unsqueeze(-1) for n in names}
        return TwoStepAgent(self, theta), table


_NOT_TWO_STEP = (
    "two-step models need two-step data (a state and a second-stage choice on every trial): "
    "read them with cr.read_csv(..., state='<column>', choice2='<column>'), "
    "choicernn.datasets.hbayesdm_two_step, or simulate them in the 'two_step' task."
)


class TwoStepAgent:
    """A :class:`TwoStepModel` playing the two-step task for ``n_agents`` subjects.

    Steps the model's own ``initial_state`` / ``update`` / ``readout`` / ``readout2``, the
    declaration that :meth:`TwoStepModel.batched_logits` computes in batch.
    """

    n_options = 2

    def __init__(self, model: TwoStepModel, theta: dict[str, torch.Tensor]) -> None:
        self.model = model
        self.theta = {k: v.to(torch.float64) for k, v in theta.items()}
        self.n_agents = int(next(iter(theta.values())).shape[0])
        self.start_session()

    def start_session(self) -> None:
        self.state = self.model.initial_state(self.theta, 2)

    def probabilities(self) -> np.ndarray:
        """First-stage choice probabilities, shape (n_agents, 2)."""
        return torch.softmax(self.model.readout(self.state, self.theta), -1).numpy()

    def second_stage_probabilities(self, states: np.ndarray) -> np.ndarray:
        """Second-stage choice probabilities in ``states`` (n_agents,), shape (n_agents, 2)."""
        s = torch.as_tensor(np.asarray(states), dtype=torch.long)
        known = (s >= 0).to(torch.float64).unsqueeze(-1)
        onehot = torch.nn.functional.one_hot(s.clamp(min=0), 2).to(torch.float64) * known
        return torch.softmax(self.model.readout2(self.state, self.theta, onehot), -1).numpy()

    def update(self, choices, rewards, outcomes=None, *, states=None, choices2=None) -> None:
        """Learn from one trial; without ``states`` and ``choices2`` the second stage counts
        as missed (only the previous-choice memory moves)."""
        c1 = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        n = c1.shape[0]
        s = torch.full((n,), -1) if states is None else torch.as_tensor(np.asarray(states))
        c2 = torch.full((n,), -1) if choices2 is None else torch.as_tensor(np.asarray(choices2))
        m1 = (c1 >= 0).to(torch.float64).unsqueeze(-1)
        m2 = ((c2 >= 0) & (s >= 0) & (c1 >= 0)).to(torch.float64).unsqueeze(-1)
        onehot = lambda x, k: torch.nn.functional.one_hot(x.clamp(min=0).long(), k).double()  # noqa: E731
        trial = {
            "onehot": onehot(c1, 2) * m1,
            "mask": m1,
            "value_mask": m2,
            "onehot2": onehot(2 * s.clamp(min=0) + c2.clamp(min=0), 4) * m2,
            "reward": torch.as_tensor(np.asarray(rewards, dtype=float)).unsqueeze(-1) * m2,
        }
        self.state = self.model.update(self.state, self.theta, trial)
