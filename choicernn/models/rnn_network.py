"""The recurrent network behind :class:`~choicernn.GRUModel`: trial inputs, the module, its agent.

Inputs. The network's input on trial ``t`` describes trial ``t-1`` of the same sequence (zeros on
the first trial of a sequence, whose prediction comes from the learned initial state alone)::

    onehot(choice)  K      zeros when trial t-1 was missed
    missed          1      1 when trial t-1 was missed ("no choice"), else 0
    reward          1      reward / reward_scale              (inputs="reward" only)
    onehot * reward K      choice x reward interaction        (inputs="reward" only)
    outcomes        K      every option's payoff / reward_scale (full feedback, inputs="reward")

followed by the subject's embedding vector when the model has one. The same function builds the
features of a whole padded batch (:func:`sequence_inputs`) and of one trial of an agent
(:func:`trial_features`), so an agent stepped trial by trial reproduces the batched logits.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from ..data import SequenceBatch
from .rnn_replicas import ReplicaRNN

CellType = Literal["gru", "lstm", "rnn"]
InputKind = Literal["reward", "choice_only"]
CELLS = ("gru", "lstm", "rnn")


def n_features(n_options: int, inputs: InputKind, outcomes: bool) -> int:
    """Number of per-trial input features (without the subject embedding)."""
    if inputs == "choice_only":
        return n_options + 1
    return 3 * n_options + 2 if outcomes else 2 * n_options + 2


def trial_features(
    choices: torch.Tensor,
    rewards: torch.Tensor,
    outcomes: torch.Tensor | None,
    n_options: int,
    inputs: InputKind,
    reward_scale: float,
) -> torch.Tensor:
    """Features describing one trial, shape ``choices.shape + (n_features,)``.

    ``choices`` holds 0-based options and ``-1`` for a missed trial; a missed trial gives zeros
    everywhere except the ``missed`` flag. ``outcomes`` (shape ``choices.shape + (K,)``) is used
    only when given.
    """
    observed = choices >= 0
    dtype = rewards.dtype
    onehot = nn.functional.one_hot(choices.clamp(min=0), n_options).to(dtype)
    onehot = onehot * observed.unsqueeze(-1).to(dtype)
    missed = (~observed).to(dtype).unsqueeze(-1)
    if inputs == "choice_only":
        return torch.cat([onehot, missed], -1)
    reward = torch.where(observed, rewards, torch.zeros_like(rewards)).unsqueeze(-1) / reward_scale
    parts = [onehot, missed, reward, onehot * reward]
    if outcomes is not None:
        seen = observed.unsqueeze(-1)
        parts.append(torch.where(seen, outcomes, torch.zeros_like(outcomes)) / reward_scale)
    return torch.cat(parts, -1)


def sequence_inputs(
    batch: SequenceBatch, inputs: InputKind, outcomes: bool, reward_scale: float
) -> torch.Tensor:
    """Network inputs for a padded batch, shape (n_sequences, n_trials, n_features).

    Row ``t`` holds the features of trial ``t-1`` (zeros for ``t=0``); padding after a sequence's
    end is never read by the trials of that sequence.
    """
    n_t = batch.n_trials
    positions = torch.arange(n_t, device=batch.device)
    inside = positions.unsqueeze(0) < batch.lengths.unsqueeze(1)
    feats = trial_features(
        batch.choices,
        batch.rewards,
        batch.outcomes if outcomes else None,
        batch.n_options,
        inputs,
        reward_scale,
    )
    # Padding is coded like a missed trial by the batch; zero it (it is never read anyway).
    feats = feats * inside.unsqueeze(-1).to(feats.dtype)
    out = torch.zeros_like(feats)
    out[:, 1:] = feats[:, :-1]
    return out


class ChoiceRNN(nn.Module):
    """The fitted network(s): one pooled network, or one network per subject.

    A thin view of :class:`~choicernn.models.rnn_replicas.ReplicaRNN` (the hand-written
    recurrent cells with a leading replica axis) that maps every sequence to its network:
    replica 0 for a pooled network, the sequence's subject row for per-subject networks.

    Parameters
    ----------
    n_inputs : int
        Per-trial input features (see :func:`n_features`).
    n_options : int
    hidden_size : int
    cell : {"gru", "lstm", "rnn"}
    n_layers : int
    n_subjects : int
        Rows of the embedding table (ignored when ``embedding_dim`` is 0), or the number of
        per-subject networks.
    embedding_dim : int
        Size of the per-subject embedding appended to every trial's input; 0 for none. Subjects
        without a row (index ``-1``) get the mean of the fitted subjects' embeddings.
    per_subject : bool
        One network per subject (``n_subjects`` replicas); sequences of a subject the model was
        not fitted on (index ``-1``) cannot be scored.
    """

    def __init__(
        self,
        n_inputs: int,
        n_options: int,
        hidden_size: int,
        cell: CellType = "gru",
        n_layers: int = 1,
        n_subjects: int = 0,
        embedding_dim: int = 0,
        per_subject: bool = False,
    ) -> None:
        super().__init__()
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.per_subject = per_subject
        n_replicas = max(n_subjects, 1) if per_subject else 1
        self.core = ReplicaRNN(
            n_replicas,
            n_inputs,
            n_options,
            hidden_size,
            cell,
            n_layers,
            n_subjects,
            embedding_dim,
        )

    def _layout(self, x: torch.Tensor, subject_index: torch.Tensor | None):
        """Parameters, inputs (R, S, T, F) and embeddings for the sequences of ``x``."""
        core = self.core
        if self.per_subject:
            if subject_index is None or bool((subject_index < 0).any()):
                raise ValueError("per-subject networks score only the subjects they were fitted on")
            params = {k: v[subject_index] for k, v in core.params().items()}
            return params, x.unsqueeze(1), None
        emb = None
        if self.embedding_dim > 0:
            weight = core.embedding[0]
            known = weight[subject_index.clamp(min=0)]
            mean = weight.mean(0).expand_as(known)
            emb = torch.where((subject_index >= 0).unsqueeze(-1), known, mean).unsqueeze(0)
        return core.params(), x.unsqueeze(0), emb

    def forward(self, x: torch.Tensor, subject_index: torch.Tensor | None = None, state=None):
        """Logits (n, n_steps, n_options) and the final state, from inputs (n, n_steps, n_inputs).

        ``state`` continues from an earlier call (agents step one trial at a time); the learned
        initial state is used when it is None.
        """
        params, xr, emb = self._layout(x, subject_index)
        logits, state, _ = self.core.run(xr.to(params["h0"].dtype), params, emb, state)
        return self._flat(logits), state

    def states(self, x: torch.Tensor, subject_index: torch.Tensor | None = None):
        """Per layer, the state (n, n_steps, H) from which each step's logits are read (LSTM:
        a pair ``(h, c)``)."""
        params, xr, emb = self._layout(x, subject_index)
        _, _, kept = self.core.run(xr.to(params["h0"].dtype), params, emb, keep_states=True)
        if self.cell == "lstm":
            return [(self._flat(h), self._flat(c)) for h, c in kept]
        return [self._flat(h) for h in kept]

    def _flat(self, value: torch.Tensor) -> torch.Tensor:
        return value[:, 0] if self.per_subject else value[0]


class RNNAgent:
    """A fitted recurrent network playing a task for ``n_agents`` simulated subjects at once.

    The network runs on the CPU, one trial per step, in closed loop: :meth:`update` feeds the
    trial's choice, reward (and outcomes) as the next input. A missed trial (choice ``-1``) feeds
    the "no choice" input, exactly as missed trials do when the model scores data.
    """

    def __init__(
        self,
        network: ChoiceRNN,
        n_options: int,
        inputs: InputKind,
        uses_outcomes: bool,
        reward_scale: float,
        subject_index: torch.Tensor | None,
        n_agents: int,
    ) -> None:
        self.network = network
        self.n_options = int(n_options)
        self.n_agents = int(n_agents)
        self.inputs = inputs
        self.uses_outcomes = uses_outcomes
        self.reward_scale = reward_scale
        self.subject_index = subject_index
        self.start_session()

    def _step(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            logits, self._state = self.network(x.unsqueeze(1), self.subject_index, self._state)
        self._logits = logits[:, 0].to(torch.float64)

    def start_session(self) -> None:
        """Reset to the learned initial state and compute the first trial's logits."""
        self._state = None
        n_in = n_features(self.n_options, self.inputs, self.uses_outcomes)
        self._step(torch.zeros(self.n_agents, n_in))

    def logits(self) -> torch.Tensor:
        """Logits of the coming trial, shape (n_agents, n_options)."""
        return self._logits

    def probabilities(self) -> np.ndarray:
        """Choice probabilities of the coming trial, shape (n_agents, n_options)."""
        return torch.softmax(self._logits, -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        """Feed one trial (shapes (n_agents,), (n_agents,), (n_agents, n_options))."""
        choices = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        rewards = torch.as_tensor(np.asarray(rewards, dtype=np.float32))
        if choices.shape != (self.n_agents,) or rewards.shape != (self.n_agents,):
            raise ValueError(
                f"choices and rewards must have shape ({self.n_agents},), got "
                f"{tuple(choices.shape)} and {tuple(rewards.shape)}"
            )
        out = None
        if self.uses_outcomes and self.inputs == "reward":
            if outcomes is None:
                raise ValueError(
                    "this network was fitted with full-feedback outcomes; pass outcomes"
                )
            out = torch.as_tensor(np.asarray(outcomes, dtype=np.float32))
        x = trial_features(choices, rewards, out, self.n_options, self.inputs, self.reward_scale)
        self._step(x)
