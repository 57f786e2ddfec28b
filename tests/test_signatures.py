"""Behavioural signatures: hand-computed values on tiny frames, missed trials, schedules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import choicernn as cr
from choicernn import signatures as sg


def frame(choices, rewards, subject="s1", session=0, start=0):
    """One session of a tiny hand-made study (None marks a missed trial)."""
    return pd.DataFrame(
        {
            "subject": subject,
            "session": session,
            "trial": np.arange(start, start + len(choices)),
            "choice": [np.nan if c is None else c for c in choices],
            "reward": [np.nan if c is None else r for c, r in zip(choices, rewards)],
        }
    )


def as_data(table, k=2):
    return cr.ChoiceData.from_frame(table, n_options=k, session="session", trial="trial")


def row(table, **where):
    mask = np.logical_and.reduce([table[c] == v for c, v in where.items()])
    assert mask.sum() == 1, where
    return table[mask].iloc[0]


# --------------------------------------------------------------------------- stay / switch
def test_stay_probabilities_by_hand():
    # pairs (previous choice, its reward -> choice): (0,1->0) stay, (0,1->1) switch,
    # (1,0->1) stay, (1,0->1) stay, (1,1->0) switch, (0,1->0) stay
    table = frame([0, 0, 1, 1, 1, 0, 0], [1, 1, 0, 0, 1, 1, 0])
    out = sg.stay_probabilities(table)
    assert list(out.columns) == ["subject", "previous_reward", "p_stay", "n"]
    assert list(out["previous_reward"]) == ["rewarded", "unrewarded"]
    assert row(out, previous_reward="rewarded")[["p_stay", "n"]].tolist() == [0.5, 4]
    assert row(out, previous_reward="unrewarded")[["p_stay", "n"]].tolist() == [1.0, 2]
    switch = sg.switch_rate(table)
    assert list(switch.columns) == ["subject", "p_switch", "n"]
    assert switch["p_switch"].iloc[0] == pytest.approx(2 / 6)
    assert switch["n"].iloc[0] == 6


def test_missed_trials_are_skipped_and_sessions_restart():
    # session 0: the missed trial is skipped, so trial 2 pairs with trial 0 (choice 0, no reward)
    # session 1: its first choice has no pair (not with the last choice of session 0)
    table = pd.concat(
        [frame([0, None, 0, 1], [0, 0, 1, 0]), frame([1, 1], [1, 0], session=1)],
        ignore_index=True,
    )
    for data in (table, as_data(table)):
        out = sg.stay_probabilities(data)
        assert row(out, previous_reward="rewarded")[["p_stay", "n"]].tolist() == [0.5, 2]
        assert row(out, previous_reward="unrewarded")[["p_stay", "n"]].tolist() == [1.0, 1]
        assert sg.switch_rate(data)["n"].iloc[0] == 3


def test_missing_condition_gives_nan_with_zero_count():
    out = sg.stay_probabilities(frame([0, 0, 0], [1, 1, 1]))
    unrewarded = row(out, previous_reward="unrewarded")
    assert unrewarded["n"] == 0 and np.isnan(unrewarded["p_stay"])


def test_graded_rewards_split_at_the_subject_median():
    # rewards 10, 50, 90, 30, 70, 20: median 40 -> above is "rewarded"
    table = frame([0, 0, 1, 1, 0, 0], [10, 50, 90, 30, 70, 20])
    # pairs: (10 -> stay) U, (50 -> switch) R, (90 -> stay) R, (30 -> switch) U, (70 -> stay) R
    out = sg.stay_probabilities(table)
    assert row(out, previous_reward="rewarded")[["p_stay", "n"]].tolist() == [
        pytest.approx(2 / 3),
        3,
    ]
    assert row(out, previous_reward="unrewarded")[["p_stay", "n"]].tolist() == [0.5, 2]


def test_two_reward_values_the_higher_is_rewarded():
    table = frame([0, 0, 1, 1], [-1, 1, 1, -1])
    out = sg.stay_probabilities(table)
    assert row(out, previous_reward="rewarded")[["p_stay", "n"]].tolist() == [0.5, 2]
    assert row(out, previous_reward="unrewarded")[["p_stay", "n"]].tolist() == [1.0, 1]


def test_switch_rate_agrees_with_choice_data_summary(random_data):
    summary = random_data.summary().set_index("subject")
    switch = sg.switch_rate(random_data).set_index("subject")
    np.testing.assert_allclose(1 - switch["p_switch"], summary.loc[switch.index, "p_stay"])
    stay = sg.stay_probabilities(random_data)
    pooled = (stay["p_stay"] * stay["n"]).groupby(stay["subject"]).sum() / stay.groupby("subject")[
        "n"
    ].sum()
    np.testing.assert_allclose(pooled.loc[switch.index], 1 - switch["p_switch"])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"lacks columns \['reward'\]"):
        sg.stay_probabilities(frame([0, 1], [1, 0]).drop(columns="reward"))
    with pytest.raises(TypeError, match="ChoiceData or a DataFrame"):
        sg.switch_rate([0, 1])
    unsorted = frame([0, 1, 0], [1, 0, 1]).assign(trial=[0, 2, 1])
    with pytest.raises(ValueError, match="subject 's1' session 0 has trial 1"):
        sg.switch_rate(unsorted)


# --------------------------------------------------------------------------- reversal curves
def oracle_session(subject="s1", session=0, missed=(13,)):
    """30 trials; the best option is 0, then 1 from trial 10, then 0 from trial 20; the agent
    always picks the best option (except on missed trials)."""
    best = np.array([0] * 10 + [1] * 10 + [0] * 10)
    choices = [None if t in missed else int(b) for t, b in enumerate(best)]
    table = frame(choices, [1] * 30, subject=subject, session=session)
    onsets = pd.DataFrame(
        {"subject": subject, "session": session, "trial": [10, 20], "new_best": [1, 0]}
    )
    return table, onsets


def test_reversal_curve_of_an_agent_that_always_picks_the_best_option():
    table, onsets = oracle_session()
    out = sg.reversal_curves(table, onsets, window=(-5, 15))
    assert list(out.columns) == ["subject", "lag", "p_new_best", "n"]
    assert out["lag"].tolist() == list(range(-5, 16))
    after = out[out["lag"] >= 0].set_index("lag")
    assert (after.loc[0:9, "p_new_best"] == 1.0).all()
    # the next reversal truncates the block: lags 10..15 of the first reversal are not used,
    # and those of the second run past the session's end
    assert after.loc[10:15, "n"].eq(0).all() and after.loc[10:15, "p_new_best"].isna().all()
    before = out[out["lag"] < 0]
    assert (before["p_new_best"] == 0.0).all()
    # the missed trial 13 is lag 3 of the first reversal only
    assert after.loc[3, "n"] == 1 and after.loc[4, "n"] == 2
    assert out.set_index("lag").loc[-5, "n"] == 2  # trial 5 and trial 15


def test_reversal_curve_without_truncation_crosses_the_next_reversal():
    table, onsets = oracle_session(missed=())
    out = sg.reversal_curves(table, onsets, window=(-12, 12), truncate=False).set_index("lag")
    # lag 10 of the reversal at 10 is trial 20, where the agent already follows the next one
    assert out.loc[10, "p_new_best"] == 0.0 and out.loc[10, "n"] == 1
    assert out.loc[9, "p_new_best"] == 1.0 and out.loc[9, "n"] == 2
    # lag -12 of the reversal at 20 is trial 8 (best 0 = its new best)
    assert out.loc[-12, "p_new_best"] == 1.0 and out.loc[-12, "n"] == 1


def test_reversal_curves_per_subject_and_errors():
    a, on_a = oracle_session("a")
    b, on_b = oracle_session("b", missed=())
    table = pd.concat([a, b], ignore_index=True)
    onsets = pd.concat([on_a, on_b], ignore_index=True)
    out = sg.reversal_curves(as_data(table), onsets, window=(0, 2))
    assert list(pd.unique(out["subject"])) == ["a", "b"]
    assert len(out) == 6
    with pytest.raises(ValueError, match="lacks columns \\['new_best'\\]"):
        sg.reversal_curves(table, onsets.drop(columns="new_best"))
    with pytest.raises(ValueError, match="subject 'a' session 0 trial 99, which is not a trial"):
        sg.reversal_curves(table, onsets.assign(trial=99))
    with pytest.raises(ValueError, match="first <= last"):
        sg.reversal_curves(table, onsets, window=(3, 1))
    empty = sg.reversal_curves(table, onsets.assign(new_best=pd.NA))
    assert empty.empty and list(empty.columns) == ["subject", "lag", "p_new_best", "n"]


def test_learning_curve_by_hand():
    table, _ = oracle_session(missed=(0,))
    best = table[["subject", "session", "trial"]].assign(
        best_option=[0] * 10 + [1] * 10 + [pd.NA] * 10
    )
    wrong = table["trial"].isin([1, 2])  # two errors in the first bin
    table.loc[wrong, "choice"] = 1
    out = sg.learning_curve(table, best, n_bins=3)
    assert list(out.columns) == ["subject", "trial_bin", "p_best", "n"]
    assert out["p_best"].iloc[0] == pytest.approx(7 / 9) and out["n"].iloc[0] == 9
    assert out["p_best"].iloc[1] == 1.0 and out["n"].iloc[1] == 10
    assert np.isnan(out["p_best"].iloc[2]) and out["n"].iloc[2] == 0  # no best option known


def test_mean_ci_is_the_t_interval():
    table = pd.DataFrame({"g": ["a"] * 4 + ["b"], "v": [1.0, 2.0, 3.0, 4.0, 7.0]})
    out = sg.mean_ci(table, "v", by=["g"]).set_index("g")
    lo, hi = stats.t.interval(0.95, 3, loc=2.5, scale=np.std([1, 2, 3, 4], ddof=1) / 2)
    assert out.loc["a", ["ci_low", "ci_high"]].tolist() == pytest.approx([lo, hi])
    assert out.loc["a", "n_subjects"] == 4
    assert np.isnan(out.loc["b", "ci_low"])  # one value: no interval
    whole = sg.mean_ci(table, "v")
    assert whole["mean"].iloc[0] == pytest.approx(3.4)
    with pytest.raises(ValueError, match="no column 'w'"):
        sg.mean_ci(table, "w")


# --------------------------------------------------------------------------- schedules
def test_environment_schedule_reads_reversals_and_best_options():
    task = cr.load_task("reversal", reversal_every=10, jitter=0)
    env = task.environment(3, 30, seed=0)
    out = sg.environment_schedule(env, subjects=["a", "b", "c"], session=2)
    assert len(out) == 90
    assert set(out["session"]) == {2}
    assert out.loc[out["reversal"], "trial"].tolist() == [10, 20] * 3
    np.testing.assert_array_equal(
        out["best_option"].to_numpy(dtype=int), env.latent.argmax(-1).reshape(-1)
    )
    onsets = sg.reversal_onsets(out)
    assert list(onsets.columns) == ["subject", "session", "trial", "new_best"]
    assert onsets["new_best"].tolist() == [1, 0] * 3


def test_task_schedule_rebuilds_a_simulated_study():
    params = {"alpha": 0.3, "beta": 5.0}
    data = cr.simulate(cr.QLearning("rw"), "reversal", 4, 60, n_sessions=2, seed=5, params=params)
    schedule = sg.task_schedule(data, "reversal", seed=5)
    frame_ = data.to_frame()
    assert schedule[["subject", "session", "trial"]].equals(frame_[["subject", "session", "trial"]])
    onsets = sg.reversal_onsets(schedule)
    assert len(onsets) == 8  # blocks of 35-45 trials: one reversal in each 60-trial session
    assert onsets["trial"].between(35, 45).all()
    with pytest.raises(ValueError, match="do not match task 'reversal' with seed 6"):
        sg.task_schedule(data, "reversal", seed=6)
    one_missing = (frame_["subject"] == 0) & (frame_["session"] == 1)
    with pytest.raises(ValueError, match="every session of every subject"):
        sg.task_schedule(data.select_trials(~one_missing.to_numpy()), "reversal", 5)


def test_criterion_reversals_follow_the_recorded_choices():
    params = {"alpha": 0.5, "beta": 8.0}
    data = cr.simulate(cr.QLearning("rw"), "reversal_criterion", 4, 100, seed=2, params=params)
    schedule = sg.task_schedule(data, "reversal_criterion", seed=2)
    choices = data.to_frame()["choice"].to_numpy(dtype=float).reshape(4, 100)
    best = schedule["best_option"].to_numpy(dtype=float).reshape(4, 100)
    onsets = np.argwhere(schedule["reversal"].to_numpy().reshape(4, 100))
    assert len(onsets) > 0
    for i, t in onsets:  # criterion 8: the 8 choices before a reversal were all the old best
        np.testing.assert_array_equal(choices[i, t - 8 : t], best[i, t - 1])
