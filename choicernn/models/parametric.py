"""Models with a few interpretable parameters per subject, fitted by batched MAP, ML or EM.

A new parametric model is one class with four declarations (the public extension hooks):

``parameters(n_options) -> list[Parameter]``
    Its free parameters: names, bounds, priors, restart ranges (see
    :mod:`choicernn.fitting.parameters`: :func:`~choicernn.fitting.parameters.rate`,
    :func:`~choicernn.fitting.parameters.inverse_temperature`,
    :func:`~choicernn.fitting.parameters.weight`).
``initial_state(theta, n_options) -> dict``
    The state at a session start; ``theta`` maps each parameter name to a tensor of shape
    (n, 1) (one value per sequence or simulated subject); state tensors have shape (n, K) or
    (n, 1).
``update(state, theta, trial) -> dict``
    The state after one trial; ``trial`` holds ``onehot`` (n, K, the observed choice; zeros
    when missed), ``mask`` (n, 1; 1 when a choice was observed), ``reward`` (n, 1) and, with
    full-feedback data, ``outcomes`` (n, K). The base class keeps the state of a missed trial
    unchanged, whatever ``update`` returns.
``readout(state, theta) -> logits``
    The choice logits (n, K) of the next trial.

From these, the base class derives the batched likelihood (all subjects x restarts at once, a
loop over trials), fitting (MAP by default, ML or empirical-Bayes EM), prediction, the agent used
in simulation (:class:`StepAgent`, the same three functions stepped one trial at a time, so an
agent cannot drift from its likelihood), saving and loading. A model may override
:meth:`ParametricModel.batched_logits` with a faster equivalent (the Q-learning family uses a
linear scan); the contract tests pin it to the step-by-step declaration.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData, SequenceBatch
from ..fitting.objective import BatchedObjective
from ..fitting.parameters import Parameter, parameter_table
from ..threads import auto_threads, torch_threads
from .base import Capabilities, ChoiceModel, NotFittedError
from .parametric_fit import FitSettings, fit_parameters, initial_points
from .stacked_fits import StackedData

TRIAL_KEYS = ("onehot", "mask", "reward", "outcomes")


class FitWarning(UserWarning):
    """A fit finished but its result is suspect (unconverged subjects, parameters at a bound)."""


class ParametricModel(ChoiceModel):
    """Base of per-subject parametric models (Q-learning family, heuristics, your own).

    Parameters
    ----------
    method : {"map", "mle", "em"}
        ``"map"`` (default): maximum a posteriori under each parameter's prior (``priors`` or
        the documented defaults, :meth:`parameter_table`), which keeps subjects with few
        trials from overfitting. ``"mle"``: maximum likelihood. ``"em"``: empirical Bayes by
        expectation-maximisation over a Gaussian population prior on the unconstrained
        parameters (Huys et al. 2011); sets ``population_`` and ``em_history_``.
    n_restarts : int
        Starting points per subject (restart 0 from each parameter's default value, the others
        drawn from its initial range with the fit's seed); the best is kept.
    priors : dict, optional
        Replace default priors for MAP: parameter name -> ``torch.distributions`` object over
        the parameter's own scale.
    max_iter : int
        Most BFGS iterations per fit (per EM iteration with ``"em"``).
    device : {"auto", "cpu", "cuda"}
        Where to fit (``"auto"``: CUDA when present).
    dtype : {"float64", "float32"}
        Float type of the computation.
    em_iterations, em_tol : int, float
        EM only: most iterations, and the largest change of a population mean or SD (on the
        unconstrained scale) at which EM stops.

    Fitted attributes
    -----------------
    params_ : pandas.DataFrame
        ``subject`` and one column per parameter.
    results_ : pandas.DataFrame
        ``subject, model, <parameters>, nll, n_trials, n_params, aic, bic, [log_prior,]
        converged, n_iter, at_bound, se_<parameter>...`` and the data's per-subject covariates
        (``n_trials`` counts observed choices; ``log_prior`` with MAP or EM; ``se_<name>``:
        Laplace standard error of each parameter from the curvature of the fitted objective,
        carried to the parameter's scale by the delta method).
    n_options_ : int
    """

    def __init__(
        self,
        *,
        method: Literal["map", "mle", "em"] = "map",
        n_restarts: int = 10,
        priors: dict[str, torch.distributions.Distribution] | None = None,
        max_iter: int = 150,
        device: str = "auto",
        dtype: str = "float64",
        em_iterations: int = 50,
        em_tol: float = 1e-3,
    ) -> None:
        self.method = method
        self.n_restarts = n_restarts
        self.priors = priors
        self.max_iter = max_iter
        self.device = device
        self.dtype = dtype
        self.em_iterations = em_iterations
        self.em_tol = em_tol

    def _check_settings(self) -> None:
        self.fit_settings()

    def fit_settings(self) -> FitSettings:
        """The fitting settings, validated (errors name the setting)."""
        return FitSettings(
            self.method,
            self.n_restarts,
            self.priors,
            self.max_iter,
            self.device,
            self.dtype,
            self.em_iterations,
            self.em_tol,
        )

    # --------------------------------------------------------------- to implement
    def parameters(self, n_options: int) -> list[Parameter]:
        """The free parameters for a task with ``n_options`` options."""
        raise NotImplementedError(f"{type(self).__name__} must declare parameters(n_options)")

    def initial_state(
        self, theta: dict[str, torch.Tensor], n_options: int
    ) -> dict[str, torch.Tensor]:
        """State at a session start (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must declare initial_state")

    def update(
        self,
        state: dict[str, torch.Tensor],
        theta: dict[str, torch.Tensor],
        trial: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """State after one trial (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must declare update")

    def readout(
        self, state: dict[str, torch.Tensor], theta: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Choice logits (n, K) from the state (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must declare readout")

    # --------------------------------------------------------------- derived computation
    def prepare(self, batch: SequenceBatch) -> dict[str, torch.Tensor]:
        """Time-major data tensors of a batch: ``onehot`` (T, n, K), ``mask`` and ``reward``
        (T, n, 1), ``outcomes`` (T, n, K) with full-feedback data, ``choice_index`` (T, n, 1).

        A model may add data-only tensors (computed once per batch, not per evaluation).
        """
        mask = batch.mask.T.unsqueeze(-1)
        dtype = batch.rewards.dtype
        prep = {
            "choice_index": batch.choices.T.clamp(min=0).unsqueeze(-1).contiguous(),
            "mask": mask.to(dtype).contiguous(),
            "onehot": batch.onehot().transpose(0, 1).contiguous(),
            "reward": batch.rewards.T.unsqueeze(-1).contiguous(),
        }
        if batch.outcomes is not None:
            prep["outcomes"] = batch.outcomes.transpose(0, 1).to(dtype).contiguous()
        return prep

    def step(
        self,
        state: dict[str, torch.Tensor],
        theta: dict[str, torch.Tensor],
        trial: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """:meth:`update`, with the state of sequences whose trial was missed left unchanged."""
        new = self.update(state, theta, trial)
        observed = trial["mask"] > 0
        return {k: torch.where(observed, v, state[k]) if k in state else v for k, v in new.items()}

    def batched_logits(
        self, theta: dict[str, torch.Tensor], prepared: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Time-major logits (T, n, K) for parameter values ``theta`` (name -> (n, 1)).

        The default steps :meth:`initial_state`, :meth:`update` and :meth:`readout` through the
        trials; override with a faster equivalent if you have one.
        """
        n_t, _, k = prepared["onehot"].shape
        state = self.initial_state(theta, k)
        out = []
        for t in range(n_t):
            out.append(self.readout(state, theta))
            if t + 1 < n_t:
                trial = {key: prepared[key][t] for key in TRIAL_KEYS if key in prepared}
                state = self.step(state, theta, trial)
        return torch.stack(out)

    # --------------------------------------------------------------- description
    def parameter_table(self, n_options: int = 2) -> pd.DataFrame:
        """The parameters with bounds, default priors and descriptions."""
        return parameter_table(self.parameters(n_options))

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters(getattr(self, "n_options_", 2))]

    def capabilities(self) -> Capabilities:
        return Capabilities(
            per_subject_parameters=True,
            subject_specific=True,
            in_sample_table=True,
            parameter_table=True,
            batched_fits=self.fit_settings().method != "em"
            and type(self).fit is ParametricModel.fit,
        )

    def in_sample_table(self) -> pd.DataFrame | None:
        """``results_`` (per subject: NLL, AIC, BIC, parameters, convergence) once fitted."""
        return getattr(self, "results_", None)

    # --------------------------------------------------------------- fitting
    def fit(self, data: ChoiceData, *, seed: int | None = None) -> ParametricModel:
        """Fit every subject with this model's settings (MAP by default); returns ``self``.

        All subjects and ``n_restarts`` starting points are optimised together as one batch
        (batched BFGS on the unconstrained parameters); the best restart per subject is kept.

        Warns (:class:`FitWarning`) when subjects did not converge or a parameter ended at a
        bound; ``results_`` flags them (``converged``, ``at_bound``).
        """
        if not isinstance(data, ChoiceData):
            raise TypeError(f"fit expects a ChoiceData, got {type(data).__name__}")
        settings = self.fit_settings()
        params = self.parameters(data.n_options)
        work = settings.n_restarts * data.n_trials * data.n_options
        with torch_threads(auto_threads(work)):
            fitted = fit_parameters(self, params, data, settings, seed)
        self._store(data, params, fitted, settings)
        return self

    def fit_many(
        self, datasets: Sequence[ChoiceData], *, seed: int | None = None
    ) -> list[ParametricModel]:
        """Fit one clone per data set, every data set's subjects in one batched BFGS.

        Each data set keeps its own starting points (drawn from ``seed`` for its subjects, as
        :meth:`fit` draws them), restarts and optimum, so each fit equals ``fit`` on that data
        set alone; together they share the per-trial cost of the batch
        (:mod:`choicernn.models.stacked_fits`). Cross-validation uses it for all folds of a
        model at once. EM fits (a population per data set) and models with their own ``fit``
        are fitted one data set at a time.
        """
        datasets = list(datasets)
        settings = self.fit_settings()
        kinds = {(d.n_options, d.is_two_step, d.has_outcomes) for d in datasets}
        if (
            len(datasets) < 2
            or len(kinds) > 1
            or settings.method == "em"
            or type(self).fit is not ParametricModel.fit
            or not all(isinstance(d, ChoiceData) for d in datasets)
        ):
            return super().fit_many(datasets, seed=seed)
        stacked = StackedData(datasets)
        params = self.parameters(stacked.n_options)
        x0 = stacked.starting_points(
            [initial_points(params, d.n_subjects, settings.n_restarts, seed) for d in datasets],
            settings.n_restarts,
        )
        work = settings.n_restarts * stacked.n_trials * stacked.n_options
        with torch_threads(auto_threads(work)):
            result, extra = fit_parameters(self, params, stacked, settings, seed, x0=x0)
        fits = []
        for d, data in enumerate(datasets):
            fit = self.clone()
            fit._store(data, params, stacked.part_of(result, extra, d), settings)
            fits.append(fit)
        return fits

    def objective(
        self, data: ChoiceData, params: list[Parameter], n_restarts: int, penalty, device, dtype
    ) -> BatchedObjective:
        """The batched objective over ``n_restarts`` copies of every subject's sequences."""
        batch = data.tensors(device, dtype)
        rep = batch.repeat(n_restarts)
        copy = torch.arange(n_restarts, device=device).repeat_interleave(batch.n_sequences)
        seq_problem = copy * data.n_subjects + rep.subject_index
        return BatchedObjective(
            self, params, rep, seq_problem, n_restarts * data.n_subjects, penalty
        )

    def _store(self, data, params, fitted, settings: FitSettings) -> None:
        result, extra = fitted
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
        if settings.method in ("map", "em"):
            table["log_prior"] = -(fun[best, cols].cpu().numpy() - nll)
        table["converged"] = converged.astype(bool)
        table["n_iter"] = n_iter
        table["at_bound"] = _at_bound(params, values)
        self.results_ = table
        self.method_ = settings.method
        self.reward_values_ = _few_values(data)
        self.restart_nll_ = pd.DataFrame(
            result.nll.cpu().numpy().T,
            index=pd.Index(data.subjects, name="subject"),
            columns=[f"restart_{r}" for r in range(n_restarts)],
        )
        ses = extra.pop("_standard_errors", {})
        for p in params:
            if p.name in ses:
                table[f"se_{p.name}"] = ses[p.name]
        if data.covariates is not None:
            table = table.merge(data.covariates, on="subject", how="left")
            self.results_ = table
        for key, value in extra.items():
            setattr(self, key, value)
        _warn_suspect(self.name, table, settings.method)

    # --------------------------------------------------------------- prediction
    def is_fitted(self) -> bool:
        return hasattr(self, "params_")

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"{self.name} is not fitted yet: call fit first (model.fit(data)), or pass "
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
            prep = self.prepare(data.tensors())
            return self.batched_logits(theta, prep).transpose(0, 1).contiguous()

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
        from .parametric_agent import StepAgent, agent_parameters

        table, k = agent_parameters(self, n_agents, seed, params, n_options)
        names = [p.name for p in self.parameters(k)]
        theta = {n: torch.tensor(table[n].to_numpy(dtype=float)).unsqueeze(-1) for n in names}
        return StepAgent(self, theta, k), table

    # --------------------------------------------------------------- saving
    def write_fitted(self, folder) -> dict[str, Any]:
        from .persistence import table_to_json

        return {
            "n_options": int(self.n_options_),
            "method": self.method_,
            "params": table_to_json(self.params_),
            "reward_values": None
            if getattr(self, "reward_values_", None) is None
            else list(self.reward_values_),
            "results": table_to_json(self.results_),
        }

    def read_fitted(self, folder, fitted: dict[str, Any]) -> None:
        from .persistence import ModelFileError, table_from_json

        where = f"{folder}/model.json"
        k = fitted.get("n_options")
        if not isinstance(k, int) or isinstance(k, bool) or k < 2:
            raise ModelFileError(f"{where}: n_options must be an integer >= 2, got {k!r}")
        params = table_from_json(fitted.get("params"), f"{where} (params)")
        names = [p.name for p in self.parameters(k)]
        if list(params.columns) != ["subject", *names]:
            raise ModelFileError(
                f"{where}: the parameter table has columns {list(params.columns)}, but "
                f"{self.name} has {['subject', *names]}; the file belongs to another model"
            )
        for p in self.parameters(k):
            values = pd.to_numeric(params[p.name], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(values) | (values < p.lower) | (values > p.upper)
            if bad.any():
                raise ModelFileError(
                    f"{where}: parameter {p.name!r} of subject "
                    f"{params['subject'].iloc[int(np.flatnonzero(bad)[0])]!r} is "
                    f"{values[bad][0]!r}, outside ({p.lower}, {p.upper}) or not a number"
                )
            params[p.name] = values
        if params["subject"].duplicated().any():
            raise ModelFileError(f"{where}: repeated subjects in the parameter table")
        self.n_options_ = k
        self.params_ = params
        self.results_ = table_from_json(fitted.get("results"), f"{where} (results)")
        self.method_ = str(fitted.get("method", self.method))
        values = fitted.get("reward_values")
        self.reward_values_ = None if values is None else tuple(float(v) for v in values)


def _few_values(data: ChoiceData) -> tuple[float, ...] | None:
    """Distinct observed rewards when there are at most four of them, else None."""
    rewards = data.to_frame()["reward"].dropna().to_numpy(float)
    values = np.unique(rewards)
    return tuple(float(v) for v in values) if 0 < len(values) <= 4 else None


def _at_bound(params: list[Parameter], values: dict[str, np.ndarray]) -> list[str]:
    """Per subject, the parameters within 0.1% of the range of a bound (``;``-separated)."""
    n = len(next(iter(values.values()))) if values else 0
    flags: list[list[str]] = [[] for _ in range(n)]
    for p in params:
        span = p.upper - p.lower
        v = values[p.name]
        near = (v - p.lower < 1e-3 * span) | (p.upper - v < 1e-3 * span)
        for i in np.flatnonzero(near):
            flags[i].append(p.name)
    return [";".join(f) for f in flags]


def _warn_suspect(name: str, table: pd.DataFrame, method: str) -> None:
    unconverged = table.loc[~table["converged"], "subject"].tolist()
    bounded = table.loc[table["at_bound"] != "", ["subject", "at_bound"]]
    parts = []
    if unconverged:
        parts.append(
            f"{len(unconverged)} subject(s) did not converge ({_few(unconverged)}; raise max_iter)"
        )
    if len(bounded):
        which = sorted({p for flags in bounded["at_bound"] for p in flags.split(";")})
        parts.append(
            f"{len(bounded)} subject(s) have parameters at a bound ({', '.join(which)}; "
            f"subjects {_few(bounded['subject'].tolist())}"
            + ("; method='map' keeps them inside)" if method == "mle" else ")")
        )
    if parts:
        warnings.warn(
            f"{name}: "
            + "; ".join(parts)
            + ". See results_['converged'] and results_['at_bound'].",
            FitWarning,
            stacklevel=4,
        )


def _few(labels: list) -> str:
    shown = ", ".join(repr(x) for x in labels[:5])
    return shown + (f" and {len(labels) - 5} more" if len(labels) > 5 else "")
