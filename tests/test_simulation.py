"""simulate(): reproducible, seeded, carries generating parameters, any model as an agent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import choicernn as cr


def test_same_seed_same_data_different_seed_different():
    model = cr.QLearning("rw")
    a = cr.simulate(model, "reversal", n_subjects=5, n_trials=50, seed=1)
    b = cr.simulate(model, "reversal", n_subjects=5, n_trials=50, seed=1)
    c = cr.simulate(model, "reversal", n_subjects=5, n_trials=50, seed=2)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.params, b.params)
    assert not a.to_frame()["choice"].equals(c.to_frame()["choice"])


def test_generating_parameters_are_carried():
    data = cr.simulate(
        cr.QLearning("rw_persev"), "two_armed_fixed", n_subjects=7, n_trials=30, seed=0
    )
    assert list(data.params.columns) == ["subject", "alpha", "beta", "persev"]
    assert data.params["subject"].tolist() == data.subjects == list(range(7))
    fixed = cr.simulate(
        cr.QLearning("rw"), "two_armed_fixed", 3, 30, seed=0, params={"alpha": 0.2, "beta": 4.0}
    )
    assert (fixed.params["alpha"] == 0.2).all() and (fixed.params["beta"] == 4.0).all()


def test_sessions_and_trials_and_schedule_independent_of_agent():
    a = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=4, n_trials=40, n_sessions=3, seed=5)
    assert a.n_sequences == 12 and a.n_trials == 480
    # The same seed gives the same reward schedule whatever the agent: the payoff of the
    # chosen option on trials where both agents chose the same option agrees.
    b = cr.simulate(
        cr.WSLS(),
        "reversal",
        n_subjects=4,
        n_trials=40,
        n_sessions=3,
        seed=5,
        params={"epsilon": 0.3},
    )
    fa, fb = a.to_frame(), b.to_frame()
    same = (fa["choice"] == fb["choice"]).to_numpy()
    assert same.sum() > 50
    np.testing.assert_array_equal(fa["reward"].to_numpy()[same], fb["reward"].to_numpy()[same])


def test_fitted_model_simulates_its_subjects_in_turn():
    data = cr.simulate(cr.QLearning("rw"), "two_armed_fixed", n_subjects=3, n_trials=80, seed=2)
    model = cr.QLearning("rw", n_restarts=2).fit(data)
    sim = cr.simulate(model, "two_armed_fixed", n_subjects=6, n_trials=20, seed=0)
    assert sim.params["source_subject"].tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_allclose(
        sim.params["alpha"].to_numpy()[:3], model.params_["alpha"].to_numpy()
    )


def test_full_feedback_task_records_every_outcome(tmp_path):
    spec = tmp_path / "full.toml"
    spec.write_text(
        'name = "full"\nkind = "fixed"\nn_options = 3\nfeedback = "full"\n[fixed]\np_reward = [0.2, 0.5, 0.8]\n'
    )
    data = cr.simulate(
        cr.Bias(),
        cr.load_task(spec),
        n_subjects=2,
        n_trials=30,
        seed=0,
        params={"bias_1": 0.0, "bias_2": 0.0},
    )
    assert data.has_outcomes
    frame = data.to_frame()
    chosen = frame[[f"outcome_{k}" for k in range(3)]].to_numpy()[
        np.arange(len(frame)), frame["choice"].astype(int)
    ]
    np.testing.assert_array_equal(chosen, frame["reward"].to_numpy())


def test_option_count_mismatch_is_an_error():
    data = cr.simulate(cr.QLearning("rw"), "two_armed_fixed", n_subjects=2, n_trials=30, seed=0)
    model = cr.QLearning("rw", n_restarts=1).fit(data)
    with pytest.raises(ValueError, match="options"):
        cr.simulate(model, "restless_four_armed", n_subjects=2, n_trials=10, seed=0)


def test_every_model_runs_as_an_agent():
    for model, params in [
        (cr.WSLS(), {"epsilon": 0.1}),
        (cr.Bias(), {"bias_1": 1.0}),
        (cr.QLearning("full"), None),
    ]:
        data = cr.simulate(
            model, "two_armed_fixed", n_subjects=3, n_trials=25, seed=0, params=params
        )
        assert data.n_choices == 75
    kf = cr.simulate(cr.KalmanFilter(), "restless_four_armed", n_subjects=3, n_trials=25, seed=0)
    assert kf.to_frame()["reward"].between(1, 100).all()


def test_bundled_demo_csv_is_what_the_library_generates():
    """The demo data are library output: regenerating them gives the bundled files exactly."""
    from choicernn.demo import demo_path, load_demo, make_demo_study

    trials, params = make_demo_study()
    pd.testing.assert_frame_equal(trials, pd.read_csv(demo_path()), check_dtype=False)
    pd.testing.assert_frame_equal(
        params, pd.read_csv(demo_path().with_name("demo_params.csv")), check_dtype=False
    )
    data = load_demo()
    assert data.n_subjects == 40 and data.n_trials == 8000 and data.params is not None


def test_task_reward_values_and_a_mismatch_with_the_fitted_data_warns():
    task = cr.load_task("reversal_win_loss")
    assert task.paid_rewards == (-1, 1)
    pm1 = cr.simulate(cr.QLearning("rw"), task, n_subjects=4, n_trials=60, seed=0)
    assert set(pm1.to_frame()["reward"]) == {-1.0, 1.0}
    model = cr.QLearning("rw", n_restarts=1).fit(pm1)
    assert model.fitted_reward_values() == (-1.0, 1.0)
    with pytest.warns(UserWarning, match="pays rewards"):
        cr.simulate(model, "reversal", n_subjects=4, n_trials=20)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.simulate(model, task, n_subjects=4, n_trials=20)  # same coding: no warning
    with pytest.raises(cr.TaskSpecError, match="reward_values"):
        cr.load_task("restless_four_armed", reward_values=[0, 1])


def test_simulate_is_seeded_by_default():
    a = cr.simulate(cr.WSLS(), "reversal", n_subjects=3, n_trials=30)
    b = cr.simulate(cr.WSLS(), "reversal", n_subjects=3, n_trials=30)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
