"""Shared steps of the dataset loaders: read a file, check its layout, build ChoiceData."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from ..data import ChoiceData, ChoiceDataError


def _show(value: Any) -> str:
    """``repr`` of a cell, numpy scalars shown as plain Python values."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def read_table(path: str | os.PathLike, dataset: str, **read_kwargs: Any) -> pd.DataFrame:
    """``pandas.read_csv(path, **read_kwargs)``, saying which dataset was expected if absent."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"no data file at {path!r}: pass the path of your copy of the {dataset} file."
        )
    return pd.read_csv(path, **read_kwargs)


def require_columns(
    frame: pd.DataFrame,
    columns: Iterable[str],
    dataset: str,
    layout: str,
    path: str | os.PathLike,
) -> None:
    """Raise ChoiceDataError naming the first of ``columns`` that ``frame`` lacks."""
    for col in columns:
        if col not in frame.columns:
            raise ChoiceDataError(
                f"this does not look like the {dataset} file: column {col!r} is missing "
                f"from {os.fspath(path)!r}. "
                f"Expected {layout}; the file has columns {list(map(str, frame.columns))}."
            )


def build(frame: pd.DataFrame, dataset: str, path: str | os.PathLike, **columns: Any) -> ChoiceData:
    """``ChoiceData.from_frame(frame, **columns)``; errors say which file and layout they concern."""
    try:
        return ChoiceData.from_frame(frame, **columns)
    except ChoiceDataError as err:
        raise ChoiceDataError(f"{dataset} file {os.fspath(path)!r}: {err}") from None


def numeric_column(
    frame: pd.DataFrame, col: str, subject_col: str, dataset: str, path: str | os.PathLike
) -> pd.Series:
    """``frame[col]`` as floats; a cell that is not a number raises naming its row and subject."""
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        pos = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
        raise ChoiceDataError(
            f"{dataset} file {os.fspath(path)!r}: column {col!r}: value "
            f"{_show(frame[col].iloc[pos])} at row {pos} (subject "
            f"{_show(frame[subject_col].iloc[pos])}) is not a number."
        )
    return values.astype(float)
