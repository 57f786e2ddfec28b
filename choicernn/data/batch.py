"""Padded tensors of choice sequences, the form every model computes on."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch


@dataclass(frozen=True)
class SequenceBatch:
    """Choice sequences padded to a common length; one sequence per subject-session.

    Attributes
    ----------
    choices : torch.LongTensor, shape (n_sequences, n_trials)
        0-based option chosen; ``-1`` on missed trials and on padding.
    rewards : torch.Tensor, shape (n_sequences, n_trials)
        Reward of the chosen option; ``0`` on missed trials and padding.
    mask : torch.BoolTensor, shape (n_sequences, n_trials)
        ``True`` where a choice was observed. Masked trials neither count nor update a model.
    lengths : torch.LongTensor, shape (n_sequences,)
        Number of recorded trials (observed or missed) in each sequence.
    subject_index : torch.LongTensor, shape (n_sequences,)
        Position of each sequence's subject in :attr:`ChoiceData.subjects`.
    n_options : int
        Number of options K.
    outcomes : torch.Tensor or None, shape (n_sequences, n_trials, n_options)
        Payoff every option would have given (full-feedback tasks); ``None`` otherwise.
    states : torch.LongTensor or None, shape (n_sequences, n_trials)
        Two-step data: the second-stage state reached (0 or 1; state 0 is the common state of
        first-stage option 0); ``-1`` where unknown, missed or padding. ``None`` otherwise.
    choices2 : torch.LongTensor or None, shape (n_sequences, n_trials)
        Two-step data: the second-stage choice (0 or 1, within the state); ``-1`` where missed
        or padding. ``None`` otherwise. ``choices`` holds the first-stage choices and
        ``rewards`` the trial's reward (0 where the second stage was missed).
    """

    choices: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    subject_index: torch.Tensor
    n_options: int
    outcomes: torch.Tensor | None = None
    states: torch.Tensor | None = None
    choices2: torch.Tensor | None = None

    @property
    def is_two_step(self) -> bool:
        return self.choices2 is not None

    @property
    def n_sequences(self) -> int:
        return int(self.choices.shape[0])

    @property
    def n_trials(self) -> int:
        return int(self.choices.shape[1])

    @property
    def device(self) -> torch.device:
        return self.choices.device

    def onehot(self, dtype: torch.dtype | None = None) -> torch.Tensor:
        """One-hot choices, shape (n_sequences, n_trials, n_options); zero rows where masked."""
        dtype = dtype or self.rewards.dtype
        out = torch.zeros(*self.choices.shape, self.n_options, dtype=dtype, device=self.device)
        out.scatter_(-1, self.choices.clamp(min=0).unsqueeze(-1), 1.0)
        return out * self.mask.unsqueeze(-1).to(dtype)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None):
        """Move to ``device`` and cast the float tensors to ``dtype``."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                cast = dtype if (dtype is not None and value.is_floating_point()) else None
                changes[f.name] = value.to(device=device, dtype=cast)
        return replace(self, **changes)

    def select(self, index: torch.Tensor) -> SequenceBatch:
        """The sequences at ``index`` (a LongTensor of sequence positions), in that order."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                changes[f.name] = value.index_select(0, index.to(value.device))
        return replace(self, **changes)

    def repeat(self, times: int) -> SequenceBatch:
        """Stack ``times`` copies along the sequence axis (copy r holds rows r*n .. (r+1)*n-1)."""
        index = torch.arange(self.n_sequences, device=self.device).repeat(times)
        return self.select(index)
