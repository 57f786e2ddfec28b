"""Parameter and model recovery studies (choicernn.analysis.recovery)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import choicernn as cr
from choicernn.analysis.recovery import (
    ModelRecoveryResult,
    ParameterRecoveryResult,
    model_recovery,
    parameter_recovery,
)

TASK = "drifting_two_armed"


@pytest.fixture(scope="module")
def rw_recovery() -> ParameterRecoveryResult:
    return parameter_recovery(
        cr.QLearning("rw"), TASK, n_subjects=60, n_trials=300, seed=0
    )


@pytest.fixture(scope="module")
def three_models() -> ModelRecoveryResult:
    models = [cr.Bias(), cr.WSLS(), cr.QLearning("rw_persev")]
    return model_recovery(models, TASK, n_subjects=20, n_trials=200, folds=3, seed=0)


@pytest.fixture(scope="module")
def small_recovery() -> ModelRecoveryResult:
    """A small study for the table and figure tests (the statistical check uses three_models)."""
    models = [cr.Bias(n_restarts=2), cr.WSLS(n_restarts=2), cr.QLearning("rw_persev", n_restarts=2)]
    return model_recovery(models, TASK, n_subjects=5, n_trials=60, folds=3, seed=0)


# --------------------------------------------------------------------------- parameters
def test_parameter_recovery_rw_map(rw_recovery):
    r = rw_recovery.summary.set_index("parameter")["r"]
    assert r["alpha"] >= 0.8, rw_recovery.summary
    assert r["beta"] >= 0.8, rw_recovery.summary


def test_parameter_recovery_columns(rw_recovery):
    assert list(rw_recovery.table.columns) == ["subject", "parameter", "true", "fitted"]
    assert list(rw_recovery.summary.columns) == ["parameter", "r", "spearman", "bias", "rmse", "n"]
    assert list(rw_recovery.summary["parameter"]) == ["alpha", "beta"]
    assert len(rw_recovery.table) == 60 * 2
    assert (rw_recovery.summary["n"] == 60).all()
    assert rw_recovery.table[["true", "fitted"]].notna().all().all()


def test_parameter_recovery_matches_data_and_fit(rw_recovery):
    table = rw_recovery.table.pivot(index="subject", columns="parameter")
    truth = rw_recovery.data.params.set_index("subject")
    fitted = rw_recovery.fitted.params_.set_index("subject")
    for name in ("alpha", "beta"):
        np.testing.assert_allclose(table[("true", name)], truth.loc[table.index, name])
        np.testing.assert_allclose(table[("fitted", name)], fitted.loc[table.index, name])
    err = table["fitted"] - table["true"]
    summary = rw_recovery.summary.set_index("parameter")
    np.testing.assert_allclose(summary["bias"], err.mean().loc[summary.index])
    np.testing.assert_allclose(summary["rmse"], np.sqrt((err**2).mean()).loc[summary.index])


def test_parameter_recovery_leaves_model_unfitted():
    model = cr.QLearning("rw")
    result = parameter_recovery(model.set_params(n_restarts=2), TASK, n_subjects=4, n_trials=30)
    assert not hasattr(model, "params_")
    assert result.fitted is not model


def test_parameter_recovery_reproducible_from_seed():
    def run(seed):
        return parameter_recovery(
            cr.QLearning("rw", n_restarts=2),
            TASK,
            n_subjects=8,
            n_trials=60,
            seed=seed,
        ).table

    pd.testing.assert_frame_equal(run(3), run(3))
    assert not np.allclose(run(3)["true"], run(4)["true"])


def test_parameter_recovery_given_params():
    params = pd.DataFrame({"alpha": [0.2, 0.6], "beta": [2.0, 8.0]})
    result = parameter_recovery(
        cr.QLearning("rw", n_restarts=2),
        TASK,
        n_subjects=4,
        n_trials=40,
        params=params,
    )
    true = result.table.pivot(index="subject", columns="parameter", values="true")
    np.testing.assert_allclose(true["alpha"], [0.2, 0.6, 0.2, 0.6])
    np.testing.assert_allclose(true["beta"], [2.0, 8.0, 2.0, 8.0])


def test_parameter_recovery_errors():
    with pytest.raises(TypeError, match="per-subject named parameters"):
        parameter_recovery(cr.GRUModel(), TASK, n_subjects=4, n_trials=10)
    with pytest.raises(ValueError, match="n_subjects must be >= 2"):
        parameter_recovery(cr.QLearning("rw"), TASK, n_subjects=1, n_trials=10)
    with pytest.raises(TypeError, match="params must be a DataFrame"):
        parameter_recovery(cr.QLearning("rw"), TASK, n_subjects=4, params={"alpha": 0.3})


def test_parameter_recovery_plot(rw_recovery):
    fig = rw_recovery.plot()
    try:
        assert isinstance(fig, Figure)
        assert len(fig.axes) == 2
        assert fig.axes[0].get_xlabel() == "True alpha"
        assert fig.axes[1].get_xscale() == "log"  # beta's default range is log-scaled
    finally:
        plt.close(fig)
    fig, axes = plt.subplots(1, 2)
    try:
        assert rw_recovery.plot(ax=axes) is fig
        with pytest.raises(ValueError, match="one Axes per parameter"):
            rw_recovery.plot(ax=axes[0])
    finally:
        plt.close(fig)


@pytest.mark.slow
def test_parameter_recovery_issue_criterion_default_range():
    result = parameter_recovery(
        cr.QLearning("rw"), TASK, n_subjects=100, n_trials=500, seed=0
    )
    r = result.summary.set_index("parameter")["r"]
    assert r["beta"] >= 0.9
    assert r["alpha"] >= 0.9, result.summary


# --------------------------------------------------------------------------- models
@pytest.mark.slow
def test_model_recovery_diagonal(three_models):
    confusion = three_models.confusion
    names = ["bias", "wsls", "rw_persev"]
    assert list(confusion.index) == names
    assert list(confusion.columns) == names
    np.testing.assert_allclose(confusion.sum(axis=1), 1.0)
    diagonal = np.diag(confusion.to_numpy())
    assert (diagonal >= 0.8).all(), confusion


def test_model_recovery_table(small_recovery):
    table = small_recovery.table
    assert list(table.columns) == [
        "generating",
        "subject",
        "fitted_model",
        "nll",
        "n_trials",
        "nll_per_trial",
        "best",
    ]
    assert len(table) == 3 * 5 * 3
    # every simulated subject has exactly one best model, the one with the lowest nll
    per_subject = table.groupby(["generating", "subject"])
    assert (per_subject["best"].sum() == 1).all()
    best = table[table["best"]].set_index(["generating", "subject"])["nll"]
    np.testing.assert_allclose(best, per_subject["nll"].min().loc[best.index])
    assert (table["n_trials"] == 60).all()  # every trial is held out once
    assert set(small_recovery.data) == {"bias", "wsls", "rw_persev"}


def test_model_recovery_reproducible_from_seed():
    def run(seed):
        return model_recovery(
            [cr.Bias(), cr.WSLS()],
            TASK,
            n_subjects=3,
            n_trials=40,
            folds=2,
            seed=seed,
        )

    a, b = run(1), run(1)
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.confusion, b.confusion)
    assert not np.allclose(a.table["nll"], run(2).table["nll"])


def test_model_recovery_duplicate_names():
    with pytest.raises(ValueError, match=r"model names must be unique; repeated: \['rw'\]"):
        model_recovery([cr.QLearning("rw"), cr.QLearning("rw")], TASK, n_subjects=2, n_trials=10)
    with pytest.raises(ValueError, match="models is empty"):
        model_recovery([], TASK)


def test_model_recovery_plot(small_recovery):
    fig, ax = plt.subplots()
    try:
        out = small_recovery.plot(ax=ax)
        assert out is ax and isinstance(out, Axes)
        texts = [t.get_text() for t in ax.texts]
        assert len(texts) == 9  # one annotation per cell
        assert ax.get_xlabel() == "Fitted model, best by held-out NLL"
    finally:
        plt.close(fig)
    fig = plt.figure()
    try:
        assert small_recovery.plot().figure is not fig  # ax=None: a new figure, never the current
    finally:
        plt.close(fig)
