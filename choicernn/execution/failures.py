"""What the executor reports about units that did not finish."""

from __future__ import annotations

import traceback as tb
from dataclasses import asdict, dataclass
from typing import Any, Literal

import pandas as pd

FailureKind = Literal["error", "worker died"]

FAILURE_COLUMNS = ["unit", "kind", "error", "message", "attempts", "traceback"]


@dataclass(frozen=True)
class UnitFailure:
    """One unit that did not produce a result.

    Attributes
    ----------
    unit : str
        The unit's identity (e.g. ``"model=rw fold=3"``).
    kind : {"error", "worker died"}
        ``"error"``: the unit's own code raised (bad hyper-parameters, a non-finite likelihood);
        ``"worker died"``: the process running it was killed (out of memory, a crash).
    error : str
        Exception type.
    message : str
    attempts : int
        How many times the unit was started.
    traceback : str
        Formatted traceback from the worker (empty when the worker died).
    """

    unit: str
    kind: FailureKind
    error: str
    message: str
    attempts: int
    traceback: str = ""

    @classmethod
    def worker_died(cls, unit: str, exc: BaseException, attempts: int) -> UnitFailure:
        """The failure of a unit whose worker died, from the engine's exception (its message
        on one line: it names the workers' exit codes)."""
        message = " ".join(str(exc).split())[:400]
        return cls(unit, "worker died", type(exc).__name__, message, attempts)

    def describe(self) -> str:
        tries = "once" if self.attempts == 1 else f"{self.attempts} times"
        return f"{self.unit}: {self.kind} ({self.error}: {self.message}); started {tries}"


@dataclass(frozen=True)
class Raised:
    """An exception caught inside a worker, carried back as plain text (always picklable)."""

    error: str
    message: str
    traceback: str

    @classmethod
    def capture(cls, exc: BaseException) -> Raised:
        return cls(type(exc).__name__, str(exc), "".join(tb.format_exception(exc)))


def failure_table(failures: list[UnitFailure]) -> pd.DataFrame:
    """Tidy table of failures, one row per unit: ``unit, kind, error, message, attempts, traceback``."""
    return pd.DataFrame([asdict(f) for f in failures], columns=FAILURE_COLUMNS)


class UnitsFailedError(RuntimeError):
    """Some units of a study failed after the retries allowed; every other unit finished.

    Attributes
    ----------
    failures : pandas.DataFrame
        One row per failed unit (see :class:`UnitFailure`).
    partial : object
        The study's result built from the units that finished (e.g. a
        :class:`~choicernn.CrossValidationResult`), so nothing computed is lost.
    """

    def __init__(self, failures: list[UnitFailure], partial: Any = None, hint: str = "") -> None:
        self._args = (list(failures), partial, hint)
        self.failures = failure_table(failures)
        self.partial = partial
        lines = [f"{len(failures)} unit(s) failed; all other units finished:"]
        lines += [f"  - {f.describe()}" for f in failures]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))

    def __reduce__(self):  # picklable, e.g. when a study runs inside someone else's worker
        return (type(self), self._args)
