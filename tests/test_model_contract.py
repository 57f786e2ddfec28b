"""One contract suite run on every parametric model (GRU has its own file with the same checks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from synthetic import random_choice_frame

import choicernn as cr
from choicernn.models.qlearning import PRESETS

MODELS = [cr.QLearning(p) for p in sorted(PRESETS)] + [cr.WSLS(), cr.Bias(), cr.KalmanFilter()]
IDS = [m.name for m in MODELS]


def _params(model, data, rng, extreme=None):
    rows = []
    for s in data.subjects:
        row = {"subject": s}
        for p in model.parameters(data.n_options):
            if extreme == "low":
                row[p.name] = p.lower + 1e-9 * (p.upper - p.lower)
            elif extreme == "high":
                row[p.name] = p.upper - 1e-9 * (p.upper - p.lower)
            else:
                lo, hi, _ = p.init
                row[p.name] = rng.uniform(lo, hi)
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def data3(rng):
    return cr.ChoiceData.from_frame(
        random_choice_frame(rng, k=3), n_options=3, session="session", trial="trial"
    )


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_shapes_and_probabilities(model, data3, rng):
    params = _params(model, data3, rng)
    logits = model.logits(data3, params=params)
    batch = data3.tensors()
    assert logits.shape == (batch.n_sequences, batch.n_trials, 3)
    p = torch.softmax(logits, -1)
    torch.testing.assert_close(p.sum(-1), torch.ones_like(p[..., 0]))
    table = model.choice_probabilities(data3, params=params)
    assert list(table.columns) == ["subject", "session", "trial", "option", "probability"]
    assert len(table) == 3 * data3.n_trials
    sums = table.groupby(["subject", "session", "trial"])["probability"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-12)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
@pytest.mark.parametrize("extreme", ["low", "high"])
def test_finite_at_extreme_parameters(model, data3, rng, extreme):
    ll = model.log_likelihood_tensor(data3, params=_params(model, data3, rng, extreme))
    assert torch.isfinite(ll).all()


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_causal(model, data3, rng):
    """Changing trial t's choice and reward leaves the logits of trials <= t unchanged."""
    params = _params(model, data3, rng)
    before = model.logits(data3, params=params)
    frame = data3.to_frame()
    t_cut = 15
    later = (frame["trial"] >= t_cut).to_numpy() & frame["choice"].notna().to_numpy()
    frame.loc[later, "choice"] = (frame.loc[later, "choice"] + 1) % 3
    frame.loc[later, "reward"] = 1 - frame.loc[later, "reward"]
    changed = cr.ChoiceData.from_frame(frame, n_options=3, session="session", trial="trial")
    after = model.logits(changed, params=params)
    torch.testing.assert_close(before[:, : t_cut + 1], after[:, : t_cut + 1])


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_agent_steps_equal_batched_pass(model, data3, rng):
    params = _params(model, data3, rng)
    logits = model.logits(data3, params=params)
    batch = data3.tensors()
    seq_params = params.set_index("subject").loc[data3.sequences["subject"]].reset_index()
    agent, _ = model.agent(batch.n_sequences, params=seq_params, n_options=3)
    agent.start_session()
    for t in range(batch.n_trials):
        expected = torch.softmax(logits[:, t], -1).numpy()
        valid = (t < batch.lengths).numpy()
        np.testing.assert_allclose(agent.probabilities()[valid], expected[valid], atol=1e-10)
        agent.update(
            batch.choices[:, t].numpy(),
            batch.rewards[:, t].numpy(),
            np.zeros((batch.n_sequences, 3)),
        )


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_masked_trials_contribute_nothing(model, data3, rng):
    """A missed trial has log-likelihood 0 and is equivalent to deleting the row."""
    params = _params(model, data3, rng)
    ll = model.log_likelihood_tensor(data3, params=params)
    assert (ll[~data3.tensors().mask] == 0).all()
    frame = data3.to_frame()
    dropped = cr.ChoiceData.from_frame(
        frame[frame["choice"].notna()], n_options=3, session="session", trial="trial"
    )
    ll_dropped = model.log_likelihood_tensor(dropped, params=params)
    assert float(ll.sum()) == pytest.approx(float(ll_dropped.sum()), abs=1e-9)


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_fit_returns_self_and_leaves_data_alone(model, data3):
    before = data3.to_frame()
    fitted = model.clone().set_params(n_restarts=2, max_iter=30).fit(data3, seed=0)
    pd.testing.assert_frame_equal(before, data3.to_frame())
    assert isinstance(fitted, type(model))
    assert list(fitted.params_.columns) == ["subject"] + [p.name for p in model.parameters(3)]
    expected = {
        "subject",
        "model",
        "nll",
        "n_trials",
        "n_params",
        "aic",
        "bic",
        "converged",
        "n_iter",
    }
    assert expected <= set(fitted.results_.columns)
    assert np.isfinite(fitted.results_["nll"]).all()
    # the reported NLL is the model's own likelihood at the fitted parameters
    ll = fitted.subject_log_likelihood(data3)
    np.testing.assert_allclose(
        -ll["log_lik"].to_numpy(), fitted.results_["nll"].to_numpy(), atol=1e-8
    )


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_unfitted_model_says_call_fit(model, data3):
    with pytest.raises(cr.NotFittedError, match="call fit"):
        model.clone().logits(data3)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="presets are"):
        cr.QLearning("nope")


def test_clone_keeps_constructor_arguments():
    model = cr.QLearning("dual_alpha", q0=0.5, name="x", n_restarts=3)
    params = model.clone().get_params()
    assert {k: params[k] for k in ("preset", "q0", "name", "n_restarts", "method")} == {
        "preset": "dual_alpha",
        "q0": 0.5,
        "name": "x",
        "n_restarts": 3,
        "method": "map",
    }


def test_custom_components_declare_a_variant():
    model = cr.QLearning(cr.QComponents(dual_alpha=True, perseveration=True), name="dual_persev")
    assert [p.name for p in model.parameters(2)] == ["alpha_pos", "alpha_neg", "beta", "persev"]


def test_reward_raises_value_of_chosen_option():
    """After a reward on option 1 the probability of option 1 rises (rw, alpha, beta > 0)."""
    frame = pd.DataFrame({"subject": [0, 0], "choice": [1, 1], "reward": [1.0, 1.0]})
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    p = torch.softmax(
        cr.QLearning("rw").logits(
            data, params=pd.DataFrame({"subject": [0], "alpha": [0.3], "beta": [3.0]})
        ),
        -1,
    )
    assert p[0, 1, 1] > p[0, 0, 1]


def test_softmax_finite_with_huge_values():
    frame = pd.DataFrame({"subject": [0] * 3, "choice": [0, 1, 0], "reward": [1e6, -1e6, 1e6]})
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    ll = cr.QLearning("rw").log_likelihood_tensor(
        data, params=pd.DataFrame({"subject": [0], "alpha": [0.9], "beta": [49.0]})
    )
    assert torch.isfinite(ll).all()
