"""Posterior predictive checks: a fitted model replays the study and is compared on signatures.

:func:`posterior_predictive` runs a fitted model as an agent on the subjects' own reward
schedules where the data allow it (full-feedback data: every option's payoff is known on every
trial, so :class:`ReplayEnvironment` gives the agent's chosen option that trial's payoff), or
else in a task with the same subjects, sessions and trials; then it computes the same
behavioural signatures (:mod:`choicernn.signatures`) on the data and on each simulation.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..data import ChoiceData
from ..data.validation import outcome_columns
from ..models.base import ChoiceModel
from ..signatures import mean_ci, stay_probabilities, switch_rate
from ..simulation import sample_choices
from ..tasks import Task, load_task

__all__ = ["PosteriorPredictiveResult", "ReplayEnvironment", "posterior_predictive"]


class ReplayEnvironment:
    """An environment that pays out recorded payoffs: the chosen option gets its recorded payoff.

    Parameters
    ----------
    payoffs : numpy.ndarray, shape (n_sequences, n_trials, n_options)
        Payoff of every option on every trial (NaN where unknown, e.g. padding or missed trials).

    Notes
    -----
    Same stepping interface as :class:`choicernn.tasks.Environment`: :meth:`step` plays trial
    ``t`` with choices of shape (n_sequences,) (-1: missed trial, reward 0).
    """

    def __init__(self, payoffs: np.ndarray) -> None:
        payoffs = np.asarray(payoffs, dtype=float)
        if payoffs.ndim != 3:
            raise ValueError(
                f"payoffs must have shape (n_sequences, n_trials, n_options), got {payoffs.shape}"
            )
        self.payoffs = payoffs
        self.n_sequences, self.n_trials, self.n_options = payoffs.shape
        self.t = 0

    def step(self, choices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Play the next trial; returns rewards (n_sequences,) and outcomes (n_sequences, K)."""
        if self.t >= self.n_trials:
            raise RuntimeError(f"the replay has run all its {self.n_trials} trials")
        choices = np.asarray(choices, dtype=np.int64)
        if choices.shape != (self.n_sequences,):
            raise ValueError(f"choices must have shape ({self.n_sequences},), got {choices.shape}")
        bad = (choices < -1) | (choices >= self.n_options)
        if bad.any():
            raise ValueError(
                f"choices must be in -1..{self.n_options - 1} (-1: missed trial), got "
                f"{choices[bad][:5].tolist()}"
            )
        outcomes = self.payoffs[:, self.t]
        rows = np.arange(self.n_sequences)
        rewards = np.where(choices >= 0, outcomes[rows, choices.clip(0)], 0.0)
        self.t += 1
        return np.nan_to_num(rewards), np.nan_to_num(outcomes)


@dataclass
class PosteriorPredictiveResult:
    """Signatures of the data beside those of simulations of a fitted model.

    Attributes
    ----------
    table : pandas.DataFrame
        Tidy, one row per source, simulation, subject, signature and condition: ``source``
        (``"data"`` or ``"model"``), ``simulation`` (``Int64``: 0 .. n_simulations-1; ``<NA>``
        for the data), ``subject``, ``signature`` (``"p_stay"``: probability of repeating the
        previous choice, conditions ``"rewarded"``/``"unrewarded"``; ``"p_switch"``: switch
        rate, condition ``"all"``), ``condition``, ``value`` (NaN where a subject has no pair).
    pooled : pandas.DataFrame
        ``source, signature, condition, mean, sd, n_subjects, ci_low, ci_high``: mean across
        subjects with a t-based 95% CI (:func:`choicernn.signatures.mean_ci`); each simulated
        subject's value is first averaged over the simulations.
    simulated : list of ChoiceData
        The simulations, same subjects, sessions and trial numbers as the data.
    mode : {"replay", "task"}
        Whether the recorded payoffs were replayed or the task was simulated.
    """

    table: pd.DataFrame
    pooled: pd.DataFrame
    simulated: list[ChoiceData]
    mode: str
    model_name: str | None = None

    def stay_tables(self) -> dict[str, pd.DataFrame]:
        """Per source, ``subject, previous_reward, p_stay`` (model: mean over simulations)."""
        stay = self.table[self.table["signature"] == "p_stay"]
        out = {}
        for source in ("data", "model"):
            part = stay[stay["source"] == source]
            per_subject = part.groupby(["subject", "condition"], sort=False)["value"].mean()
            out[source] = (
                per_subject.rename("p_stay")
                .reset_index()
                .rename(columns={"condition": "previous_reward"})
            )
        return out

    def plot(self, ax=None):
        """Stay probabilities after reward / no reward, data beside the model (named in the
        legend); returns the Axes."""
        from ..plots import plot_ppc

        return plot_ppc(self, model=self.model_name, ax=ax)


def _signatures(data: ChoiceData) -> pd.DataFrame:
    """``subject, signature, condition, value`` for one data set."""
    stay = stay_probabilities(data)
    stay = pd.DataFrame(
        {
            "subject": stay["subject"],
            "signature": "p_stay",
            "condition": stay["previous_reward"],
            "value": stay["p_stay"],
        }
    )
    switch = switch_rate(data)
    switch = pd.DataFrame(
        {
            "subject": switch["subject"],
            "signature": "p_switch",
            "condition": "all",
            "value": switch["p_switch"],
        }
    )
    return pd.concat([stay, switch], ignore_index=True)


def _plain(x: Any) -> Any:
    """A numpy scalar as the Python value (for readable messages)."""
    return x.item() if isinstance(x, np.generic) else x


def _agent_params(model: ChoiceModel, subjects: list) -> Any:
    """Per-sequence parameters for ``model.agent``: fitted subject i's values for subject i."""
    caps = model.capabilities()
    if caps.subject_specific and not caps.parameter_table:
        return list(subjects)  # e.g. networks with subject embeddings: subject labels
    if not caps.parameter_table:
        return None
    fitted = model.params_
    known = set(fitted["subject"])
    missing = [_plain(s) for s in dict.fromkeys(s for s in subjects if s not in known)]
    if missing:
        raise ValueError(
            f"{model.name} has no fitted parameters for subjects {missing[:10]} of data; fit it "
            f"on these subjects, or check the subject labels."
        )
    return fitted.set_index("subject").loc[list(subjects)].reset_index()


def _check_inputs(model, data, task, n_simulations):
    """The checked inputs: whether payoffs are replayed, and the task (loaded) otherwise."""
    if not isinstance(data, ChoiceData):
        raise TypeError(f"data must be a ChoiceData, got {type(data).__name__}")
    if not isinstance(model, ChoiceModel):
        raise TypeError(f"model must be a fitted ChoiceModel, got {type(model).__name__}")
    model.check_fitted()
    if data.is_two_step:
        raise ValueError(
            "posterior_predictive does not run two-step tasks yet; compare "
            "signatures.two_step_stay(data) with two_step_stay(cr.simulate(model, 'two_step', "
            "...)) and plots.plot_two_step_stay instead"
        )
    if not isinstance(n_simulations, int | np.integer) or n_simulations < 1:
        raise ValueError(f"n_simulations must be a positive integer, got {n_simulations!r}")
    k = data.n_options
    if model.n_options_ != k:
        raise ValueError(f"{model.name} was fitted with n_options={model.n_options_}, data has {k}")
    replay = data.has_outcomes
    if not replay:
        if task is None:
            raise ValueError(
                "data have no outcome columns (the payoff of every option on every trial), so "
                "the subjects' reward schedules cannot be replayed: pass task= (a Task or the "
                "name of the task the data come from) to simulate the model in it."
            )
        task = load_task(task) if isinstance(task, str) else task
        if task.n_options != k:
            raise ValueError(f"task {task.name!r} has {task.n_options} options, data have {k}")
    return replay, task


def _replay_payoffs(data: ChoiceData) -> np.ndarray:
    """Every option's payoff on every (padded) trial, shape (n_sequences, n_trials, K)."""
    n_seq, n_t = data.tensors().mask.shape
    k = data.n_options
    payoffs = np.full((n_seq, n_t, k), np.nan)
    values = data.to_frame()[outcome_columns(k)].to_numpy(dtype=float)
    padded_index = data.trial_values(np.arange(n_seq * n_t).reshape(n_seq, n_t))
    payoffs.reshape(-1, k)[padded_index] = values
    return payoffs


def _play(model, data, task, payoffs, params, sim_seq) -> ChoiceData:
    """One simulated copy of ``data``: the model's agent chooses on every trial the subject
    chose on, in the replayed payoffs or in the task."""
    observed = data.tensors().mask.numpy()
    n_seq, n_t = observed.shape
    k = data.n_options
    env_seq, choice_seq, agent_seq = sim_seq.spawn(3)
    rng = np.random.default_rng(choice_seq)
    agent, _ = model.agent(n_seq, seed=agent_seq, params=params, n_options=k)
    replay = payoffs is not None
    env = ReplayEnvironment(payoffs) if replay else task.environment(n_seq, n_t, seed=env_seq)
    choices = np.full((n_seq, n_t), -1, dtype=np.int64)
    rewards = np.full((n_seq, n_t), np.nan)
    outcomes = np.zeros((n_seq, n_t, k))
    agent.start_session()
    for t in range(n_t):
        c = np.where(observed[:, t], sample_choices(agent.probabilities(), rng), -1)
        r, o = env.step(c)
        agent.update(c, r, o)
        choices[:, t] = c
        rewards[:, t] = np.where(c >= 0, r, np.nan)
        outcomes[:, t] = o
    frame = data.to_frame()
    out_cols = outcome_columns(k)
    sim_frame = frame[["subject", "session", "trial"]].copy()
    chosen = data.trial_values(choices)
    sim_frame["choice"] = pd.array(np.where(chosen >= 0, chosen, 0), dtype="Int64")
    sim_frame.loc[chosen < 0, "choice"] = pd.NA
    sim_frame["reward"] = data.trial_values(rewards)
    cols = None
    if replay:
        cols = out_cols
        sim_frame[out_cols] = frame[out_cols].to_numpy()
    elif task.feedback == "full":
        cols = out_cols
        sim_frame[out_cols] = data.trial_values(outcomes)
    return ChoiceData.from_frame(
        sim_frame, n_options=k, session="session", trial="trial", outcomes=cols
    )


def _check_reward_coding(model, data, task, simulated: ChoiceData) -> None:
    """Warn when the task pays rewards the data never had (e.g. 0/1 against the data's -1/+1):
    the agent then learns from another reward scale than the one it was fitted on."""
    seen = set(np.unique(data.to_frame()["reward"].dropna().to_numpy(float)).tolist())
    paid = set(np.unique(simulated.to_frame()["reward"].dropna().to_numpy(float)).tolist())
    if len(seen) <= 3 and not paid <= seen:
        warnings.warn(
            f"task {task.name!r} pays rewards {sorted(paid)} but the data {model.name} was "
            f"compared with have rewards {sorted(seen)}: the simulated agent learns on another "
            f"reward scale than it was fitted on, so the check compares unlike things. Use a "
            f"task whose reward values match the data (reward_values in the task file).",
            UserWarning,
            stacklevel=3,
        )


def _summarise(rows) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = pd.concat(rows, ignore_index=True)
    table["simulation"] = table["simulation"].astype("Int64")
    table = table[["source", "simulation", "subject", "signature", "condition", "value"]]
    per_subject = (
        table.groupby(["source", "signature", "condition", "subject"], sort=False)["value"]
        .mean()
        .reset_index()
    )
    pooled = mean_ci(per_subject, "value", by=["source", "signature", "condition"])
    return table, pooled


def posterior_predictive(
    model: ChoiceModel,
    data: ChoiceData,
    task: Task | str | None = None,
    *,
    n_simulations: int = 1,
    seed: Any = 0,
) -> PosteriorPredictiveResult:
    """Simulate a fitted model on the subjects' own schedules and compare behavioural signatures.

    Parameters
    ----------
    model : ChoiceModel
        A fitted model. Parametric models: simulated subject ``s`` uses the parameters fitted to
        subject ``s`` (every subject of ``data`` must have been fitted). GRU: the pooled network
        (with subject embeddings, each subject's own embedding; unseen subjects get the mean).
    data : ChoiceData
        The observed study. Every sequence (subject-session) is simulated with its own length,
        subject, session and trial labels; trials missed in the data are missed in the
        simulations too (the agent sees a missed trial).
    task : Task or str, optional
        Needed when ``data`` has no outcome columns: the task the data come from. With
        full-feedback data (``data.has_outcomes``) the recorded payoffs are replayed instead
        and ``task`` is ignored.
    n_simulations : int
        Independent simulations of the whole study.
    seed : int, numpy.random.SeedSequence or None
        Seeds the task's schedules and the agents' choices.

    Returns
    -------
    PosteriorPredictiveResult
        ``.table``, ``.pooled``, ``.simulated``, ``.plot()``.

    Raises
    ------
    ValueError
        No ``task`` for data without outcomes; option counts that differ; subjects the model
        was not fitted on (parametric models).
    NotFittedError
        The model is not fitted.
    """
    replay, task = _check_inputs(model, data, task, n_simulations)
    payoffs = _replay_payoffs(data) if replay else None
    params = _agent_params(model, list(data.sequences["subject"]))
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    rows = [_signatures(data).assign(source="data", simulation=pd.NA)]
    simulated = []
    for i, sim_seq in enumerate(root.spawn(n_simulations)):
        sim = _play(model, data, task, payoffs, params, sim_seq)
        simulated.append(sim)
        rows.append(_signatures(sim).assign(source="model", simulation=i))
    if not replay:
        _check_reward_coding(model, data, task, simulated[0])
    table, pooled = _summarise(rows)
    return PosteriorPredictiveResult(
        table=table,
        pooled=pooled,
        simulated=simulated,
        mode="replay" if replay else "task",
        model_name=model.name,
    )
