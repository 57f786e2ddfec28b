"""Shared helpers of the plotting modules: table inputs, per-source styles, error bars."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]


def _axes(ax: Axes | None) -> Axes:
    return plt.gca() if ax is None else ax


def _as_table(obj: Any, name: str) -> pd.DataFrame:
    """A DataFrame, or the ``.table`` of a result object."""
    if isinstance(obj, pd.DataFrame):
        return obj
    table = getattr(obj, "table", None)
    if isinstance(table, pd.DataFrame):
        return table
    raise TypeError(
        f"{name} must be a DataFrame or have a .table DataFrame, got {type(obj).__name__}"
    )


def _require(table: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(table.columns)}")


def _sources(tables: Any, name: str, columns: Sequence[str]) -> tuple[pd.DataFrame, list]:
    """One table with a ``source`` column (from a dict of tables, or given), and the sources."""
    if isinstance(tables, Mapping):
        if not tables:
            raise ValueError(f"{name} is an empty dict; give at least one table")
        parts = [_as_table(t, f"{name}[{k!r}]").assign(source=k) for k, t in tables.items()]
        table = pd.concat(parts, ignore_index=True)
    else:
        table = _as_table(tables, name)
        if "source" not in table.columns:
            table = table.assign(source="data")
    _require(table, name, [*columns, "source"])
    return table, list(pd.unique(table["source"]))


def _style(i: int) -> dict[str, Any]:
    """Colour, marker, line style and hatch of the i-th source (the first is black)."""
    colours = ["black", *sns.color_palette("colorblind", 8)[:7]]
    shift = i // len(colours)  # past 8 sources, colours repeat with other hatches and markers
    return {
        "color": colours[i % len(colours)],
        "marker": MARKERS[(i + shift) % len(MARKERS)],
        "linestyle": LINESTYLES[(i + shift) % len(LINESTYLES)],
        "hatch": HATCHES[(i + shift) % len(HATCHES)],
    }


def _yerr(summary: pd.DataFrame) -> np.ndarray:
    """Error bar lengths below and above the mean (0 where the interval is undefined)."""
    low = (summary["mean"] - summary["ci_low"]).to_numpy(dtype=float)
    high = (summary["ci_high"] - summary["mean"]).to_numpy(dtype=float)
    return np.nan_to_num(np.vstack([low, high]))
