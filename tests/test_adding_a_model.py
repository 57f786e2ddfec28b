"""Proof of the model contract: a new model defined in this file alone, with no edit anywhere
else, is fitted, cross-validated, saved and loaded, simulated in a task, and run in a recipe.

The model is Q-learning with a lapse rate (three parameters): with probability ``epsilon`` the
subject chooses at random, otherwise by a softmax of ``beta * Q``. It declares its parameters
and one trial's update and readout; everything else comes from the base class. This is the
example of the README's "Adding a model" section.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.fitting.parameters import inverse_temperature, rate


class LapseQLearning(cr.ParametricModel):
    """Q-learning with a lapse: ``p = (1 - epsilon) * softmax(beta * Q) + epsilon / K``."""

    def __init__(self, name: str = "lapse_q", **settings) -> None:
        super().__init__(**settings)
        self.name = name
        self._check_settings()

    def parameters(self, n_options):
        return [
            rate("alpha", "learning rate"),
            inverse_temperature("beta", "inverse temperature"),
            rate("epsilon", "lapse rate: probability of a random choice", 0.1),
        ]

    def initial_state(self, theta, n_options):
        n = theta["alpha"].shape[0]
        return {"q": torch.zeros(n, n_options, dtype=theta["alpha"].dtype)}

    def update(self, state, theta, trial):
        q, chosen = state["q"], trial["onehot"]
        return {"q": q + theta["alpha"] * chosen * (trial["reward"] - q)}

    def readout(self, state, theta):
        k = state["q"].shape[-1]
        p = torch.softmax(theta["beta"] * state["q"], -1)
        return torch.log((1 - theta["epsilon"]) * p + theta["epsilon"] / k)


cr.register_model("lapse_q", LapseQLearning)


def reference_loglik(frame: pd.DataFrame, params: pd.DataFrame, k: int) -> float:
    """Slow reference written from the equations above (plain Python)."""
    total = 0.0
    p_of = params.set_index("subject")
    for (subject, _), rows in frame.groupby(["subject", "session"], sort=False):
        a, b, e = (float(p_of.loc[subject, n]) for n in ("alpha", "beta", "epsilon"))
        q = [0.0] * k
        for c, r in zip(rows["choice"], rows["reward"]):
            if pd.isna(c):
                continue
            z = [b * v for v in q]
            m = max(z)
            soft = [math.exp(v - m) for v in z]
            total += math.log((1 - e) * soft[int(c)] / sum(soft) + e / k)
            q[int(c)] += a * (float(r) - q[int(c)])
    return total


@pytest.fixture(scope="module")
def data():
    truth = pd.DataFrame({"alpha": [0.3, 0.6] * 4, "beta": [4.0, 8.0] * 4, "epsilon": [0.1] * 8})
    return cr.simulate(LapseQLearning(), "reversal", n_subjects=8, n_trials=150, seed=1, params=truth)


def test_fit_matches_the_reference_and_is_seeded(data):
    model = LapseQLearning(n_restarts=3).fit(data, seed=0)
    assert model.fit(data, seed=0) is model
    ll = model.trial_log_likelihood(data)["log_lik"].sum()
    assert ll == pytest.approx(reference_loglik(data.to_frame(), model.params_, 2), abs=1e-8)
    again = LapseQLearning(n_restarts=3).fit(data, seed=0)
    pd.testing.assert_frame_equal(model.params_, again.params_)


def test_cross_validate_save_load_simulate(data, tmp_path):
    cv = cr.cross_validate([LapseQLearning(n_restarts=2), cr.QLearning("rw")], data, folds=3)
    assert set(cv.summary().index) == {"lapse_q", "rw"}
    model = cv.fitted[("lapse_q", "all")]
    model.save(tmp_path / "lapse")
    loaded = cr.load_model(tmp_path / "lapse")
    assert isinstance(loaded, LapseQLearning) and loaded.n_restarts == 2
    pd.testing.assert_frame_equal(
        loaded.trial_log_likelihood(data), model.trial_log_likelihood(data)
    )
    sim = cr.simulate(loaded, "reversal", n_subjects=8, n_trials=50, seed=3)
    assert sim.n_subjects == 8 and set(sim.params.columns) >= {"alpha", "beta", "epsilon"}


def test_runs_in_a_recipe(data, tmp_path):
    data.to_frame().to_csv(tmp_path / "data.csv", index=False)
    (tmp_path / "study.toml").write_text(
        'name = "lapse_study"\n'
        '[data]\npath = "data.csv"\nsubject = "subject"\nchoice = "choice"\n'
        'reward = "reward"\nsession = "session"\ntrial = "trial"\nn_options = 2\n'
        "[cv]\nfolds = 2\n"
        '[[models]]\ntype = "lapse_q"\nn_restarts = 2\n'
        '[[models]]\ntype = "wsls"\n'
    )
    recipe = cr.load_recipe(tmp_path / "study.toml")
    cv = cr.run_recipe(recipe, tmp_path / "out", figures=False)
    assert set(cv.models) == {"lapse_q", "wsls"}
    saved = pd.read_csv(tmp_path / "out" / "params" / "lapse_q.csv")
    assert {"alpha", "beta", "epsilon"} <= set(saved.columns)


def test_unknown_setting_is_refused():
    with pytest.raises(TypeError):
        LapseQLearning(n_restart=3)  # misspelled: never silently ignored
    with pytest.raises(ValueError, match="has no setting 'n_restart'"):
        LapseQLearning().set_params(n_restart=3)
    with pytest.raises(ValueError, match="n_restarts must be a positive integer"):
        LapseQLearning(n_restarts=0)
    assert np.isfinite(LapseQLearning().parameter_table(2)["upper"]).all()
