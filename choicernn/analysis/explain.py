"""Explaining a trained network: which classical model it behaves like, and its logit dynamics.

- :func:`explain` simulates the fitted network in a task and cross-validates classical candidates
  (the Q-learning presets and win-stay-lose-shift by default) on its behaviour (Fintz, Osadchy &
  Hertz 2022).
- :func:`logit_portrait` drives a two-option network with every previous choice x reward input
  and records how the choice logit changes: the "logit phase portraits" of Ji-An, Benna &
  Mattar (2025), readable for tiny (1-2 unit) networks.
- :func:`agreement_by_value`: where the network agrees with a reward-oriented Q-model and where
  with a reward-oblivious network, as a function of how clearly one option is best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..comparison.cross_validation import CrossValidationResult, cross_validate, fit_quietly
from ..data import ChoiceData
from ..models.base import ChoiceModel
from ..models.heuristics import WSLS
from ..models.qlearning import QLearning
from ..models.rnn_network import trial_features
from ..simulation import simulate
from ..tasks import Task

__all__ = [
    "ExplainResult",
    "PortraitResult",
    "agreement_by_value",
    "default_candidates",
    "explain",
    "logit_portrait",
    "plot_agreement",
]


# ---------------------------------------------------------------------- explain
CLASSIC_PRESETS = (
    "rw",
    "dual_alpha",
    "forgetting",
    "rw_persev",
    "choice_kernel",
    "reward_sensitivity",
    "full",
)


def default_candidates() -> list[ChoiceModel]:
    """The classic :class:`~choicernn.QLearning` presets (``rw``, ``dual_alpha``,
    ``forgetting``, ``rw_persev``, ``choice_kernel``, ``reward_sensitivity``, ``full``) plus
    :class:`~choicernn.WSLS` (unfitted)."""
    return [QLearning(name) for name in CLASSIC_PRESETS] + [WSLS()]


@dataclass
class ExplainResult:
    """Which classical model best explains a network's simulated behaviour.

    Attributes
    ----------
    table : pandas.DataFrame
        ``CrossValidationResult.summary()``: indexed by candidate, best first, with
        ``mean_nll_per_trial`` (mean held-out NLL per choice over simulated subjects),
        ``delta_nll_per_trial`` (paired difference to the best), ``delta_sem``, ``accuracy``, ...
        (columns documented in :func:`choicernn.compare_subjects`).
    best : str
        Name of the best candidate (first row of ``table``).
    params : pandas.DataFrame or None
        ``params_`` of the best candidate fitted to all the simulated data (one row per simulated
        subject); None when the best candidate has no per-subject parameters.
    model : ChoiceModel
        The best candidate fitted to all the simulated data.
    data : ChoiceData
        The network's simulated behaviour.
    cv : CrossValidationResult
        The full cross-validation (per fold, subject and trial).
    """

    table: pd.DataFrame
    best: str
    params: pd.DataFrame | None
    model: ChoiceModel
    data: ChoiceData
    cv: CrossValidationResult

    @property
    def params_summary(self) -> pd.DataFrame | None:
        """Per parameter of the best candidate: ``mean, median, std`` over simulated subjects."""
        if self.params is None:
            return None
        values = self.params.drop(columns=["subject"], errors="ignore")
        return values.agg(["mean", "median", "std"]).T

    def plot(self, ax=None, kind: str = "paired"):
        """Per-subject held-out NLL per choice of every candidate (``kind="paired"``) or paired
        differences to the best (``kind="difference"``). Returns the Axes."""
        return self.cv.plot(kind=kind, ax=ax)


def explain(
    network: ChoiceModel,
    task: Task | str,
    candidates: Sequence[ChoiceModel] | None = None,
    *,
    n_subjects: int = 50,
    n_trials: int | None = 300,
    n_sessions: int | None = None,
    folds: int = 5,
    seed: int = 0,
) -> ExplainResult:
    """Simulate a fitted network in ``task`` and find the classical model that explains it best.

    Parameters
    ----------
    network : ChoiceModel
        A fitted model, usually a :class:`~choicernn.GRUModel` (any fitted model works).
    task : Task or str
        The task the network plays (a :class:`~choicernn.Task` or a task name).
    candidates : sequence of ChoiceModel, optional
        Unfitted classical models with unique names; default :func:`default_candidates` (every
        Q-learning preset and WSLS).
    n_subjects, n_trials, n_sessions : int
        Size of the simulated study (``n_trials``/``n_sessions`` None: the task's defaults).
    folds : int
        Cross-validation folds; trial blocks of every subject are held out (``by="block"``).
    seed : int
        Seeds the simulation, the folds and every fit. Fitting settings (restarts, method,
        device) are the candidates' own constructor settings.

    Returns
    -------
    ExplainResult
        ``.table`` (comparison, best first), ``.best``, ``.params`` (best candidate fitted on all
        the simulated data), ``.plot()``.
    """
    if not isinstance(network, ChoiceModel):
        raise TypeError(f"network must be a fitted ChoiceModel, got {type(network).__name__}")
    candidates = default_candidates() if candidates is None else list(candidates)
    if not candidates:
        raise ValueError("candidates is empty; pass at least one model (or None for the defaults)")
    bad = [type(c).__name__ for c in candidates if not isinstance(c, ChoiceModel)]
    if bad:
        raise TypeError(f"candidates must be ChoiceModel instances, got {bad}")
    data = simulate(network, task, n_subjects, n_trials, n_sessions, seed=seed)
    cv = cross_validate(
        candidates,
        data,
        folds,
        by="block",
        seed=seed,
        in_sample=False,
    )
    table = cv.summary()
    best = str(table.index[0])
    chosen = next(c for c in candidates if c.name == best)
    fitted = fit_quietly(chosen.clone(), data, seed)
    params = fitted.params_ if fitted.capabilities().parameter_table else None
    return ExplainResult(table, best, params, fitted, data, cv)


# ---------------------------------------------------------------------- logit portraits
@dataclass
class PortraitResult:
    """Logit phase portrait of a two-option network.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per visited state and input: ``sequence, step`` (the state: driving sequence and
        trial), ``prev_choice`` (0/1), ``rewarded`` (bool), ``input`` (label, e.g.
        ``"choice 1, reward"``), ``logit`` (L = logit(option 1) - logit(option 0) in that state)
        and ``delta_logit`` (L after feeding the input, minus L).
    """

    table: pd.DataFrame

    def plot(self, ax=None, n_bins: int = 20, points: bool = True):
        """ΔL against L, one marker and line style per input; see
        :func:`choicernn.plots.plot_logit_portrait`. Returns the Axes."""
        from ..plots import plot_logit_portrait

        return plot_logit_portrait(self.table, n_bins=n_bins, points=points, ax=ax)


_INPUTS = [(c, r) for c in (0, 1) for r in (0, 1)]


def _label(choice: int, rewarded: int) -> str:
    return f"choice {choice}, {'reward' if rewarded else 'no reward'}"


def logit_portrait(
    network: ChoiceModel,
    *,
    n_steps: int = 30,
    n_sequences: int = 100,
    reward_values: tuple[float, float] | None = None,
    seed: int = 0,
) -> PortraitResult:
    """Logit phase portrait (Ji-An, Benna & Mattar 2025) of a fitted two-option network.

    The network is driven for ``n_steps`` trials by random inputs (previous choice and reward
    drawn uniformly, independently per sequence). In every state visited (including the initial
    one) each of the four inputs -- previous choice 0/1 x reward/no reward -- is fed in turn from
    that same state, and the change of the logit ``L = logit(option 1) - logit(option 0)`` is
    recorded. Inputs are built by the network's own feature function
    (:func:`choicernn.models.rnn_network.trial_features`, the one used in training), so they are
    exactly what the network sees on data.

    Parameters
    ----------
    network : GRUModel
        Fitted on two-option, partial-feedback data (any size; the portrait is a curve for one
        unit and a cloud for more). With subject embeddings, sequence ``i`` uses fitted subject
        ``i % n_subjects``.
    n_steps : int
        Driving trials per sequence (states visited per sequence: ``n_steps + 1``).
    n_sequences : int
    reward_values : (float, float), optional
        The raw rewards fed for "no reward" and "reward"; default ``(0, reward_scale_)`` (the
        largest absolute reward in the training data).
    seed : int
        Seeds the random driving inputs.

    Returns
    -------
    PortraitResult
        ``.table`` with ``(n_steps + 1) * n_sequences * 4`` rows, ``.plot()``.
    """
    if not isinstance(network, ChoiceModel) or not network.capabilities().network:
        raise TypeError(f"network must be a fitted network model, got {type(network).__name__}")
    network.check_fitted()
    if network.n_options_ != 2:
        raise ValueError(
            f"logit portraits need a two-option network; {network.name} has "
            f"n_options={network.n_options_}"
        )
    if network.uses_outcomes_:
        raise ValueError(
            f"{network.name} was fitted on full-feedback data (the unchosen outcome is an input); "
            f"logit portraits cover previous choice x reward inputs only"
        )
    for arg, value in (("n_steps", n_steps), ("n_sequences", n_sequences)):
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    if reward_values is None:
        reward_values = (0.0, float(network.reward_scale_))
    if len(reward_values) != 2:
        raise ValueError(f"reward_values must be (no reward, reward), got {reward_values!r}")
    agent, _ = network.agent(int(n_sequences))  # a CPU copy of the network and subject rows
    net, index = agent.network.eval(), agent.subject_index
    n = int(n_sequences)

    def features(choice: np.ndarray, rewarded: np.ndarray) -> torch.Tensor:
        rewards = np.where(rewarded > 0, reward_values[1], reward_values[0]).astype(np.float32)
        return trial_features(
            torch.as_tensor(choice, dtype=torch.long),
            torch.as_tensor(rewards),
            None,
            2,
            network.inputs,
            network.reward_scale_,
        )

    def step(x: torch.Tensor, state):
        logits, state = net(x.unsqueeze(1), index, state)
        return logits[:, 0].to(torch.float64), state

    rng = np.random.default_rng(seed)
    drive_choice = rng.integers(0, 2, size=(n, n_steps))
    drive_reward = rng.integers(0, 2, size=(n, n_steps))
    rows = []
    with torch.no_grad():
        n_in = features(np.zeros(1, dtype=int), np.zeros(1)).shape[-1]
        logits, state = step(torch.zeros(n, n_in), None)
        for t in range(n_steps + 1):
            level = (logits[:, 1] - logits[:, 0]).numpy()
            for c, r in _INPUTS:
                after, _ = step(features(np.full(n, c), np.full(n, r)), state)
                delta = (after[:, 1] - after[:, 0]).numpy() - level
                rows.append(
                    pd.DataFrame(
                        {
                            "sequence": np.arange(n),
                            "step": t,
                            "prev_choice": c,
                            "rewarded": bool(r),
                            "input": _label(c, r),
                            "logit": level,
                            "delta_logit": delta,
                        }
                    )
                )
            if t < n_steps:
                logits, state = step(features(drive_choice[:, t], drive_reward[:, t]), state)
    table = pd.concat(rows, ignore_index=True)
    table["input"] = pd.Categorical(table["input"], [_label(c, r) for c, r in _INPUTS])
    return PortraitResult(table)


# ---------------------------------------------------------------------- agreement by value
def _q_values(q_model: ChoiceModel, data: ChoiceData) -> np.ndarray:
    """Q-values before every trial of ``data`` (n_sequences, n_trials, n_options), replayed by
    the fitted model's agent with each sequence's subject parameters."""
    names = [c for c in q_model.params_.columns if c != "subject"]
    subjects = data.sequences["subject"].to_numpy()
    params = q_model.params_.set_index("subject")
    missing = sorted({s for s in subjects if s not in params.index}, key=str)
    if missing:
        raise ValueError(f"q_model was not fitted on subjects {missing[:5]} of data")
    table = params.loc[subjects, names].reset_index(drop=True)
    agent, _ = q_model.agent(len(subjects), params=table, n_options=data.n_options)
    batch = data.tensors()
    choices = batch.choices.numpy()
    rewards = np.nan_to_num(batch.rewards.numpy().astype(float))
    out = np.empty(choices.shape + (data.n_options,))
    for t in range(choices.shape[1]):
        if "q" not in agent.state:
            raise TypeError(f"{q_model.name} has no Q-values (no state named 'q')")
        out[:, t] = agent.state["q"].numpy()
        agent.update(choices[:, t], rewards[:, t])
    return out


def agreement_by_value(
    network: ChoiceModel,
    q_model: ChoiceModel,
    reward_oblivious: ChoiceModel,
    data: ChoiceData,
    *,
    n_bins: int = 5,
) -> pd.DataFrame:
    """Where the network agrees with a Q-model and with a reward-oblivious network (Fintz et al.
    2022), by how clearly one option is best under the Q-model.

    On every observed trial of ``data`` the most probable choice of each model is taken; trials
    are binned by quantiles of the Q-model's value difference ``|Q_best - Q_second|`` (values
    before the trial, replayed with each subject's fitted parameters).

    Parameters
    ----------
    network : ChoiceModel
        The fitted network to explain.
    q_model : QLearning
        Fitted on the subjects of ``data``.
    reward_oblivious : ChoiceModel
        Fitted, e.g. ``GRUModel(inputs="choice_only")``.
    data : ChoiceData
    n_bins : int
        Quantile bins of the value difference (fewer when values tie).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin`` (0 = smallest difference), ``value_diff`` (mean in the bin),
        ``n_trials``, ``agree_q`` and ``agree_oblivious`` (fraction of trials where the network's
        most probable choice equals the Q-model's / the reward-oblivious model's), ``sem_q``,
        ``sem_oblivious`` (binomial standard errors).
    """
    if (
        not isinstance(q_model, ChoiceModel)
        or not q_model.capabilities().parameter_table
        or not q_model.is_fitted()
    ):
        raise TypeError("q_model must be a fitted QLearning model (call fit first)")
    q = _q_values(q_model, data)
    top = np.sort(q, axis=-1)
    diff = data.trial_values(top[..., -1] - top[..., -2])
    best = {
        name: data.trial_values(model.logits(data).argmax(-1))
        for name, model in (("net", network), ("q", q_model), ("obl", reward_oblivious))
    }
    observed = data.to_frame()["choice"].notna().to_numpy()
    frame = pd.DataFrame(
        {
            "value_diff": diff[observed],
            "agree_q": best["net"][observed] == best["q"][observed],
            "agree_oblivious": best["net"][observed] == best["obl"][observed],
        }
    )
    frame["bin"] = pd.qcut(frame["value_diff"], n_bins, labels=False, duplicates="drop")
    out = frame.groupby("bin").agg(
        value_diff=("value_diff", "mean"),
        n_trials=("value_diff", "size"),
        agree_q=("agree_q", "mean"),
        agree_oblivious=("agree_oblivious", "mean"),
    )
    out = out.reset_index()
    for col, sem in (("agree_q", "sem_q"), ("agree_oblivious", "sem_oblivious")):
        out[sem] = np.sqrt(out[col] * (1 - out[col]) / out["n_trials"])
    return out


def plot_agreement(table: pd.DataFrame, ax=None):
    """Agreement with the Q-model and the reward-oblivious model by value difference; see
    :func:`choicernn.plots.plot_agreement`."""
    from ..plots import plot_agreement as draw

    return draw(table, ax=ax)
