"""The one contract every choice model implements.

A model maps a subject's past choices and rewards to a probability for each option on the next
trial. Every model in choicernn (Q-learning presets, heuristics, networks, nested selections and
models you add) follows the same contract, in scikit-learn manners:

Settings live in the constructor.
    ``__init__`` stores each argument under its own name and validates it; ``get_params``,
    ``set_params``, :meth:`~ChoiceModel.clone` and ``sklearn.base.clone`` work on every model.
    Fitting methods, restarts, priors, devices and training schedules are settings, never
    arguments of ``fit``. Progress bars are a global setting (:func:`choicernn.set_progress`).
``fit(data, *, seed=None) -> self``
    The whole fitting contract (a network may also take ``validation=`` data). Learned state
    ends in ``_``.
``logits(data) -> torch.Tensor``, shape (n_sequences, n_trials, n_options)
    Choice logits on every trial of every sequence of ``data``, each computed from the trials
    before it only. Log-likelihoods, probabilities, held-out scores and figures all derive from
    it through :func:`choicernn.models.scoring.chosen_log_prob`, the one scoring path.
``agent(n_agents, *, seed=None, params=None, n_options=None) -> (Agent, params)``
    The model as an agent that plays a task, batched over simulated subjects; see
    :class:`Agent` and :func:`choicernn.simulate`.
``capabilities() -> Capabilities``
    What callers may ask of the model (per-subject parameters, an in-sample table, hidden
    states, ...), so that no caller tests a model's class.
``save(path)`` / :func:`choicernn.load_model`
    A folder with ``model.json`` (type, settings, fitted state) and, for networks, weights read
    back with ``torch.load(weights_only=True)``; no pickle. A model type is found by the name it
    was registered under (:func:`choicernn.register_model`). To make a new model saveable,
    implement :meth:`~ChoiceModel.write_fitted` and :meth:`~ChoiceModel.read_fitted` (the
    parametric base class already does).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from .scoring import chosen_log_prob


class NotFittedError(RuntimeError):
    """A model was used for prediction before it was fitted."""


@dataclass(frozen=True)
class Capabilities:
    """What a model declares about itself; callers ask this instead of testing classes.

    Attributes
    ----------
    per_subject_parameters : bool
        The model's parameters belong to the subjects it was fitted on, so it cannot score a
        subject it has not seen (``cross_validate(by="subject")`` refuses it).
    in_sample_table : bool
        After ``fit``, :meth:`ChoiceModel.in_sample_table` returns per-subject NLL, AIC and BIC.
    parameter_table : bool
        After ``fit``, ``params_`` holds one row of interpretable parameters per subject
        (parameter recovery works on it).
    network : bool
        A trained recurrent network: :meth:`hidden_states` works and the classical models of
        :func:`choicernn.explain` can be fitted to its behaviour.
    subject_specific : bool
        Predictions depend on the subject (per-subject parameters, per-subject networks or
        subject embeddings): the agent takes the subject each simulated agent stands for
        (``params=`` a list of subject labels, or for parametric models their parameter table).
    fixed_agent : bool
        The agent is the fitted model itself, so ``simulate`` reproduces the fitted subjects
        (per-subject parameters or a deterministic network), without drawing new parameters.
    batched_fits : bool
        :meth:`ChoiceModel.fit_many` trains several fits as one batched computation (e.g. every
        cross-validation fold of a network as replicas of one recurrence), so callers should
        hand it all their data sets at once instead of fitting one at a time.
    """

    per_subject_parameters: bool = False
    subject_specific: bool = False
    in_sample_table: bool = False
    parameter_table: bool = False
    network: bool = False
    fixed_agent: bool = True
    batched_fits: bool = False


class Agent(Protocol):
    """A model playing a task for ``n_agents`` simulated subjects at once.

    :func:`choicernn.simulate` calls ``start_session()`` at each session start, then on every
    trial ``probabilities()`` (shape (n_agents, n_options)), samples choices, steps the task and
    calls ``update(choices, rewards, outcomes)`` (shapes (n_agents,), (n_agents,),
    (n_agents, n_options); a choice of -1 is a missed trial, which the agent must treat exactly
    as the model's :meth:`ChoiceModel.logits` treats it: parametric models leave their state
    unchanged, networks read a "no choice" input). Two-stage agents (two-step tasks) add
    ``second_stage_probabilities(states)`` and take ``states=`` and ``choices2=`` in
    ``update``; see :mod:`choicernn.simulation`.
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
    """``"auto"`` (or None) picks CUDA when present, else the CPU.

    A device that this machine lacks (``"cuda"`` without CUDA) is an error naming the setting.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} but this machine has no CUDA device; use device='auto' "
            f"(CUDA when present, else the CPU) or device='cpu'"
        )
    return dev


def init_arguments(cls: type) -> list[str]:
    """Names of the constructor arguments of ``cls`` and of every base whose ``__init__`` it
    reaches through ``**kwargs`` (in order, without duplicates)."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = inspect.signature(init).parameters.values()
        for p in params:
            if p.name == "self" or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.name not in names:
                names.append(p.name)
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


def check_datasets(datasets: Sequence[ChoiceData]) -> list[ChoiceData]:
    """The data sets of a batched ``fit_many`` as a list, checked to be ChoiceData of one kind
    (the same number of options, all two-step or none, all with outcome columns or none):
    fits trained together share one input layout. Raises TypeError / ValueError."""
    datasets = list(datasets)
    for d in datasets:
        if not isinstance(d, ChoiceData):
            raise TypeError(f"fit_many expects ChoiceData, got {type(d).__name__}")
    if len({(d.n_options, d.is_two_step, d.has_outcomes) for d in datasets}) > 1:
        raise ValueError(
            "fit_many needs data sets of one kind (the same number of options, all two-step or "
            "none, all with outcome columns or none); fit the others separately"
        )
    return datasets


class ChoiceModel(ABC):
    """Base class of all choice models; see the module docstring for the contract."""

    name: str = "model"

    # ------------------------------------------------------------------ the contract
    @abstractmethod
    def fit(self, data: ChoiceData, *, seed: int | None = None) -> ChoiceModel:
        """Fit to ``data``; returns ``self``."""

    def fit_many(
        self, datasets: Sequence[ChoiceData], *, seed: int | None = None
    ) -> list[ChoiceModel]:
        """Fit one unfitted clone of this model to each data set; returns them in order.

        The result is the same as ``[self.clone().fit(d, seed=seed) for d in datasets]``, which
        is what this default does. Extension point: a model that can train several fits
        together (one batched computation, e.g. all cross-validation folds of a network)
        overrides it and declares ``Capabilities(batched_fits=True)``;
        :func:`choicernn.cross_validate` then hands it all the folds of a study at once.
        ``self`` is left unfitted.
        """
        datasets = list(datasets)
        return [self.clone().fit(d, seed=seed) for d in datasets]

    @abstractmethod
    def logits(self, data: ChoiceData) -> torch.Tensor:
        """Choice logits, shape (n_sequences, n_trials, n_options), detached, on the CPU."""

    @abstractmethod
    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ) -> tuple[Agent, pd.DataFrame | None]:
        """An agent for ``n_agents`` simulated subjects and the table of their parameters.

        ``n_options`` is the task's number of options (needed by models not yet fitted).
        """

    def capabilities(self) -> Capabilities:
        """What this model declares about itself (see :class:`Capabilities`)."""
        return Capabilities()

    def in_sample_table(self) -> pd.DataFrame | None:
        """Per subject of the fitted data: ``model, subject, nll, n_choices, n_params, aic, bic``
        (plus model-specific columns), or None for models without one."""
        return None

    def is_fitted(self) -> bool:
        """Whether ``fit`` (or loading) has given the model its learned state."""
        return hasattr(self, "n_options_")

    def check_fitted(self) -> None:
        """Raise :class:`NotFittedError`, saying what to do, when the model is not fitted."""
        if not self.is_fitted():
            raise NotFittedError(
                f"{self.name} is not fitted yet: call fit first (model.fit(data)), or load a "
                f"saved model with choicernn.load_model(path)."
            )

    def fitted_reward_values(self) -> tuple[float, ...] | None:
        """The distinct rewards of the data the model was fitted on, when there were only a few
        (binary or win/loss coding), else None; simulations warn when a task pays others."""
        return getattr(self, "reward_values_", None)

    def hidden_states(self, data: ChoiceData) -> pd.DataFrame:
        """Per trial and unit, the network's state (networks only; see ``capabilities()``)."""
        raise TypeError(f"{type(self).__name__} has no hidden states (it is not a network)")

    # ------------------------------------------------------------------ settings
    def _check_settings(self) -> None:
        """Validate the constructor arguments (called by ``__init__`` and ``set_params``)."""
        return None

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor arguments by name; with ``deep``, also ``<arg>__<name>`` of nested models.

        (scikit-learn's estimator contract.)
        """
        out = {name: getattr(self, name) for name in init_arguments(type(self))}
        if deep:
            for key, value in list(out.items()):
                if isinstance(value, ChoiceModel):
                    for sub, sub_value in value.get_params(deep=True).items():
                        out[f"{key}__{sub}"] = sub_value
        return out

    def set_params(self, **params: Any) -> ChoiceModel:
        """Set constructor arguments (``<arg>__<name>`` reaches a nested model); returns self.

        The new settings are validated as in the constructor; fitted state is left as it is
        (refit to use the new settings).
        """
        valid = init_arguments(type(self))
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            head, _, rest = key.partition("__")
            if head not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no setting {head!r}; its settings are {valid}"
                )
            if rest:
                nested.setdefault(head, {})[rest] = value
            else:
                setattr(self, head, value)
        for head, sub in nested.items():
            target = getattr(self, head)
            if not isinstance(target, ChoiceModel):
                raise ValueError(f"setting {head!r} of {type(self).__name__} is not a model")
            target.set_params(**sub)
        self._check_settings()
        return self

    def clone(self) -> ChoiceModel:
        """An unfitted copy with the same settings (nested models cloned too)."""
        params = {}
        for key, value in self.get_params(deep=False).items():
            params[key] = _clone_value(value)
        return type(self)(**params)

    def __sklearn_clone__(self) -> ChoiceModel:
        return self.clone()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ saving
    def write_fitted(self, folder: Any) -> dict[str, Any]:
        """Write the learned state into ``folder`` (a :class:`pathlib.Path`, already created)
        and return a JSON-able description of it; :meth:`read_fitted` reads it back.

        Extension hook: implement it (with :meth:`read_fitted`) to make a new model saveable.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot be saved: implement write_fitted/read_fitted"
        )

    def read_fitted(self, folder: Any, fitted: dict[str, Any]) -> None:
        """Restore the learned state written by :meth:`write_fitted` (validating it)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot be loaded: implement write_fitted/read_fitted"
        )

    def save(self, path: Any) -> Any:
        """Write the fitted model to the folder ``path`` (created or replaced atomically).

        ``model.json`` holds the registered model type, the settings and the learned state;
        networks add ``weights.pt`` (a plain tensor dictionary). Read it back with
        :func:`choicernn.load_model`. Returns the folder as a :class:`pathlib.Path`.
        """
        from .persistence import save_model

        return save_model(self, path)

    # ------------------------------------------------------------------ derived, shared
    def _check_options(self, data: ChoiceData) -> None:
        k = getattr(self, "n_options_", None)
        if k is not None and k != data.n_options:
            raise ValueError(f"{self.name}: fitted with n_options={k}, data has {data.n_options}")

    def log_likelihood_tensor(self, data: ChoiceData, **logit_options: Any) -> torch.Tensor:
        """Log-probability of each observed choice, shape (n_sequences, n_trials); 0 where masked.

        ``logit_options`` go to :meth:`logits` (e.g. ``params=`` of a parametric model).
        """
        self._check_options(data)
        logits = self.logits(data, **logit_options).to(torch.float64)
        return chosen_log_prob(logits, data.tensors().choices)

    def trial_log_likelihood(self, data: ChoiceData, **logit_options: Any) -> pd.DataFrame:
        """Log-likelihood of every observed choice.

        Returns
        -------
        pandas.DataFrame
            Columns ``subject, session, trial, choice, log_lik`` (``choice`` 0-based), then the
            user's own ``row`` (position in the input table) and ``choice_label`` (the choice as
            written in the file), so the predictions merge back onto the input table; missed
            trials are excluded.
        """
        ll = data.trial_values(self.log_likelihood_tensor(data, **logit_options))
        table = data.to_frame()
        observed = table["choice"].notna().to_numpy()
        out = table.loc[observed, ["subject", "session", "trial", "choice"]].copy()
        out["log_lik"] = ll[observed]
        labels = data.original_labels().loc[observed, ["row", "choice_label"]]
        out["row"] = labels["row"].to_numpy()
        out["choice_label"] = labels["choice_label"].to_numpy()
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


def _clone_value(value: Any) -> Any:
    if isinstance(value, ChoiceModel):
        return value.clone()
    if isinstance(value, list):
        return [_clone_value(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_clone_value(v) for v in value)
    if isinstance(value, dict):
        return {k: _clone_value(v) for k, v in value.items()}
    return value
