"""Models that fail on purpose, for the executor's fault tests.

They live in a module of their own (not a test file) so that worker processes can import them.
Each fails only while a *switch file* exists, and only on the fold that holds out trial 0 (with
``by="block"``, fold 0: its training data start after trial 0), so a study has exactly one
failing unit and a re-run after removing the switch completes it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from choicernn import WSLS


def _fold_zero(data) -> bool:
    return int(data.to_frame()["trial"].min()) > 0


class RaisingWSLS(WSLS):
    """Raises in ``fit`` on fold 0 while ``switch`` exists; with ``rows``, instead on data of
    exactly that many trials (e.g. all the data: the in-sample fit)."""

    def __init__(self, switch: str, rows: int | None = None, name: str = "raising_wsls") -> None:
        super().__init__(name=name)
        self.switch = switch
        self.rows = rows

    def fit(self, data, **options):
        hit = _fold_zero(data) if self.rows is None else len(data) == self.rows
        if Path(self.switch).exists() and hit:
            raise ValueError("bad hyper-parameters on purpose")
        return super().fit(data, **options)


class DyingWSLS(WSLS):
    """Kills its worker process in ``fit`` on fold 0 while ``switch`` exists.

    With ``once=True`` it deletes the switch before dying, so the retry succeeds.
    """

    def __init__(self, switch: str, once: bool = False, name: str = "dying_wsls") -> None:
        super().__init__(name=name)
        self.switch = switch
        self.once = once

    def fit(self, data, **options):
        if Path(self.switch).exists() and _fold_zero(data):
            if self.once:
                Path(self.switch).unlink()
            os._exit(3)
        return super().fit(data, **options)


class NaNWSLS(WSLS):
    """Predicts NaN logits for every trial."""

    def __init__(self, name: str = "nan_wsls") -> None:
        super().__init__(name=name)

    def logits(self, data, **options):
        out = super().logits(data, **options)
        return torch.full_like(out, float("nan"))


def _dies_here(switch: str) -> bool:
    """Whether this process must die now: ``switch`` exists and does not name this process
    (the test writes its own pid into it, so the process that pickles never dies)."""
    try:
        text = Path(switch).read_text().strip()
    except FileNotFoundError:
        return False
    return text != str(os.getpid())


def _die_once(switch: str) -> None:
    """Kill this process (exit code 3) the first time; the switch is removed first."""
    try:
        Path(switch).unlink()
    except FileNotFoundError:  # another worker took the death
        return
    os._exit(3)


class DiesWhenUnpickledWSLS(WSLS):
    """Kills the worker that *receives* it (while the task is unpickled, before the unit
    starts) while ``switch`` exists and names another process; with ``once=True`` only once."""

    def __init__(self, switch: str, once: bool = True, name: str = "early_wsls") -> None:
        super().__init__(name=name)
        self.switch = switch
        self.once = once

    def __setstate__(self, state):
        self.__dict__.update(state)
        if _dies_here(self.switch):
            if self.once:
                _die_once(self.switch)
            else:
                os._exit(3)


class DiesWhenUnpickled:
    """Shared data for :meth:`choicernn.Executor.run` that kills the worker loading it (in the
    worker's start-up, before its initializer) while ``switch`` names another process."""

    def __init__(self, switch: str, once: bool = True) -> None:
        self.switch = switch
        self.once = once

    def __setstate__(self, state):
        self.__dict__.update(state)
        if _dies_here(self.switch):
            if self.once:
                _die_once(self.switch)
            else:
                os._exit(3)


def double(shared, unit):
    """A trivial unit of work: ``2 * unit``."""
    return 2 * unit


class SlowWSLS(WSLS):
    """Writes its worker's pid into ``pid_dir`` and then sleeps ``seconds`` in ``fit`` (a unit
    that is still running when its study is killed)."""

    def __init__(self, pid_dir: str, seconds: float = 60.0, name: str = "slow_wsls") -> None:
        super().__init__(name=name)
        self.pid_dir = pid_dir
        self.seconds = seconds

    def fit(self, data, **options):
        Path(self.pid_dir, str(os.getpid())).touch()
        time.sleep(self.seconds)
        return super().fit(data, **options)
