"""The one contract suite, run on every model type: each Q-learning preset, each heuristic, the
GRU in each cell type, nested selection, every other registered type, and the lapse model that
``test_adding_a_model.py`` defines in its own file.

Checks: ``fit`` returns self; settings round-trip through ``get_params``/``set_params``/``clone``
and ``sklearn.base.clone``; save/load gives identical log-likelihoods; logits are causal; the
agent's probabilities equal the logits when it replays the same choices and rewards; the same
seed gives the same fit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone as sk_clone
from test_adding_a_model import LapseQLearning

import choicernn as cr
from choicernn.models.qlearning import PRESETS
from choicernn.models.registry import available_models, make_model

TINY = cr.TrainingConfig(max_epochs=3, patience=2, batch_size=None)
# two_step needs two-step data: tests/test_two_step.py runs the same checks on it
BUILT_IN = {"qlearning", "gru", "select", "wsls", "bias", "kalman", "lapse_q", "two_step"}


def _models() -> list[cr.ChoiceModel]:
    models: list[cr.ChoiceModel] = [cr.QLearning(p, n_restarts=2, max_iter=40) for p in PRESETS]
    models += [cr.WSLS(n_restarts=2), cr.Bias(n_restarts=2), cr.KalmanFilter(n_restarts=2)]
    models += [cr.GRUModel(hidden_size=2, cell=c, training=TINY, device="cpu") for c in ("gru", "lstm", "rnn")]
    models.append(
        cr.SelectByCV(
            [cr.QLearning("rw", n_restarts=2), cr.WSLS(n_restarts=2)], folds=2, name="select"
        )
    )
    models.append(LapseQLearning(n_restarts=2))
    for kind in sorted(set(available_models()) - BUILT_IN):  # types added by later modules
        model = make_model({"type": kind})
        if "n_restarts" in model.get_params(deep=False):
            model.set_params(n_restarts=2)
        if "training" in model.get_params(deep=False):  # networks: a few epochs suffice here
            model.set_params(training=TINY)
        models.append(model)
    return models


MODELS = _models()
IDS = [f"{type(m).__name__}-{m.name}" for m in MODELS]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    rows = []
    for s in range(4):
        for session in range(2):
            for t in range(40):
                choice = rng.integers(0, 2) if rng.random() > 0.05 else None
                rows.append((f"s{s}", session, t, choice, float(rng.random() < 0.6)))
    frame = pd.DataFrame(rows, columns=["subject", "session", "trial", "choice", "reward"])
    frame["choice"] = frame["choice"].astype("Int64")
    return cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")


@pytest.fixture(scope="module")
def fitted(data):
    return {name: m.clone().fit(data, seed=0) for name, m in zip(IDS, MODELS)}


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_fit_returns_self(model, data):
    fresh = model.clone()
    assert not fresh.is_fitted()
    assert fresh.fit(data, seed=0) is fresh and fresh.is_fitted()


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_settings_round_trip(model):
    params = model.get_params(deep=False)
    copy = model.clone()
    assert repr(copy) == repr(model)
    assert type(copy)(**copy.get_params(deep=False)).get_params(deep=False).keys() == params.keys()
    copy.set_params(**params)
    assert repr(copy) == repr(model)
    sk = sk_clone(model)
    assert type(sk) is type(model) and repr(sk) == repr(model) and not sk.is_fitted()
    deep = model.get_params(deep=True)
    assert set(params) <= set(deep)


@pytest.mark.parametrize("name", IDS)
def test_save_load_gives_identical_log_likelihoods(name, fitted, data, tmp_path):
    model = fitted[name]
    model.save(tmp_path / "m")
    loaded = cr.load_model(tmp_path / "m")
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    pd.testing.assert_frame_equal(
        loaded.trial_log_likelihood(data), model.trial_log_likelihood(data)
    )


@pytest.mark.parametrize("name", IDS)
def test_logits_are_causal(name, fitted, data):
    model = fitted[name]
    before = model.logits(data)
    frame = data.to_frame()
    cut = 20
    later = (frame["trial"] >= cut).to_numpy() & frame["choice"].notna().to_numpy()
    frame.loc[later, "choice"] = 1 - frame.loc[later, "choice"]
    frame.loc[later, "reward"] = 1 - frame.loc[later, "reward"]
    changed = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    after = model.logits(changed)
    torch.testing.assert_close(before[:, : cut + 1], after[:, : cut + 1])


def _agent_params(model, data):
    caps = model.capabilities()
    subjects = list(data.sequences["subject"])
    if caps.parameter_table:
        return model.params_.set_index("subject").loc[subjects].reset_index()
    if caps.subject_specific:
        return subjects
    return None


@pytest.mark.parametrize("name", IDS)
def test_agent_replay_equals_logits(name, fitted, data):
    model = fitted[name]
    logits = model.logits(data).to(torch.float64)
    batch = data.tensors()
    agent, _ = model.agent(batch.n_sequences, params=_agent_params(model, data), n_options=2)
    agent.start_session()
    for t in range(batch.n_trials):
        valid = (t < batch.lengths).numpy()
        expected = torch.softmax(logits[:, t], -1).numpy()
        np.testing.assert_allclose(agent.probabilities()[valid], expected[valid], atol=1e-5)
        agent.update(batch.choices[:, t].numpy(), batch.rewards[:, t].numpy(), None)


@pytest.mark.parametrize("name", IDS)
def test_same_seed_same_result(name, fitted, data):
    model = fitted[name]
    again = model.clone().fit(data, seed=0)
    torch.testing.assert_close(again.logits(data), model.logits(data))


def test_numpy_integers_are_accepted_as_settings(data):
    """Settings from a numpy grid (np.int64) work like plain ints."""
    gru = cr.GRUModel(hidden_size=np.int64(2), training=TINY, device="cpu").fit(data, seed=0)
    assert gru.hidden_size == 2 and type(gru.hidden_size) is int
    q = cr.QLearning("rw", n_restarts=np.int64(2)).fit(data, seed=0)
    assert q.is_fitted()
