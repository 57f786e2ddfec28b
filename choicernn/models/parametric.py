"""Models with a few interpretable parameters per subject, fitted by batched ML or MAP.

A subclass declares its parameters and computes time-major logits from per-sequence parameter
values; this base class provides fitting (all subjects and restarts as one batch), prediction
with the fitted parameters, and agents for simulation.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data import ChoiceData, SequenceBatch
from ..fitting.bfgs import minimize_batched
from ..fitting.objective import BatchedObjective
from ..fitting.parameters import Parameter, parameter_table
from .base import Agent, ChoiceModel, NotFittedError, resolve_device


def show_progress(progress: bool | None) -> bool:
    """``None`` means: show progress bars when standard error is a terminal."""
    if progress is None:
        import sys

        return sys.stderr.isatty()
    return bool(progress)


class ParametricModel(ChoiceModel):
    """Base of per-subject parametric models (Q-learning family and heuristics).

    Fitted attributes
    -----------------
    params_ : pandas.DataFrame
        ``subject`` and one column per parameter.
    results_ : pandas.DataFrame
        ``subject, model, <parameters>, nll, n_trials, n_params, aic, bic, converged, n_iter``
        (``n_trials`` counts observed choices; with ``method="map"`` also ``log_prior``).
    n_options_ : int
    """

    # --------------------------------------------------------------- to implement
    @abstractmethod
    def parameters(self, n_options: int) -> list[Parameter]:
        """The free parameters for a task with ``n_options`` options."""

    @abstractmethod
    def _forward(
        self, theta: dict[str, torch.Tensor], prep: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Time-major logits (n_trials, n_sequences, K); ``theta`` values have shape (n_sequences, 1)."""

    @abstractmethod
    def _make_agent(self, theta: dict[str, torch.Tensor], n_options: int) -> Agent:
        """An agent whose i-th simulated subject has the values ``theta[name][i]``."""

    def _prepare(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Time-major data tensors shared by all parametric models."""
        mask = batch.mask.T.unsqueeze(-1)
        dtype = batch.rewards.dtype
        return {
            "choice_index": batch.choices.T.clamp(min=0).unsqueeze(-1).contiguous(),
            "mask": mask.to(dtype).contiguous(),
            "onehot": batch.onehot().transpose(0, 1).contiguous(),
            "reward": batch.rewards.T.unsqueeze(-1).contiguous(),
            "n_options": torch.tensor(batch.n_options),
        }

    # --------------------------------------------------------------- description
    def parameter_table(self, n_options: int = 2) -> pd.DataFrame:
        """The parameters with bounds, default priors and descriptions."""
        return parameter_table(self.parameters(n_options))

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters(getattr(self, "n_options_", 2))]

    # --------------------------------------------------------------- fitting
    def fit(
        self,
        data: ChoiceData,
        *,
        method: Literal["mle", "map", "em"] = "mle",
        n_restarts: int = 10,
        seed: int | None = 0,
        priors: dict[str, torch.distributions.Distribution] | None = None,
        device: str | torch.device = "auto",
        dtype: torch.dtype = torch.float64,
        max_iter: int = 150,
        progress: bool | None = None,
        em_iterations: int = 50,
        em_tol: float = 1e-3,
    ) -> ParametricModel:
        """Fit every subject by maximum likelihood, MAP, or hierarchically (empirical Bayes).

        All subjects and ``n_restarts`` starting points are optimised together as one batch
        (batched BFGS on the unconstrained parameters); the best restart per subject is kept.
        Restart 0 starts from each parameter's default value, the others from values drawn from
        each parameter's initial range with ``seed``.

        Parameters
        ----------
        data : ChoiceData
        method : {"mle", "map", "em"}
            ``"mle"``: maximum likelihood. ``"map"``: maximum a posteriori under each parameter's
            prior (``priors`` or the defaults). ``"em"``: empirical Bayes by expectation-
            maximisation over a Gaussian population prior on the unconstrained parameters (Huys
            et al. 2011); sets ``population_`` (mean and SD per parameter) and ``em_history_``.
        n_restarts : int
        seed : int or None
        priors : dict, optional
            Replace default priors for MAP (name -> ``torch.distributions`` object over the
            parameter's own scale). See :meth:`parameter_table` for the defaults.
        device : {"auto", "cpu", "cuda"} or torch.device
        dtype : torch.dtype
            Float type of the computation (float64 by default).
        max_iter : int
        progress : bool or None
            Show a progress bar (default: when standard error is a terminal).
        em_iterations, em_tol : int, float
            EM only: most iterations, and the largest change of a population mean or SD (on the
            unconstrained scale) at which EM stops.

        Returns
        -------
        self
        """
        if not isinstance(data, ChoiceData):
            raise TypeError(f"fit expects a ChoiceData, got {type(data).__name__}")
        if method not in ("mle", "map", "em"):
            raise ValueError(f"method must be 'mle', 'map' or 'em', got {method!r}")
        if n_restarts < 1:
            raise ValueError(f"n_restarts must be >= 1, got {n_restarts}")
        params = self.parameters(data.n_options)
        unknown = set(priors or {}) - {p.name for p in params}
        if unknown:
            raise ValueError(
                f"priors given for unknown parameters {sorted(unknown)}; this model "
                f"has {[p.name for p in params]}"
            )
        dev = resolve_device(device)
        penalty = None
        if method == "map":
            priors = priors or {}

            def penalty(x, values):
                lp = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
                for p in params:
                    dist = priors.get(p.name, p.prior)
                    lp = lp + _log_prob(p, dist, values[p.name])
                return -lp

        x0 = self._initial_points(params, data.n_subjects, n_restarts, seed).to(dev, dtype)
        if method == "em":
            result = self._fit_em(
                data, params, x0, dev, dtype, max_iter, progress, em_iterations, em_tol
            )
        else:
            result = self._optimise(data, params, x0, penalty, dev, dtype, max_iter, progress)
        self._store(data, params, result, method, priors)
        return self

    def _initial_points(
        self, params: list[Parameter], n_subjects: int, n_restarts: int, seed
    ) -> torch.Tensor:
        rng = np.random.default_rng(seed)
        values = np.empty((n_restarts, n_subjects, len(params)))
        for j, p in enumerate(params):
            values[0, :, j] = p.start
            if n_restarts > 1:
                values[1:, :, j] = p.draw((n_restarts - 1) * n_subjects, rng).reshape(
                    n_restarts - 1, n_subjects
                )
        x = torch.stack([p.to_unconstrained(values[..., j]) for j, p in enumerate(params)], -1)
        return x.reshape(n_restarts * n_subjects, len(params))

    def _objective(self, data, params, n_restarts, penalty, dev, dtype) -> BatchedObjective:
        """The batched objective over ``n_restarts`` copies of every subject's sequences."""
        batch = data.tensors(dev, dtype)
        rep = batch.repeat(n_restarts)
        copy = torch.arange(n_restarts, device=dev).repeat_interleave(batch.n_sequences)
        seq_problem = copy * data.n_subjects + rep.subject_index
        return BatchedObjective(
            self, params, rep, seq_problem, n_restarts * data.n_subjects, penalty
        )

    def _optimise(self, data, params, x0, penalty, dev, dtype, max_iter, progress, label=""):
        n_subjects = data.n_subjects
        n_restarts = x0.shape[0] // n_subjects
        objective = self._objective(data, params, n_restarts, penalty, dev, dtype)
        bar = tqdm(
            total=max_iter,
            desc=f"fit {self.name}{label}",
            disable=not show_progress(progress),
            leave=False,
        )

        def report(it, n_active):
            bar.n = it
            bar.set_postfix(active=n_active, refresh=True)

        try:
            result = minimize_batched(objective, x0, max_iter=max_iter, progress=report)
        finally:
            bar.close()
        # Pure NLL at the solution of every problem (the objective may include a penalty).
        objective._rebuild(torch.arange(x0.shape[0], device=dev))
        with torch.no_grad():
            nll = objective.nll(result.x)
        result.nll = nll.reshape(n_restarts, n_subjects)
        return result

    @staticmethod
    def _best_restart(result, n_subjects):
        n_restarts = result.x.shape[0] // n_subjects
        best = result.fun.reshape(n_restarts, n_subjects).argmin(0)
        return result.x.reshape(n_restarts, n_subjects, -1)[
            best, torch.arange(n_subjects, device=best.device)
        ]

    def _fit_em(self, data, params, x0, dev, dtype, max_iter, progress, em_iterations, em_tol):
        """Empirical Bayes (Huys et al. 2011): EM over a Gaussian prior on the unconstrained scale.

        E-step: each subject's MAP estimate under the current population prior and a Laplace
        approximation of its posterior (inverse Hessian by central differences of the batched
        gradient). M-step: population mean and variance from the estimates and posterior
        variances. Stops when no mean or SD moves by more than ``em_tol``.
        """
        n_subjects, n_p = data.n_subjects, len(params)
        mu = torch.zeros(n_p, device=dev, dtype=dtype)
        var = torch.full((n_p,), 4.0, device=dev, dtype=dtype)
        history = []
        x_start = x0
        for it in range(em_iterations):
            m, v = mu.clone(), var.clone()

            def penalty(x, values, m=m, v=v):
                return 0.5 * (((x - m) ** 2) / v + torch.log(2 * torch.pi * v)).sum(1)

            result = self._optimise(
                data, params, x_start, penalty, dev, dtype, max_iter, progress, f" (EM {it + 1})"
            )
            x_hat = self._best_restart(result, n_subjects)
            objective = self._objective(data, params, 1, penalty, dev, dtype)
            idx = torch.arange(n_subjects, device=dev)
            h = 1e-4
            hess = torch.empty(n_subjects, n_p, n_p, device=dev, dtype=dtype)
            for j in range(n_p):
                step = torch.zeros(n_p, device=dev, dtype=dtype)
                step[j] = h
                g_plus = objective(x_hat + step, idx)[1]
                g_minus = objective(x_hat - step, idx)[1]
                hess[:, :, j] = (g_plus - g_minus) / (2 * h)
            hess = 0.5 * (hess + hess.transpose(1, 2)) + 1e-8 * torch.eye(
                n_p, device=dev, dtype=dtype
            )
            post_var = torch.linalg.inv(hess).diagonal(dim1=1, dim2=2).clamp(min=1e-8)
            mu = x_hat.mean(0)
            var = ((x_hat**2 + post_var).mean(0) - mu**2).clamp(min=1e-4)
            change = max(float((mu - m).abs().max()), float((var.sqrt() - v.sqrt()).abs().max()))
            history.append(
                {
                    "iteration": it + 1,
                    "change": change,
                    **{f"mean_{p.name}": float(mu[k]) for k, p in enumerate(params)},
                }
            )
            x_start = x_hat
            if change < em_tol:
                break
        self.population_ = pd.DataFrame(
            {
                "parameter": [p.name for p in params],
                "mean_unconstrained": mu.cpu().numpy(),
                "sd_unconstrained": var.sqrt().cpu().numpy(),
                "median_value": [float(p.to_value(mu[k].cpu())) for k, p in enumerate(params)],
            }
        )
        self.em_history_ = pd.DataFrame(history)
        self.em_converged_ = bool(history and history[-1]["change"] < em_tol)
        return result

    def _store(self, data, params, result, method, priors) -> None:
        n_subjects = data.n_subjects
        n_restarts = result.x.shape[0] // n_subjects
        fun = result.fun.reshape(n_restarts, n_subjects)
        best = fun.argmin(0)
        cols = torch.arange(n_subjects, device=fun.device)
        x = result.x.reshape(n_restarts, n_subjects, -1)[best, cols]
        values = {p.name: p.to_value(x[:, j]).cpu().numpy() for j, p in enumerate(params)}
        nll = result.nll[best, cols].cpu().numpy()
        converged = result.converged.reshape(n_restarts, n_subjects)[best, cols].cpu().numpy()
        n_iter = result.n_iter.reshape(n_restarts, n_subjects)[best, cols].cpu().numpy()
        n_trials = (
            data.sequences.groupby("subject", sort=False)["n_choices"]
            .sum()
            .reindex(data.subjects)
            .to_numpy()
        )
        k = len(params)
        self.n_options_ = data.n_options
        self.params_ = pd.DataFrame({"subject": data.subjects, **values})
        table = pd.DataFrame({"subject": data.subjects, "model": self.name, **values})
        table["nll"] = nll
        table["n_trials"] = n_trials
        table["n_params"] = k
        table["aic"] = 2 * nll + 2 * k
        table["bic"] = 2 * nll + k * np.log(n_trials)
        if method in ("map", "em"):
            table["log_prior"] = -(fun[best, cols].cpu().numpy() - nll)
        table["converged"] = converged
        table["n_iter"] = n_iter
        self.results_ = table
        self.method_ = method
        self.priors_ = dict(priors or {})
        self.restart_nll_ = pd.DataFrame(
            result.nll.cpu().numpy().T,
            index=pd.Index(data.subjects, name="subject"),
            columns=[f"restart_{r}" for r in range(n_restarts)],
        )

    # --------------------------------------------------------------- prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError(
                f"{self.name} is not fitted yet: call fit(data) first, or pass "
                f"params= to simulate/agent."
            )

    def theta_for(
        self, data: ChoiceData, params: pd.DataFrame | None = None
    ) -> dict[str, torch.Tensor]:
        """Per-sequence parameter values (shape (n_sequences, 1)) for the subjects of ``data``."""
        if params is None:
            self._check_fitted()
            params = self.params_
        table = params.set_index("subject")
        missing = [s for s in data.subjects if s not in table.index]
        if missing:
            raise KeyError(
                f"{self.name} has no parameters for subjects {missing[:5]}: fit it on "
                f"data that include them (held-out sessions of fitted subjects work)."
            )
        seq_subjects = data.sequences["subject"]
        return {
            p.name: torch.tensor(table.loc[seq_subjects, p.name].to_numpy(dtype=float)).unsqueeze(
                -1
            )
            for p in self.parameters(data.n_options)
        }

    def logits(self, data: ChoiceData, params: pd.DataFrame | None = None) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options) with the fitted (or given) parameters."""
        if params is None:
            self._check_options(data)
        theta = self.theta_for(data, params)
        with torch.no_grad():
            prep = self._prepare(data.tensors())
            return self._forward(theta, prep).transpose(0, 1).contiguous()

    # --------------------------------------------------------------- simulation
    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ):
        """An agent for ``n_agents`` simulated subjects.

        Parameter values come from ``params`` (a dict of values shared by all agents, or a
        DataFrame with one row per agent), else from the fitted subjects (agent i uses fitted
        subject ``i % n_fitted``), else are drawn from each parameter's initial range with
        ``seed``.

        Returns
        -------
        (agent, params) : the agent and a DataFrame of its per-agent parameter values.
        """
        fitted_k = getattr(self, "n_options_", None)
        if (
            fitted_k is not None
            and n_options is not None
            and n_options != fitted_k
            and params is None
        ):
            raise ValueError(
                f"{self.name} was fitted with n_options={fitted_k} but the task has {n_options} "
                f"options; simulate it in a task with {fitted_k} options, or pass params=."
            )
        k = n_options or fitted_k
        if k is None:
            raise ValueError("n_options is needed for an unfitted model")
        names = [p.name for p in self.parameters(k)]
        if isinstance(params, dict):
            unknown = set(params) - set(names)
            missing = set(names) - set(params)
            if unknown or missing:
                raise ValueError(
                    f"params for {self.name} must give exactly {names}; unknown "
                    f"{sorted(unknown)}, missing {sorted(missing)}"
                )
            table = pd.DataFrame({n: np.full(n_agents, float(params[n])) for n in names})
        elif isinstance(params, pd.DataFrame):
            missing = set(names) - set(params.columns)
            if missing:
                raise ValueError(f"params table lacks columns {sorted(missing)}")
            rows = np.arange(n_agents) % len(params)
            table = params.iloc[rows][names].reset_index(drop=True)
            if "subject" in params.columns:
                table.insert(0, "source_subject", params["subject"].to_numpy()[rows])
        elif hasattr(self, "params_"):
            rows = np.arange(n_agents) % len(self.params_)
            table = self.params_.iloc[rows][names].reset_index(drop=True)
            table.insert(0, "source_subject", self.params_["subject"].to_numpy()[rows])
        else:
            rng = np.random.default_rng(seed)
            table = pd.DataFrame({p.name: p.draw(n_agents, rng) for p in self.parameters(k)})
        theta = {n: torch.tensor(table[n].to_numpy(dtype=float)).unsqueeze(-1) for n in names}
        return self._make_agent(theta, k), table


def _log_prob(param: Parameter, dist, value: torch.Tensor) -> torch.Tensor:
    """Log prior density at ``value`` (evaluated on the CPU, where the distributions live)."""
    span = param.upper - param.lower
    inside = value.clamp(param.lower + 1e-9 * span, param.upper - 1e-9 * span)
    return dist.log_prob(inside.cpu()).to(device=value.device, dtype=value.dtype)
