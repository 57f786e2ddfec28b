"""Two-step tasks (Daw et al. 2011): data, loader, task, simulation, models, signatures, figure."""

from __future__ import annotations

import math
import re
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn import datasets
from choicernn.models.scoring import chosen_log_prob
from choicernn.models.two_step import PRESETS, TwoStepModel
from choicernn.plots.two_step import plot_two_step_stay
from choicernn.signatures import two_step_regression, two_step_stay

TWO_STEP = dict(
    subject="subject",
    choice="choice",
    state="state",
    choice2="choice2",
    reward="reward",
    session="session",
    trial="trial",
    n_options=2,
)


def random_two_step_frame(rng, n_subjects=3, n_sessions=2, n_trials=40) -> pd.DataFrame:
    """Random two-step trials (0-based) with missed first and second stages."""
    rows = []
    for s in range(n_subjects):
        for sess in range(n_sessions):
            for t in range(n_trials - int(rng.integers(0, 8))):
                c1 = int(rng.integers(0, 2))
                state = c1 if rng.random() < 0.7 else 1 - c1
                c2 = int(rng.integers(0, 2))
                r = float(rng.integers(0, 2))
                u = rng.random()
                if u < 0.06:  # first stage missed: nothing else
                    c1 = state = c2 = r = np.nan
                elif u < 0.12:  # second stage missed, state known
                    c2 = r = np.nan
                elif u < 0.15:  # second stage missed, state not recorded
                    state = c2 = r = np.nan
                rows.append(
                    dict(
                        subject=f"s{s}",
                        session=sess,
                        trial=t,
                        choice=c1,
                        state=state,
                        choice2=c2,
                        reward=r,
                    )
                )
    return pd.DataFrame(rows)


@pytest.fixture
def data(rng) -> cr.ChoiceData:
    return cr.ChoiceData.from_frame(random_two_step_frame(rng), **TWO_STEP)


def random_params(model, data, rng) -> pd.DataFrame:
    rows = []
    for s in data.subjects:
        row = {"subject": s}
        for p in model.parameters(2):
            lo, hi, _ = p.init
            row[p.name] = rng.uniform(lo, hi)
        rows.append(row)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- data
def test_two_step_table_and_tensors(data):
    table = data.to_frame()
    assert list(table.columns) == [
        "subject",
        "session",
        "trial",
        "choice",
        "reward",
        "state",
        "choice2",
    ]
    assert str(table["state"].dtype) == str(table["choice2"].dtype) == "Int64"
    assert data.is_two_step and "two-step" in repr(data)
    # a reward only where there is a second-stage choice
    assert (table["reward"].isna() == table["choice2"].isna()).all()
    batch = data.tensors()
    assert batch.is_two_step and batch.states.shape == batch.choices.shape
    assert ((batch.choices2 >= 0) <= (batch.states >= 0)).all()
    assert ((batch.states >= 0) <= (batch.choices >= 0)).all()
    assert torch.isfinite(batch.rewards).all()
    assert data.n_second_choices == int(table["choice2"].notna().sum())
    again = cr.ChoiceData.from_frame(table, **TWO_STEP)
    pd.testing.assert_frame_equal(again.to_frame(), table)
    # splits and subsets keep the second stage
    assert data.split_trial_blocks(2)[1].is_two_step
    assert data.subject("s1").is_two_step


def test_single_stage_data_are_not_two_step(random_data):
    assert not random_data.is_two_step and random_data.n_second_choices == 0
    assert random_data.tensors().states is None and "two-step" not in repr(random_data)


def test_read_csv_two_step_one_based_with_state_labels(tmp_path):
    path = tmp_path / "ts.csv"
    path.write_text("id,first,planet,second,won\na,1,B,2,1\na,2,C,1,0\na,,,,\na,2,B,,\nb,1,C,1,0\n")
    data = cr.read_csv(
        path,
        subject="id",
        choice="first",
        state="planet",
        choice2="second",
        reward="won",
        n_options=2,
        choice_base=1,
        state_labels=["B", "C"],
    )
    table = data.to_frame()
    assert table["choice"].tolist() == [0, 1, pd.NA, 1, 0]
    assert table["state"].tolist() == [0, 1, pd.NA, 0, 1]
    assert table["choice2"].tolist() == [1, 0, pd.NA, pd.NA, 0]
    assert table["reward"].isna().tolist() == [False, False, True, True, False]


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (
            {"state": (2, 5)},
            {},
            "column 'state' (state): value 5 at row 2 (subject 's0') is not a second-stage state",
        ),
        (
            {"choice2": (2, 2)},
            {},
            "column 'choice2' (second-stage choice): value 2 at row 2 "
            "(subject 's0') is out of range",
        ),
        (
            {"choice2": (2, 0.5)},
            {},
            "column 'choice2' (second-stage choice): value 0.5 at row 2 "
            "(subject 's0') is not an integer option code",
        ),
        (
            {"choice": (2, np.nan)},
            {},
            "column 'state' (state): value 1 at row 2 (subject 's0'), "
            "but that trial's first-stage choice (column 'choice') is missed",
        ),
        (
            {"state": (2, np.nan)},
            {},
            "column 'state' (state): no state at row 2 (subject 's0'), "
            "a trial with a second-stage choice",
        ),
        (
            {"reward": (2, np.nan)},
            {},
            "column 'reward' (reward): no reward at row 2 (subject "
            "'s0'), a trial with a second-stage choice",
        ),
        ({}, {"state": "planet"}, "column 'planet' (the state column) is not in the data"),
        (
            {},
            {"choice2": None},
            "two-step data need both a state and a second-stage choice "
            "column: state= is given but choice2= is not",
        ),
        (
            {},
            {"n_options": 3},
            "two-step data have two options at each stage: n_options must be 2, got 3",
        ),
        (
            {},
            {"outcomes": ["reward", "reward"]},
            "outcomes= (full feedback) is not supported with two-step data",
        ),
    ],
)
def test_validation_errors_name_column_subject_and_row(change, kwargs, message):
    frame = pd.DataFrame(
        {
            "subject": ["s0"] * 4,
            "session": 0,
            "trial": range(4),
            "choice": [0, 1, 1, 0],
            "state": [0, 1, 1, 0],
            "choice2": [1, 0, 1, 1],
            "reward": [1.0, 0.0, 1.0, 0.0],
        }
    )
    for col, (row, value) in change.items():
        if not float(value).is_integer():  # NaN or a fraction
            frame[col] = frame[col].astype(float)
        frame.loc[row, col] = value
    with pytest.raises(cr.ChoiceDataError, match=re.escape(message)):
        cr.ChoiceData.from_frame(frame, **{**TWO_STEP, **kwargs})


# ---------------------------------------------------------------------------- loader
HBAYESDM_ROWS = [  # subjID trial level1 level2 reward + four reward probabilities
    (1, 1, 1, 2, 1),
    (1, 2, 2, 3, 0),
    (1, 3, 1, 4, 1),
    (2, 1, 2, 1, 0),
    (2, 2, 1, 1, 1),
]


def write_hbayesdm(path, rows=HBAYESDM_ROWS, extra=True):
    head = "subjID\ttrial\tlevel1_choice\tlevel2_choice\treward"
    lines = [head + ("\tprob1\tprob2\tprob3\tprob4" if extra else "")]
    for row in rows:
        lines.append("\t".join(map(str, row)) + ("\t0.5\t0.4\t0.3\t0.6" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("extra", [True, False])
def test_hbayesdm_two_step_loader(tmp_path, extra):
    data = datasets.hbayesdm_two_step(write_hbayesdm(tmp_path / "ts.txt", extra=extra))
    table = data.to_frame()
    assert data.is_two_step and data.subjects == [1, 2] and data.n_options == 2
    assert table["trial"].tolist() == [1, 2, 3, 1, 2]
    assert table["choice"].tolist() == [0, 1, 0, 1, 0]
    assert table["state"].tolist() == [0, 1, 1, 0, 0]  # level2 1-2: state 0; 3-4: state 1
    assert table["choice2"].tolist() == [1, 0, 1, 0, 0]  # 1, 3 -> 0; 2, 4 -> 1
    assert table["reward"].tolist() == [1, 0, 1, 0, 1]
    assert "hbayesdm_two_step" in datasets.__all__


def test_hbayesdm_two_step_loader_errors(tmp_path):
    bad = write_hbayesdm(tmp_path / "bad.txt", rows=[(1, 1, 1, 5, 1)])
    with pytest.raises(
        cr.ChoiceDataError,
        match=re.escape(
            "column 'level2_choice' (second-stage choice): value 5 at row 0 (subject 1) is not one "
            "of 1, 2, 3, 4"
        ),
    ):
        datasets.hbayesdm_two_step(bad)
    (tmp_path / "cols.txt").write_text("subjID\ttrial\tlevel1_choice\treward\n1\t1\t1\t0\n")
    with pytest.raises(cr.ChoiceDataError, match="column 'level2_choice' is missing"):
        datasets.hbayesdm_two_step(tmp_path / "cols.txt")
    with pytest.raises(FileNotFoundError):
        datasets.hbayesdm_two_step(tmp_path / "absent.txt")


# ---------------------------------------------------------------------------- task
def test_two_step_task_transitions_and_drifting_probabilities():
    task = cr.load_task("two_step")
    assert task.is_two_step and task.n_options == 2
    assert task.settings["transition_prob"] == 0.7
    env = task.environment(50, 400, seed=0)
    assert env.latent.shape == env.payoffs.shape == (50, 400, 4)
    assert 0.25 <= env.latent.min() and env.latent.max() <= 0.75
    assert abs(env.common.mean() - 0.7) < 0.01
    steps = np.diff(env.latent, axis=1)
    inner = (env.latent[:, 1:] > 0.3) & (env.latent[:, 1:] < 0.7)  # away from reflections
    assert (
        abs(steps[inner & (env.latent[:, :-1] > 0.3) & (env.latent[:, :-1] < 0.7)].std() - 0.025)
        < 0.002
    )
    np.testing.assert_array_equal(task.environment(50, 400, seed=0).latent, env.latent)
    choices = np.tile([0, 1, -1, 1, 0], 10)
    states = env.transition(choices)
    common = env.common[:, 0]
    np.testing.assert_array_equal(
        states[choices >= 0], np.where(common, choices, 1 - choices)[choices >= 0]
    )
    assert (states[choices < 0] == -1).all()
    c2 = np.where(choices >= 0, 1, -1)
    rewards, outcomes = env.step(choices, c2)
    rows = np.flatnonzero(choices >= 0)
    np.testing.assert_array_equal(rewards[rows], env.payoffs[rows, 0, 2 * states[rows] + 1])
    assert outcomes.shape == (50, 2) and np.isnan(outcomes[choices < 0]).all()
    assert env.t == 1 and (env.states[:, 0] == states).all()


def test_two_step_task_errors():
    env = cr.load_task("two_step").environment(2, 5, seed=0)
    with pytest.raises(TypeError, match="pass the second-stage choices"):
        env.step(np.array([0, 1]))
    with pytest.raises(ValueError, match="choices2 must be -1 where the first stage was missed"):
        env.step(np.array([-1, 1]), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"choices2 must be in -1..1"):
        env.step(np.array([0, 1]), np.array([2, 1]))
    with pytest.raises(cr.TaskSpecError, match="'transition_prob': must be in"):
        cr.load_task("two_step", transition_prob=0.3)
    with pytest.raises(cr.TaskSpecError, match="'n_options': must be 2 for a two-step task"):
        cr.load_task("two_step", n_options=3)
    single = cr.load_task("reversal").environment(2, 5, seed=0)
    with pytest.raises(TypeError, match="has one stage"):
        single.step(np.array([0, 1]), np.array([0, 1]))


# ---------------------------------------------------------------------------- simulation
def test_simulate_two_step_is_reproducible_by_seed():
    model = TwoStepModel("hybrid")
    a = cr.simulate(model, "two_step", n_subjects=4, n_trials=60, seed=3)
    b = cr.simulate(model, "two_step", n_subjects=4, n_trials=60, seed=3)
    c = cr.simulate(model, "two_step", n_subjects=4, n_trials=60, seed=4)
    assert a.is_two_step and a.n_trials == 240
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    pd.testing.assert_frame_equal(a.params, b.params)
    assert not a.to_frame()["choice"].equals(c.to_frame()["choice"])
    # the same seed gives the same transitions and payoffs whatever the agent
    q = cr.simulate(cr.QLearning("rw"), "two_step", n_subjects=4, n_trials=60, seed=3)
    fa, fq = a.to_frame(), q.to_frame()
    assert fq["choice2"].notna().all()  # a single-stage agent plays the second stage at random
    same = (fa[["choice", "choice2"]].to_numpy() == fq[["choice", "choice2"]].to_numpy()).all(1)
    same &= (fa["state"] == fq["state"]).to_numpy()
    assert same.sum() > 20
    np.testing.assert_array_equal(fa["reward"][same], fq["reward"][same])
    with pytest.raises(ValueError, match="the agent plays two-stage trials"):
        cr.simulate(model, "reversal", n_subjects=2, n_trials=5, seed=0)
    schedule = cr.signatures.task_schedule(a, "two_step", seed=3)
    np.testing.assert_array_equal(schedule["state"], fa["state"].to_numpy(dtype=int))
    assert schedule["common"].to_numpy().tolist() == (fa["state"] == fa["choice"]).tolist()


# ---------------------------------------------------------------------------- the likelihood
def reference_log_likelihood(preset, params, trials, transition_prob=0.7, stages="both"):
    """Plain-Python log-likelihood of one session, written from Daw et al. 2011 (and from
    hBayesDM's Stan code for the ts_par presets). ``trials``: (choice, state, choice2, reward)
    with None for what is missing."""
    p = dict(params)
    hbayesdm = preset.startswith("ts_par")
    if preset == "ts_par4":
        a1 = a2 = p["a"]
        b1 = b2 = p["beta"]
    elif hbayesdm:
        a1, a2, b1, b2 = p["a1"], p["a2"], p["beta1"], p["beta2"]
    else:
        a1, a2, b1, b2 = p.get("alpha1", 0.0), p["alpha2"], p["beta1"], p["beta2"]
    lam = {"ts_par4": 1.0, "ts_par6": 0.0, "model_based": 0.0}.get(preset, p.get("lambda"))
    w = {"model_free": 0.0, "model_based": 1.0}.get(preset, p.get("w"))
    rho = p["pi"] if hbayesdm else b1 * p["p"]
    T = transition_prob

    def log_softmax(values, k):
        top = max(values)
        return values[k] - top - math.log(sum(math.exp(v - top) for v in values))

    q1, q2 = [0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]
    prev, total = None, 0.0
    for c1, s, c2, r in trials:
        if c1 is None:
            continue
        m0, m1 = max(q2[0]), max(q2[1])
        q_mb = [T * m0 + (1 - T) * m1, (1 - T) * m0 + T * m1]
        v = [b1 * (w * q_mb[a] + (1 - w) * q1[a]) + rho * (prev == a) for a in (0, 1)]
        total += log_softmax(v, c1)
        prev = c1
        if s is None or c2 is None:
            continue
        if stages == "both":
            total += log_softmax([b2 * q2[s][0], b2 * q2[s][1]], c2)
        q1[c1] += a1 * (q2[s][c2] - q1[c1])
        delta2 = r - q2[s][c2]
        q2[s][c2] += a2 * delta2
        q1[c1] += a1 * lam * ((r - q2[s][c2]) if hbayesdm else delta2)
    return total


def _session_trials(frame):
    def val(x, cast):
        return None if pd.isna(x) else cast(x)

    return [
        (val(r.choice, int), val(r.state, int), val(r.choice2, int), val(r.reward, float))
        for r in frame.itertuples()
    ]


@pytest.mark.parametrize("stages", ["both", "first"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_likelihood_matches_plain_python_reference(preset, stages, data, rng):
    model = TwoStepModel(preset, stages=stages)
    params = random_params(model, data, rng)
    table = model.trial_log_likelihood(data, params=params)
    frame = data.to_frame()
    for (subject, session), part in frame.groupby(["subject", "session"], sort=False):
        row = params.set_index("subject").loc[subject]
        expected = reference_log_likelihood(preset, row, _session_trials(part), stages=stages)
        got = table[(table["subject"] == subject) & (table["session"] == session)]
        assert got["log_lik"].sum() == pytest.approx(expected, rel=1e-10, abs=1e-10)
    first = model.logits(data, params=params)
    assert first.shape == (data.n_sequences, data.tensors().n_trials, 2)
    ll1 = chosen_log_prob(first.double(), data.tensors().choices)
    np.testing.assert_allclose(table["log_lik_stage1"].sum(), float(ll1.sum()), rtol=1e-12)
    if stages == "first":
        assert (table["log_lik_stage2"] == 0).all()


def test_uniform_first_trial_and_probabilities_sum_to_one(data, rng):
    model = TwoStepModel("hybrid")
    params = random_params(model, data, rng)
    l1, l2 = model.stage_logits(data, params=params)
    for logits in (l1, l2):
        torch.testing.assert_close(
            torch.softmax(logits, -1).sum(-1), torch.ones(logits.shape[:2], dtype=logits.dtype)
        )
    table = model.trial_log_likelihood(data, params=params)
    first = table.groupby(["subject", "session"]).head(1)
    np.testing.assert_allclose(first["log_lik_stage1"], math.log(0.5))


def test_causal_and_masked_trials_contribute_nothing(data, rng):
    model = TwoStepModel("ts_par7")
    params = random_params(model, data, rng)
    before = model.stage_logits(data, params=params)
    frame = data.to_frame()
    cut = 15
    later = (frame["trial"] >= cut) & frame["choice2"].notna()
    frame.loc[later, "choice2"] = 1 - frame.loc[later, "choice2"]
    frame.loc[later, "reward"] = 1 - frame.loc[later, "reward"]
    after = model.stage_logits(cr.ChoiceData.from_frame(frame, **TWO_STEP), params=params)
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(b[:, : cut + 1], a[:, : cut + 1])
    # a trial with nothing observed changes nothing and scores nothing
    ll = model.log_likelihood_tensor(data, params=params)
    assert (ll[data.tensors().choices < 0] == 0).all()


def test_wrong_data_and_settings_are_refused(random_data):
    with pytest.raises(ValueError, match="two-step models need two-step data"):
        TwoStepModel().fit(random_data)
    with pytest.raises(ValueError, match="unknown two-step preset 'daw'; presets are"):
        TwoStepModel("daw")
    with pytest.raises(ValueError, match="stages must be 'both' or 'first'"):
        TwoStepModel(stages="second")
    with pytest.raises(ValueError, match=r"transition_prob must be a number in \(0.5, 1\]"):
        TwoStepModel(transition_prob=0.3)
    with pytest.raises(cr.NotFittedError, match="call fit first"):
        TwoStepModel().logits(random_data)


# ---------------------------------------------------------------------------- fitting
def test_fit_objective_equals_scoring_path_and_counts_both_stages(data):
    before = data.to_frame()
    model = TwoStepModel("hybrid", method="mle", n_restarts=2, max_iter=60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cr.FitWarning)
        assert model.fit(data, seed=0) is model
    pd.testing.assert_frame_equal(data.to_frame(), before)
    ll = model.trial_log_likelihood(data).groupby("subject", sort=False)["log_lik"].sum()
    np.testing.assert_allclose(model.results_["nll"].to_numpy(), -ll.to_numpy(), rtol=1e-9)
    n_scored = (
        before["choice"].notna().groupby(before["subject"], sort=False).sum()
        + before["choice2"].notna().groupby(before["subject"], sort=False).sum()
    )
    assert model.results_["n_trials"].tolist() == n_scored.tolist()
    clone = model.clone()
    assert clone.get_params() == model.get_params() and not clone.is_fitted()


def test_save_and_load_round_trip(data, tmp_path):
    cr.register_model("two_step", TwoStepModel)
    model = TwoStepModel("ts_par6", stages="first", n_restarts=2, max_iter=40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cr.FitWarning)
        model.fit(data, seed=1)
    loaded = cr.load_model(model.save(tmp_path / "ts"))
    assert isinstance(loaded, TwoStepModel) and loaded.get_params() == model.get_params()
    pd.testing.assert_frame_equal(loaded.params_, model.params_)
    for a, b in zip(loaded.stage_logits(data), model.stage_logits(data), strict=True):
        torch.testing.assert_close(a, b)


# ---------------------------------------------------------------------------- signatures
def test_two_step_stay_by_hand():
    frame = pd.DataFrame(
        {
            "subject": 0,
            "session": 0,
            "trial": range(6),
            "choice": [0, 0, 1, 1, np.nan, 1],
            "state": [0, 1, 1, 1, np.nan, 0],
            "choice2": [0, 1, 0, np.nan, np.nan, 1],
            "reward": [1, 0, 1, np.nan, np.nan, 0],
        }
    )
    table = two_step_stay(cr.ChoiceData.from_frame(frame, **{**TWO_STEP, "session": None}))
    got = table.set_index(["previous_reward", "transition"])
    # pairs: (t0 rewarded common -> stay), (t1 unrewarded rare -> switch),
    # (t2 rewarded common -> stay); t3 has no second stage; t4 missed
    assert got.loc[("rewarded", "common"), "p_stay"] == 1.0
    assert got.loc[("rewarded", "common"), "n"] == 2
    assert got.loc[("unrewarded", "rare"), "p_stay"] == 0.0
    assert got.loc[("rewarded", "rare"), "n"] == 0 and np.isnan(
        got.loc[("rewarded", "rare"), "p_stay"]
    )
    with pytest.raises(ValueError, match="two-step signatures need two-step data"):
        two_step_stay(
            cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=2, n_trials=10, seed=0)
        )


@pytest.fixture(scope="module")
def pure_agents():
    common = {"alpha2": 0.5, "beta1": 5.0, "beta2": 5.0, "p": 0.0}
    mb = cr.simulate(
        TwoStepModel("model_based"), "two_step", n_subjects=30, n_trials=200, seed=0, params=common
    )
    mf = cr.simulate(
        TwoStepModel("model_free"),
        "two_step",
        n_subjects=30,
        n_trials=200,
        seed=0,
        params={**common, "alpha1": 0.5, "lambda": 1.0},
    )
    return {"model-based": mb, "model-free": mf}


def test_model_based_shows_interaction_model_free_main_effect_of_reward(pure_agents):
    means = {
        name: two_step_stay(d).groupby(["previous_reward", "transition"])["p_stay"].mean()
        for name, d in pure_agents.items()
    }
    mb, mf = means["model-based"], means["model-free"]
    # model-based: stay after rewarded-common and unrewarded-rare, switch otherwise
    assert mb[("rewarded", "common")] - mb[("rewarded", "rare")] > 0.1
    assert mb[("unrewarded", "rare")] - mb[("unrewarded", "common")] > 0.1
    assert abs(mb["rewarded"].mean() - mb["unrewarded"].mean()) < 0.05
    # model-free: stay after reward, whatever the transition
    assert mf["rewarded"].mean() - mf["unrewarded"].mean() > 0.2
    assert abs(mf[("rewarded", "common")] - mf[("rewarded", "rare")]) < 0.05
    fits = {
        name: two_step_regression(d, "pooled").set_index("term")["estimate"]
        for name, d in pure_agents.items()
    }
    assert fits["model-based"]["reward:transition"] > 0.3 > abs(fits["model-based"]["reward"])
    assert fits["model-free"]["reward"] > 0.6 > abs(fits["model-free"]["reward:transition"]) * 5
    per_subject = two_step_regression(pure_agents["model-based"])
    assert list(per_subject.columns) == ["subject", "term", "estimate", "se", "n", "converged"]
    assert len(per_subject) == 4 * 30 and per_subject["converged"].all()
    inter = per_subject[per_subject["term"] == "reward:transition"]["estimate"]
    assert (inter > 0).mean() > 0.9


def test_regression_recovers_known_logistic_coefficients(rng):
    """The Newton fit of the regression against known coefficients (large n)."""
    from choicernn.signatures_two_step import _logistic

    n = 20_000
    x = np.column_stack([np.ones(n), rng.choice([-1, 1], n), rng.choice([-1, 1], n)])
    x = np.column_stack([x, x[:, 1] * x[:, 2]])
    beta = np.array([0.5, 0.8, -0.2, 0.4])
    y = (rng.random(n) < 1 / (1 + np.exp(-(x @ beta)))).astype(float)
    est, se, ok = _logistic(x, y, 50)
    assert ok and np.all(np.abs(est - beta) < 4 * se)
    always = _logistic(x[:50], np.ones(50), 50)
    assert not always[2]  # a subject who always stays: no finite estimate


def test_two_step_stay_figure(pure_agents):
    tables = {name: two_step_stay(d) for name, d in pure_agents.items()}
    ax = plot_two_step_stay(tables)
    assert ax.get_ylabel().startswith("Stay probability")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Rewarded", "Unrewarded"] * 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Common", "Rare"]
    assert len(ax.patches) == 8
    heights = [p.get_height() for p in ax.patches]
    mb = tables["model-based"].groupby(["previous_reward", "transition"])["p_stay"].mean()
    np.testing.assert_allclose(heights[:4], mb.to_numpy())
    other = plot_two_step_stay(tables["model-free"])
    assert other.figure is not ax.figure
    fig, given = plt.subplots()
    assert plot_two_step_stay(tables["model-free"], ax=given) is given
    with pytest.raises(ValueError, match="lacks columns"):
        plot_two_step_stay(pd.DataFrame({"subject": [0], "p_stay": [0.5]}))
    plt.close("all")


# ---------------------------------------------------------------------------- recovery
@pytest.mark.slow
def test_hybrid_parameters_are_recovered_at_200_trials():
    """100 simulated hybrid agents x 200 trials, refitted by MAP (measured r: w 0.79/0.91,
    alpha2 0.92, beta2 0.90, beta1 0.74-0.78, lambda 0.57-0.76, alpha1 0.43-0.45)."""
    rng = np.random.default_rng(1)
    n = 100
    truth = pd.DataFrame(
        {
            "alpha1": rng.uniform(0.2, 0.8, n),
            "alpha2": rng.uniform(0.2, 0.8, n),
            "lambda": rng.uniform(0.2, 0.8, n),
            "beta1": np.exp(rng.uniform(np.log(3), np.log(10), n)),
            "beta2": np.exp(rng.uniform(np.log(3), np.log(10), n)),
            "w": rng.uniform(0, 1, n),
            "p": rng.normal(0, 0.15, n),
        }
    )
    model = TwoStepModel("hybrid", n_restarts=5)
    data = cr.simulate(model, "two_step", n_subjects=n, n_trials=200, seed=1, params=truth)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cr.FitWarning)
        model.fit(data, seed=0)
    r = {c: np.corrcoef(truth[c], model.params_[c])[0, 1] for c in truth.columns}
    assert r["w"] >= 0.7, r
    assert r["alpha2"] >= 0.8, r
    assert r["alpha1"] >= 0.3, r
    assert r["beta1"] >= 0.6 and r["beta2"] >= 0.8, r
