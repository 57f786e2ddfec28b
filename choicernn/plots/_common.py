"""Shared helpers of the plotting modules: lazy matplotlib, table inputs, styles, ticks, bounds.

Nothing here imports matplotlib or seaborn at import time: :func:`_plt` imports pyplot the
first time a figure is drawn, so ``import choicernn.plots`` stays light.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
MARKER_NAMES = {
    "o": "circle",
    "s": "square",
    "^": "triangle",
    "D": "diamond",
    "v": "down triangle",
    "P": "plus",
    "X": "cross",
    "*": "star",
}
LINESTYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2))]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]
# seaborn's "colorblind" palette (first seven), written out so that no seaborn import is needed
COLORBLIND = ["#0173B2", "#DE8F05", "#029E73", "#D55E00", "#CC78BC", "#CA9161", "#FBAFE4"]


def _plt():
    """``matplotlib.pyplot``, imported on first use (drawing a figure)."""
    import matplotlib.pyplot as plt

    return plt


def _axes(ax: Axes | None, figsize: tuple[float, float] | None = None) -> Axes:
    """``ax``, or the Axes of a new figure when ``ax`` is None (never the current Axes)."""
    if ax is not None:
        return ax
    _, new = _plt().subplots(figsize=figsize, layout="constrained")
    return new


def panel_label(
    ax: Axes, label: str, *, offset: tuple[float, float] = (-28.0, 6.0), **text: Any
) -> Axes:
    """Write a bold panel letter (``"A"``, ``"B"``, ...) above the top-left corner of ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    label : str
        The letter (or any short text).
    offset : (float, float)
        Position in points from the Axes' top-left corner (default: left of the y tick labels,
        just above the Axes).
    **text
        Passed to :meth:`~matplotlib.axes.Axes.text` (e.g. ``fontsize``).

    Returns
    -------
    matplotlib.axes.Axes
        ``ax``.
    """
    from matplotlib.transforms import ScaledTranslation

    shift = ScaledTranslation(offset[0] / 72, offset[1] / 72, ax.figure.dpi_scale_trans)
    text = {"fontsize": "large", "fontweight": "bold", "va": "bottom", "ha": "right", **text}
    ax.text(0.0, 1.0, str(label), transform=ax.transAxes + shift, **text)
    return ax


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
    colours = ["black", *COLORBLIND]
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


def _legend_outside(ax: Axes, **kwargs: Any) -> None:
    """A frameless legend to the right of the Axes, top-aligned."""
    kwargs = {"frameon": False, "loc": "upper left", "bbox_to_anchor": (1.01, 1), **kwargs}
    ax.legend(**kwargs)


def _integer_ticks(ax: Axes, axis: str = "x") -> None:
    """Integer tick positions only (lags, trials, bins)."""
    from matplotlib.ticker import MaxNLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(MaxNLocator(integer=True))


def _category_ticks(ax: Axes, positions: Sequence[float], names: Sequence[Any]) -> None:
    """Category names as x tick labels, rotated when they would not fit side by side.

    The width available to one label is estimated from the Axes width; labels that do not fit
    are rotated 45° (anchored at their right end, under their tick) or, when even that is too
    tight, 90°.
    """
    names = [str(n) for n in names]
    ax.set_xticks(list(positions), names)
    if not names:
        return
    fig = ax.figure
    width_in = ax.get_position().width * fig.get_figwidth()
    low, high = ax.get_xlim()
    slot = width_in / max(abs(high - low), 1.0)  # inches per category (categories 1 apart)
    size_pt = float(ax.xaxis.get_ticklabels()[0].get_fontsize())
    char_in = 0.62 * size_pt / 72  # average glyph width of the default sans-serif font
    line_in = 1.5 * size_pt / 72
    longest = max(len(n) for n in names) * char_in
    if longest <= 0.92 * slot:
        return
    angle = 45 if slot * math.sin(math.radians(45)) >= line_in else 90
    for label in ax.get_xticklabels():
        label.set_rotation(angle)
        label.set_horizontalalignment("right" if angle == 45 else "center")
        label.set_rotation_mode("anchor" if angle == 45 else "default")


def _bounds(bounds: Any) -> dict[str, tuple[float, float]]:
    """Parameter name -> (lower, upper), from a mapping or a parameter table.

    A parameter table is ``model.parameter_table()`` (columns ``name, lower, upper``; a
    ``parameter`` column may stand for ``name``). Infinite bounds are kept (and not drawn).
    """
    if bounds is None:
        return {}
    if isinstance(bounds, pd.DataFrame):
        key = "name" if "name" in bounds.columns else "parameter"
        _require(bounds, "bounds", [key, "lower", "upper"])
        return {str(r[key]): (float(r["lower"]), float(r["upper"])) for _, r in bounds.iterrows()}
    if isinstance(bounds, Mapping):
        out = {}
        for name, pair in bounds.items():
            lower, upper = pair
            out[str(name)] = (float(lower), float(upper))
        return out
    raise TypeError(
        "bounds must be a parameter table (model.parameter_table()) or a dict "
        f"name -> (lower, upper), got {type(bounds).__name__}"
    )


def _near(bound: float, low: float, high: float, reach: float = 0.35) -> bool:
    """Whether ``bound`` lies within the data range widened by ``reach`` of its span."""
    if not np.isfinite(bound):
        return False
    span = max(high - low, abs(high) * 0.1, 1e-9)
    return low - reach * span <= bound <= high + reach * span


def _mark_bounds(
    ax: Axes, bound: tuple[float, float] | None, low: float, high: float, axis: str = "y"
) -> list[float]:
    """Dashed lines at the parameter bounds that lie near the data range; returns those drawn."""
    if bound is None:
        return []
    drawn = [b for b in bound if _near(b, low, high)]
    for b in drawn:
        line = ax.axhline if axis == "y" else ax.axvline
        line(b, color="0.45", linestyle="--", linewidth=0.9, zorder=0)
    return drawn


def _bound_text(bound: tuple[float, float] | None) -> str:
    """``"bounds 0 to 1"`` (empty without bounds)."""
    if bound is None:
        return ""
    return f"bounds {bound[0]:g} to {bound[1]:g}"
