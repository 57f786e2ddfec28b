"""The lagged regression on two-step data (issue #18): likelihood against a plain-Python
reference, stages, fitting, kernel table, saving, the two-stage agent."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from test_two_step import TWO_STEP, random_two_step_frame

import choicernn as cr
from choicernn.models.lagged_regression import LaggedRegression
from choicernn.models.lagged_two_step import STAGE2_FEATURES, TRIAL_TYPES, LaggedTwoStepAgent

pytestmark = pytest.mark.filterwarnings("ignore::choicernn.models.parametric.FitWarning")


@pytest.fixture
def data(rng) -> cr.ChoiceData:
    frame = random_two_step_frame(rng, n_trials=30)
    frame["reward"] = frame["reward"] * 2.0 - 0.5  # graded rewards: -0.5 (unrewarded) or 1.5
    return cr.ChoiceData.from_frame(frame, **TWO_STEP)


def random_params(model: LaggedRegression, data: cr.ChoiceData, rng) -> pd.DataFrame:
    names = [p.name for p in model.parameters(2, two_step=True)]
    return pd.DataFrame(
        {"subject": data.subjects, **{n: rng.uniform(-2, 2, data.n_subjects) for n in names}}
    )


def _log_softmax(values, k):
    top = max(values)
    return values[k] - top - math.log(sum(math.exp(v - top) for v in values))


def reference_session(trials, th, n_lags, side_bias, stages):
    """Plain-Python (stage-1, stage-2) log-likelihoods of one session's trials with a first-stage
    choice, written from the module docstring's equations. ``trials``: (choice, state, choice2,
    reward) with None for what is missing."""
    history = []  # counted trials, most recent last: (first-stage choice, trial type)
    visits = {0: [], 1: []}  # per state, counted visits: (second-stage choice, reward)
    out = []
    for c1, s, c2, r in trials:
        if c1 is None:
            continue
        v1 = []
        for a in (0, 1):
            v = th["bias_1"] if (side_bias and a == 1) else 0.0
            for lag in range(1, n_lags + 1):
                if len(history) >= lag and history[-lag][0] == a:
                    v += th[f"{history[-lag][1]}_{lag}"]
            v1.append(v)
        ll1, ll2 = _log_softmax(v1, c1), 0.0
        counted = s is not None and c2 is not None
        if counted and stages == "both":
            v2 = []
            for a in (0, 1):
                v = th["bias2_1"] if (side_bias and a == 1) else 0.0
                for lag in range(1, n_lags + 1):
                    past = visits[s]
                    if len(past) >= lag and past[-lag][0] == a:
                        v += th[f"choice2_{lag}"] + th[f"reward2_{lag}"] * past[-lag][1]
                v2.append(v)
            ll2 = _log_softmax(v2, c2)
        if counted:
            kind = ("common" if s == c1 else "rare") + ("_rewarded" if r > 0 else "_unrewarded")
            history.append((c1, kind))
            visits[s].append((c2, r))
        out.append((ll1, ll2))
    return out


def _trials(frame):
    def val(x, cast):
        return None if pd.isna(x) else cast(x)

    return [
        (val(r.choice, int), val(r.state, int), val(r.choice2, int), val(r.reward, float))
        for r in frame.itertuples()
    ]


@pytest.mark.parametrize(
    ("n_lags", "side_bias", "stages"),
    [(1, True, "both"), (3, True, "both"), (2, False, "both"), (3, True, "first")],
)
def test_likelihood_matches_plain_python_reference(data, rng, n_lags, side_bias, stages):
    model = LaggedRegression(n_lags=n_lags, side_bias=side_bias, stages=stages)
    params = random_params(model, data, rng)
    table = model.trial_log_likelihood(data, params=params)
    assert list(table.columns) == [
        "subject",
        "session",
        "trial",
        "choice",
        "log_lik",
        "choice2",
        "log_lik_stage1",
        "log_lik_stage2",
    ]
    expected = []
    frame = data.to_frame()
    th = params.set_index("subject")
    for (subject, _), part in frame.groupby(["subject", "session"], sort=False):
        expected += reference_session(_trials(part), th.loc[subject], n_lags, side_bias, stages)
    expected = np.array(expected)
    np.testing.assert_allclose(table["log_lik_stage1"], expected[:, 0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table["log_lik_stage2"], expected[:, 1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table["log_lik"], expected.sum(1), rtol=1e-10, atol=1e-12)
    ll = model.log_likelihood_tensor(data, params=params)
    assert float(ll.sum()) == pytest.approx(expected.sum(), rel=1e-10)
    first = model.logits(data, params=params)
    assert first.shape == (data.n_sequences, data.tensors().n_trials, 2)
    if stages == "first":
        assert (table["log_lik_stage2"] == 0).all()
        names = [p.name for p in model.parameters(2, two_step=True)]
        assert not any(n.startswith(("choice2", "reward2", "bias2")) for n in names)


def test_causal_and_first_trial_uniform_without_bias(data, rng):
    model = LaggedRegression(n_lags=2, side_bias=False)
    params = random_params(model, data, rng)
    before = model.stage_logits(data, params=params)
    table = model.trial_log_likelihood(data, params=params)
    first = table.groupby(["subject", "session"]).head(1)
    np.testing.assert_allclose(first["log_lik_stage1"], math.log(0.5))
    frame = data.to_frame()
    cut = 12
    later = (frame["trial"] >= cut) & frame["choice2"].notna()
    frame.loc[later, "choice2"] = 1 - frame.loc[later, "choice2"]
    frame.loc[later, "reward"] = 1 - frame.loc[later, "reward"]
    changed = cr.ChoiceData.from_frame(frame, **TWO_STEP)
    after = model.stage_logits(changed, params=params)
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(b[:, : cut + 1], a[:, : cut + 1])
        assert not torch.allclose(b, a)


@pytest.fixture(scope="module")
def hybrid_data() -> cr.ChoiceData:
    truth = {"alpha1": 0.5, "alpha2": 0.5, "lambda": 0.6, "beta1": 6.0, "beta2": 6.0}
    return cr.simulate(
        cr.TwoStepModel("hybrid"),
        "two_step",
        n_subjects=6,
        n_trials=200,
        seed=2,
        params={**truth, "w": 0.7, "p": 0.2},
    )


def test_fit_beats_chance_on_both_stages_and_counts_them(hybrid_data):
    data = hybrid_data
    before = data.to_frame()
    model = LaggedRegression(n_lags=2, n_restarts=1, max_iter=60)
    assert model.fit(data, seed=0) is model
    pd.testing.assert_frame_equal(data.to_frame(), before)
    assert model.two_step_
    assert model.parameter_names[:2] == ["common_rewarded_1", "common_rewarded_2"]
    table = model.trial_log_likelihood(data)
    assert table["log_lik_stage1"].mean() > math.log(0.5) + 0.05
    assert table["log_lik_stage2"].mean() > math.log(0.5) + 0.05
    by_subject = table.groupby("subject", sort=False)["log_lik"].sum()
    np.testing.assert_allclose(model.results_["nll"], -by_subject.to_numpy(), rtol=1e-8)
    n_scored = (
        before.groupby("subject")["choice"].count() + before.groupby("subject")["choice2"].count()
    )
    assert model.results_["n_trials"].tolist() == n_scored.tolist()
    kernel = model.kernel_table()
    assert list(kernel["feature"].unique()) == list(TRIAL_TYPES + STAGE2_FEATURES)
    assert len(kernel) == data.n_subjects * 6 * 2
    mean = kernel.groupby(["feature", "lag"])["weight"].mean()
    # the reward of the state's last visit raises staying at the second stage
    assert mean[("reward2", 1)] > 0.5
    # more staying after a rewarded common trial than after an unrewarded one
    assert mean[("common_rewarded", 1)] > mean[("common_unrewarded", 1)]
    # a single-stage fit scores single-stage data only
    with pytest.raises(
        ValueError,
        match=re.escape("lagged_2 was fitted on two-step data and cannot score single-stage data"),
    ):
        model.logits(cr.simulate(cr.QLearning("rw"), "reversal", 2, 10, seed=0))


def test_first_stage_only_is_a_separate_fit(hybrid_data):
    model = LaggedRegression(n_lags=1, stages="first", n_restarts=1, max_iter=40)
    model.fit(hybrid_data, seed=0)
    assert model.parameter_names == [*(f"{t}_1" for t in TRIAL_TYPES), "bias_1"]
    assert model.results_["n_trials"].tolist() == [200] * hybrid_data.n_subjects
    table = model.trial_log_likelihood(hybrid_data)
    assert (table["log_lik_stage2"] == 0).all() and table["log_lik_stage1"].mean() > math.log(0.5)
    with pytest.raises(ValueError, match="stages must be 'both' or 'first', got 'second'"):
        LaggedRegression(stages="second")


def test_save_load_and_agent(hybrid_data, tmp_path):
    data = hybrid_data
    model = LaggedRegression(n_lags=2, n_restarts=1, max_iter=30).fit(data, seed=0)
    loaded = cr.load_model(model.save(tmp_path / "lagged"))
    assert loaded.two_step_ and loaded.get_params() == model.get_params()
    for a, b in zip(loaded.stage_logits(data), model.stage_logits(data), strict=True):
        torch.testing.assert_close(a, b)
    # the agent replaying the data reproduces both stages' logits
    agent, table = model.agent(data.n_subjects)
    assert isinstance(agent, LaggedTwoStepAgent) and len(table) == data.n_subjects
    batch = data.tensors()
    l1, l2 = model.stage_logits(data)
    agent.start_session()
    for t in range(batch.n_trials):
        torch.testing.assert_close(agent.logits(), l1[:, t])
        s = batch.states[:, t].numpy()
        torch.testing.assert_close(agent.second_stage_logits(s), l2[:, t])
        agent.update(
            batch.choices[:, t].numpy(),
            batch.rewards[:, t].numpy(),
            states=s,
            choices2=batch.choices2[:, t].numpy(),
        )
    sim = cr.simulate(model, "two_step", n_subjects=3, n_trials=40, seed=1)
    assert sim.is_two_step and set(sim.params.columns) >= {"subject", "reward2_1"}


def test_single_stage_fit_and_unfitted_models_are_unchanged(random_data):
    model = LaggedRegression(n_lags=2)
    assert model.parameter_names[:2] == ["choice_1", "choice_2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(random_data, seed=0)
    assert model.two_step_ is False and "two_step" not in model.write_fitted(None)
    assert set(model.kernel_table()["feature"]) == {"choice", "reward"}
