"""Per-subject parameter uncertainty (Laplace SEs) and group comparisons of parameters and of
held-out fit, with covariates carried from the data into every per-subject table."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from reference_models import q_learning_loglik

import choicernn as cr


@pytest.fixture(scope="module")
def grouped():
    truth = pd.DataFrame({"alpha": [0.2] * 6 + [0.7] * 6, "beta": [5.0] * 12})
    data = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=12, n_trials=200, seed=3,
                       params=truth)
    frame = data.to_frame()
    frame["diag"] = np.where(frame["subject"].astype(int) < 6, "slow", "fast")
    return cr.ChoiceData.from_frame(frame, subject="subject", choice="choice", reward="reward",
                                    session="session", trial="trial", n_options=2,
                                    covariates=["diag"])


def test_laplace_standard_errors_match_a_numerical_hessian(grouped):
    """At an interior ML optimum the delta-method SE equals the inverse observed information
    computed on the parameters' own scale from the independent reference likelihood."""
    model = cr.QLearning("rw", method="mle").fit(grouped, seed=0)
    frame = grouped.to_frame()
    row = model.results_.iloc[2]
    sub = frame[frame["subject"] == row["subject"]].reset_index(drop=True)

    def nll(a, b):
        return -np.nansum(q_learning_loglik(sub, 2, {row["subject"]: {"alpha": a, "beta": b}}))

    x = np.array([row["alpha"], row["beta"]])
    h = np.array([1e-4, 1e-3])
    hess = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            ei, ej = np.eye(2)[i] * h[i], np.eye(2)[j] * h[j]
            hess[i, j] = (
                nll(*(x + ei + ej)) - nll(*(x + ei - ej)) - nll(*(x - ei + ej)) + nll(*(x - ei - ej))
            ) / (4 * h[i] * h[j])
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    np.testing.assert_allclose([row["se_alpha"], row["se_beta"]], se, rtol=0.05)
    assert (model.results_[["se_alpha", "se_beta"]] > 0).all().all()


def test_covariates_reach_parameter_and_held_out_tables(grouped):
    model = cr.QLearning("rw").fit(grouped, seed=0)
    assert set(model.results_["diag"]) == {"slow", "fast"}
    cv = cr.cross_validate([cr.QLearning("rw"), cr.WSLS()], grouped, folds=2)
    assert set(cv.subject_table()["diag"]) == {"slow", "fast"}
    params = cr.compare_groups(model.results_, "diag", ["alpha", "beta"])
    alpha = params[params["value"] == "alpha"].set_index("group")
    assert alpha.loc["fast", "mean"] > alpha.loc["slow", "mean"]
    assert alpha["p"].iloc[0] < 0.05 and (alpha["test"] == "mann-whitney").all()
    fit = cr.compare_groups(cv.subject_table(), "diag", "nll_per_trial")
    assert set(fit["model"]) == {"rw", "wsls"} and len(fit) == 4
    ax = cr.plots.plot_group_comparison(cv.subject_table(), "diag")
    assert ax.get_ylabel() == "Held-out NLL per choice (nats)"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["rw", "wsls"]
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="covariates"):
        cr.compare_groups(model.results_, "group", "alpha")


def test_three_groups_use_kruskal_wallis():
    table = pd.DataFrame({"subject": range(9), "g": list("aaabbbccc"),
                          "v": [1, 2, 3, 4, 5, 6, 7, 8, 9.0]})
    out = cr.compare_groups(table, "g", "v", by=None)
    assert (out["test"] == "kruskal-wallis").all() and out["p"].iloc[0] < 0.05
