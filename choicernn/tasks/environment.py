"""Seeded environments that step agents through a task, many sequences at once."""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import Task


def _reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    width = hi - lo
    y = np.mod(x - lo, 2 * width)
    return lo + np.where(y > width, 2 * width - y, y)


class Environment:
    """A task running for ``n_sequences`` independent sessions of ``n_trials`` trials.

    Everything random is drawn from ``seed`` when the environment is made, except what depends
    on the agent's choices (criterion reversals), which uses numbers also drawn up front, so the
    same seed gives the same schedule whatever the agent does.

    Attributes
    ----------
    latent : numpy.ndarray, shape (n_sequences, n_trials, n_options)
        Reward probability (binary tasks) or mean payoff (restless task) of each option on each
        trial; for criterion reversals it is filled in as the agent plays: row ``t`` is known
        once trial ``t`` is reached (before its choice), later rows are zero.
    payoffs : numpy.ndarray, shape (n_sequences, n_trials, n_options)
        What each option pays on each trial (for criterion reversals, filled in as played, like
        ``latent``).
    reversals : numpy.ndarray of bool, shape (n_sequences, n_trials)
        Reversal tasks only: ``True`` on the first trial after each reversal.
    common : numpy.ndarray of bool, shape (n_sequences, n_trials)
        Two-step tasks only: whether trial ``t``'s transition is the common one (drawn up
        front, so the same seed gives the same transitions whatever the agent chooses).
    states : numpy.ndarray of int, shape (n_sequences, n_trials)
        Two-step tasks only: the second-stage state reached on each trial played (``-1`` when
        the first stage was missed or the trial is not played yet).
    t : int
        The next trial to play.

    Notes
    -----
    Two-step tasks (Daw et al. 2011) have two stages per trial. ``latent`` and ``payoffs`` then
    have four columns, the second-stage options ``2 * state + option``. A trial is played in
    two calls: :meth:`transition` (the state each first-stage choice leads to; it does not
    advance the trial) and :meth:`step` with the first- and second-stage choices.
    """

    def __init__(self, task: Task, n_sequences: int, n_trials: int, seed: Any = None) -> None:
        if n_sequences < 1 or n_trials < 1:
            raise ValueError("n_sequences and n_trials must be positive")
        self.task = task
        self.n_sequences = int(n_sequences)
        self.n_trials = int(n_trials)
        self.t = 0
        rng = np.random.default_rng(seed)
        s = task.settings
        self._adaptive = task.kind == "reversal" and s["schedule"] == "criterion"
        if task.kind == "two_step":
            shape = (self.n_sequences, self.n_trials, 4)
            self.latent = self._drifting_probs(rng, 4)
            self.payoffs = (rng.random(shape) < self.latent).astype(float)
            self.common = rng.random((self.n_sequences, self.n_trials)) < s["transition_prob"]
            self.states = np.full((self.n_sequences, self.n_trials), -1, dtype=np.int64)
            return
        shape = (self.n_sequences, self.n_trials, task.n_options)
        self._uniform = rng.random(shape)
        if task.kind == "restless":
            self.latent = self._restless_means(rng)
            noise = rng.standard_normal(shape) * s["noise_sd"]
            payoffs = self.latent + noise
            if s["round_payoffs"]:
                payoffs = np.round(payoffs)
            self.payoffs = np.clip(payoffs, *s["payoff_bounds"])
        else:
            if task.kind == "fixed":
                self.latent = self._fixed_probs(rng)
            elif task.kind == "drifting":
                self.latent = self._drifting_probs(rng)
            elif not self._adaptive:
                self.latent = self._fixed_reversal_probs(rng)
            else:
                self.latent = np.zeros(shape)
                self._p = np.tile(np.asarray(s["p_reward"], float), (self.n_sequences, 1))
                self._streak = np.zeros(self.n_sequences, dtype=int)
                self._since = np.zeros(self.n_sequences, dtype=int)
                self._swap_draw = rng.integers(
                    0, task.n_options - 1, size=(self.n_sequences, self.n_trials)
                )
                self.reversals = np.zeros((self.n_sequences, self.n_trials), dtype=bool)
            if not self._adaptive:
                self.payoffs = (self._uniform < self.latent).astype(float)
            else:
                self.payoffs = np.zeros(shape)
                self._reveal(0)

    # -------------------------------------------------------------- schedules
    def _fixed_probs(self, rng: np.random.Generator) -> np.ndarray:
        p = np.asarray(self.task.settings["p_reward"], float)
        probs = np.tile(p, (self.n_sequences, 1))
        if self.task.settings["shuffle_options"]:
            probs = np.take_along_axis(
                probs, rng.permuted(np.tile(np.arange(p.size), (self.n_sequences, 1)), axis=1), 1
            )
        return np.repeat(probs[:, None, :], self.n_trials, axis=1)

    def _fixed_reversal_probs(self, rng: np.random.Generator) -> np.ndarray:
        s, k = self.task.settings, self.task.n_options
        p = np.asarray(s["p_reward"], float)
        out = np.empty((self.n_sequences, self.n_trials, k))
        self.reversals = np.zeros((self.n_sequences, self.n_trials), dtype=bool)
        for i in range(self.n_sequences):  # a handful of reversals per session; cheap
            current = p.copy()
            t = 0
            while t < self.n_trials:
                block = s["reversal_every"] + (
                    int(rng.integers(-s["jitter"], s["jitter"] + 1)) if s["jitter"] else 0
                )
                out[i, t : t + block] = current
                t += block
                if t < self.n_trials:
                    self.reversals[i, t] = True
                    current = self._reverse(current, int(rng.integers(0, k - 1)))
        return out

    @staticmethod
    def _reverse(p: np.ndarray, draw: int) -> np.ndarray:
        """Swap the best option's probability with that of another option (``draw``-th other)."""
        best = int(np.argmax(p))
        others = [j for j in range(p.size) if j != best]
        new = others[draw % len(others)]
        q = p.copy()
        q[best], q[new] = p[new], p[best]
        return q

    def _drifting_probs(self, rng: np.random.Generator, k: int | None = None) -> np.ndarray:
        s, k = self.task.settings, k or self.task.n_options
        lo, hi = s["bounds"]
        if s["initial"] == "uniform":
            start = rng.uniform(lo, hi, size=(self.n_sequences, k))
        else:
            start = np.tile(np.asarray(s["initial"], float), (self.n_sequences, 1))
        steps = rng.standard_normal((self.n_sequences, self.n_trials - 1, k)) * s["step_sd"]
        out = np.empty((self.n_sequences, self.n_trials, k))
        out[:, 0] = start
        for t in range(1, self.n_trials):
            x = out[:, t - 1] + steps[:, t - 1]
            out[:, t] = _reflect(x, lo, hi) if s["boundary"] == "reflect" else np.clip(x, lo, hi)
        return out

    def _restless_means(self, rng: np.random.Generator) -> np.ndarray:
        s, k = self.task.settings, self.task.n_options
        lo, hi = s["payoff_bounds"]
        out = np.empty((self.n_sequences, self.n_trials, k))
        out[:, 0] = np.clip(
            s["decay_center"] + rng.standard_normal((self.n_sequences, k)) * s["initial_sd"], lo, hi
        )
        steps = rng.standard_normal((self.n_sequences, self.n_trials - 1, k)) * s["drift_sd"]
        for t in range(1, self.n_trials):
            out[:, t] = (
                s["decay"] * out[:, t - 1] + (1 - s["decay"]) * s["decay_center"] + steps[:, t - 1]
            )
        return out

    # -------------------------------------------------------------- stepping
    def _choices(self, raw: np.ndarray, name: str = "choices") -> np.ndarray:
        """Validated 0-based option codes (-1 = missed) of one trial, as int64."""
        raw = np.asarray(raw)
        if raw.dtype.kind not in "iuf":
            raise TypeError(f"{name} must be integer option codes, got dtype {raw.dtype}")
        if raw.shape != (self.n_sequences,):
            raise ValueError(f"{name} must have shape ({self.n_sequences},), got {raw.shape}")
        if raw.dtype.kind == "f" and not np.array_equal(raw, np.round(raw)):
            bad = raw[~(raw == np.round(raw))]
            raise ValueError(f"{name} must be whole option codes, got {bad[:5].tolist()}")
        choices = raw.astype(np.int64)
        out = (choices < -1) | (choices >= self.task.n_options)
        if out.any():
            raise ValueError(
                f"{name} must be in -1..{self.task.n_options - 1} (-1: missed trial), got "
                f"{choices[out][:5].tolist()} at sequences {np.flatnonzero(out)[:5].tolist()}"
            )
        return choices

    def _check_running(self) -> None:
        if self.t >= self.n_trials:
            raise RuntimeError(f"the environment has run all its {self.n_trials} trials")

    def transition(self, choices: np.ndarray) -> np.ndarray:
        """Two-step tasks: the second-stage state each first-stage choice of trial ``t`` leads to.

        Parameters
        ----------
        choices : numpy.ndarray of int, shape (n_sequences,)
            First-stage choices (0-based; -1 for a missed trial).

        Returns
        -------
        numpy.ndarray of int, shape (n_sequences,)
            ``choice`` after a common transition, the other state after a rare one; ``-1``
            where the first stage was missed. The trial is not advanced: call :meth:`step`.
        """
        if self.task.kind != "two_step":
            raise TypeError(f"task {self.task.name!r} has one stage: it has no transitions")
        self._check_running()
        choices = self._choices(choices)
        common = self.common[:, self.t]
        return np.where(choices < 0, -1, np.where(common, choices, 1 - choices))

    def step(
        self, choices: np.ndarray, choices2: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Play trial ``t`` with ``choices`` (shape (n_sequences,), 0-based; -1 for a missed trial).

        Two-step tasks also take ``choices2``, the second-stage choices (0 or 1 within the
        state that :meth:`transition` gives; -1 for a missed second stage, and wherever the
        first stage was missed).

        Returns
        -------
        rewards : numpy.ndarray, shape (n_sequences,)
            Payoff of the chosen option (0 on a missed trial, or a missed second stage).
        outcomes : numpy.ndarray, shape (n_sequences, n_options)
            Payoff every option gave on this trial; two-step tasks: every second-stage option
            of the state reached (NaN where the first stage was missed).
        """
        self._check_running()
        if self.task.kind == "two_step":
            return self._step_two(choices, choices2)
        if choices2 is not None:
            raise TypeError(f"task {self.task.name!r} has one stage: do not pass choices2")
        choices = self._choices(choices)
        t = self.t
        outcomes = self._coded(self.payoffs[:, t])
        rewards = np.where(
            choices >= 0, outcomes[np.arange(self.n_sequences), choices.clip(0)], 0.0
        )
        outcomes = outcomes.copy()
        if self._adaptive:
            self._advance_criterion(choices, t)
            if t + 1 < self.n_trials:
                self._reveal(t + 1)
        self.t += 1
        return rewards, outcomes

    def _coded(self, payoffs: np.ndarray) -> np.ndarray:
        """Binary payoffs (0 = no reward, 1 = reward) in the task's ``reward_values``."""
        values = self.task.reward_values
        if values is None or self.task.reward_kind != "binary":
            return payoffs
        lose, win = values
        return np.where(payoffs > 0, float(win), float(lose))

    def _step_two(self, choices, choices2) -> tuple[np.ndarray, np.ndarray]:
        if choices2 is None:
            raise TypeError(
                f"task {self.task.name!r} is a two-step task: pass the second-stage choices, "
                f"step(choices, choices2)"
            )
        states = self.transition(choices)
        choices2 = self._choices(choices2, "choices2")
        orphan = (states < 0) & (choices2 >= 0)
        if orphan.any():
            raise ValueError(
                f"choices2 must be -1 where the first stage was missed; sequences "
                f"{np.flatnonzero(orphan)[:5].tolist()} have a second-stage choice without a "
                f"first-stage one"
            )
        t, rows = self.t, np.arange(self.n_sequences)
        payoffs = self._coded(self.payoffs[:, t]).reshape(self.n_sequences, 2, 2)
        outcomes = np.where((states >= 0)[:, None], payoffs[rows, states.clip(0)], np.nan)
        rewards = np.where(choices2 >= 0, outcomes[rows, choices2.clip(0)], 0.0)
        self.states[:, t] = states
        self.t += 1
        return rewards, outcomes

    def _reveal(self, t: int) -> None:
        """Criterion schedule: set trial ``t``'s probabilities and payoffs from the state now."""
        self.latent[:, t] = self._p
        self.payoffs[:, t] = (self._uniform[:, t] < self._p).astype(float)

    def _advance_criterion(self, choices: np.ndarray, t: int) -> None:
        s = self.task.settings
        best = np.argmax(self._p, axis=1)
        self._streak = np.where(choices == best, self._streak + 1, 0)
        self._since += 1
        flip = (self._streak >= s["criterion"]) & (self._since >= s["min_block"])
        for i in np.flatnonzero(flip):
            self._p[i] = self._reverse(self._p[i], int(self._swap_draw[i, t]))
            if t + 1 < self.n_trials:
                self.reversals[i, t + 1] = True
        self._streak[flip] = 0
        self._since[flip] = 0
