"""posterior_predictive(): a fitted model replays the study and matches its own data's signatures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.analysis.ppc import ReplayEnvironment, posterior_predictive
from choicernn.models.base import NotFittedError

RW = {"alpha": 0.3, "beta": 4.0}


@pytest.fixture(autouse=True)
def one_thread_and_close():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    plt.close("all")


@pytest.fixture(scope="module")
def rw_study():
    """40 subjects x 200 trials of a Q-learner with fixed parameters, and the fitted model."""
    data = cr.simulate(
        cr.QLearning("rw"), "two_armed_fixed", n_subjects=40, n_trials=200, seed=1, params=RW
    )
    model = cr.QLearning("rw", n_restarts=2).fit(data)
    return data, model


@pytest.fixture(scope="module")
def full_task(tmp_path_factory):
    spec = tmp_path_factory.mktemp("tasks") / "full.toml"
    spec.write_text(
        'name = "full"\nkind = "fixed"\nn_options = 3\nfeedback = "full"\n[fixed]\np_reward = [0.2, 0.5, 0.8]\n'
    )
    return cr.load_task(spec)


def with_missed(data: cr.ChoiceData, rows: list[int]) -> cr.ChoiceData:
    frame = data.to_frame()
    frame.loc[rows, "choice"] = pd.NA
    frame.loc[rows, "reward"] = np.nan
    outcomes = [c for c in frame.columns if c.startswith("outcome_")] or None
    return cr.ChoiceData.from_frame(
        frame, n_options=data.n_options, session="session", trial="trial", outcomes=outcomes
    )


def test_model_matches_its_own_data_within_sampling_error(rw_study):
    data, model = rw_study
    result = posterior_predictive(model, data, "two_armed_fixed", n_simulations=2, seed=0)
    assert result.mode == "task"
    pooled = result.pooled.set_index(["signature", "condition", "source"])
    for signature, condition in [
        ("p_stay", "rewarded"),
        ("p_stay", "unrewarded"),
        ("p_switch", "all"),
    ]:
        d = pooled.loc[(signature, condition, "data")]
        m = pooled.loc[(signature, condition, "model")]
        assert d["n_subjects"] == m["n_subjects"] == 40
        assert abs(d["mean"] - m["mean"]) < 0.05, (signature, condition)
        assert d["ci_low"] <= m["ci_high"] and m["ci_low"] <= d["ci_high"], (signature, condition)
    # the stay-after-reward effect of a learner is there in both
    assert (
        pooled.loc[("p_stay", "rewarded", "model"), "mean"]
        > pooled.loc[("p_stay", "unrewarded", "model"), "mean"] + 0.1
    )


def test_table_layout_simulations_and_plot(rw_study):
    data, model = rw_study
    result = posterior_predictive(model, data, "two_armed_fixed", n_simulations=2, seed=3)
    table = result.table
    assert list(table.columns) == [
        "source",
        "simulation",
        "subject",
        "signature",
        "condition",
        "value",
    ]
    assert table.loc[table["source"] == "data", "simulation"].isna().all()
    assert set(table.loc[table["source"] == "model", "simulation"]) == {0, 1}
    # 40 subjects x (2 stay conditions + 1 switch rate) x (data + 2 simulations)
    assert len(table) == 40 * 3 * 3
    assert list(result.pooled.columns) == [
        "source",
        "signature",
        "condition",
        "mean",
        "sd",
        "n_subjects",
        "ci_low",
        "ci_high",
    ]
    assert len(result.simulated) == 2
    for sim in result.simulated:
        assert sim.subjects == data.subjects
        pd.testing.assert_frame_equal(sim.sequences, data.sequences)
    ax = result.plot()
    assert isinstance(ax, plt.Axes)
    _, ax2 = plt.subplots()
    assert result.plot(ax=ax2) is ax2


def test_same_seed_same_simulation(rw_study):
    data, model = rw_study
    small = data.subset(range(5))
    a = posterior_predictive(model, small, "two_armed_fixed", seed=7)
    b = posterior_predictive(model, small, "two_armed_fixed", seed=7)
    c = posterior_predictive(model, small, "two_armed_fixed", seed=8)
    pd.testing.assert_frame_equal(a.simulated[0].to_frame(), b.simulated[0].to_frame())
    assert not a.simulated[0].to_frame()["choice"].equals(c.simulated[0].to_frame()["choice"])


def test_replays_recorded_payoffs_on_full_feedback_data(full_task):
    data = cr.simulate(
        cr.QLearning("rw"), full_task, n_subjects=6, n_trials=60, n_sessions=2, seed=2, params=RW
    )
    data = with_missed(data, [3, 4, 100, 500])
    model = cr.QLearning("rw", n_restarts=1).fit(data)
    result = posterior_predictive(model, data, n_simulations=2, seed=0)
    assert result.mode == "replay"
    observed = data.to_frame()
    outcome_cols = [f"outcome_{k}" for k in range(3)]
    for sim in result.simulated:
        frame = sim.to_frame()
        pd.testing.assert_frame_equal(
            frame[["subject", "session", "trial"]], observed[["subject", "session", "trial"]]
        )
        # missed trials of the data are missed in the simulation, and only those
        np.testing.assert_array_equal(frame["choice"].isna(), observed["choice"].isna())
        played = frame["choice"].notna().to_numpy()
        choice = frame.loc[played, "choice"].astype(int).to_numpy()
        payoff = observed.loc[played, outcome_cols].to_numpy()[np.arange(played.sum()), choice]
        np.testing.assert_array_equal(frame.loc[played, "reward"].to_numpy(), payoff)
        np.testing.assert_array_equal(
            frame[outcome_cols].to_numpy(), observed[outcome_cols].to_numpy()
        )
    # the agent chooses freely: not a copy of the observed choices
    assert not result.simulated[0].to_frame()["choice"].equals(observed["choice"])


def test_replay_environment_pays_the_chosen_option():
    payoffs = np.array([[[1.0, 0.0], [0.0, 5.0]], [[0.0, 2.0], [3.0, 0.0]]])
    env = ReplayEnvironment(payoffs)
    r, o = env.step(np.array([0, 1]))
    np.testing.assert_array_equal(r, [1.0, 2.0])
    np.testing.assert_array_equal(o, payoffs[:, 0])
    r, _ = env.step(np.array([-1, 0]))
    np.testing.assert_array_equal(r, [0.0, 3.0])
    with pytest.raises(RuntimeError, match="all its 2 trials"):
        env.step(np.array([0, 0]))


def test_missing_task_raises(rw_study):
    data, model = rw_study
    assert not data.has_outcomes
    with pytest.raises(ValueError, match="no outcome columns.*pass task="):
        posterior_predictive(model, data)


def test_option_mismatch_unfitted_and_unknown_subjects_raise(rw_study):
    data, model = rw_study
    with pytest.raises(ValueError, match="has 4 options, data have 2"):
        posterior_predictive(model, data, "restless_four_armed")
    with pytest.raises(NotFittedError, match="call fit first"):
        posterior_predictive(cr.QLearning("rw"), data, "two_armed_fixed")
    part = cr.QLearning("rw", n_restarts=1).fit(data.subset(range(3)))
    with pytest.raises(ValueError, match=r"no fitted parameters for subjects \[3, 4"):
        posterior_predictive(part, data.subset(range(6)), "two_armed_fixed")


def test_each_simulated_subject_uses_its_own_fitted_parameters():
    biases = pd.DataFrame({"bias_1": np.tile([-3.0, 3.0], 5)})
    data = cr.simulate(
        cr.Bias(), "two_armed_fixed", n_subjects=10, n_trials=60, seed=4, params=biases
    )
    model = cr.Bias(n_restarts=1).fit(data)
    result = posterior_predictive(model, data, "two_armed_fixed", seed=0)
    observed = data.to_frame().groupby("subject")["choice"].mean().astype(float)
    simulated = result.simulated[0].to_frame().groupby("subject")["choice"].mean().astype(float)
    assert np.corrcoef(observed, simulated)[0, 1] > 0.9


def test_pooled_gru_runs_as_agent():
    data = cr.simulate(
        cr.QLearning("rw"), "two_armed_fixed", n_subjects=6, n_trials=40, seed=0, params=RW
    )
    for emb in (0, 2):
        net = cr.GRUModel(
            hidden_size=4,
            subject_embedding=emb,
            training=cr.TrainingConfig(max_epochs=2, split="none"),
        )
        net.fit(data, seed=0)
        result = posterior_predictive(net, data, "two_armed_fixed", seed=0)
        assert result.simulated[0].n_choices == data.n_choices
        assert result.pooled["n_subjects"].eq(6).all()


def test_task_reward_coding_that_differs_from_the_data_warns():
    """A model fitted on +1/-1 rewards checked in a 0/1 task: the check says so."""
    data = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=4, n_trials=60, seed=0)
    frame = data.to_frame()
    frame["reward"] = 2 * frame["reward"] - 1  # the hBayesDM coding: win +1, loss -1
    pm1 = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    model = cr.QLearning("rw", n_restarts=1).fit(pm1)
    with pytest.warns(UserWarning, match="pays rewards"):
        posterior_predictive(model, pm1, "reversal")
