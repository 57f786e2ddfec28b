"""membership_audit(): AUC near 0.5 without access to the data, near 1 when overfitted."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import choicernn as cr
from choicernn.analysis.privacy import membership_audit


@pytest.fixture(autouse=True)
def one_thread_and_close():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    plt.close("all")


def random_chooser(n_subjects: int, seed: int, first: int = 0) -> cr.ChoiceData:
    """Subjects who choose at random (no bias, no learning): nothing to learn but noise."""
    data = cr.simulate(
        cr.Bias(),
        "two_armed_fixed",
        n_subjects=n_subjects,
        n_trials=60,
        seed=seed,
        params={"bias_1": 0.0},
    )
    frame = data.to_frame()
    frame["subject"] += first
    return cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")


@pytest.fixture(scope="module")
def overfitted():
    data = random_chooser(26, seed=5)
    train, test = data.subset(range(6)), data.subset(range(6, 26))
    config = cr.TrainingConfig(max_epochs=60, weight_decay=0.0, split="none")
    net = cr.GRUModel(hidden_size=16, subject_embedding=8, training=config).fit(
        train, seed=0)
    return net, train, test


def test_network_without_access_to_the_data_is_at_chance():
    unrelated = cr.simulate(
        cr.QLearning("rw"), "two_armed_fixed", n_subjects=10, n_trials=60, seed=11
    )
    net = cr.GRUModel(hidden_size=2, training=cr.TrainingConfig(max_epochs=1)).fit(
        unrelated, seed=0)
    data = cr.simulate(cr.Bias(), "two_armed_fixed", n_subjects=40, n_trials=60, seed=12)
    train, test = data.subset(range(20)), data.subset(range(20, 40))
    result = membership_audit(net, train, test)
    assert abs(result.auc - 0.5) < 0.2
    assert result.auc_ci[0] < 0.5 < result.auc_ci[1]


def test_network_overfitted_on_few_subjects_is_recognised(overfitted):
    net, train, test = overfitted
    result = membership_audit(net, train, test)
    assert result.auc > 0.9
    assert result.auc_ci[0] > 0.7
    assert result.p_value < 0.01
    member = result.table.set_index("subject")["member"]
    assert member.loc[list(range(6))].all() and not member.loc[list(range(6, 26))].any()


def test_auc_is_the_pairwise_win_rate_and_table_layout(overfitted):
    net, train, test = overfitted
    result = membership_audit(net, train, test, n_bootstrap=500, seed=1)
    table = result.table
    assert list(table.columns) == ["subject", "member", "nll_per_choice", "score"]
    assert table["member"].dtype == bool
    np.testing.assert_allclose(table["score"], -table["nll_per_choice"])
    ll = net.subject_log_likelihood(train)
    np.testing.assert_allclose(table.loc[table["member"], "nll_per_choice"], ll["nll_per_choice"])
    a = table.loc[table["member"], "score"].to_numpy()
    b = table.loc[~table["member"], "score"].to_numpy()
    wins = ((a[:, None] > b[None, :]) + 0.5 * (a[:, None] == b[None, :])).mean()
    assert result.auc == pytest.approx(wins)
    again = membership_audit(net, train, test, n_bootstrap=500, seed=1)
    assert again.auc_ci == result.auc_ci
    roc = result.roc()
    assert (roc.iloc[0][["false_positive_rate", "true_positive_rate"]] == 0).all()
    assert (roc.iloc[-1][["false_positive_rate", "true_positive_rate"]] == 1).all()
    ax = result.plot()
    assert isinstance(ax, plt.Axes)
    _, ax2 = plt.subplots()
    assert result.plot(ax=ax2) is ax2


def test_ties_count_one_half():
    """A model that predicts every subject equally well gives AUC exactly 0.5."""
    data = cr.simulate(cr.Bias(), "two_armed_fixed", n_subjects=8, n_trials=30, seed=0)
    frame = data.to_frame()
    frame["choice"] = 0  # identical behaviour and rewards for every subject
    frame["reward"] = 0.0
    same = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    net = cr.GRUModel(hidden_size=2, training=cr.TrainingConfig(max_epochs=1)).fit(
        same, seed=0)
    result = membership_audit(net, same.subset(range(4)), same.subset(range(4, 8)), n_bootstrap=200)
    assert result.auc == 0.5
    assert result.auc_ci == (0.5, 0.5)


def test_overlapping_subjects_raise(overfitted):
    net, train, test = overfitted
    with pytest.raises(ValueError, match=r"train and test share subjects \[4, 5\]"):
        membership_audit(net, train, train.subset([4, 5]))
    with pytest.raises(TypeError, match="train must be a ChoiceData"):
        membership_audit(net, train.to_frame(), test)
