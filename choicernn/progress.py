"""Whether progress bars are shown: one global setting, never a fit option.

``set_progress(True/False)`` turns bars on or off for every fit and study; ``None`` (the
default) shows them when standard error is a terminal. The ``CHOICERNN_PROGRESS`` environment
variable (``0``/``1``) sets the default for a whole process tree (e.g. worker processes).
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

_SETTING: bool | None = None


def set_progress(enabled: bool | None) -> None:
    """Show progress bars (``True``), hide them (``False``) or decide by the terminal (``None``)."""
    global _SETTING
    if enabled is not None and not isinstance(enabled, bool):
        raise TypeError(f"set_progress takes True, False or None, got {enabled!r}")
    _SETTING = enabled


def show_progress(override: bool | None = None) -> bool:
    """Whether to show a bar: ``override`` if given, else the global setting, else the terminal."""
    if override is not None:
        return bool(override)
    if _SETTING is not None:
        return _SETTING
    env = os.environ.get("CHOICERNN_PROGRESS")
    if env in ("0", "1"):
        return env == "1"
    return sys.stderr.isatty()


@contextmanager
def progress_disabled():
    """Within this block no progress bar is shown (used for inner fits of a study)."""
    global _SETTING
    before = _SETTING
    _SETTING = False
    try:
        yield
    finally:
        _SETTING = before
