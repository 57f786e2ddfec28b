"""Per-model comparison table: ranking, paired statistics, BMS columns, invariants, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from choicernn.comparison.bms import bms
from choicernn.comparison.statistics import compare_subjects

COLUMNS = [
    "n_subjects",
    "mean_nll_per_trial",
    "sem_nll_per_trial",
    "mean_normalized_lik",
    "sem_normalized_lik",
    "total_nll",
    "total_trials",
    "pooled_nll_per_trial",
    "delta_nll_per_trial",
    "delta_sem",
    "wilcoxon_p",
    "ttest_p",
    "expected_frequency",
    "exceedance_prob",
    "protected_exceedance_prob",
    "rank",
]


def constructed_table(rng, n_subjects=12):
    """Held-out nll per subject: the generating model scores best, a lesion and chance worse."""
    n_trials = rng.integers(80, 200, size=n_subjects)
    base = n_trials * rng.uniform(0.45, 0.6, size=n_subjects)
    nll = {
        "generating": base,
        "lesioned": base + n_trials * rng.uniform(0.02, 0.08, size=n_subjects),
        "chance": n_trials * np.log(2) + rng.normal(0, 1, size=n_subjects),
    }
    rows = [
        {"model": m, "subject": f"s{i:02d}", "nll": v[i], "n_trials": int(n_trials[i])}
        for m, v in nll.items()
        for i in range(n_subjects)
    ]
    frame = pd.DataFrame(rows).sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["accuracy"] = 0.6  # extra columns are ignored
    return frame


def wide(frame, col):
    return frame.assign(
        nll_per_trial=frame["nll"] / frame["n_trials"],
    ).pivot(index="subject", columns="model", values=col)


def test_generating_model_ranks_first(rng):
    frame = constructed_table(rng)
    out = compare_subjects(frame)
    assert list(out.columns) == COLUMNS
    assert list(out.index) == ["generating", "lesioned", "chance"]
    assert out.index.name == "model"
    assert list(out["rank"]) == [1, 2, 3]
    assert out.attrs["best_model"] == "generating"
    assert (out["n_subjects"] == 12).all()
    assert out.loc["generating", "protected_exceedance_prob"] > 0.95
    assert (out["delta_nll_per_trial"].iloc[1:] > 0).all()


def test_summaries_match_direct_computation(rng):
    frame = constructed_table(rng)
    out = compare_subjects(frame)
    per_trial = wide(frame, "nll_per_trial")
    for model in out.index:
        x = per_trial[model]
        assert out.loc[model, "mean_nll_per_trial"] == pytest.approx(x.mean(), rel=1e-12)
        assert out.loc[model, "sem_nll_per_trial"] == pytest.approx(x.sem(), rel=1e-12)
        lik = np.exp(-x)
        assert out.loc[model, "mean_normalized_lik"] == pytest.approx(lik.mean(), rel=1e-12)
        assert out.loc[model, "sem_normalized_lik"] == pytest.approx(lik.sem(), rel=1e-12)
        rows = frame[frame["model"] == model]
        assert out.loc[model, "total_nll"] == pytest.approx(rows["nll"].sum(), rel=1e-12)
        assert out.loc[model, "total_trials"] == rows["n_trials"].sum()
        assert out.loc[model, "pooled_nll_per_trial"] == pytest.approx(
            rows["nll"].sum() / rows["n_trials"].sum(), rel=1e-12
        )


def test_paired_statistics_match_scipy(rng):
    frame = constructed_table(rng)
    out = compare_subjects(frame)
    per_trial = wide(frame, "nll_per_trial")
    best = per_trial["generating"]
    for model in ["lesioned", "chance"]:
        x = per_trial[model]
        diff = x - best
        assert out.loc[model, "delta_nll_per_trial"] == pytest.approx(diff.mean(), rel=1e-12)
        assert out.loc[model, "delta_sem"] == pytest.approx(diff.sem(), rel=1e-12)
        assert out.loc[model, "wilcoxon_p"] == stats.wilcoxon(x, best).pvalue
        assert out.loc[model, "ttest_p"] == stats.ttest_rel(x, best).pvalue
    assert out.loc["generating", "delta_nll_per_trial"] == 0.0
    assert out.loc["generating", "delta_sem"] == 0.0
    assert np.isnan(out.loc["generating", "wilcoxon_p"])
    assert np.isnan(out.loc["generating", "ttest_p"])


def test_bms_columns_match_bms_on_negative_nll(rng):
    frame = constructed_table(rng)
    out = compare_subjects(frame, bms_seed=5)
    direct = bms(-wide(frame, "nll"), seed=5)
    for col in ["expected_frequency", "exceedance_prob", "protected_exceedance_prob"]:
        np.testing.assert_allclose(out[col], direct.table.loc[out.index, col], atol=1e-12)
        assert out[col].sum() == pytest.approx(1.0, abs=1e-12)
    assert out.attrs["bor"] == pytest.approx(direct.bor, abs=1e-12)


def test_model_compared_with_itself_has_zero_difference(rng):
    frame = constructed_table(rng)
    frame = frame[frame["model"] == "generating"]
    twin = pd.concat([frame, frame.assign(model="twin")], ignore_index=True)
    out = compare_subjects(twin)
    for model in out.index:
        assert out.loc[model, "delta_nll_per_trial"] == 0.0
        assert out.loc[model, "delta_sem"] == 0.0
    assert out.loc["twin", "wilcoxon_p"] == 1.0
    assert out.loc["twin", "ttest_p"] == 1.0
    np.testing.assert_allclose(out["expected_frequency"], 0.5, atol=1e-12)
    np.testing.assert_allclose(out["protected_exceedance_prob"], 0.5, atol=1e-12)


def test_constant_nonzero_difference_gives_zero_ttest_p():
    frame = pd.DataFrame(
        {
            "model": ["a"] * 4 + ["b"] * 4,
            "subject": list("wxyz") * 2,
            "nll": [50.0, 60.0, 55.0, 52.0, 60.0, 70.0, 65.0, 62.0],
            "n_trials": [100] * 8,
        }
    )
    out = compare_subjects(frame)
    assert out.loc["b", "ttest_p"] == 0.0
    assert out.loc["b", "wilcoxon_p"] == stats.wilcoxon([0.1] * 4).pvalue
    assert out.loc["b", "delta_sem"] == pytest.approx(0.0, abs=1e-15)


def test_given_per_trial_columns_are_used_and_input_not_mutated(rng):
    frame = constructed_table(rng)
    before = frame.copy()
    out = compare_subjects(frame)
    pd.testing.assert_frame_equal(frame, before)
    full = frame.assign(
        nll_per_trial=frame["nll"] / frame["n_trials"],
        normalized_lik=np.exp(-frame["nll"] / frame["n_trials"]),
    )
    pd.testing.assert_frame_equal(out, compare_subjects(full))


def test_other_metrics(rng):
    frame = constructed_table(rng)
    lik = compare_subjects(frame, metric="normalized_lik")
    assert lik.index[0] == "generating"
    assert "delta_normalized_lik" in lik.columns
    assert (lik["delta_normalized_lik"].iloc[1:] < 0).all()
    total = compare_subjects(frame, metric="nll")
    diff = wide(frame, "nll")["chance"] - wide(frame, "nll")["generating"]
    assert total.loc["chance", "delta_nll"] == pytest.approx(diff.mean(), rel=1e-12)


def test_single_model_and_single_subject():
    one_model = pd.DataFrame({"model": ["a", "a"], "subject": [1, 2], "nll": [5.0, 6.0],
                              "n_trials": [10, 10]})  # fmt: skip
    out = compare_subjects(one_model)
    assert list(out.index) == ["a"] and out.loc["a", "rank"] == 1
    assert out.loc["a", "expected_frequency"] == 1.0
    one_subject = pd.DataFrame({"model": ["a", "b"], "subject": [1, 1], "nll": [5.0, 6.0],
                                "n_trials": [10, 10]})  # fmt: skip
    out = compare_subjects(one_subject)
    assert np.isnan(out.loc["a", "sem_nll_per_trial"])
    assert np.isnan(out.loc["b", "ttest_p"]) and np.isnan(out.loc["b", "delta_sem"])


def _table(**changes):
    frame = pd.DataFrame(
        {
            "model": ["rw", "rw", "wsls", "wsls"],
            "subject": ["s1", "s2", "s1", "s2"],
            "nll": [40.0, 45.0, 50.0, 52.0],
            "n_trials": [100, 100, 100, 100],
        }
    )
    for col, (row, value) in changes.items():
        frame.loc[row, col] = value
    return frame


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            _table().drop(index=3),
            r"^model 'wsls' has no row for subject 's2'; every model must be scored on the "
            r"same subjects$",
        ),
        (
            pd.concat([_table(), _table().iloc[[0]]]),
            r"^subject_table has more than one row for model 'rw', subject 's1'; give one row",
        ),
        (
            _table(nll=(2, -50.0)),
            r"^nll must be finite and >= 0, got -50.0 for model 'wsls', subject 's1'; did you "
            r"pass a log-likelihood instead of its negative\?$",
        ),
        (_table(nll=(1, np.nan)), r"^nll must be finite and >= 0, got nan for model 'rw'"),
        (
            _table(n_trials=(0, 0)),
            r"^n_trials must be finite and > 0, got 0 for model 'rw', subject 's1'$",
        ),
        (
            _table(n_trials=(3, 90)),
            r"^models were scored on different numbers of trials for subject 's2': "
            r"\{'rw': 100.0, 'wsls': 90.0\}; compare models on the same held-out trials$",
        ),
        (
            _table().drop(columns="n_trials"),
            r"^subject_table is missing column\(s\) \['n_trials'\]; it needs \['model', "
            r"'subject', 'nll', 'n_trials'\]",
        ),
        (_table().iloc[:0], r"^subject_table has no rows$"),
    ],
)
def test_errors(frame, message):
    with pytest.raises(ValueError, match=message):
        compare_subjects(frame)


def test_argument_errors():
    with pytest.raises(ValueError, match=r"^metric must be one of \['nll_per_trial', 'nll', "):
        compare_subjects(_table(), metric="aic")
    with pytest.raises(TypeError, match=r"^subject_table must be a pandas DataFrame, got dict$"):
        compare_subjects(_table().to_dict())
