"""Two-step data for a recurrent network: inputs, targets and a two-stage agent.

Time axis. The two stages of every trial are interleaved along time exactly as in
:class:`~choicernn.models.two_step.TwoStepModel`: a sequence of ``T`` trials runs for ``2 T``
network steps, step ``2 t`` predicting the first-stage choice of trial ``t`` and step
``2 t + 1`` its second-stage choice (in the state reached). The logits of a step are read after
the step's input has been taken in, as for single-stage data.

Inputs. The input of a step says what the subject has seen since the previous step and which
stage comes next (``N_TWO_STEP_FEATURES = 10``; names in :data:`TWO_STEP_FEATURE_NAMES`)::

    index  name              stage-1 step 2t (t >= 1):       stage-2 step 2t + 1:
                             trial t-1, all of it            trial t, the state reached
    0      stage2            0                               1
    1, 2   choice1 onehot    c1 of t-1 (zeros if missed)     0
    3      choice1_missed    1 if c1 of t-1 missed           0
    4, 5   state onehot      state of t-1 (zeros if unknown) state of t (zeros if unknown)
    6, 7   choice2 onehot    c2 of t-1 (zeros if missed)     0
    8      choice2_missed    1 if t-1 has no counted c2      0
    9      reward            r of t-1 / reward_scale         0
                             (0 unless c2 observed)

Step 0 (the first trial's first stage) gets zeros: its prediction comes from the learned
initial state. A second-stage choice is "observed" only when its state is known (as in the
scoring of every two-step model); a trial with a missed first stage therefore feeds
``choice1_missed = choice2_missed = 1`` at the next stage-1 step, and zeros but ``stage2 = 1``
at its own stage-2 step. The reward is the data's reward divided by ``reward_scale`` (the
single-stage inputs' convention).

Causality, by construction: the stage-1 logits of trial ``t`` read trials ``< t`` only; the
stage-2 logits of trial ``t`` read trials ``< t`` and the state reached on trial ``t``, never
its second-stage choice or reward. The first-stage choice of trial ``t`` reaches the network
with the rest of the trial, at step ``2 t + 2``, not at the stage-2 step: simulation
(:func:`choicernn.simulate`) asks an agent for second-stage probabilities given the states
only (``second_stage_probabilities(states)``), so an input the agent cannot know there would
make the agent differ from the fitted network. The transition type (common/rare) is read with
the trial's outcome at the next stage-1 step, where it matters for the first-stage choice.
Padding (steps ``>= 2 * lengths``) gets zeros and is never read by a sequence's own steps.

Targets over the ``2 T`` steps hold the choice each step predicts, ``-1`` where not counted
(missed, padding, a second stage without a known state, or every second stage with
``stages="first"``); :func:`two_step_lengths` gives the steps to run.
:class:`TwoStepRNNAgent` feeds the same inputs one step at a time, so an agent replaying data
reproduces the batched logits.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np
import torch
from torch import nn

from ..data import SequenceBatch
from .rnn_network import ChoiceRNN
from .two_step_scoring import check_stages, scored_choices2

#: Names of the input features, in order (see the module docstring).
TWO_STEP_FEATURE_NAMES: tuple[str, ...] = (
    "stage2",
    "choice1_0",
    "choice1_1",
    "choice1_missed",
    "state_0",
    "state_1",
    "choice2_0",
    "choice2_1",
    "choice2_missed",
    "reward",
)
N_TWO_STEP_FEATURES: int = len(TWO_STEP_FEATURE_NAMES)


def _check_scale(reward_scale: float) -> None:
    if isinstance(reward_scale, bool) or not (
        isinstance(reward_scale, numbers.Real) and np.isfinite(reward_scale) and reward_scale > 0
    ):
        raise ValueError(f"reward_scale must be a positive number, got {reward_scale!r}")


def _onehot(values: torch.Tensor, known: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    out = nn.functional.one_hot(values.clamp(min=0).long(), 2).to(dtype)
    return out * known.unsqueeze(-1).to(dtype)


def outcome_features(
    choices: torch.Tensor,
    states: torch.Tensor,
    choices2: torch.Tensor,
    rewards: torch.Tensor,
    reward_scale: float,
) -> torch.Tensor:
    """Stage-1-step input describing whole trials, shape ``choices.shape + (10,)``.

    Parameters
    ----------
    choices, states, choices2 : torch.LongTensor, same shape
        First-stage choice, state reached, second-stage choice; ``-1`` where missed/unknown.
    rewards : torch.Tensor, same shape
        The trial's reward (ignored, and may be NaN, where the second-stage choice is not
        observed).
    reward_scale : float
    """
    dtype = rewards.dtype if rewards.is_floating_point() else torch.float32
    seen1 = choices >= 0
    has_state = states >= 0
    seen2 = (choices2 >= 0) & has_state
    reward = torch.where(seen2, rewards.to(dtype), torch.zeros((), dtype=dtype)) / reward_scale
    return torch.cat(
        [
            torch.zeros(*choices.shape, 1, dtype=dtype, device=choices.device),
            _onehot(choices, seen1, dtype),
            (~seen1).to(dtype).unsqueeze(-1),
            _onehot(states, has_state, dtype),
            _onehot(choices2, seen2, dtype),
            (~seen2).to(dtype).unsqueeze(-1),
            reward.unsqueeze(-1),
        ],
        -1,
    )


def state_features(states: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Stage-2-step input: the state reached (``-1``: unknown), shape ``states.shape + (10,)``."""
    out = torch.zeros(*states.shape, N_TWO_STEP_FEATURES, dtype=dtype, device=states.device)
    out[..., 0] = 1.0
    out[..., 4:6] = _onehot(states, states >= 0, dtype)
    return out


def _check_batch(batch: SequenceBatch) -> None:
    if not isinstance(batch, SequenceBatch) or not batch.is_two_step:
        raise ValueError(
            "two-step network inputs need a two-step SequenceBatch (data.tensors() of data "
            "with state= and choice2= columns)"
        )


def two_step_inputs(batch: SequenceBatch, reward_scale: float) -> torch.Tensor:
    """Network inputs over the interleaved steps, shape (n_sequences, 2 * n_trials, 10).

    Parameters
    ----------
    batch : SequenceBatch
        Two-step data (``data.tensors(device, dtype)``); the inputs take the rewards' dtype.
    reward_scale : float
        Rewards are divided by it (positive).

    Returns
    -------
    torch.Tensor
        Step ``2 t`` holds :func:`outcome_features` of trial ``t - 1`` (zeros for ``t = 0``),
        step ``2 t + 1`` :func:`state_features` of trial ``t``; zeros on padding.
    """
    _check_batch(batch)
    _check_scale(reward_scale)
    n_s, n_t = batch.choices.shape
    inside = torch.arange(n_t, device=batch.device).unsqueeze(0) < batch.lengths.unsqueeze(1)
    keep = inside.unsqueeze(-1).to(batch.rewards.dtype)
    trial = outcome_features(
        batch.choices, batch.states, batch.choices2, batch.rewards, reward_scale
    )
    stage1 = torch.zeros_like(trial)
    stage1[:, 1:] = (trial * keep)[:, :-1]
    stage2 = state_features(batch.states, batch.rewards.dtype) * keep
    return torch.stack([stage1 * keep, stage2], 2).reshape(n_s, 2 * n_t, N_TWO_STEP_FEATURES)


def two_step_targets(batch: SequenceBatch, stages: Literal["both", "first"]) -> torch.Tensor:
    """Choices predicted at each interleaved step, shape (n_sequences, 2 * n_trials), long.

    Step ``2 t`` holds the first-stage choice of trial ``t``, step ``2 t + 1`` its second-stage
    choice; ``-1`` where not counted (missed, padding, second stage without a known state, every
    second stage with ``stages="first"``).
    """
    _check_batch(batch)
    check_stages(stages)
    second = scored_choices2(batch, stages)
    return torch.stack([batch.choices, second], 2).reshape(batch.n_sequences, -1)


def two_step_lengths(batch: SequenceBatch) -> torch.Tensor:
    """Steps to run for each sequence, ``2 * batch.lengths``, shape (n_sequences,)."""
    _check_batch(batch)
    return 2 * batch.lengths


def split_stages(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split interleaved logits (n, 2 T, K) into stage 1 and stage 2, each (n, T, K)."""
    if logits.dim() != 3 or logits.shape[1] % 2:
        raise ValueError(
            f"expected interleaved logits of shape (n, 2 * n_trials, K), got {tuple(logits.shape)}"
        )
    out = logits.unflatten(1, (logits.shape[1] // 2, 2))
    return out[:, :, 0].contiguous(), out[:, :, 1].contiguous()


class TwoStepRNNAgent:
    """A recurrent network playing the two-step task for ``n_agents`` subjects at once.

    Follows the two-stage agent protocol of :mod:`choicernn.simulation`; the network steps on
    the CPU through the inputs of :func:`two_step_inputs`, one step per stage:

    - :meth:`probabilities`: first-stage probabilities of the coming trial;
    - :meth:`second_stage_probabilities` feeds the stage-2 step (the states reached) and returns
      the second-stage probabilities;
    - :meth:`update` feeds the next trial's stage-1 step (the whole trial: first choice, state,
      second choice, reward). When the stage-2 step of the trial was not fed (no
      :meth:`second_stage_probabilities` call, e.g. an agent driven without one), ``update``
      feeds it first from ``states``, so the steps always match the batched inputs.

    Parameters
    ----------
    network : ChoiceRNN
        Built with ``n_inputs = N_TWO_STEP_FEATURES`` and ``n_options = 2``.
    reward_scale : float
        The divisor of rewards used when the network was fitted.
    subject_index : torch.LongTensor or None, shape (n_agents,)
        Subject row of each agent (embeddings, per-subject networks); None for a pooled one.
    n_agents : int
    """

    n_options = 2

    def __init__(
        self,
        network: ChoiceRNN,
        reward_scale: float,
        subject_index: torch.Tensor | None,
        n_agents: int,
    ) -> None:
        _check_scale(reward_scale)
        if isinstance(n_agents, bool) or not isinstance(n_agents, int | np.integer) or n_agents < 1:
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        self.network = network
        self.reward_scale = reward_scale
        self.subject_index = subject_index
        self.n_agents = int(n_agents)
        self.start_session()

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits, self._state = self.network(x.unsqueeze(1), self.subject_index, self._state)
        return logits[:, 0].to(torch.float64)

    def _vector(self, values, name: str, dtype=torch.long) -> torch.Tensor:
        out = torch.as_tensor(np.asarray(values), dtype=dtype)
        if out.shape != (self.n_agents,):
            raise ValueError(f"{name} must have shape ({self.n_agents},), got {tuple(out.shape)}")
        return out

    def start_session(self) -> None:
        """Reset to the learned initial state and compute the first trial's stage-1 logits."""
        self._state = None
        self._states2: torch.Tensor | None = None  # states fed at this trial's stage-2 step
        self._logits2: torch.Tensor | None = None
        self._logits1 = self._step(torch.zeros(self.n_agents, N_TWO_STEP_FEATURES))

    def logits(self) -> torch.Tensor:
        """First-stage logits of the coming trial, shape (n_agents, 2)."""
        return self._logits1

    def probabilities(self) -> np.ndarray:
        """First-stage choice probabilities of the coming trial, shape (n_agents, 2)."""
        return torch.softmax(self._logits1, -1).numpy()

    def second_stage_logits(self, states) -> torch.Tensor:
        """Feed the stage-2 step (``states`` (n_agents,), ``-1`` where unknown) once per trial
        and return the second-stage logits (n_agents, 2); a repeated call with the same states
        returns them again."""
        s = self._vector(states, "states")
        if self._states2 is not None:
            if not torch.equal(s, self._states2):
                raise ValueError(
                    "second_stage_probabilities was already called on this trial with other "
                    "states; call update to finish the trial first"
                )
            return self._logits2
        self._logits2 = self._step(state_features(s))
        self._states2 = s
        return self._logits2

    def second_stage_probabilities(self, states) -> np.ndarray:
        """Second-stage choice probabilities in ``states`` (n_agents,), shape (n_agents, 2).

        Rows with state ``-1`` (first stage missed) are computed from the "no state" input and
        are meaningless.
        """
        return torch.softmax(self.second_stage_logits(states), -1).numpy()

    def update(self, choices, rewards, outcomes=None, *, states=None, choices2=None) -> None:
        """Finish one trial and compute the next trial's stage-1 logits.

        Parameters
        ----------
        choices : array, shape (n_agents,)
            First-stage choices (``-1``: missed).
        rewards : array, shape (n_agents,)
            Rewards (ignored where the second-stage choice is missed; NaN allowed there).
        outcomes : ignored
            The network does not read the payoffs of unchosen options.
        states, choices2 : array, shape (n_agents,), optional
            States reached and second-stage choices (``-1``: unknown/missed). ``states``
            defaults to those given to :meth:`second_stage_probabilities` on this trial (else
            all unknown); ``choices2`` defaults to all missed.
        """
        c1 = self._vector(choices, "choices")
        r = self._vector(np.asarray(rewards, dtype=np.float32), "rewards", torch.float32)
        if states is None:
            s = self._states2 if self._states2 is not None else torch.full_like(c1, -1)
        else:
            s = self._vector(states, "states")
        c2 = torch.full_like(c1, -1) if choices2 is None else self._vector(choices2, "choices2")
        if self._states2 is None:
            self._step(state_features(s))  # the stage-2 step nobody asked for
        elif not torch.equal(s, self._states2):
            raise ValueError(
                "update got other states than second_stage_probabilities on the same trial"
            )
        x = outcome_features(c1, s, c2, r, self.reward_scale)
        self._logits1 = self._step(x)
        self._states2 = None
        self._logits2 = None
