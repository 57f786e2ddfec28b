"""Fitting a parametric model: settings, restarts, MAP / ML / EM, as named steps.

:func:`fit_parameters` is what :meth:`ParametricModel.fit` runs: it builds the starting points,
the prior penalty and the batched objective, minimises every subject x restart at once with
:func:`choicernn.fitting.bfgs.minimize_batched`, and (for EM) iterates the population prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from ..data import ChoiceData
from ..fitting.bfgs import BatchedResult, minimize_batched
from ..fitting.parameters import Parameter
from ..progress import show_progress
from .base import resolve_device

if TYPE_CHECKING:
    from .parametric import ParametricModel

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class FitSettings:
    """The validated fitting settings of a parametric model (see :class:`ParametricModel`)."""

    method: str
    n_restarts: int
    priors: dict | None
    max_iter: int
    device: Any
    dtype: Any
    em_iterations: int
    em_tol: float

    def __post_init__(self) -> None:
        if self.method not in ("map", "mle", "em"):
            raise ValueError(f"method must be 'map', 'mle' or 'em', got {self.method!r}")
        for name in ("n_restarts", "max_iter", "em_iterations"):
            _positive_int(name, getattr(self, name))
        if self.priors is not None and not isinstance(self.priors, dict):
            raise TypeError(
                f"priors must be a dict of parameter name -> torch distribution, got "
                f"{type(self.priors).__name__}"
            )
        for key, dist in (self.priors or {}).items():
            if not isinstance(dist, torch.distributions.Distribution):
                raise TypeError(
                    f"priors[{key!r}] must be a torch.distributions object, got "
                    f"{type(dist).__name__}"
                )
        if self.dtype not in _DTYPES and self.dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        if (
            isinstance(self.em_tol, bool)
            or not isinstance(self.em_tol, int | float)
            or not (math.isfinite(self.em_tol) and self.em_tol > 0)
        ):
            raise ValueError(f"em_tol must be a positive number, got {self.em_tol!r}")
        if not (self.device in (None, "auto") or isinstance(self.device, str | torch.device)):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {self.device!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES.get(self.dtype, self.dtype)


def fit_parameters(
    model: ParametricModel,
    params: list[Parameter],
    data: ChoiceData,
    settings: FitSettings,
    seed: int | None,
    x0: torch.Tensor | None = None,
) -> tuple[BatchedResult, dict[str, Any]]:
    """Fit ``model``'s ``params`` to every subject of ``data``; returns the batched result (with
    ``.nll``, the pure NLL of every restart) and extra fitted attributes (EM's population).

    ``x0`` (restart-major, (n_restarts * n_subjects, P)) replaces the starting points drawn
    from ``seed`` (stacked fits pass every data set's own)."""
    unknown = set(settings.priors or {}) - {p.name for p in params}
    if unknown:
        raise ValueError(
            f"priors given for unknown parameters {sorted(unknown)}; this model "
            f"has {[p.name for p in params]}"
        )
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    dev = resolve_device(settings.device)
    dtype = settings.torch_dtype
    if x0 is None:
        x0 = initial_points(params, data.n_subjects, settings.n_restarts, seed)
    x0 = x0.to(dev, dtype)
    if settings.method == "em":
        result, extra = fit_em(model, data, params, x0, settings)
        penalty = extra.pop("_penalty")
    else:
        penalty = prior_penalty(params, settings.priors or {}) if settings.method == "map" else None
        result, extra = optimise(model, data, params, x0, penalty, settings), {}
    extra["_standard_errors"] = standard_errors(model, data, params, result, penalty)
    return result, extra


def standard_errors(model, data, params, result, penalty) -> dict[str, np.ndarray]:
    """Laplace standard errors of every subject's parameters at its best restart.

    The posterior (MAP, EM) or likelihood (ML) curvature on the unconstrained scale is
    inverted (:func:`laplace_variance`) and carried to each parameter's own scale by the delta
    method (``se = |d value / d x| * sd(x)``). Near a bound the transform is flat and the SE
    shrinks toward 0: read SEs of parameters flagged ``at_bound`` with care.
    """
    x_hat = best_restart(result, data.n_subjects)
    var = laplace_variance(model, data, params, x_hat, penalty)
    out = {}
    for j, p in enumerate(params):
        x = x_hat[:, j]
        slope = (p.upper - p.lower) * torch.sigmoid(x) * (1 - torch.sigmoid(x))
        out[p.name] = (slope.abs() * var[:, j].sqrt()).cpu().numpy()
    return out


def initial_points(
    params: list[Parameter], n_subjects: int, n_restarts: int, seed: int | None
) -> torch.Tensor:
    """Unconstrained starting points, shape (n_restarts * n_subjects, P), restart-major."""
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


def prior_penalty(params: list[Parameter], priors: dict):
    """``penalty(x, values)``: minus the summed log prior density of every problem."""

    def penalty(x, values):
        lp = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for p in params:
            lp = lp + log_prob(p, priors.get(p.name, p.prior), values[p.name])
        return -lp

    return penalty


def log_prob(param: Parameter, dist, value: torch.Tensor) -> torch.Tensor:
    """Log prior density at ``value`` (evaluated on the CPU, where the distributions live)."""
    span = param.upper - param.lower
    inside = value.clamp(param.lower + 1e-9 * span, param.upper - 1e-9 * span)
    return dist.log_prob(inside.cpu()).to(device=value.device, dtype=value.dtype)


def optimise(model, data, params, x0, penalty, settings: FitSettings, label: str = ""):
    """Minimise every subject x restart from ``x0``; adds ``.nll`` (n_restarts, n_subjects)."""
    n_subjects = data.n_subjects
    n_restarts = x0.shape[0] // n_subjects
    objective = model.objective(data, params, n_restarts, penalty, x0.device, x0.dtype)
    bar = tqdm(
        total=settings.max_iter,
        desc=f"fit {model.name}{label}",
        disable=not show_progress(),
        leave=False,
    )

    def report(it, n_active):
        bar.n = it
        bar.set_postfix(active=n_active, refresh=True)

    groups = torch.arange(x0.shape[0], device=x0.device) % n_subjects  # restarts of a subject
    try:
        result = minimize_batched(
            objective, x0, max_iter=settings.max_iter, progress=report, groups=groups
        )
    finally:
        bar.close()
    result.nll = objective.nll_all(result.x).reshape(n_restarts, n_subjects)
    return result


def best_restart(result: BatchedResult, n_subjects: int) -> torch.Tensor:
    """Per subject, the unconstrained parameters of its best restart, shape (n_subjects, P)."""
    n_restarts = result.x.shape[0] // n_subjects
    best = result.fun.reshape(n_restarts, n_subjects).argmin(0)
    return result.x.reshape(n_restarts, n_subjects, -1)[
        best, torch.arange(n_subjects, device=best.device)
    ]


def laplace_variance(model, data, params, x_hat, penalty) -> torch.Tensor:
    """Posterior variances on the unconstrained scale from the Hessian of the objective at
    ``x_hat`` (central differences of the batched gradient), shape (n_subjects, P)."""
    n_subjects, n_p = x_hat.shape
    dev, dtype = x_hat.device, x_hat.dtype
    objective = model.objective(data, params, 1, penalty, dev, dtype)
    idx = torch.arange(n_subjects, device=dev)
    h = 1e-4
    hess = torch.empty(n_subjects, n_p, n_p, device=dev, dtype=dtype)
    for j in range(n_p):
        step = torch.zeros(n_p, device=dev, dtype=dtype)
        step[j] = h
        hess[:, :, j] = (objective(x_hat + step, idx)[1] - objective(x_hat - step, idx)[1]) / (
            2 * h
        )
    hess = 0.5 * (hess + hess.transpose(1, 2)) + 1e-8 * torch.eye(n_p, device=dev, dtype=dtype)
    return torch.linalg.inv(hess).diagonal(dim1=1, dim2=2).clamp(min=1e-8)


def fit_em(model, data, params, x0, settings: FitSettings):
    """Empirical Bayes (Huys et al. 2011): EM over a Gaussian prior on the unconstrained scale.

    E-step: each subject's MAP estimate under the current population prior and a Laplace
    approximation of its posterior. M-step: population mean and variance from the estimates
    and posterior variances. Stops when no mean or SD moves by more than ``em_tol``.
    """
    n_p = len(params)
    dev, dtype = x0.device, x0.dtype
    mu = torch.zeros(n_p, device=dev, dtype=dtype)
    var = torch.full((n_p,), 4.0, device=dev, dtype=dtype)
    history = []
    x_start = x0
    result = None
    for it in range(settings.em_iterations):
        m, v = mu.clone(), var.clone()

        def penalty(x, values, m=m, v=v):
            return 0.5 * (((x - m) ** 2) / v + torch.log(2 * torch.pi * v)).sum(1)

        result = optimise(model, data, params, x_start, penalty, settings, f" (EM {it + 1})")
        x_hat = best_restart(result, data.n_subjects)
        post_var = laplace_variance(model, data, params, x_hat, penalty)
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
        if change < settings.em_tol:
            break
    population = pd.DataFrame(
        {
            "parameter": [p.name for p in params],
            "mean_unconstrained": mu.cpu().numpy(),
            "sd_unconstrained": var.sqrt().cpu().numpy(),
            "median_value": [float(p.to_value(mu[k].cpu())) for k, p in enumerate(params)],
        }
    )
    m_final, v_final = mu.clone(), var.clone()

    def final_penalty(x, values):
        return 0.5 * (((x - m_final) ** 2) / v_final + torch.log(2 * torch.pi * v_final)).sum(1)

    extra = {
        "_penalty": final_penalty,
        "population_": population,
        "em_history_": pd.DataFrame(history),
        "em_converged_": bool(history and history[-1]["change"] < settings.em_tol),
    }
    return result, extra
