"""Recurrent networks reading two-step data (issue #18): inputs, targets, causality, the agent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from test_two_step import TWO_STEP, random_two_step_frame

import choicernn as cr
from choicernn.models.rnn_network import ChoiceRNN
from choicernn.models.rnn_two_step import (
    N_TWO_STEP_FEATURES,
    TWO_STEP_FEATURE_NAMES,
    TwoStepRNNAgent,
    split_stages,
    two_step_inputs,
    two_step_lengths,
    two_step_targets,
)


@pytest.fixture
def data(rng) -> cr.ChoiceData:
    return cr.ChoiceData.from_frame(random_two_step_frame(rng, n_trials=25), **TWO_STEP)


def network(seed: int = 0, cell: str = "gru", **kwargs) -> ChoiceRNN:
    """A randomly initialised network (every weight, initial state and embedding drawn)."""
    gen = torch.Generator().manual_seed(seed)
    net = ChoiceRNN(N_TWO_STEP_FEATURES, 2, hidden_size=4, cell=cell, **kwargs)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return net.eval()


def batched_logits(net: ChoiceRNN, data: cr.ChoiceData, reward_scale: float = 1.0, subject=None):
    batch = data.tensors(None, torch.float32)
    with torch.no_grad():
        logits, _ = net(two_step_inputs(batch, reward_scale), subject)
    return split_stages(logits)


def frame_of(rows) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["choice", "state", "choice2", "reward"], dtype=float)
    return frame.assign(subject="a", session=0, trial=range(len(frame)))


# ---------------------------------------------------------------------------- inputs
def test_inputs_by_hand():
    frame = frame_of(
        [
            (0, 1, 1, 2.0),  # rare transition, rewarded
            (np.nan, np.nan, np.nan, np.nan),  # first stage missed
            (1, 1, np.nan, np.nan),  # second stage missed, state known
            (1, np.nan, np.nan, np.nan),  # second stage missed, no state recorded
            (0, 0, 0, 0.0),
        ]
    )
    data = cr.ChoiceData.from_frame(frame, **{**TWO_STEP, "session": None})
    batch = data.tensors(None, torch.float32)
    x = two_step_inputs(batch, reward_scale=2.0)
    assert x.shape == (1, 10, N_TWO_STEP_FEATURES) == (1, 10, len(TWO_STEP_FEATURE_NAMES))
    # stage2, c1 (2), c1 missed, state (2), c2 (2), c2 missed, reward
    expected = [
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # step 0: nothing seen yet
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],  # stage 2 of trial 0: state 1
        [0, 1, 0, 0, 0, 1, 0, 1, 0, 1.0],  # stage 1 of trial 1: trial 0, reward 2 / 2
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # stage 2 of trial 1: no state
        [0, 0, 0, 1, 0, 0, 0, 0, 1, 0],  # trial 1: everything missed
        [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 1, 0, 0, 1, 0],  # trial 2: c1 = 1, state 1, c2 missed
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0, 1, 0],  # trial 3: c1 = 1, no state, c2 missed
        [1, 0, 0, 0, 1, 0, 0, 0, 0, 0],
    ]
    torch.testing.assert_close(x[0], torch.tensor(expected, dtype=torch.float32))
    assert two_step_targets(batch, "both").tolist() == [[0, 1, -1, -1, 1, -1, 1, -1, 0, 0]]
    assert two_step_targets(batch, "first").tolist() == [[0, -1, -1, -1, 1, -1, 1, -1, 0, -1]]
    assert two_step_lengths(batch).tolist() == [10]


def test_shapes_padding_and_targets(data):
    batch = data.tensors(None, torch.float32)
    n_s, n_t = batch.choices.shape
    x = two_step_inputs(batch, 1.0)
    assert x.shape == (n_s, 2 * n_t, N_TWO_STEP_FEATURES) and x.dtype == torch.float32
    steps = torch.arange(2 * n_t).unsqueeze(0)
    padding = steps >= two_step_lengths(batch).unsqueeze(1)
    assert (x[padding] == 0).all() and padding.any()
    assert (x[:, 0] == 0).all()
    assert (x[:, 1::2, 0][~padding[:, 1::2]] == 1).all() and (x[:, 0::2, 0] == 0).all()
    for stages in ("both", "first"):
        y = two_step_targets(batch, stages)
        assert y.shape == (n_s, 2 * n_t) and y.dtype == torch.long
        assert (y[padding] == -1).all()
        assert torch.equal(y[:, 0::2], batch.choices)
    y = two_step_targets(batch, "both")
    table = data.to_frame()
    counted = table["choice2"].notna() & table["state"].notna()
    assert int((y[:, 1::2] >= 0).sum()) == int(counted.sum()) > 0
    assert (two_step_targets(batch, "first")[:, 1::2] == -1).all()
    logits = torch.randn(n_s, 2 * n_t, 2)
    one, two = split_stages(logits)
    assert one.shape == two.shape == (n_s, n_t, 2)
    torch.testing.assert_close(torch.stack([one, two], 2).reshape(n_s, 2 * n_t, 2), logits)


def test_padding_is_never_read(data):
    net = network()
    one, two = batched_logits(net, data)
    lengths = data.tensors().lengths
    for i in range(data.n_sequences):
        alone = data.sequences.iloc[[i]]
        part = data.subject(alone["subject"].iloc[0])
        j = list(part.sequences["session"]).index(alone["session"].iloc[0])
        a1, a2 = batched_logits(net, part)
        n = int(lengths[i])
        torch.testing.assert_close(a1[j, :n], one[i, :n])
        torch.testing.assert_close(a2[j, :n], two[i, :n])


def _changed(frame: pd.DataFrame, row: int, **values) -> cr.ChoiceData:
    frame = frame.copy()
    for col, value in values.items():
        frame.loc[row, col] = value
    return cr.ChoiceData.from_frame(frame, **{**TWO_STEP, "session": None})


def test_causality():
    rng = np.random.default_rng(5)
    n = 12
    c1 = rng.integers(0, 2, n)
    state = np.where(rng.random(n) < 0.7, c1, 1 - c1)
    frame = frame_of(
        [(c1[i], state[i], rng.integers(0, 2), float(rng.integers(0, 2))) for i in range(n)]
    )
    base = cr.ChoiceData.from_frame(frame, **{**TWO_STEP, "session": None})
    net = network(1)
    b1, b2 = batched_logits(net, base)
    t = 5
    for change in (
        {"choice2": 1 - frame.at[t, "choice2"]},
        {"reward": 1 - frame.at[t, "reward"]},
        {"choice": 1 - frame.at[t, "choice"]},
    ):
        a1, a2 = batched_logits(net, _changed(frame, t, **change))
        torch.testing.assert_close(a1[:, : t + 1], b1[:, : t + 1])
        torch.testing.assert_close(a2[:, : t + 1], b2[:, : t + 1])
        assert not torch.allclose(a1[:, t + 1], b1[:, t + 1]), change
        assert not torch.allclose(a2[:, t + 1], b2[:, t + 1]), change
    a1, a2 = batched_logits(net, _changed(frame, t, state=1 - frame.at[t, "state"]))
    torch.testing.assert_close(a1[:, : t + 1], b1[:, : t + 1])
    torch.testing.assert_close(a2[:, :t], b2[:, :t])
    assert not torch.allclose(a2[:, t], b2[:, t])
    assert not torch.allclose(a1[:, t + 1], b1[:, t + 1])


def test_rewards_are_scaled():
    frame = frame_of([(0, 0, 1, 4.0), (1, 1, 0, 0.0)])
    data = cr.ChoiceData.from_frame(frame, **{**TWO_STEP, "session": None})
    x = two_step_inputs(data.tensors(None, torch.float32), 4.0)
    assert x[0, 2, -1] == 1.0
    with pytest.raises(ValueError, match="reward_scale must be a positive number, got 0"):
        two_step_inputs(data.tensors(), 0)


def test_errors(random_data):
    with pytest.raises(ValueError, match="need a two-step SequenceBatch"):
        two_step_inputs(random_data.tensors(), 1.0)
    with pytest.raises(ValueError, match="need a two-step SequenceBatch"):
        two_step_targets(random_data.tensors(), "both")
    with pytest.raises(ValueError, match="stages must be 'both' or 'first', got 'second'"):
        two_step_targets(
            cr.simulate(cr.TwoStepModel(), "two_step", 2, 5, seed=0).tensors(), "second"
        )
    with pytest.raises(ValueError, match=r"expected interleaved logits of shape"):
        split_stages(torch.zeros(2, 5, 2))


# ---------------------------------------------------------------------------- the agent
def replay(agent: TwoStepRNNAgent, data: cr.ChoiceData, ask_second_stage: bool):
    """Step the agent through ``data`` (one agent per sequence); stage logits (n, T, 2)."""
    batch = data.tensors()
    n_t = batch.n_trials
    one, two = [], []
    agent.start_session()
    for t in range(n_t):
        one.append(agent.logits())
        s = batch.states[:, t].numpy()
        if ask_second_stage:
            agent.second_stage_probabilities(s)
            two.append(agent.second_stage_logits(s))
        r = np.where(batch.choices2[:, t].numpy() >= 0, batch.rewards[:, t].numpy(), np.nan)
        agent.update(
            batch.choices[:, t].numpy(),
            r,
            None,
            states=s,
            choices2=batch.choices2[:, t].numpy(),
        )
    return torch.stack(one, 1), (torch.stack(two, 1) if two else None)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_agent_replay_equals_batched_logits(data, cell):
    subject = data.tensors().subject_index.clone()
    net = network(2, cell, n_subjects=data.n_subjects, embedding_dim=2)
    b1, b2 = batched_logits(net, data, reward_scale=2.0, subject=subject)
    lengths = data.tensors().lengths
    inside = torch.arange(b1.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)
    assert b1[inside].std() > 0.1 and b2[inside].std() > 0.1  # not a constant network
    for ask in (True, False):
        agent = TwoStepRNNAgent(net, 2.0, subject, data.n_sequences)
        one, two = replay(agent, data, ask)
        torch.testing.assert_close(one[inside], b1[inside].double(), rtol=1e-5, atol=1e-5)
        if ask:
            torch.testing.assert_close(two[inside], b2[inside].double(), rtol=1e-5, atol=1e-5)
        assert np.allclose(agent.probabilities().sum(1), 1.0)


def test_agent_protocol_checks_and_simulation():
    net = network(3)
    agent = TwoStepRNNAgent(net, 1.0, None, 3)
    p2 = agent.second_stage_probabilities(np.array([0, 1, -1]))
    assert p2.shape == (3, 2) and np.allclose(p2.sum(1), 1)
    np.testing.assert_array_equal(agent.second_stage_probabilities(np.array([0, 1, -1])), p2)
    with pytest.raises(ValueError, match="already called on this trial with other states"):
        agent.second_stage_probabilities(np.array([1, 1, -1]))
    with pytest.raises(ValueError, match="update got other states"):
        agent.update([0, 1, -1], [1, 0, 0], states=[1, 1, -1], choices2=[0, 0, -1])
    with pytest.raises(ValueError, match=r"choices must have shape \(3,\)"):
        agent.update([0, 1], [1, 0], states=[0, 1], choices2=[0, 0])
    with pytest.raises(ValueError, match="n_agents must be a positive integer"):
        TwoStepRNNAgent(net, 1.0, None, 0)
    sim = cr.simulate(TwoStepRNNAgent(net, 1.0, None, 4), "two_step", 4, 30, seed=0)
    assert sim.is_two_step and sim.to_frame()["choice2"].notna().all()
    again = cr.simulate(TwoStepRNNAgent(net, 1.0, None, 4), "two_step", 4, 30, seed=0)
    pd.testing.assert_frame_equal(sim.to_frame(), again.to_frame())


# ---------------------------------------------------------------------------- GRUModel
SHORT_NET = cr.TrainingConfig(max_epochs=15, patience=5, n_seeds=1, lr=0.02)


@pytest.fixture(scope="module")
def hybrid_data() -> cr.ChoiceData:
    return cr.simulate(cr.TwoStepModel("hybrid"), "two_step", n_subjects=6, n_trials=60, seed=1)


@pytest.mark.filterwarnings("ignore:.*still improving:UserWarning")
def test_gru_reads_two_step_data_scores_both_stages_and_replays_as_an_agent(hybrid_data, tmp_path):
    model = cr.GRUModel(4, training=SHORT_NET).fit(hybrid_data, seed=0)
    assert model.two_step_ and model.network_.core.n_inputs == N_TWO_STEP_FEATURES
    first, second = model.stage_logits(hybrid_data)
    n_seq, n_t = hybrid_data.tensors().choices.shape
    assert first.shape == second.shape == (n_seq, n_t, 2)
    torch.testing.assert_close(model.logits(hybrid_data), first)
    table = model.trial_log_likelihood(hybrid_data)
    assert {"log_lik_stage1", "log_lik_stage2", "choice2"} <= set(table.columns)
    np.testing.assert_allclose(table["log_lik"], table["log_lik_stage1"] + table["log_lik_stage2"])
    assert (table["log_lik_stage2"] < 0).all()  # every simulated trial has a second stage
    # the one scoring path: the summed table equals the tensor the base class sums
    total = float(model.log_likelihood_tensor(hybrid_data).sum())
    assert total == pytest.approx(table["log_lik"].sum(), rel=1e-9)
    # the training objective counted both stages: validation NLL is per scored choice
    first_only = cr.GRUModel(4, training=SHORT_NET, stages="first").fit(hybrid_data, seed=0)
    only = first_only.trial_log_likelihood(hybrid_data)
    assert (only["log_lik_stage2"] == 0).all()
    # save / load keeps the two-step network
    loaded = cr.load_model(model.save(tmp_path / "gru"))
    torch.testing.assert_close(loaded.stage_logits(hybrid_data)[1], second)
    # agent: simulate with it, and its replay of the data equals the batched logits
    sim = cr.simulate(model, "two_step", n_subjects=3, n_trials=20, seed=2)
    assert sim.is_two_step and sim.n_choices == 60
    agent, _ = model.agent(n_seq)
    batch = hybrid_data.tensors()
    for t in range(n_t):
        torch.testing.assert_close(agent.logits().float(), first[:, t], atol=1e-5, rtol=0)
        states = batch.states[:, t].numpy()
        p2 = agent.second_stage_probabilities(states)
        np.testing.assert_allclose(p2, torch.softmax(second[:, t], -1).numpy(), atol=1e-5)
        agent.update(
            batch.choices[:, t].numpy(),
            batch.rewards[:, t].numpy(),
            states=states,
            choices2=batch.choices2[:, t].numpy(),
        )
    hidden = model.hidden_states(hybrid_data)
    assert len(hidden) == len(hybrid_data.to_frame()) * 4


def test_gru_two_step_refusals(hybrid_data):
    with pytest.raises(ValueError, match="stages must be"):
        cr.GRUModel(2, stages="second")
    refused = cr.GRUModel(2, inputs="choice_only", training=SHORT_NET)
    with pytest.raises(ValueError, match="inputs='choice_only' is for single-stage"):
        refused.fit(hybrid_data)
    assert not refused.is_fitted()
    student = cr.GRUModel(2, training=SHORT_NET, teacher=cr.QLearning("rw"))
    with pytest.raises(TypeError, match="needs stage_logits"):
        student.fit(hybrid_data, seed=0)
    assert not student.is_fitted()  # a failed fit leaves no half-fitted model
    augmented = cr.TrainingConfig(max_epochs=2, augment_permutations=True)
    with pytest.raises(ValueError, match="augment_permutations"):
        cr.GRUModel(2, training=augmented).fit(hybrid_data)
    two_armed = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=2, n_trials=20, seed=0)
    single = cr.GRUModel(2, training=cr.TrainingConfig(max_epochs=2)).fit(two_armed, seed=0)
    with pytest.raises(ValueError, match="fitted on single-stage data"):
        single.logits(hybrid_data)
    with pytest.raises(ValueError, match="use logits"):
        single.stage_logits(two_armed)


@pytest.mark.filterwarnings("ignore:.*still improving:UserWarning")
def test_gru_distilled_from_the_hybrid_model_and_cross_validated(hybrid_data):
    teacher = cr.TwoStepModel("hybrid")
    student = cr.GRUModel(3, training=SHORT_NET, teacher=teacher).fit(hybrid_data, seed=0)
    assert student.teacher_.is_fitted()
    cv = cr.cross_validate(
        [cr.GRUModel(3, training=SHORT_NET), cr.TwoStepModel("model_free")],
        hybrid_data,
        folds=2,
        in_sample=False,
    )
    assert set(cv.summary().index) == {"gru3", "two_step_model_free"}
    assert np.isfinite(cv.trials["log_lik"]).all()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_gru_within_3_percent_of_the_generating_hybrid_model_held_out():
    """Issue #18: a GRU trained on simulated hybrid agents (100 x 2 sessions x 200 trials) is
    within 3% of the generating model (true parameters) on held-out sessions, both stages
    scored. Measured at commit time: 1.023 (generating 0.9109 nats per trial, GRU 0.9323)."""
    n = 100
    truth = pd.DataFrame(
        {
            "subject": np.arange(n),
            "alpha1": 0.5,
            "alpha2": 0.5,
            "lambda": 0.6,
            "beta1": 5.0,
            "beta2": 5.0,
            "w": 0.5,
            "p": 0.1,
        }
    )
    hybrid = cr.TwoStepModel("hybrid")
    data = cr.simulate(hybrid, "two_step", n, 200, n_sessions=3, seed=1, params=truth)
    train, test = data.split_sessions([2])
    generating = hybrid.trial_log_likelihood(test, params=truth)["log_lik"]
    config = cr.TrainingConfig(max_epochs=400, patience=20, n_seeds=2)
    gru = cr.GRUModel(16, training=config).fit(train, seed=0)
    ours = gru.trial_log_likelihood(test)["log_lik"]
    assert len(ours) == len(generating)
    ratio = ours.sum() / generating.sum()
    assert ratio <= 1.03, f"GRU held-out NLL {ratio:.4f} x the generating model's"
