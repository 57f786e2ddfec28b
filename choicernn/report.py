"""The markdown report of a study run."""

from __future__ import annotations

import numpy as np
import pandas as pd


def markdown_table(table: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-flavoured markdown table (index included when it is named)."""
    frame = table.reset_index() if table.index.name is not None else table
    cells = []
    for _, row in frame.iterrows():
        out = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                out.append(
                    ""
                    if np.isnan(v)
                    else f"{v:.{digits}g}"
                    if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3)
                    else f"{v:.{digits}f}"
                )
            else:
                out.append(str(v))
        cells.append(out)
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    return "\n".join([head, rule] + ["| " + " | ".join(r) + " |" for r in cells])
