"""How many recurrent units a data set needs: the dimensionality estimate of Ji-An et al.

Ji-An, Benna & Mattar (2025) train networks of 1, 2, 3, ... units and call the behaviour
``d``-dimensional when a ``d``-unit network predicts held-out choices as well as any larger
one: the estimate is the smallest ``d`` that no larger size beats by a paired test.
:func:`estimate_dimensionality` reads that from a cross-validation of networks of several
sizes (:func:`choicernn.cross_validate`), pairing them by subject.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

TestKind = Literal["wilcoxon", "t"]


def _one_sided_p(worse: np.ndarray, better: np.ndarray, test: TestKind) -> float:
    """p-value of "``better`` has lower NLL than ``worse``" (paired, one-sided)."""
    diff = np.asarray(worse, dtype=float) - np.asarray(better, dtype=float)
    if len(diff) < 2 or np.allclose(diff, 0.0):
        return 1.0
    if test == "t":
        if np.std(diff) == 0:
            return 0.0 if diff.mean() > 0 else 1.0
        return float(stats.ttest_1samp(diff, 0.0, alternative="greater").pvalue)
    return float(stats.wilcoxon(diff, alternative="greater", zero_method="wilcox").pvalue)


def estimate_dimensionality(
    cv_result: Any,
    models_by_size: Mapping[int, str],
    *,
    alpha: float = 0.05,
    test: TestKind = "wilcoxon",
) -> pd.DataFrame:
    """The smallest network size that no larger size beats on held-out choices.

    Parameters
    ----------
    cv_result : CrossValidationResult
        A cross-validation that includes the networks named in ``models_by_size`` (same
        folds for all, every fold finished).
    models_by_size : mapping of int to str
        Number of units (or latent dimensions) -> model name in ``cv_result``, e.g.
        ``{1: "gru1", 2: "gru2", 3: "gru3", 4: "gru4"}``.
    alpha : float
        Level of each one-sided paired test (no correction: a larger size has to beat a
        smaller one clearly, the conservative direction for a "smallest size" estimate).
    test : {"wilcoxon", "t"}
        Paired test over subjects of their held-out NLL per choice (Wilcoxon signed-rank, or a
        t-test on the differences).

    Returns
    -------
    pandas.DataFrame
        One row per size, smallest first: ``size, model, nll_per_trial`` (pooled over held-out
        choices), ``mean_nll`` (mean over subjects of the NLL per choice), ``n_subjects``,
        ``p_beaten`` (the smallest p-value of "a larger size has lower NLL"; NaN for the
        largest), ``beaten_by`` (the larger size with that p-value, or -1), ``beaten`` (that
        p-value is below ``alpha``), ``selected`` (True on the estimate). The estimate is also
        ``table.attrs["dimensionality"]``.

    Examples
    --------
    >>> cv = cr.cross_validate([cr.GRUModel(d, name=f"gru{d}") for d in (1, 2, 3, 4)], data)
    ... # doctest: +SKIP
    >>> estimate_dimensionality(cv, {d: f"gru{d}" for d in (1, 2, 3, 4)})   # doctest: +SKIP
    """
    if not isinstance(models_by_size, Mapping) or not models_by_size:
        raise ValueError("models_by_size must be a non-empty mapping {size: model name}")
    bad = [s for s in models_by_size if isinstance(s, bool) or not isinstance(s, int | np.integer)]
    if bad:
        raise ValueError(f"sizes must be integers, got {bad}")
    if test not in ("wilcoxon", "t"):
        raise ValueError(f"test must be 'wilcoxon' or 't', got {test!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    available = list(getattr(cv_result, "models", []))
    missing = [m for m in models_by_size.values() if m not in available]
    if missing:
        raise ValueError(
            f"models {missing} have no complete result in the cross-validation; it has {available}"
        )
    subjects = cv_result.subject_table()
    sizes = sorted(int(s) for s in models_by_size)
    names = [models_by_size[s] for s in sizes]
    wide = subjects.pivot(index="subject", columns="model", values="nll_per_trial")[names]
    wide = wide.dropna()
    totals = subjects.groupby("model")[["nll", "n_trials"]].sum()
    rows = []
    for i, (size, name) in enumerate(zip(sizes, names, strict=True)):
        p_best, by = np.nan, -1
        for larger, other in zip(sizes[i + 1 :], names[i + 1 :], strict=True):
            p = _one_sided_p(wide[name].to_numpy(), wide[other].to_numpy(), test)
            if np.isnan(p_best) or p < p_best:
                p_best, by = p, larger
        rows.append(
            {
                "size": size,
                "model": name,
                "nll_per_trial": float(totals.loc[name, "nll"] / totals.loc[name, "n_trials"]),
                "mean_nll": float(wide[name].mean()),
                "n_subjects": len(wide),
                "p_beaten": p_best,
                "beaten_by": by,
                "beaten": bool(p_best < alpha) if not np.isnan(p_best) else False,
            }
        )
    table = pd.DataFrame(rows)
    estimate = int(table.loc[~table["beaten"], "size"].iloc[0])
    table["selected"] = table["size"] == estimate
    table.attrs["dimensionality"] = estimate
    return table
