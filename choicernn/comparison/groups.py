"""Group comparisons right after the fit: do parameters or held-out fit differ between groups?

A psychiatry study asks, right after fitting, whether a model's parameters differ between
groups (e.g. healthy, depression, bipolar) and whether a model predicts one group worse than the
others. :func:`compare_groups` answers both from any tidy per-subject table with a group column:
``model.results_`` (parameters; covariates of the data are carried into it), or
``cv.subject_table()`` (held-out NLL per choice; covariates carried too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats


def compare_groups(
    table: pd.DataFrame,
    group: str,
    values: Sequence[str] | str,
    *,
    by: str | None = "model",
) -> pd.DataFrame:
    """Per value (and model), group means with SEMs and a test of a difference between groups.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per subject (and model): a ``subject`` column, the ``group`` column and the
        ``values`` columns.
    group : str
        The grouping column (e.g. ``"diag"``); rows with a missing group are left out.
    values : str or sequence of str
        Columns to compare (parameters such as ``"alpha"``, or ``"nll_per_trial"``).
    by : str or None
        Compare within each level of this column (``"model"`` by default; None: the whole table).

    Returns
    -------
    pandas.DataFrame
        One row per (``by`` level,) value and group: ``model`` (when ``by``), ``value``,
        ``group``, ``n``, ``mean``, ``sem``, ``median``, then per (``by`` level,) value the same
        test in every group's row: ``test`` (``"mann-whitney"`` for two groups,
        ``"kruskal-wallis"`` for more), ``statistic``, ``p``.
    """
    values = [values] if isinstance(values, str) else list(values)
    missing = [c for c in [group, *values, *([by] if by else [])] if c not in table.columns]
    if missing:
        raise ValueError(
            f"compare_groups: columns {missing} are not in the table (it has "
            f"{list(table.columns)}); fit with data that carry the covariate "
            f"(read_csv(..., covariates=[{group!r}]))"
        )
    data = table[table[group].notna()]
    parts = [(None, data)] if by is None else list(data.groupby(by, sort=False))
    rows = []
    for level, part in parts:
        for value in values:
            groups = {
                g: part.loc[part[group] == g, value].dropna().to_numpy(float)
                for g in pd.unique(part[group])
            }
            groups = {g: v for g, v in groups.items() if len(v)}
            test, statistic, p = _test(list(groups.values()))
            for g, v in groups.items():
                row = {} if by is None else {by: level}
                sem = float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else np.nan
                row.update(
                    value=value,
                    group=g,
                    n=len(v),
                    mean=float(v.mean()),
                    sem=sem,
                    median=float(np.median(v)),
                    test=test,
                    statistic=statistic,
                    p=p,
                )
                rows.append(row)
    return pd.DataFrame(rows)


def _test(samples: list[np.ndarray]) -> tuple[str, float, float]:
    samples = [s for s in samples if len(s) > 0]
    if len(samples) < 2:
        return "none", np.nan, np.nan
    pooled = np.concatenate(samples)
    if np.all(pooled == pooled[0]):
        return ("mann-whitney" if len(samples) == 2 else "kruskal-wallis"), 0.0, 1.0
    if len(samples) == 2:
        res = stats.mannwhitneyu(samples[0], samples[1], alternative="two-sided")
        return "mann-whitney", float(res.statistic), float(res.pvalue)
    res = stats.kruskal(*samples)
    return "kruskal-wallis", float(res.statistic), float(res.pvalue)
