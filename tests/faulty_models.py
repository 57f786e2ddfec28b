"""Models that fail on purpose, for the executor's fault tests.

They live in a module of their own (not a test file) so that worker processes can import them.
Each fails only while a *switch file* exists, and only on the fold that holds out trial 0 (with
``by="block"``, fold 0: its training data start after trial 0), so a study has exactly one
failing unit and a re-run after removing the switch completes it.
"""

from __future__ import annotations

import os
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
