"""The dimensionality estimate of Ji-An et al. (smallest size no larger size beats)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from choicernn.models.rnn_dimensionality import estimate_dimensionality


class FakeCV:
    """What estimate_dimensionality reads of a CrossValidationResult."""

    def __init__(self, nll_by_model: dict[str, np.ndarray], n_trials: int = 100) -> None:
        self.models = list(nll_by_model)
        rows = [
            {
                "model": m,
                "subject": s,
                "nll": v * n_trials,
                "n_trials": n_trials,
                "nll_per_trial": v,
            }
            for m, values in nll_by_model.items()
            for s, v in enumerate(values)
        ]
        self._table = pd.DataFrame(rows)

    def subject_table(self) -> pd.DataFrame:
        return self._table


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_smallest_size_that_no_larger_one_beats(rng):
    base = rng.uniform(0.3, 0.6, 40)
    cv = FakeCV(
        {
            "gru1": base + 0.05 + rng.normal(0, 0.01, 40),  # clearly worse
            "gru2": base + rng.normal(0, 0.01, 40),
            "gru3": base + rng.normal(0, 0.01, 40),
            "gru4": base + rng.normal(0, 0.01, 40),
        }
    )
    table = estimate_dimensionality(cv, {d: f"gru{d}" for d in (1, 2, 3, 4)})
    assert table.attrs["dimensionality"] == 2
    assert table["selected"].tolist() == [False, True, False, False]
    assert list(table.columns) == [
        "size",
        "model",
        "nll_per_trial",
        "mean_nll",
        "n_subjects",
        "p_beaten",
        "beaten_by",
        "beaten",
        "selected",
    ]
    assert table.loc[0, "beaten"] and table.loc[0, "p_beaten"] < 1e-6
    assert np.isnan(table.loc[3, "p_beaten"]) and table.loc[3, "beaten_by"] == -1
    t_table = estimate_dimensionality(cv, {d: f"gru{d}" for d in (1, 2, 3, 4)}, test="t")
    assert t_table.attrs["dimensionality"] == 2


def test_a_larger_size_that_wins_later_raises_the_estimate(rng):
    base = rng.uniform(0.3, 0.6, 30)
    cv = FakeCV({"a": base + 0.02, "b": base + 0.02, "c": base})  # only size 3 is better
    table = estimate_dimensionality(cv, {1: "a", 2: "b", 3: "c"})
    assert table.attrs["dimensionality"] == 3
    assert table["beaten_by"].tolist() == [3, 3, -1]


def test_identical_models_give_the_smallest(rng):
    base = rng.uniform(0.3, 0.6, 10)
    table = estimate_dimensionality(FakeCV({"x": base, "y": base}), {4: "y", 1: "x"})
    assert table["size"].tolist() == [1, 4] and table.attrs["dimensionality"] == 1
    assert table.loc[0, "p_beaten"] == 1.0


def test_errors_name_the_problem(rng):
    cv = FakeCV({"gru1": rng.uniform(size=5)})
    with pytest.raises(ValueError, match=r"models \['gru2'\] have no complete result"):
        estimate_dimensionality(cv, {1: "gru1", 2: "gru2"})
    with pytest.raises(ValueError, match="non-empty mapping"):
        estimate_dimensionality(cv, {})
    with pytest.raises(ValueError, match="sizes must be integers"):
        estimate_dimensionality(cv, {"one": "gru1"})
    with pytest.raises(ValueError, match="test must be 'wilcoxon' or 't'"):
        estimate_dimensionality(cv, {1: "gru1"}, test="z")
