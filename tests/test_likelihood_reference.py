"""Every parametric model's batched likelihood equals an independent slow reference to 1e-6."""

from __future__ import annotations

import numpy as np
import pytest
from reference_models import kalman_loglik, q_learning_loglik, wsls_loglik
from synthetic import random_choice_frame

import choicernn as cr
from choicernn.models.qlearning import PRESETS


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
