"""The real data files in ../shared/data load through cr.read_csv with a column map.

The files are not shipped with the project (see ../shared/data/README.md): each test skips
with a reason when its file is absent, e.g. in a user's clone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import choicernn as cr

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HBAYESDM = DATA / "hbayesdm"
DEZFOULI = DATA / "dezfouli2019" / "choices_diagno.csv.zip"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data file {path} is absent (it lives beside the checkout, not in it)")
    return path


@pytest.mark.parametrize("name", ["bandit2arm", "prl"])
def test_hbayesdm_two_option_files(name):
    path = need(HBAYESDM / f"{name}_exampleData.txt")
    data = cr.read_csv(
        path,
        subject="subjID",
        choice="choice",
        reward="outcome",
        trial="trial",
        n_options=2,
        choice_base=1,
    )
    assert data.n_subjects == data.n_sequences == 20
    assert data.n_trials == data.n_choices == 2000
    assert (data.sequences["n_trials"] == 100).all()
    table = data.to_frame()
    assert set(table["choice"].unique()) == {0, 1}
    assert set(table["reward"].unique()) == {-1.0, 1.0}
    assert table["trial"].groupby(table["subject"]).agg(["min", "max"]).eq([1, 100]).all().all()
    # the same file read with pandas directly gives the same choices (shifted to 0-based)
    raw = pd.read_csv(path, sep="\t")
    np.testing.assert_array_equal(table["choice"].to_numpy(dtype=int), raw["choice"] - 1)
    assert data.subjects == list(pd.unique(raw["subjID"]))
    assert data.tensors().choices.shape == (20, 100)


def test_hbayesdm_bandit4arm_gain_plus_loss():
    path = need(HBAYESDM / "bandit4arm_exampleData.txt")
    raw = pd.read_csv(path, sep="\t")
    assert raw.columns.tolist() == ["subjID", "gain", "loss", "choice"]
    # read_csv with the column map (reward = the gain column only) ...
    gains = cr.read_csv(
        path, subject="subjID", choice="choice", reward="gain", n_options=4, choice_base=1
    )
    assert (gains.n_subjects, gains.n_trials) == (10, 2000)
    assert (gains.sequences["n_trials"] == 200).all()
    # ... and with reward = gain + loss, the net outcome of a trial
    frame = raw.assign(reward=raw["gain"] + raw["loss"])
    data = cr.ChoiceData.from_frame(frame, subject="subjID", n_options=4, choice_base=1)
    table = data.to_frame()
    assert set(table["choice"].unique()) == {0, 1, 2, 3}
    assert set(table["reward"].unique()) <= {-1.0, 0.0, 1.0}
    assert table["trial"].tolist()[:3] == [0, 1, 2]  # no trial column: row order
    np.testing.assert_array_equal(table["reward"], raw["gain"] + raw["loss"])
    np.testing.assert_array_equal(table["choice"].to_numpy(dtype=int), gains.to_frame()["choice"])


@pytest.fixture(scope="module")
def dezfouli() -> cr.ChoiceData:
    return cr.read_csv(
        need(DEZFOULI),
        subject="ID",
        choice="key",
        option_labels=["R1", "R2"],
        reward="reward",
        session="trial",
        covariates=["diag"],
    )


def test_dezfouli_counts(dezfouli):
    data = dezfouli
    assert data.n_options == 2
    assert data.n_subjects == 101
    assert data.n_trials == data.n_choices == 132_251
    assert data.n_sequences == 101 * 12
    per_subject = data.summary()["n_trials"]
    assert (per_subject.min(), per_subject.max(), per_subject.median()) == (398, 2021, 1256)
    assert data.covariates["diag"].value_counts().to_dict() == {
        "Healthy": 34,
        "Depression": 34,
        "Bipolar": 33,
    }
    table = data.to_frame()
    assert set(table["choice"].unique()) == {0, 1}
    assert set(table["reward"].unique()) == {0.0, 1.0}
    assert sorted(table["session"].unique()) == list(range(1, 13))


def test_dezfouli_matches_pandas_and_stays_repeat_rate(dezfouli):
    raw = pd.read_csv(DEZFOULI)
    table = dezfouli.to_frame()
    # one block per (participant, block) sequence: the rows are already in that order
    assert (table["subject"].to_numpy() == raw["ID"].to_numpy()).all()
    np.testing.assert_array_equal(
        table["choice"].to_numpy(dtype=int), (raw["key"] == "R2").astype(int)
    )
    np.testing.assert_array_equal(table["reward"], raw["reward"])
    np.testing.assert_array_equal(table["reward"] == 1, raw["outcome"].notna())
    # README: repeating the last choice is right 79.4% of the time (pairs within a block)
    summary = dezfouli.summary()
    stays = (summary["p_stay"] * (summary["n_trials"] - summary["n_sessions"])).sum()
    assert abs(stays / (dezfouli.n_trials - dezfouli.n_sequences) - 0.794) < 0.005


def test_dezfouli_held_out_blocks(dezfouli):
    """README: held-out blocks 3, 6 and 9 of every participant, 33,524 scored choices.

    The blocks hold 33,827 choices; the published count leaves out the first choice of each of
    the 303 blocks (nothing to predict it from), 33,827 - 303 = 33,524.
    """
    train, test = dezfouli.split_sessions([3, 6, 9])
    assert test.n_sequences == 101 * 3
    assert test.n_choices == 33_827
    assert test.n_choices - test.n_sequences == 33_524
    assert train.n_choices == 132_251 - 33_827
    assert sorted(test.to_frame()["session"].unique()) == [3, 6, 9]


def test_fintz_missed_trials_and_full_feedback():
    path = need(DATA / "fintz2022" / "DataAllSubjectsRewards.csv")
    data = cr.read_csv(
        path,
        subject="user",
        choice="choice",
        reward="reward",
        n_options=4,
        choice_base=1,
        outcomes=["reward_1", "reward_2", "reward_3", "reward_4"],
        covariates=["payoff_structure"],
    )
    assert (data.n_subjects, data.n_trials) == (965, 144_750)
    assert data.n_trials - data.n_choices == 4_934  # missed trials are kept and masked
    assert (data.sequences["n_trials"] == 150).all()
    assert data.has_outcomes
    batch = data.tensors()
    assert batch.outcomes.shape == (965, 150, 4)
    assert int(batch.mask.sum()) == data.n_choices
    assert set(data.covariates["payoff_structure"]) == {2, 3, 4}
    # the chosen option's payoff is the reward on every observed trial
    chosen = batch.outcomes.gather(-1, batch.choices.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    assert bool((chosen[batch.mask] == batch.rewards[batch.mask]).all())
    # README: 60.9% repeats, counting pairs of adjacent observed trials; summary() compares each
    # choice with the previous observed one (across a missed trial), which gives 60.6%
    summary = data.summary()
    pairs = summary["n_trials"] - summary["n_missed"] - 1
    assert abs((summary["p_stay"] * pairs).sum() / pairs.sum() - 0.606) < 0.001
