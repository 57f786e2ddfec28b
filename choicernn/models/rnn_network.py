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

CellType = Literal["gru", "lstm", "rnn"]
InputKind = Literal["reward", "choice_only"]
CELLS: dict[str, type[nn.RNNBase]] = {"gru": nn.GRU, "lstm": nn.LSTM, "rnn": nn.RNN}


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
    """Recurrent cell(s), a learned initial state, optional subject embeddings, a linear readout.

    Parameters
    ----------
    n_inputs : int
        Per-trial input features (see :func:`n_features`).
    n_options : int
    hidden_size : int
    cell : {"gru", "lstm", "rnn"}
    n_layers : int
    n_subjects : int
        Rows of the embedding table (ignored when ``embedding_dim`` is 0).
    embedding_dim : int
        Size of the per-subject embedding appended to every trial's input; 0 for none. Subjects
        without a row (index ``-1``) get the mean of the fitted subjects' embeddings.
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
    ) -> None:
        super().__init__()
        self.cell = cell
        self.embedding_dim = embedding_dim
        self.rnn = CELLS[cell](n_inputs + embedding_dim, hidden_size, n_layers, batch_first=True)
        self.h0 = nn.Parameter(torch.zeros(n_layers, hidden_size))
        if cell == "lstm":
            self.c0 = nn.Parameter(torch.zeros(n_layers, hidden_size))
        self.readout = nn.Linear(hidden_size, n_options)
        if embedding_dim > 0:
            self.embedding = nn.Embedding(max(n_subjects, 1), embedding_dim)
            nn.init.normal_(self.embedding.weight, std=0.01)

    def subject_vectors(self, subject_index: torch.Tensor) -> torch.Tensor:
        """Embeddings, shape (n, embedding_dim); index ``-1`` gives the mean embedding."""
        weight = self.embedding.weight
        known = weight[subject_index.clamp(min=0)]
        mean = weight.mean(0).expand_as(known)
        return torch.where((subject_index >= 0).unsqueeze(-1), known, mean)

    def initial_state(self, n: int):
        """The learned initial state for ``n`` sequences (a tuple ``(h, c)`` for an LSTM)."""
        h = self.h0.unsqueeze(1).expand(-1, n, -1).contiguous()
        if self.cell == "lstm":
            return h, self.c0.unsqueeze(1).expand(-1, n, -1).contiguous()
        return h

    def forward(self, x: torch.Tensor, subject_index: torch.Tensor | None = None, state=None):
        """Logits (n, n_steps, n_options) and the final state, from inputs (n, n_steps, n_inputs).

        ``state`` continues from an earlier call (agents step one trial at a time); the learned
        initial state is used when it is None.
        """
        n = x.shape[0]
        if self.embedding_dim > 0:
            emb = self.subject_vectors(subject_index).to(x.dtype)
            x = torch.cat([x, emb.unsqueeze(1).expand(-1, x.shape[1], -1)], -1)
        if state is None:
            state = self.initial_state(n)
        out, state = self.rnn(x, state)
        return self.readout(out), state


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
