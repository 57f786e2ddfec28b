"""The one interface every choice model implements.

A model maps a subject's past choices and rewards to a probability for each option on the next
trial. Every model in choicernn (Q-learning presets, heuristics, recurrent networks) implements:

``fit(data, **options) -> self``
    Learn from a :class:`~choicernn.ChoiceData` (scikit-learn manners: returns the model; learned
    state ends in ``_``).
``logits(data) -> torch.Tensor``, shape (n_sequences, n_trials, n_options)
    Choice logits on every trial of every sequence of ``data``, each computed from the trials
    before it only. This is the only scoring path: log-likelihoods, probabilities, comparison and
    plots all derive from it.
``agent(n_agents, seed=...) -> (Agent, params)``
    The model as an agent that plays a task, batched over ``n_agents`` simulated subjects; see
    :class:`Agent` and :func:`choicernn.simulate`.

From these the base class derives, once for all models: :meth:`~ChoiceModel.log_likelihood_tensor`,
:meth:`~ChoiceModel.trial_log_likelihood`, :meth:`~ChoiceModel.choice_probabilities`,
:meth:`~ChoiceModel.subject_log_likelihood` and :meth:`~ChoiceModel.score`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData


class NotFittedError(RuntimeError):
    """A model was used for prediction before it was fitted."""


class Agent(Protocol):
    """A model playing a task for ``n_agents`` simulated subjects at once.

    :func:`choicernn.simulate` calls ``start_session()`` at each session start, then on every
    trial ``probabilities()`` (shape (n_agents, n_options)), samples choices, steps the task and
    calls ``update(choices, rewards, outcomes)`` (shapes (n_agents,), (n_agents,),
    (n_agents, n_options); a choice of -1 is a missed trial, which the agent must treat exactly
    as the model's :meth:`ChoiceModel.logits` treats it: parametric models leave their state
    unchanged, networks read a "no choice" input).
    """

    n_agents: int
    n_options: int

    def start_session(self) -> None:
        """Reset the state at the start of a session."""
        ...

    def probabilities(self) -> np.ndarray:
        """Choice probabilities for the next trial, shape (n_agents, n_options)."""
        ...

    def update(self, choices: np.ndarray, rewards: np.ndarray, outcomes: np.ndarray) -> None:
        """Learn from one trial: choices (-1 = missed), rewards, and every option's outcome."""
        ...


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) picks CUDA when present, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class ChoiceModel(ABC):
    """Base class of all choice models; see the module docstring for the interface."""

    name: str = "model"

    @abstractmethod
    def fit(self, data: ChoiceData, **options: Any) -> ChoiceModel:
        """Fit to ``data``; returns ``self``."""

    @abstractmethod
    def logits(self, data: ChoiceData, **options: Any) -> torch.Tensor:
        """Choice logits, shape (n_sequences, n_trials, n_options), detached, on the CPU."""

    @abstractmethod
    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ) -> tuple[Agent, pd.DataFrame | None]:
        """An agent for ``n_agents`` simulated subjects and the table of their parameters.

        ``n_options`` is the task's number of options (needed by models not yet fitted).
        """

    # ------------------------------------------------------------------ scikit-learn manners
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, read from the attributes of the same names."""
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {n: getattr(self, n) for n in sig.parameters if n not in ("self", "args", "kwargs")}

    def clone(self) -> ChoiceModel:
        """An unfitted copy with the same constructor arguments."""
        return type(self)(**self.get_params())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ derived, shared
    def _check_options(self, data: ChoiceData) -> None:
        k = getattr(self, "n_options_", None)
        if k is not None and k != data.n_options:
            raise ValueError(f"{self.name}: fitted with n_options={k}, data has {data.n_options}")

    def log_likelihood_tensor(self, data: ChoiceData, **logit_options: Any) -> torch.Tensor:
        """Log-probability of each observed choice, shape (n_sequences, n_trials); 0 where masked.

        ``logit_options`` go to :meth:`logits` (e.g. ``params=`` for a parametric model).
        """
        self._check_options(data)
        logits = self.logits(data, **logit_options)
        batch = data.tensors()
        logp = torch.log_softmax(logits.to(torch.float64), dim=-1)
        chosen = logp.gather(-1, batch.choices.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return torch.where(batch.mask, chosen, torch.zeros_like(chosen))

    def trial_log_likelihood(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Log-likelihood of every observed choice.

        Returns
        -------
        pandas.DataFrame
            Columns ``subject, session, trial, choice, log_lik``; missed trials are excluded.
        """
        ll = data.trial_values(self.log_likelihood_tensor(data, **logit_options))
        table = data.to_frame()
        observed = table["choice"].notna().to_numpy()
        out = table.loc[observed, ["subject", "session", "trial", "choice"]].copy()
        out["log_lik"] = ll[observed]
        return out.reset_index(drop=True)

    def choice_probabilities(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Predicted probability of every option on every trial (missed trials included).

        Returns
        -------
        pandas.DataFrame
            Long format: ``subject, session, trial, option, probability`` (one row per trial and
            option).
        """
        self._check_options(data)
        logits = self.logits(data, **logit_options)
        probs = data.trial_values(torch.softmax(logits.to(torch.float64), -1))
        table = data.to_frame()[["subject", "session", "trial"]]
        k = data.n_options
        out = table.loc[table.index.repeat(k)].reset_index(drop=True)
        out["option"] = np.tile(np.arange(k), len(table))
        out["probability"] = probs.reshape(-1)
        return out

    def subject_log_likelihood(self, data: ChoiceData) -> pd.DataFrame:
        """Per subject: ``subject, log_lik, n_choices, nll_per_choice``."""
        ll = self.trial_log_likelihood(data)
        out = ll.groupby("subject", sort=False).agg(
            log_lik=("log_lik", "sum"), n_choices=("log_lik", "size")
        )
        out["nll_per_choice"] = -out["log_lik"] / out["n_choices"]
        return out.reset_index()

    def score(self, data: ChoiceData) -> float:
        """Mean log-likelihood per observed choice (greater is better)."""
        ll = self.log_likelihood_tensor(data)
        return float(ll.sum() / data.n_choices)
