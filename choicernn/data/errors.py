"""The error raised for invalid choice data."""

from __future__ import annotations


class ChoiceDataError(ValueError):
    """Choice data that cannot be used as given.

    The message names the column, the subject and the row (the position in the input
    table, counted from 0) where the problem was found, and how to fix it.
    """
