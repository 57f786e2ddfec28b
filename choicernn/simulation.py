"""Run any model as an agent in a task: simulated studies with known generating parameters.

Agents follow :class:`choicernn.models.base.Agent`: ``start_session()``, ``probabilities()``
and ``update(choices, rewards, outcomes)``.

Two-step tasks (Daw et al. 2011)
--------------------------------
A trial has two stages: the first-stage choice leads to a second-stage state (common or rare
transition, :meth:`~choicernn.tasks.Environment.transition`), where a second choice earns the
reward. A **two-stage agent** adds one method and two keyword arguments to the protocol::

    second_stage_probabilities(states) -> (n_agents, 2)
        second-stage choice probabilities in ``states`` (shape (n_agents,), 0 or 1; -1 where
        the first stage was missed: the row is then ignored)
    update(choices, rewards, outcomes, *, states, choices2)
        learn from the whole trial: first-stage choices, rewards, the payoffs of the reached
        state's options (n_agents, 2), the states reached and the second-stage choices

:func:`simulate` asks, on every trial, ``probabilities()`` (first stage), samples the
first-stage choices, asks the environment where they lead, asks
``second_stage_probabilities(states)``, samples the second-stage choices, plays the trial and
calls ``update(..., states=..., choices2=...)``. An agent without ``second_stage_probabilities``
(any single-stage model) still plays a two-step task: its second-stage choices are drawn
uniformly at random and it is updated as before, with the trial's reward, as a learner that
ignores the task's structure. The simulated data are two-step :class:`~choicernn.ChoiceData`
(columns ``state`` and ``choice2``).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .data import ChoiceData
from .data.validation import outcome_columns
from .models.base import Agent, ChoiceModel
from .tasks import Task, load_task


def sample_choices(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of ``probs`` (n, K) by inverting the cumulative distribution (seeded by
    ``rng``); used by every simulation loop so that they sample alike."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] > cum).sum(axis=1), probs.shape[1] - 1)


def _check_reward_values(model: ChoiceModel, task: Task) -> None:
    """Warn when the task pays rewards the model never saw in the data it was fitted on (e.g. a
    model fitted on +1/-1 feedback simulated in a 0/1 task): its learned values would not mean
    what they meant in the fit."""
    if not model.is_fitted():
        return
    seen, paid = model.fitted_reward_values(), task.paid_rewards
    if seen is not None and paid is not None and not set(paid) <= set(seen):
        warnings.warn(
            f"task {task.name!r} pays rewards {list(paid)} but {model.name} was fitted on data "
            f"with rewards {list(seen)}; simulate it in a task with the data's reward coding "
            f"(reward_values in the task file, e.g. the shipped 'reversal_win_loss' for +1/-1)",
            UserWarning,
            stacklevel=3,
        )


def simulate(
    model: ChoiceModel | Agent,
    task: Task | str,
    n_subjects: int = 50,
    n_trials: int | None = None,
    n_sessions: int | None = None,
    seed: Any = 0,
    *,
    params: Any = None,
) -> ChoiceData:
    """Simulate ``n_subjects`` subjects of ``model`` playing ``task``.

    Parameters
    ----------
    model : ChoiceModel or Agent
        A model (fitted: agents take the fitted subjects' parameters in turn; unfitted: parameters
        are drawn from each parameter's default range, or taken from ``params``) or a ready agent.
    task : Task or str
        A task or the name/path of one (see :func:`choicernn.load_task`).
    n_subjects : int
    n_trials, n_sessions : int, optional
        Per session and per subject; the task's defaults when omitted.
    seed : int, numpy SeedSequence or None
        One seed for everything: the task's schedules and the agents' choices use independent
        streams spawned from it, so the same seed gives the same schedules for any model.
        Default 0, so a simulation is reproducible unless asked otherwise (None: fresh entropy).
    params : dict or pandas.DataFrame, optional
        Parameter values for all subjects (dict) or per subject (one row each).

    Returns
    -------
    ChoiceData
        Subjects ``0 .. n_subjects-1``; ``params`` holds the generating parameters (with a
        ``subject`` column) when the model has parameters. Full-feedback tasks also record
        every option's payoff; two-step tasks record the state and second-stage choice of
        every trial (see the module docstring for how two-stage agents are stepped).
    """
    if isinstance(task, str):
        task = load_task(task)
    n_trials = n_trials or task.n_trials
    n_sessions = n_sessions or task.n_sessions
    if n_subjects < 1:
        raise ValueError(f"n_subjects must be >= 1, got {n_subjects}")
    root = np.random.SeedSequence(seed) if not isinstance(seed, np.random.SeedSequence) else seed
    task_seq, agent_seq, param_seq = root.spawn(3)
    choice_rng = np.random.default_rng(agent_seq)
    if isinstance(model, ChoiceModel):
        _check_reward_values(model, task)
        agent, table = model.agent(
            n_subjects, seed=param_seq, params=params, n_options=task.n_options
        )
    else:
        agent, table = model, None
    if agent.n_options != task.n_options:
        raise ValueError(
            f"agent has {agent.n_options} options, task {task.name!r} has {task.n_options}"
        )
    k = task.n_options
    shape = (n_sessions, n_subjects, n_trials)
    choices = np.empty(shape, dtype=np.int64)
    rewards = np.empty(shape)
    outcomes = np.empty(shape + (k,))
    two_step = task.is_two_step
    if two_step:
        states = np.empty(shape, dtype=np.int64)
        choices2 = np.empty(shape, dtype=np.int64)
    two_stage_agent = hasattr(agent, "second_stage_probabilities")
    if two_stage_agent and not two_step:
        raise ValueError(
            f"the agent plays two-stage trials (a two-step model) but task {task.name!r} has "
            f"one stage; simulate it in a two-step task (e.g. 'two_step')"
        )
    for s, session_seed in enumerate(task_seq.spawn(n_sessions)):
        env = task.environment(n_subjects, n_trials, seed=session_seed)
        agent.start_session()
        for t in range(n_trials):
            c = sample_choices(agent.probabilities(), choice_rng)
            if not two_step:
                r, o = env.step(c)
                agent.update(c, r, o)
            else:
                st = env.transition(c)
                if two_stage_agent:
                    p2 = np.asarray(agent.second_stage_probabilities(st), dtype=float)
                else:
                    p2 = np.full((n_subjects, 2), 0.5)
                c2 = sample_choices(p2, choice_rng)
                r, o = env.step(c, c2)
                if two_stage_agent:
                    agent.update(c, r, o, states=st, choices2=c2)
                else:
                    agent.update(c, r, o)
                states[s, :, t], choices2[s, :, t] = st, c2
            choices[s, :, t], rewards[s, :, t], outcomes[s, :, t] = c, r, o
    subj, sess, trial = np.meshgrid(
        np.arange(n_subjects), np.arange(n_sessions), np.arange(n_trials), indexing="ij"
    )
    frame = pd.DataFrame(
        {
            "subject": subj.reshape(-1),
            "session": sess.reshape(-1),
            "trial": trial.reshape(-1),
            "choice": choices.transpose(1, 0, 2).reshape(-1),
            "reward": rewards.transpose(1, 0, 2).reshape(-1),
        }
    )
    extra = {}
    if two_step:
        frame["state"] = states.transpose(1, 0, 2).reshape(-1)
        frame["choice2"] = choices2.transpose(1, 0, 2).reshape(-1)
        extra = {"state": "state", "choice2": "choice2"}
    outcome_cols = None
    if task.feedback == "full":
        outcome_cols = outcome_columns(k)
        flat = outcomes.transpose(1, 0, 2, 3).reshape(-1, k)
        for j, col in enumerate(outcome_cols):
            frame[col] = flat[:, j]
    data = ChoiceData.from_frame(
        frame, n_options=k, session="session", trial="trial", outcomes=outcome_cols, **extra
    )
    if table is not None:
        table = table.copy()
        table.insert(0, "subject", np.arange(n_subjects))
        data = data.with_params(table)
    return data
