"""Lagged logistic regression of choices on past choices and rewards (Lau & Glimcher 2005).

For each lag ``l = 1..L`` and option ``a`` two features describe the ``l``-th previous observed
trial::

    choice_l(a) = 1 if a was chosen l trials ago, else 0
    reward_l(a) = r   if a was chosen l trials ago (r the reward as given), else 0

(with 0/1 rewards ``reward_l`` is "a chosen and rewarded"; "a chosen and unrewarded" is
``choice_l - reward_l`` and would be redundant, so it is left out). Choices follow a conditional
logit with weights shared across options::

    logit(a) = sum_l w_choice_l * choice_l(a) + w_reward_l * reward_l(a) + bias_a

where ``bias_1 .. bias_{K-1}`` (option 0 the reference) are present with ``side_bias=True``. A
reward kernel ``w_reward_l`` that decays over lags is the signature of incremental value learning;
``w_choice_l`` captures perseveration (positive) or alternation (negative).

Lags count observed trials: a missed trial neither counts nor shifts the lags (as in every model
of the library, a missed trial leaves the state unchanged), and before the ``l``-th observed trial
of a session the lag-``l`` features are 0. Weights are per subject, with a ridge penalty: the MAP
fit (default) puts a Normal(0, ``ridge_sd``) prior on every weight (bounds (-10, 10)); ``method=
"mle"`` fits without it. Choose ``n_lags`` by nested cross-validation with ``cr.SelectByCV``.

Two-step data (Daw et al. 2011; :attr:`ChoiceData.is_two_step`) are read with another design
(:mod:`choicernn.models.lagged_two_step`): the first-stage choice is regressed on the last
``n_lags`` trials' four trial types of Miller, Botvinick & Brody (2016) (common/rare transition
x rewarded/unrewarded), the second-stage choice on the past choices and rewards in the state
reached. With ``stages="both"`` (default) both choices of a trial count in the likelihood;
``stages="first"`` scores (and parametrises) the first stage only. The fitted model remembers
which kind of data it was fitted on (``two_step_``) and scores only data of that kind.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch
from torch import distributions as D

from ..data import ChoiceData, SequenceBatch
from ..fitting.parameters import Parameter, weight
from . import lagged_two_step
from .parametric import ParametricModel
from .two_step_scoring import (
    check_stages,
    n_scored_second_stage,
    stage_log_likelihoods,
    stage_trial_table,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

FEATURES = ("choice", "reward")
KERNEL_COLUMNS = ["subject", "feature", "lag", "weight"]


class LaggedRegression(ParametricModel):
    """Conditional-logit regression on the last ``n_lags`` choices and rewards (module docstring).

    Parameters
    ----------
    n_lags : int
        Number of past observed trials in the regression (default 5: 10 weights, plus biases).
    side_bias : bool
        Add fixed preferences ``bias_1 .. bias_{K-1}`` over option 0 (default True).
    ridge_sd : float
        SD of the Normal(0, ridge_sd) prior of the lag weights under MAP (default 2): the ridge
        penalty ``sum w**2 / (2 ridge_sd**2)``.
    stages : {"both", "first"}
        Two-step data only: which choices count in the likelihood (fitting,
        :meth:`trial_log_likelihood`): both stages (default) or the first stage only.
    name : str, optional
        Label in result tables (default ``"lagged_<n_lags>"``).
    **settings
        Fitting settings (``method``, ``n_restarts``, ...; see
        :class:`~choicernn.models.parametric.ParametricModel`).

    Examples
    --------
    >>> model = cr.LaggedRegression(n_lags=5).fit(data, seed=0)   # doctest: +SKIP
    >>> model.kernel_table()                                        # doctest: +SKIP
    >>> model.plot_kernel()                                         # doctest: +SKIP
    """

    def __init__(
        self,
        n_lags: int = 5,
        side_bias: bool = True,
        ridge_sd: float = 2.0,
        stages: Literal["both", "first"] = "both",
        name: str | None = None,
        **settings,
    ) -> None:
        super().__init__(**settings)
        self.n_lags = n_lags
        self.side_bias = side_bias
        self.ridge_sd = ridge_sd
        self.stages = stages
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        super()._check_settings()
        if isinstance(self.n_lags, bool) or not isinstance(self.n_lags, int) or self.n_lags < 1:
            raise ValueError(f"n_lags must be a positive integer, got {self.n_lags!r}")
        if not isinstance(self.side_bias, bool):
            raise ValueError(f"side_bias must be True or False, got {self.side_bias!r}")
        sd = self.ridge_sd
        if (
            isinstance(sd, bool)
            or not isinstance(sd, int | float)
            or not (math.isfinite(sd) and sd > 0)
        ):
            raise ValueError(f"ridge_sd must be a positive number, got {sd!r}")
        check_stages(self.stages)
        if self.name is None:
            self.name = f"lagged_{self.n_lags}"

    def parameters(self, n_options: int, two_step: bool | None = None) -> list[Parameter]:
        """The weights: of the single-stage design, or of the two-step design (module docstring)
        when ``two_step`` is True; None: the kind of data the model was fitted on (single-stage
        when unfitted)."""
        if two_step is None:
            two_step = getattr(self, "two_step_", False)
        if two_step:
            if n_options != 2:
                raise ValueError(
                    f"{self.name}: the two-step task has two options per stage, got "
                    f"n_options={n_options}"
                )
            return lagged_two_step.two_step_parameters(
                self.n_lags, self.side_bias, self.stages, self.ridge_sd
            )
        prior = D.Normal(
            torch.tensor(0.0, dtype=torch.float64),
            torch.tensor(float(self.ridge_sd), dtype=torch.float64),
        )
        out = []
        for feature, text in (("choice", "having chosen the option"), ("reward", "its reward")):
            for lag in range(1, self.n_lags + 1):
                out.append(
                    Parameter(
                        f"{feature}_{lag}",
                        -10.0,
                        10.0,
                        prior,
                        (-1.0, 1.0, "linear"),
                        f"weight of {text} {lag} observed trial(s) ago",
                        0.0,
                    )
                )
        if self.side_bias:
            out += [
                weight(f"bias_{k}", f"fixed preference for option {k} over option 0")
                for k in range(1, n_options)
            ]
        return out

    # --------------------------------------------------------------- the declaration
    def initial_state(self, theta, n_options):
        like = next(iter(theta.values()))
        zeros = torch.zeros(like.shape[0], n_options, dtype=like.dtype)
        state = {}
        for lag in range(1, self.n_lags + 1):
            state[f"choice_{lag}"] = zeros
            state[f"reward_{lag}"] = zeros
        return state

    def update(self, state, theta, trial):
        onehot, reward = trial["onehot"], trial["reward"]
        out = {"choice_1": onehot, "reward_1": onehot * reward}
        for lag in range(2, self.n_lags + 1):
            out[f"choice_{lag}"] = state[f"choice_{lag - 1}"]
            out[f"reward_{lag}"] = state[f"reward_{lag - 1}"]
        return out

    def _bias(self, theta, like):
        k = like.shape[-1]
        zero = torch.zeros_like(theta["bias_1"])
        return torch.cat([zero] + [theta[f"bias_{j}"] for j in range(1, k)], -1)

    def readout(self, state, theta):
        logits = 0.0
        for lag in range(1, self.n_lags + 1):
            logits = logits + theta[f"choice_{lag}"] * state[f"choice_{lag}"]
            logits = logits + theta[f"reward_{lag}"] * state[f"reward_{lag}"]
        if self.side_bias:
            logits = logits + self._bias(theta, state["choice_1"])
        return logits

    # --------------------------------------------------------------- the fast batched path
    def prepare(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Adds ``lagged`` (T, n, K, 2 L): the choice then reward features of every trial (data
        only, so computed once per batch). Two-step data: the tensors of
        :func:`~choicernn.models.lagged_two_step.prepare_two_step` (over ``2 T`` steps)."""
        if batch.is_two_step:
            return lagged_two_step.prepare_two_step(batch, self.n_lags, self.stages)
        prep = super().prepare(batch)
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        n_t, n, k = onehot.shape
        n_l = self.n_lags
        choice = torch.zeros(n_t, n, k, n_l, dtype=onehot.dtype, device=onehot.device)
        rew = torch.zeros_like(choice)
        for t in range(1, n_t):
            seen = (mask[t - 1] > 0).unsqueeze(-1)
            shifted_c = torch.cat([onehot[t - 1].unsqueeze(-1), choice[t - 1, ..., :-1]], -1)
            shifted_r = torch.cat(
                [(onehot[t - 1] * reward[t - 1]).unsqueeze(-1), rew[t - 1, ..., :-1]], -1
            )
            choice[t] = torch.where(seen, shifted_c, choice[t - 1])
            rew[t] = torch.where(seen, shifted_r, rew[t - 1])
        prep["lagged"] = torch.cat([choice, rew], -1)
        return prep

    def batched_logits(self, theta, prep):
        """The step declaration's logits from the precomputed lagged features; two-step data:
        (2 T, n, 2), stage 1 and stage 2 of every trial interleaved in time."""
        if "lagged1" in prep:
            return lagged_two_step.batched_two_step_logits(theta, prep, self.n_lags, self.stages)
        names = [f"{f}_{lag}" for f in FEATURES for lag in range(1, self.n_lags + 1)]
        w = torch.cat([theta[n] for n in names], -1)  # (n, 2 L)
        logits = torch.einsum("tnkf,nf->tnk", prep["lagged"], w)
        if self.side_bias:
            logits = logits + self._bias(theta, prep["onehot"]).unsqueeze(0)
        return logits

    # --------------------------------------------------------------- two-step data
    def fit(self, data: ChoiceData, *, seed: int | None = None) -> LaggedRegression:
        """Fit every subject (MAP by default); returns ``self``. Two-step data are fitted with
        the two-step design (module docstring). See :class:`ParametricModel`."""
        if not isinstance(data, ChoiceData):
            raise TypeError(f"fit expects a ChoiceData, got {type(data).__name__}")
        before = getattr(self, "two_step_", None)
        self.two_step_ = data.is_two_step
        try:
            return super().fit(data, seed=seed)
        except BaseException:
            if before is None:
                del self.two_step_
            else:
                self.two_step_ = before
            raise

    def _check_kind(self, data: ChoiceData, params: pd.DataFrame | None) -> None:
        if not isinstance(data, ChoiceData):
            raise TypeError(f"expected a ChoiceData, got {type(data).__name__}")
        if params is None:
            self._check_fitted()
            fitted = getattr(self, "two_step_", False)
            if fitted != data.is_two_step:
                kinds = ("single-stage", "two-step")
                raise ValueError(
                    f"{self.name} was fitted on {kinds[fitted]} data and cannot score "
                    f"{kinds[data.is_two_step]} data (their regressions differ); fit it on "
                    f"{kinds[data.is_two_step]} data, or pass params="
                )

    def theta_for(
        self, data: ChoiceData, params: pd.DataFrame | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-sequence parameter values (n_sequences, 1), of the design of ``data``'s kind."""
        self._check_kind(data, params)
        table = (self.params_ if params is None else params).set_index("subject")
        missing = [s for s in data.subjects if s not in table.index]
        if missing:
            raise KeyError(
                f"{self.name} has no parameters for subjects {missing[:5]}: fit it on "
                f"data that include them (held-out sessions of fitted subjects work)."
            )
        rows = table.loc[data.sequences["subject"]]
        return {
            p.name: torch.tensor(rows[p.name].to_numpy(dtype=float)).unsqueeze(-1)
            for p in self.parameters(data.n_options, two_step=data.is_two_step)
        }

    def stage_logits(
        self, data: ChoiceData, params: pd.DataFrame | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Two-step data: logits of both stages, each (n_sequences, n_trials, 2).

        Stage-2 logits are those of the options of the state reached (bias only where no state
        is known; zeros with ``stages="first"``). ``params`` (one row per subject) replaces the
        fitted parameters.
        """
        if not (isinstance(data, ChoiceData) and data.is_two_step):
            raise ValueError(f"{self.name}: stage_logits needs two-step data")
        theta = self.theta_for(data, params)
        with torch.no_grad():
            out = self.batched_logits(theta, self.prepare(data.tensors()))
        out = out.unflatten(0, (out.shape[0] // 2, 2)).transpose(0, 2)  # (n, 2, T, 2)
        return out[:, 0].contiguous(), out[:, 1].contiguous()

    def logits(self, data: ChoiceData, params: pd.DataFrame | None = None) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options); on two-step data the first-stage
        logits (the prediction of ``choice``; both stages: :meth:`stage_logits`)."""
        if isinstance(data, ChoiceData) and data.is_two_step:
            return self.stage_logits(data, params)[0]
        self._check_kind(data, params)
        return super().logits(data, params)

    def log_likelihood_tensor(self, data: ChoiceData, **logit_options: Any) -> torch.Tensor:
        """Log-probability of each trial's scored choices, shape (n_sequences, n_trials); on
        two-step data both stages with ``stages="both"``. 0 where nothing is scored."""
        if isinstance(data, ChoiceData) and data.is_two_step:
            l1, l2 = self.stage_logits(data, **logit_options)
            return sum(stage_log_likelihoods(l1, l2, data.tensors(), self.stages))
        return super().log_likelihood_tensor(data, **logit_options)

    def trial_log_likelihood(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Log-likelihood of every observed choice (see :meth:`ChoiceModel.trial_log_likelihood`).

        On two-step data, one row per trial with a first-stage choice: ``subject, session,
        trial, choice, log_lik`` (the trial's scored stages together), ``choice2,
        log_lik_stage1, log_lik_stage2`` (0 when the second stage is missed or not scored).
        """
        if isinstance(data, ChoiceData) and data.is_two_step:
            l1, l2 = self.stage_logits(data, **logit_options)
            ll1, ll2 = stage_log_likelihoods(l1, l2, data.tensors(), self.stages)
            return stage_trial_table(data, ll1, ll2)
        return super().trial_log_likelihood(data, **logit_options)

    def _store(self, data, params, fitted, settings) -> None:
        super()._store(data, params, fitted, settings)
        if data.is_two_step and self.stages == "both":  # AIC/BIC count every scored choice
            n = self.results_["n_trials"].to_numpy() + n_scored_second_stage(data).to_numpy()
            self.results_["n_trials"] = n
            k = self.results_["n_params"].to_numpy()
            self.results_["bic"] = 2 * self.results_["nll"].to_numpy() + k * np.log(n)

    def write_fitted(self, folder) -> dict[str, Any]:
        out = super().write_fitted(folder)
        if getattr(self, "two_step_", False):
            out["two_step"] = True
        return out

    def read_fitted(self, folder, fitted: dict[str, Any]) -> None:
        flag = fitted.get("two_step", False)
        if not isinstance(flag, bool):
            from .persistence import ModelFileError

            raise ModelFileError(f"{folder}/model.json: two_step must be true or false")
        self.two_step_ = flag
        super().read_fitted(folder, fitted)

    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ):
        """An agent for ``n_agents`` simulated subjects (see :meth:`ParametricModel.agent`);
        a model fitted on two-step data plays both stages of the two-step task."""
        if not getattr(self, "two_step_", False):
            return super().agent(n_agents, seed=seed, params=params, n_options=n_options)
        from .parametric_agent import agent_parameters

        table, _ = agent_parameters(self, n_agents, seed, params, n_options or 2)
        names = [p.name for p in self.parameters(2)]
        theta = {n: torch.tensor(table[n].to_numpy(dtype=float)).unsqueeze(-1) for n in names}
        return lagged_two_step.LaggedTwoStepAgent(theta, self.n_lags, self.stages), table

    # --------------------------------------------------------------- results
    def kernel_table(self) -> pd.DataFrame:
        """The fitted lag weights, tidy.

        Returns
        -------
        pandas.DataFrame
            One row per subject, feature and lag: ``subject, feature`` (``"choice"`` or
            ``"reward"``; on two-step data the four trial types ``"common_rewarded",
            "common_unrewarded", "rare_rewarded", "rare_unrewarded"`` and, with
            ``stages="both"``, ``"choice2", "reward2"``), ``lag`` (1 = the previous observed
            trial), ``weight``.
        """
        self._check_fitted()
        rows = []
        two = getattr(self, "two_step_", False)
        kinds = lagged_two_step.features(self.stages) if two else FEATURES
        for feature in kinds:
            for lag in range(1, self.n_lags + 1):
                col = self.params_[f"{feature}_{lag}"].to_numpy(dtype=float)
                rows.append(
                    pd.DataFrame(
                        {
                            "subject": self.params_["subject"].to_numpy(),
                            "feature": feature,
                            "lag": lag,
                            "weight": col,
                        }
                    )
                )
        return pd.concat(rows, ignore_index=True)[KERNEL_COLUMNS]

    def plot_kernel(self, ax: Axes | None = None, **kwargs: Any) -> Axes:
        """The fitted kernels over lags (mean and SEM across subjects); see :func:`plot_kernel`."""
        return plot_kernel(self.kernel_table(), ax=ax, **kwargs)


def plot_kernel(table: pd.DataFrame, ax: Axes | None = None, *, title: str | None = None) -> Axes:
    """Regression weights over lags, one line per feature: mean across subjects with +-1 SEM.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``subject, feature, lag, weight`` (:meth:`LaggedRegression.kernel_table`).
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from ..plots.kernel import plot_lag_kernel

    missing = [c for c in KERNEL_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(
            f"plot_kernel needs columns {KERNEL_COLUMNS}; missing {missing} (use "
            f"model.kernel_table())"
        )
    return plot_lag_kernel(table, ax=ax, title=title)
