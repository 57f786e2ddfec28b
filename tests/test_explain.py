"""Tests of choicernn.analysis.explain: explain, logit portraits, agreement by value difference."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.analysis.explain import (
    ExplainResult,
    agreement_by_value,
    default_candidates,
    explain,
    logit_portrait,
    plot_agreement,
)
from choicernn.models.base import NotFittedError

TASK = "drifting_two_armed"
TINY = cr.TrainingConfig(max_epochs=30, batch_size=16, lr=0.03)


@pytest.fixture(autouse=True)
def one_thread():
    """Small networks train fastest on one thread, and stay fast when other jobs share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
    plt.close("all")


@pytest.fixture(scope="module")
def rw_data() -> cr.ChoiceData:
    """A reward-driven learner: reward raises the probability of staying."""
    return cr.simulate(
        cr.QLearning("rw"),
        TASK,
        n_subjects=30,
        n_trials=200,
        seed=1,
        params={"alpha": 0.3, "beta": 5.0},
    )


@pytest.fixture(scope="module")
def tiny_gru(rw_data) -> cr.GRUModel:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return cr.GRUModel(hidden_size=1, training=TINY, device="cpu").fit(
            rw_data, seed=0)
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------- logit portraits
def test_portrait_table(tiny_gru):
    result = logit_portrait(tiny_gru, n_steps=10, n_sequences=20, seed=0)
    table = result.table
    assert list(table.columns) == [
        "sequence",
        "step",
        "prev_choice",
        "rewarded",
        "input",
        "logit",
        "delta_logit",
    ]
    assert len(table) == 11 * 20 * 4
    assert table["input"].nunique() == 4
    assert set(zip(table["prev_choice"], table["rewarded"], strict=True)) == {
        (0, False),
        (0, True),
        (1, False),
        (1, True),
    }
    assert np.isfinite(table[["logit", "delta_logit"]].to_numpy()).all()
    # Same seed, same table; another seed, other driving inputs.
    pd.testing.assert_frame_equal(table, logit_portrait(tiny_gru, n_steps=10, n_sequences=20).table)
    other = logit_portrait(tiny_gru, n_steps=10, n_sequences=20, seed=1).table
    assert not np.allclose(other["logit"], table["logit"])


def test_portrait_reward_raises_stay(tiny_gru):
    table = logit_portrait(tiny_gru, n_steps=20, n_sequences=30).table
    mean = table.groupby(["prev_choice", "rewarded"])["delta_logit"].mean()
    # Rewarded choices of option 1 push L up (toward option 1) more than unrewarded ones,
    # and symmetrically for option 0.
    assert mean[(1, True)] > mean[(1, False)]
    assert mean[(0, True)] < mean[(0, False)]


def test_portrait_matches_model_logits(tiny_gru):
    """L + ΔL from the initial state equals the model's logit after that one trial of data."""
    table = logit_portrait(tiny_gru, n_steps=1, n_sequences=3).table
    start = table[table["step"] == 0]
    scale = tiny_gru.reward_scale_
    frame = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(4), 2),
            "choice": [c for c, _ in [(0, 0), (0, 1), (1, 0), (1, 1)] for _ in range(2)],
            "reward": [r * scale for _, r in [(0, 0), (0, 1), (1, 0), (1, 1)] for _ in range(2)],
        }
    )
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    logits = tiny_gru.logits(data).to(torch.float64)
    level = (logits[:, :, 1] - logits[:, :, 0]).numpy()
    for i, (c, r) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        rows = start[(start["prev_choice"] == c) & (start["rewarded"] == bool(r))]
        np.testing.assert_allclose(rows["logit"], level[i, 0], atol=1e-5)
        np.testing.assert_allclose(rows["logit"] + rows["delta_logit"], level[i, 1], atol=1e-5)


def test_portrait_plot(tiny_gru):
    result = logit_portrait(tiny_gru, n_steps=5, n_sequences=5)
    ax = result.plot()
    assert isinstance(ax, plt.Axes)
    assert len(ax.get_lines()) >= 4
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "chose option 1, no reward",
        "chose option 1, reward",
        "chose option 2, no reward",
        "chose option 2, reward",
    ]
    markers = {line.get_marker() for line in ax.get_lines()[:4]}
    assert len(markers) == 4  # greyscale-readable
    _, given = plt.subplots()
    assert result.plot(ax=given, points=False) is given


def test_portrait_errors(tiny_gru):
    with pytest.raises(NotFittedError, match="call fit first"):
        logit_portrait(cr.GRUModel(hidden_size=1))
    with pytest.raises(TypeError, match="must be a fitted network model"):
        logit_portrait(cr.QLearning("rw"))
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        logit_portrait(tiny_gru, n_steps=0)
    three = cr.simulate(
        cr.QLearning("rw"), "restless_four_armed", n_subjects=2, n_trials=20, seed=0
    )
    net = cr.GRUModel(hidden_size=1, training=cr.TrainingConfig(max_epochs=1), device="cpu")
    net.fit(three)
    with pytest.raises(ValueError, match="need a two-option network"):
        logit_portrait(net)


# ---------------------------------------------------------------------- explain
def test_default_candidates():
    from choicernn.analysis.explain import CLASSIC_PRESETS

    names = [m.name for m in default_candidates()]
    assert names == [*CLASSIC_PRESETS, "wsls"] and set(CLASSIC_PRESETS) <= set(cr.PRESETS)


def test_explain_small(tiny_gru):
    result = explain(
        tiny_gru,
        TASK,
        [cr.QLearning("rw"), cr.WSLS()],
        n_subjects=8,
        n_trials=100,
        folds=2,
        seed=0,
    )
    assert isinstance(result, ExplainResult)
    assert set(result.table.index) == {"rw", "wsls"}
    assert result.best == result.table.index[0]
    assert result.table.loc[result.best, "delta_nll_per_trial"] == 0
    # The tiny network learned a reward-driven learner: rw beats win-stay-lose-shift.
    assert result.best == "rw"
    assert list(result.params.columns) == ["subject", "alpha", "beta"]
    assert len(result.params) == 8
    assert list(result.params_summary.index) == ["alpha", "beta"]
    assert result.data.n_subjects == 8
    ax = result.plot()
    assert isinstance(ax, plt.Axes)


def test_explain_errors(tiny_gru):
    with pytest.raises(ValueError, match="candidates is empty"):
        explain(tiny_gru, TASK, [])
    with pytest.raises(TypeError, match="candidates must be ChoiceModel"):
        explain(tiny_gru, TASK, ["rw"])
    with pytest.raises(TypeError, match="network must be a fitted ChoiceModel"):
        explain("gru", TASK)


@pytest.mark.slow
def test_explain_recovers_generating_preset():
    """A GRU trained on a perseverating Q-agent is best explained by rw_persev."""
    truth = {"alpha": 0.4, "beta": 4.0, "persev": 1.5}
    data = cr.simulate(
        cr.QLearning("rw_persev"), TASK, n_subjects=60, n_trials=300, seed=1, params=truth
    )
    training = cr.TrainingConfig(max_epochs=40, batch_size=16, lr=0.02)
    gru = cr.GRUModel(hidden_size=8, training=training, device="cpu").fit(data)
    candidates = [cr.QLearning("rw"), cr.QLearning("rw_persev"), cr.WSLS()]
    result = explain(gru, TASK, candidates, n_subjects=50, n_trials=300, seed=0)
    assert result.best == "rw_persev"
    # Clear on paired subjects (the mean difference has a heavy tail: one overfitted fold).
    assert result.table.loc["rw", "wilcoxon_p"] < 1e-3
    subjects = result.cv.subject_table().pivot(index="subject", columns="model", values="nll")
    assert (subjects["rw"] > subjects["rw_persev"]).mean() > 0.8
    # The network's perseveration is recovered near the generating value.
    assert 1.0 < result.params_summary.loc["persev", "median"] < 2.0


# ---------------------------------------------------------------------- agreement by value
def test_agreement_by_value(rw_data, tiny_gru):
    q_model = cr.QLearning("rw", n_restarts=2, device="cpu").fit(rw_data)
    oblivious = cr.GRUModel(
        hidden_size=2, inputs="choice_only", training=cr.TrainingConfig(max_epochs=5), device="cpu"
    ).fit(rw_data)
    table = agreement_by_value(tiny_gru, q_model, oblivious, rw_data, n_bins=4)
    assert list(table.columns) == [
        "bin",
        "value_diff",
        "n_trials",
        "agree_q",
        "agree_oblivious",
        "sem_q",
        "sem_oblivious",
    ]
    assert len(table) == 4
    assert table["n_trials"].sum() == rw_data.n_choices
    assert table["value_diff"].is_monotonic_increasing
    assert table[["agree_q", "agree_oblivious"]].stack().between(0, 1).all()
    # A network trained on a Q-learner agrees with it most where values differ clearly.
    assert table["agree_q"].iloc[-1] >= table["agree_q"].iloc[0]
    assert table["agree_q"].iloc[-1] > table["agree_oblivious"].iloc[-1]
    ax = plot_agreement(table)
    assert isinstance(ax, plt.Axes)
    with pytest.raises(TypeError, match="q_model must be a fitted QLearning"):
        agreement_by_value(tiny_gru, cr.QLearning("rw"), oblivious, rw_data)
