"""Per-model comparison statistics from a tidy per-subject table of held-out likelihoods."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from .bms import _show, bms

REQUIRED_COLUMNS = ["model", "subject", "nll", "n_trials"]
METRICS = ("nll_per_trial", "nll", "normalized_lik")
_LOWER_IS_BETTER = {"nll_per_trial": True, "nll": True, "normalized_lik": False}


def compare_subjects(
    subject_table: pd.DataFrame,
    *,
    metric: Literal["nll_per_trial", "nll", "normalized_lik"] = "nll_per_trial",
    bms_seed: int = 0,
    reference: str | None = None,
    holm: bool = False,
) -> pd.DataFrame:
    """Compare models scored on the same subjects: means, paired tests and random-effects BMS.

    Parameters
    ----------
    subject_table : pandas.DataFrame
        Tidy, one row per model and subject, with columns ``model``, ``subject``, ``nll``
        (held-out negative log-likelihood summed over the subject's trials, >= 0) and
        ``n_trials`` (> 0). Optional ``nll_per_trial`` and ``normalized_lik`` are used as given;
        when absent they are computed as ``nll / n_trials`` and ``exp(-nll / n_trials)``. Other
        columns (e.g. ``accuracy``) are ignored. Every model must have exactly one row for every
        subject, with the same ``n_trials`` as the other models.
    metric : {"nll_per_trial", "nll", "normalized_lik"}, default "nll_per_trial"
        Per-subject score that picks the best model (lowest mean for the two ``nll`` metrics,
        highest for ``normalized_lik``), orders the rows and enters the paired differences and
        tests.
    bms_seed : int, default 0
        Seed for the Monte Carlo exceedance probabilities of :func:`choicernn.comparison.bms.bms`
        (used with more than two models).
    reference : str, optional
        The model every other is tested against (paired differences and tests); default the
        best model. Give a baseline to test two chosen models against each other.
    holm : bool, default False
        Add ``wilcoxon_p_holm`` and ``ttest_p_holm``: the p-values adjusted for the number of
        comparisons by Holm's step-down method.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``model``, sorted best first (ties broken by model name), with columns

        - ``n_subjects``: subjects scored (the same for every model).
        - ``mean_nll_per_trial``, ``sem_nll_per_trial``: mean over subjects of ``nll_per_trial``
          and its standard error (``std(ddof=1) / sqrt(n_subjects)``; NaN for one subject).
        - ``mean_normalized_lik``, ``sem_normalized_lik``: the same for ``normalized_lik``, the
          geometric-mean probability of the observed choices.
        - ``total_nll``: ``nll`` summed over subjects.
        - ``total_trials``: ``n_trials`` summed over subjects (integer when they all are).
        - ``pooled_nll_per_trial``: ``total_nll / total_trials`` (trial-weighted).
        - ``delta_<metric>`` (``delta_nll_per_trial`` by default): mean over subjects of the
          paired difference ``metric(model) - metric(best)``; 0 for the best model.
        - ``delta_sem``: standard error of those paired differences; 0 for the best model.
        - ``wilcoxon_p``: two-sided :func:`scipy.stats.wilcoxon` signed-rank p-value of the
          paired per-subject metric against the best model (scipy defaults); NaN for the best
          model, 1.0 when every difference is zero.
        - ``ttest_p``: two-sided :func:`scipy.stats.ttest_rel` p-value of the same pairs; NaN
          for the best model and for a single subject, 1.0 when every difference is zero, 0.0
          when every difference is the same nonzero number.
        - ``expected_frequency``, ``exceedance_prob``, ``protected_exceedance_prob``:
          random-effects BMS (:func:`choicernn.comparison.bms.bms`) with log evidence
          ``-nll`` per subject; each sums to 1 over models (all 1.0 for a single model).
        - ``rank``: 1 for the best model, then 2, 3, ...

        ``attrs`` holds ``best_model``, ``metric`` and ``bor`` (Bayesian omnibus risk; NaN for a
        single model).

    Raises
    ------
    TypeError
        If ``subject_table`` is not a DataFrame.
    ValueError
        If a required column is missing, ``metric`` is unknown, a value is invalid, a
        (model, subject) pair is duplicated, a model lacks a subject that another model has, or
        models disagree on a subject's ``n_trials``; messages name the model and subject.
    """
    table = _validate(subject_table, metric)
    models = sorted(table["model"].unique(), key=str)
    wide = {
        col: table.pivot(index="subject", columns="model", values=col)[models]
        for col in ("nll", "n_trials", "nll_per_trial", "normalized_lik")
    }
    score = wide[metric]
    n_subjects = len(score.index)

    lower = _LOWER_IS_BETTER[metric]
    means = score.mean()
    order = sorted(models, key=lambda m: (means[m] if lower else -means[m], str(m)))
    best = order[0]
    if reference is not None:
        if reference not in models:
            raise ValueError(f"reference {reference!r} is not one of the models {models}")
    ref = best if reference is None else reference

    rows = {}
    for model in order:
        diff = (score[model] - score[ref]).to_numpy()
        rows[model] = {
            "n_subjects": n_subjects,
            "mean_nll_per_trial": wide["nll_per_trial"][model].mean(),
            "sem_nll_per_trial": _sem(wide["nll_per_trial"][model].to_numpy()),
            "mean_normalized_lik": wide["normalized_lik"][model].mean(),
            "sem_normalized_lik": _sem(wide["normalized_lik"][model].to_numpy()),
            "total_nll": wide["nll"][model].sum(),
            "total_trials": wide["n_trials"][model].sum(),
            "pooled_nll_per_trial": wide["nll"][model].sum() / wide["n_trials"][model].sum(),
            f"delta_{metric}": 0.0 if model == ref else float(diff.mean()),
            "delta_sem": 0.0 if model == ref or not diff.any() else _sem(diff),
            "wilcoxon_p": np.nan if model == ref else _wilcoxon_p(score[model], score[ref]),
            "ttest_p": np.nan if model == ref else _ttest_p(score[model], score[ref]),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "model"
    if np.all(out["total_trials"] % 1 == 0):
        out["total_trials"] = out["total_trials"].astype(np.int64)

    if len(models) > 1:
        # Models in name order (as pivoted), so the Monte Carlo draws do not depend on the ranking.
        result = bms(-wide["nll"], seed=bms_seed)
        bms_table, bor = result.table.loc[order], result.bor
        for col in ("expected_frequency", "exceedance_prob", "protected_exceedance_prob"):
            out[col] = bms_table[col].to_numpy()
    else:
        bor = np.nan
        for col in ("expected_frequency", "exceedance_prob", "protected_exceedance_prob"):
            out[col] = 1.0
    out["rank"] = np.arange(1, len(order) + 1)
    if holm:
        for col in ("wilcoxon_p", "ttest_p"):
            out[f"{col}_holm"] = holm_adjust(out[col].to_numpy())
    out.attrs.update({"best_model": best, "metric": metric, "bor": bor, "reference": ref})
    return out


def holm_adjust(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment of p-values (NaN entries are left out and kept NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    order = valid[np.argsort(p[valid], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        out[idx] = running
    return out


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean, ``std(ddof=1) / sqrt(n)``; NaN for fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return float("nan")
    return float(np.std(values, ddof=1) / np.sqrt(values.size))


def _wilcoxon_p(x: pd.Series, y: pd.Series) -> float:
    x, y = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    if not np.any(x - y):
        return 1.0
    return float(stats.wilcoxon(x, y).pvalue)


def _ttest_p(x: pd.Series, y: pd.Series) -> float:
    x, y = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    diff = x - y
    if not np.any(diff):
        return 1.0
    if diff.size < 2:
        return float("nan")
    if np.ptp(diff) == 0:  # constant nonzero difference: infinite t statistic
        return 0.0
    return float(stats.ttest_rel(x, y).pvalue)


def _validate(subject_table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Check ``subject_table`` and return a copy with ``nll_per_trial`` and ``normalized_lik``."""
    if not isinstance(subject_table, pd.DataFrame):
        raise TypeError(
            f"subject_table must be a pandas DataFrame, got {type(subject_table).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in subject_table.columns]
    if missing:
        raise ValueError(
            f"subject_table is missing column(s) {missing}; it needs {REQUIRED_COLUMNS} "
            f"(got {list(subject_table.columns)})"
        )
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {list(METRICS)}, got {metric!r}")
    if subject_table.empty:
        raise ValueError("subject_table has no rows")
    table = subject_table.copy()

    for col, ok, rule in (
        ("nll", lambda v: np.isfinite(v) & (v >= 0), "finite and >= 0"),
        ("n_trials", lambda v: np.isfinite(v) & (v > 0), "finite and > 0"),
    ):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~ok(values))
        if bad.size:
            row = table.iloc[bad[0]]
            hint = (
                "; did you pass a log-likelihood instead of its negative?" if col == "nll" else ""
            )
            raise ValueError(
                f"{col} must be {rule}, got {_show(row[col])} for model {_show(row['model'])}, "
                f"subject {_show(row['subject'])}{hint}"
            )
        table[col] = values
    if "nll_per_trial" not in table.columns:
        table["nll_per_trial"] = table["nll"] / table["n_trials"]
    if "normalized_lik" not in table.columns:
        table["normalized_lik"] = np.exp(-table["nll_per_trial"])
    for col in ("nll_per_trial", "normalized_lik"):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            row = table.iloc[bad[0]]
            raise ValueError(
                f"{col} must be finite, got {_show(row[col])} for model {_show(row['model'])}, "
                f"subject {_show(row['subject'])}"
            )
        table[col] = values

    dupes = table.duplicated(["model", "subject"], keep=False)
    if dupes.any():
        row = table[dupes].iloc[0]
        raise ValueError(
            f"subject_table has more than one row for model {_show(row['model'])}, subject "
            f"{_show(row['subject'])}; give one row per model and subject (sum nll and n_trials "
            "over folds first)"
        )

    subjects = pd.unique(table["subject"])
    for model, group in table.groupby("model", sort=False):
        present = set(group["subject"])
        absent = [s for s in subjects if s not in present]
        if absent:
            raise ValueError(
                f"model {_show(model)} has no row for subject {_show(absent[0])}"
                + (f" (and {len(absent) - 1} more subjects)" if len(absent) > 1 else "")
                + "; every model must be scored on the same subjects"
            )
    spread = table.groupby("subject", sort=False)["n_trials"].agg(["min", "max"])
    uneven = spread[spread["min"] != spread["max"]]
    if len(uneven):
        subject = uneven.index[0]
        counts = table[table["subject"] == subject].set_index("model")["n_trials"].to_dict()
        raise ValueError(
            f"models were scored on different numbers of trials for subject {_show(subject)}: "
            f"{counts}; compare models on the same held-out trials"
        )
    return table
