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
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import distributions as D

from ..fitting.parameters import Parameter, weight
from .parametric import ParametricModel

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
        name: str | None = None,
        **settings,
    ) -> None:
        super().__init__(**settings)
        self.n_lags = n_lags
        self.side_bias = side_bias
        self.ridge_sd = ridge_sd
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
        if self.name is None:
            self.name = f"lagged_{self.n_lags}"

    def parameters(self, n_options: int) -> list[Parameter]:
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
    def prepare(self, batch):
        """Adds ``lagged`` (T, n, K, 2 L): the choice then reward features of every trial (data
        only, so computed once per batch)."""
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
        """The step declaration's logits from the precomputed lagged features."""
        names = [f"{f}_{lag}" for f in FEATURES for lag in range(1, self.n_lags + 1)]
        w = torch.cat([theta[n] for n in names], -1)  # (n, 2 L)
        logits = torch.einsum("tnkf,nf->tnk", prep["lagged"], w)
        if self.side_bias:
            logits = logits + self._bias(theta, prep["onehot"]).unsqueeze(0)
        return logits

    # --------------------------------------------------------------- results
    def kernel_table(self) -> pd.DataFrame:
        """The fitted lag weights, tidy.

        Returns
        -------
        pandas.DataFrame
            One row per subject, feature and lag: ``subject, feature`` (``"choice"`` or
            ``"reward"``), ``lag`` (1 = the previous observed trial), ``weight``.
        """
        self._check_fitted()
        rows = []
        for feature in FEATURES:
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
