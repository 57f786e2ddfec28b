"""Every parametric model's batched likelihood equals an independent slow reference to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
from reference_models import (
    gql_loglik,
    kalman_loglik,
    lagged_regression_loglik,
    latent_state_loglik,
    q_learning_loglik,
    wsls_loglik,
)
from synthetic import random_choice_frame

import choicernn as cr
from choicernn.models.gql import GQL
from choicernn.models.lagged_regression import LaggedRegression
from choicernn.models.latent_state import LatentStateModel
from choicernn.models.qlearning import PRESETS, QComponents


def _random_params(model, k, subjects, rng):
    out = {}
    for s in subjects:
        out[s] = {}
        for p in model.parameters(k):
            lo, hi, _ = p.init
            out[s][p.name] = (
                float(rng.uniform(lo, hi)) if p.name != "beta" else float(rng.uniform(0.5, 8))
            )
    return out


def _as_table(params):
    import pandas as pd

    return pd.DataFrame([{"subject": s, **v} for s, v in params.items()])


def _compare(model, data, params, reference):
    table = data.to_frame()
    ll = data.trial_values(model.log_likelihood_tensor(data, params=_as_table(params)))
    observed = table["choice"].notna().to_numpy()
    np.testing.assert_allclose(ll[observed], reference[observed], atol=1e-6, rtol=0)
    assert np.isnan(reference[~observed]).all()


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("q0", [0.0, 0.5])
def test_q_learning_matches_reference(preset, k, q0, rng):
    frame = random_choice_frame(rng, k=k)
    data = cr.ChoiceData.from_frame(frame, n_options=k, session="session", trial="trial")
    model = cr.QLearning(preset, q0=q0)
    params = _random_params(model, k, data.subjects, rng)
    c = PRESETS[preset]
    ref = q_learning_loglik(
        data.to_frame(),
        k,
        params,
        dual=c.dual_alpha,
        forgetting=c.forgetting,
        persev=c.perseveration,
        choice_kernel=c.choice_kernel,
        reward_sensitivity=c.reward_sensitivity,
        side_bias=c.side_bias,
        q0=q0,
        lapse=c.lapse,
        counterfactual=c.counterfactual,
        full_feedback=c.full_feedback,
        reward_punishment=c.reward_punishment,
        gain_loss=c.gain_loss,
    )
    _compare(model, data, params, ref)


def test_wsls_matches_reference(rng):
    frame = random_choice_frame(rng, k=3)
    data = cr.ChoiceData.from_frame(frame, n_options=3, session="session", trial="trial")
    model = cr.WSLS()
    params = _random_params(model, 3, data.subjects, rng)
    _compare(model, data, params, wsls_loglik(data.to_frame(), 3, params))


def test_kalman_matches_reference(rng):
    frame = random_choice_frame(rng, k=4, points=True)
    data = cr.ChoiceData.from_frame(frame, n_options=4, session="session", trial="trial")
    model = cr.KalmanFilter()
    params = _random_params(model, 4, data.subjects, rng)
    ref = kalman_loglik(data.to_frame(), 4, params, 0.9836, 50.0, 4.0, 2.8, 50.0, 16.0)
    _compare(model, data, params, ref)


def test_bias_at_zero_is_chance(random_data):
    model = cr.Bias()
    params = _as_table({s: {"bias_1": 0.0, "bias_2": 0.0} for s in random_data.subjects})
    ll = model.log_likelihood_tensor(random_data, params=params)
    assert float(ll.sum()) == pytest.approx(random_data.n_choices * np.log(1 / 3), abs=1e-9)


def test_rw_three_trials_by_hand():
    """alpha=0.5, beta=2: Q after (choice 0, reward 1) is [0.5, 0]; after (1, 0) stays [0.5, 0]."""
    import pandas as pd

    frame = pd.DataFrame({"subject": [1, 1, 1], "choice": [0, 1, 0], "reward": [1.0, 0.0, 1.0]})
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    model = cr.QLearning("rw")
    ll = model.log_likelihood_tensor(
        data, params=pd.DataFrame({"subject": [1], "alpha": [0.5], "beta": [2.0]})
    )
    expected = [np.log(0.5), np.log(1 / (1 + np.exp(1.0))), np.log(1 / (1 + np.exp(-1.0)))]
    np.testing.assert_allclose(ll[0].numpy(), expected, atol=1e-12)


# ----------------------------------------------------------------- classical models (issue #16)
def _signed(frame, rng):
    """Rewards in {-1, 0, 1} (gains, nothing, losses) on observed trials."""
    frame = frame.copy()
    observed = frame["choice"].notna()
    frame.loc[observed, "reward"] = rng.integers(-1, 2, size=int(observed.sum())).astype(float)
    return frame


def _full_feedback(frame, rng, k):
    """Every option's outcome in -1..2 on every trial; the reward is the chosen one's."""
    frame = frame.copy()
    cols = [f"o{j}" for j in range(k)]
    values = rng.integers(-1, 3, size=(len(frame), k)).astype(float)
    for j, col in enumerate(cols):
        frame[col] = values[:, j]
    observed = frame["choice"].notna().to_numpy()
    chosen = frame["choice"].fillna(0).to_numpy(dtype=int)
    frame["reward"] = np.where(observed, values[np.arange(len(frame)), chosen], np.nan)
    return frame, cols


Q_VARIANTS = {
    "lapse_persev": QComponents(lapse=True, perseveration=True),
    "lapse_full": QComponents(
        lapse=True,
        dual_alpha=True,
        forgetting=True,
        perseveration=True,
        choice_kernel=True,
        side_bias=True,
    ),
    "fictitious_ck": QComponents(counterfactual=True, choice_kernel=True, lapse=True),
    "rp_fictitious": QComponents(counterfactual=True, reward_punishment=True, gain_loss=True),
    "gain_loss_rp": QComponents(gain_loss=True, reward_punishment=True, lapse=True),
    "gain_loss_dual": QComponents(gain_loss=True, dual_alpha=True, perseveration=True),
    "full_feedback": QComponents(full_feedback=True),
    "full_feedback_dual": QComponents(full_feedback=True, dual_alpha=True, lapse=True),
    "full_feedback_rp": QComponents(full_feedback=True, reward_punishment=True, gain_loss=True),
}


@pytest.mark.parametrize("variant", sorted(Q_VARIANTS))
@pytest.mark.parametrize("k", [2, 3])
def test_q_components_match_reference(variant, k, rng):
    """New components (lapse, counterfactual, full feedback, reward/punishment, gain/loss) on
    signed rewards, several sessions and missed trials."""
    c = Q_VARIANTS[variant]
    frame = _signed(random_choice_frame(rng, k=k), rng)
    outcomes = None
    if c.full_feedback:
        frame, outcomes = _full_feedback(frame, rng, k)
    data = cr.ChoiceData.from_frame(
        frame, n_options=k, session="session", trial="trial", outcomes=outcomes
    )
    model = cr.QLearning(c, q0=0.2)
    params = _random_params(model, k, data.subjects, rng)
    ref = q_learning_loglik(
        data.to_frame(),
        k,
        params,
        q0=0.2,
        dual=c.dual_alpha,
        forgetting=c.forgetting,
        persev=c.perseveration,
        choice_kernel=c.choice_kernel,
        reward_sensitivity=c.reward_sensitivity,
        side_bias=c.side_bias,
        lapse=c.lapse,
        counterfactual=c.counterfactual,
        full_feedback=c.full_feedback,
        reward_punishment=c.reward_punishment,
        gain_loss=c.gain_loss,
    )
    _compare(model, data, params, ref)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("k", [2, 3])
def test_gql_matches_reference(d, k, rng):
    frame = random_choice_frame(rng, k=k)
    data = cr.ChoiceData.from_frame(frame, n_options=k, session="session", trial="trial")
    model = GQL(d=d)
    params = _random_params(model, k, data.subjects, rng)
    _compare(model, data, params, gql_loglik(data.to_frame(), k, params, d=d))


@pytest.mark.parametrize("n_lags", [1, 4])
@pytest.mark.parametrize("side_bias", [True, False])
@pytest.mark.parametrize("k", [2, 3])
def test_lagged_regression_matches_reference(n_lags, side_bias, k, rng):
    frame = _signed(random_choice_frame(rng, k=k), rng)
    data = cr.ChoiceData.from_frame(frame, n_options=k, session="session", trial="trial")
    model = LaggedRegression(n_lags=n_lags, side_bias=side_bias)
    params = _random_params(model, k, data.subjects, rng)
    ref = lagged_regression_loglik(data.to_frame(), k, params, n_lags, side_bias)
    _compare(model, data, params, ref)


@pytest.mark.parametrize("k", [2, 3])
def test_latent_state_matches_reference(k, rng):
    frame = _signed(random_choice_frame(rng, k=k), rng)
    data = cr.ChoiceData.from_frame(frame, n_options=k, session="session", trial="trial")
    model = LatentStateModel()
    params = _random_params(model, k, data.subjects, rng)
    _compare(model, data, params, latent_state_loglik(data.to_frame(), k, params))


def test_lapse_mixes_softmax_with_uniform():
    """Two trials by hand: rw with lapse, alpha=0.5, beta=2, epsilon=0.2."""
    import pandas as pd

    frame = pd.DataFrame({"subject": [1, 1], "choice": [0, 0], "reward": [1.0, 0.0]})
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    params = pd.DataFrame({"subject": [1], "alpha": [0.5], "beta": [2.0], "epsilon": [0.2]})
    ll = cr.QLearning(QComponents(lapse=True)).log_likelihood_tensor(data, params=params)
    p2 = 0.8 / (1 + np.exp(-1.0)) + 0.1  # Q = [0.5, 0]: softmax gives 1/(1+e^-1) to option 0
    np.testing.assert_allclose(ll[0].numpy(), [np.log(0.5), np.log(p2)], atol=1e-12)


def test_fictitious_moves_unchosen_toward_minus_reward():
    """prl_fictitious: after a reward of 1 on option 0, Q = [alpha, -alpha]."""
    import pandas as pd

    frame = pd.DataFrame({"subject": [1, 1], "choice": [0, 1], "reward": [1.0, 0.0]})
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    params = pd.DataFrame({"subject": [1], "alpha": [0.25], "beta": [1.0]})
    logits = cr.QLearning("fictitious_woa").logits(data, params=params)
    np.testing.assert_allclose(logits[0, 1].numpy(), [0.25, -0.25], atol=1e-12)
