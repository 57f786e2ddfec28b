"""Generalized Q-learning (GQL; Dezfouli, Griffiths, Ramos, Dayan & Balleine 2019, PLoS Comput
Biol 15:e1006903).

``d`` value traces and ``d`` choice traces per option, each with its own rate, all starting at 0
at every session start. After an observed choice ``a`` with reward ``r`` (as given)::

    Q[a, k] += phi_k * (r - Q[a, k])          k = 1..d   (only the chosen option; others unchanged)
    H[b, k] += chi_k * (1[b = a] - H[b, k])   every option b, k = 1..d

and the logit of option ``b`` on the next trial is::

    sum_k beta_k Q[b, k] + sum_k kappa_k H[b, k] + sum_{j, k} C[j, k] H[b, j] Q[b, k]

Parameters (``4 d + d**2``; 12 at ``d = 2``): rates ``phi_k``, ``chi_k`` in (0, 1), Beta(1.1, 1.1)
prior; value weights ``beta_k`` in (-50, 50), Normal(0, 5) prior (the weights of values in reward
units, the analogue of an inverse temperature, which reaches 10-20 in fits of real subjects, so
the (-10, 10) range of other weights would bind); choice-trace weights ``kappa_k`` and
interaction weights ``C_j_k`` in (-10, 10), Normal(0, 2) prior. Missed trials neither count nor
update anything.

The labels of the components are exchangeable: relabelling the value traces (``phi``, ``beta``
and the columns of ``C``) or the choice traces (``chi``, ``kappa`` and the rows of ``C``) leaves
the likelihood unchanged. :meth:`GQL.fit` therefore reports each subject's traces in a canonical
order, fastest first (``phi_1 >= phi_2 >= ...``, ``chi_1 >= chi_2 >= ...``), permuting ``C`` to
match (with ``method="em"`` the population table ``population_`` keeps the fit's own labels).
Parameter recovery at 500 trials is weak for most of the 12 parameters (see the tests).

The traces are linear in their previous values given the data, so the batched likelihood runs
:func:`~choicernn.fitting.scan.linear_scan` over trials; the agent steps the declaration.
"""

from __future__ import annotations

import torch
from torch import distributions as D

from ..fitting.parameters import Parameter, rate, weight
from ..fitting.scan import linear_scan
from .parametric import ParametricModel


def _f64(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def value_weight(name: str, description: str, default: float) -> Parameter:
    """A signed weight on values in (-50, 50) with a Normal(0, 5) prior; restarts in (0, 8)."""
    return Parameter(
        name,
        -50.0,
        50.0,
        D.Normal(_f64(0.0), _f64(5.0)),
        (0.0, 8.0, "linear"),
        description,
        default,
    )


class GQL(ParametricModel):
    """Generalized Q-learning with ``d`` value and choice traces (see the module docstring).

    Parameters
    ----------
    d : int
        Number of value traces and of choice traces per option (default 2: 12 parameters).
    name : str
        Label in result tables (default ``"gql"``, or ``"gql_d<d>"`` for ``d != 2``).
    **settings
        Fitting settings of every parametric model (``method``, ``n_restarts``, ``priors``, ...;
        see :class:`~choicernn.models.parametric.ParametricModel`).

    Examples
    --------
    >>> model = cr.GQL(d=2).fit(data, seed=0)   # doctest: +SKIP
    >>> model.parameter_table()                  # doctest: +SKIP
    """

    def __init__(self, d: int = 2, name: str | None = None, **settings) -> None:
        super().__init__(**settings)
        self.d = d
        self.name = name
        self._check_settings()

    def _check_settings(self) -> None:
        super()._check_settings()
        if isinstance(self.d, bool) or not isinstance(self.d, int) or not 1 <= self.d <= 8:
            raise ValueError(f"d must be an integer from 1 to 8, got {self.d!r}")
        if self.name is None:
            self.name = "gql" if self.d == 2 else f"gql_d{self.d}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")

    def _default_rate(self, k: int) -> float:
        """Restart-0 rate of component ``k`` (1-based): from 0.5 (fast) down to 0.05 (slow)."""
        return 0.5 if self.d == 1 else 0.5 - 0.45 * (k - 1) / (self.d - 1)

    def parameters(self, n_options: int) -> list[Parameter]:
        d = self.d
        ks = range(1, d + 1)
        out = [
            rate(f"phi_{k}", f"learning rate of value trace {k}", self._default_rate(k)) for k in ks
        ]
        out += [
            rate(f"chi_{k}", f"learning rate of choice trace {k}", self._default_rate(k))
            for k in ks
        ]
        out += [value_weight(f"beta_{k}", f"weight of value trace {k}", 1.0) for k in ks]
        out += [weight(f"kappa_{k}", f"weight of choice trace {k}") for k in ks]
        out += [
            weight(f"C_{j}_{k}", f"weight of choice trace {j} x value trace {k}")
            for j in ks
            for k in ks
        ]
        return out

    # --------------------------------------------------------------- canonical labels
    def fit(self, data, *, seed=None):
        """Fit every subject (see :meth:`ParametricModel.fit`), then order each subject's traces
        fastest first (a relabelling that leaves every likelihood unchanged)."""
        super().fit(data, seed=seed)
        self.params_ = self.canonical(self.params_)
        self.results_ = self.canonical(self.results_)
        return self

    def canonical(self, table):
        """``table`` (one row per subject, a column per parameter) with each row's value traces
        sorted by decreasing ``phi`` and choice traces by decreasing ``chi``, ``C`` permuted."""
        import numpy as np

        d = self.d
        out = table.copy()
        ks = range(1, d + 1)
        phi = table[[f"phi_{k}" for k in ks]].to_numpy(dtype=float)
        chi = table[[f"chi_{k}" for k in ks]].to_numpy(dtype=float)
        q_order = np.argsort(-phi, axis=1, kind="stable")  # new position -> old component
        h_order = np.argsort(-chi, axis=1, kind="stable")
        rows = np.arange(len(table))[:, None]
        for prefix, order in (
            ("phi", q_order),
            ("beta", q_order),
            ("chi", h_order),
            ("kappa", h_order),
        ):
            values = table[[f"{prefix}_{k}" for k in ks]].to_numpy(dtype=float)
            out[[f"{prefix}_{k}" for k in ks]] = values[rows, order]
        c = np.stack(
            [table[[f"C_{j}_{k}" for k in ks]].to_numpy(dtype=float) for j in ks], 1
        )  # (n, j, k)
        c = c[rows[..., None], h_order[:, :, None], q_order[:, None, :]]
        for j in ks:
            for k in ks:
                out[f"C_{j}_{k}"] = c[:, j - 1, k - 1]
        if "at_bound" in out.columns:
            out = out.drop(columns="at_bound").assign(at_bound=table["at_bound"])
            out = out[table.columns]
        return out

    # --------------------------------------------------------------- the declaration
    def initial_state(self, theta, n_options):
        like = next(iter(theta.values()))
        zeros = torch.zeros(like.shape[0], n_options, dtype=like.dtype)
        state = {f"q_{k}": zeros for k in range(1, self.d + 1)}
        state.update({f"h_{k}": zeros for k in range(1, self.d + 1)})
        return state

    def update(self, state, theta, trial):
        onehot, reward = trial["onehot"], trial["reward"]
        out = {}
        for k in range(1, self.d + 1):
            q = state[f"q_{k}"]
            h = state[f"h_{k}"]
            out[f"q_{k}"] = q + theta[f"phi_{k}"] * onehot * (reward - q)
            out[f"h_{k}"] = h + theta[f"chi_{k}"] * (onehot - h)
        return out

    def readout(self, state, theta):
        d = self.d
        logits = 0.0
        for k in range(1, d + 1):
            logits = logits + theta[f"beta_{k}"] * state[f"q_{k}"]
            logits = logits + theta[f"kappa_{k}"] * state[f"h_{k}"]
            for j in range(1, d + 1):
                logits = logits + theta[f"C_{j}_{k}"] * state[f"h_{j}"] * state[f"q_{k}"]
        return logits

    # --------------------------------------------------------------- the fast batched path
    def _stack(self, theta, prefix):
        return torch.cat([theta[f"{prefix}_{k}"] for k in range(1, self.d + 1)], -1)

    def batched_logits(self, theta, prep):
        """The step declaration as two linear scans (values and choice traces) over trials."""
        onehot, mask, reward = prep["onehot"], prep["mask"], prep["reward"]
        d = self.d
        phi = self._stack(theta, "phi").unsqueeze(1)  # (n, 1, d)
        chi = self._stack(theta, "chi").unsqueeze(1)
        oh = onehot[:-1].unsqueeze(-1)  # (T-1, n, K, 1)
        a_q = 1.0 - phi * oh
        b_q = phi * oh * reward[:-1].unsqueeze(-1)
        a_h = 1.0 - chi * mask[:-1].unsqueeze(-1)
        b_h = chi * oh
        zeros = torch.zeros(onehot.shape[1:] + (d,), dtype=onehot.dtype, device=onehot.device)
        q = linear_scan(a_q, b_q, zeros)  # (T, n, K, d)
        h = linear_scan(a_h, b_h, zeros)
        beta = self._stack(theta, "beta").unsqueeze(1)  # (n, 1, d)
        kappa = self._stack(theta, "kappa").unsqueeze(1)
        c = torch.stack(
            [self._stack(theta, f"C_{j}") for j in range(1, d + 1)], -2
        )  # (n, d_j, d_k)
        logits = (beta * q).sum(-1) + (kappa * h).sum(-1)
        return logits + torch.einsum("tnbj,njk,tnbk->tnb", h, c, q)
