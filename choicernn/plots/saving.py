"""Writing a figure in several formats atomically."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def save_figure(
    fig: Figure | Axes,
    path_stem: str | os.PathLike,
    formats: Sequence[str] = ("pdf", "svg", "png"),
    **savefig_kwargs: Any,
) -> list[Path]:
    """Write ``fig`` as ``<path_stem>.<format>`` for every format, atomically.

    Every format is first written to a hidden temporary file in the target folder (created if
    missing); only when all are written are they renamed into place (``os.replace``), so a
    failure leaves no partial or stale-mixed set of files.

    Parameters
    ----------
    fig : matplotlib.figure.Figure or matplotlib.axes.Axes
        An Axes stands for its figure.
    path_stem : str or path-like
        Path without extension (an extension that names a format, ``fig.pdf``, is dropped).
    formats : sequence of str
        Matplotlib output formats.
    **savefig_kwargs
        Passed to :meth:`~matplotlib.figure.Figure.savefig` (default ``bbox_inches="tight"``;
        ``dpi`` sets the resolution of raster formats).

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of ``formats``.
    """
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    fig = fig.figure if isinstance(fig, Axes) else fig
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure or Axes, got {type(fig).__name__}")
    formats = [formats] if isinstance(formats, str) else list(formats)
    supported = fig.canvas.get_supported_filetypes()
    bad = [f for f in formats if f not in supported]
    if bad or not formats:
        raise ValueError(
            f"formats {bad or formats} are not supported; choose from {sorted(supported)}"
        )
    stem = Path(path_stem)
    if stem.suffix.lstrip(".") in supported:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    targets = [stem.parent / f"{stem.name}.{fmt}" for fmt in formats]
    savefig_kwargs.setdefault("bbox_inches", "tight")
    temps: list[Path] = []
    try:
        for fmt, target in zip(formats, targets):
            temps.append(target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp")
            fig.savefig(temps[-1], format=fmt, **savefig_kwargs)
        for tmp, target in zip(temps, targets):
            os.replace(tmp, target)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise
    return targets
