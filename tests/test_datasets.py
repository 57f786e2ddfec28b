"""Dataset loaders (choicernn.datasets): the real files in ../shared/data, malformed copies, recipes.

The real files are not shipped with the project (see ../shared/data/README.md): tests that read
them skip with a reason when they are absent (a user's clone). The malformed-file tests write
small tables in each layout to tmp_path and run everywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import choicernn as cr
from choicernn import datasets
from choicernn.recipes import RecipeError, recipe_from_dict

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HBAYESDM = DATA / "hbayesdm"
DEZFOULI = DATA / "dezfouli2019" / "choices_diagno.csv.zip"
FINTZ = DATA / "fintz2022" / "DataAllSubjectsRewards.csv"

B2 = "hBayesDM 2-armed bandit (bandit2arm_exampleData.txt)"
PRL = "hBayesDM reversal learning (prl_exampleData.txt)"
B4 = "hBayesDM 4-armed bandit (bandit4arm_exampleData.txt)"
DZ = "Dezfouli et al. 2019 (choices_diagno.csv.zip)"
FZ = "Fintz et al. 2022 (DataAllSubjectsRewards.csv)"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data file {path} is absent (it lives beside the checkout, not in it)")
    return path


def raises(exc: type[Exception], message: str):
    """pytest.raises matching the whole message exactly."""
    return pytest.raises(exc, match=f"^{re.escape(message)}$")


# ---------------------------------------------------------------------- the package


def test_all_lists_the_loaders_and_helpers_are_exported():
    assert datasets.__all__ == [
        "dezfouli2019",
        "fintz2022",
        "hbayesdm_bandit2arm",
        "hbayesdm_bandit4arm",
        "hbayesdm_prl",
        "hbayesdm_two_step",
    ]
    assert all(callable(getattr(datasets, name)) for name in datasets.__all__)
    assert datasets.dezfouli2019_heldout_blocks == (3, 6, 9)
    assert callable(datasets.split_blocks)


# ---------------------------------------------------------------------- hBayesDM (real files)


@pytest.mark.parametrize(
    ("loader", "name"),
    [(datasets.hbayesdm_bandit2arm, "bandit2arm"), (datasets.hbayesdm_prl, "prl")],
)
def test_hbayesdm_two_option_files(loader, name):
    path = need(HBAYESDM / f"{name}_exampleData.txt")
    data = loader(path)
    assert (data.n_options, data.n_subjects, data.n_sequences) == (2, 20, 20)
    assert data.n_trials == data.n_choices == 2000
    assert (data.sequences["n_trials"] == 100).all()
    assert data.covariates is None and not data.has_outcomes
    table = data.to_frame()
    assert set(table["choice"].unique()) == {0, 1}
    assert set(table["reward"].unique()) == {-1.0, 1.0}  # losses stay -1
    assert table["trial"].groupby(table["subject"]).agg(["min", "max"]).eq([1, 100]).all().all()
    raw = pd.read_csv(path, sep="\t")
    np.testing.assert_array_equal(table["choice"].to_numpy(dtype=int), raw["choice"] - 1)
    np.testing.assert_array_equal(table["reward"], raw["outcome"])
    assert data.subjects == list(pd.unique(raw["subjID"]))


def test_hbayesdm_bandit4arm_net_gain_and_loss():
    path = need(HBAYESDM / "bandit4arm_exampleData.txt")
    raw = pd.read_csv(path, sep="\t")
    data = datasets.hbayesdm_bandit4arm(path)
    assert (data.n_options, data.n_subjects, data.n_trials, data.n_choices) == (4, 10, 2000, 2000)
    assert (data.sequences["n_trials"] == 200).all()
    table = data.to_frame()
    assert set(table["choice"].unique()) == {0, 1, 2, 3}
    np.testing.assert_array_equal(table["choice"].to_numpy(dtype=int), raw["choice"] - 1)
    np.testing.assert_array_equal(table["reward"], raw["gain"] + raw["loss"])
    # a gain and a loss on the same trial nets to 0, like a trial with neither
    both = ((raw["gain"] == 1) & (raw["loss"] == -1)).sum()
    assert both == 129 and (table["reward"] == 0).sum() == both + 1099
    assert table["trial"].tolist()[:3] == [0, 1, 2]  # no trial column: row order
    for column in ("gain", "loss"):
        single = datasets.hbayesdm_bandit4arm(path, reward=column).to_frame()
        np.testing.assert_array_equal(single["reward"], raw[column])


# ---------------------------------------------------------------------- Dezfouli et al. 2019


@pytest.fixture(scope="module")
def dezfouli() -> cr.ChoiceData:
    return datasets.dezfouli2019(need(DEZFOULI))


def test_dezfouli_counts_blocks_and_covariates(dezfouli):
    data = dezfouli
    assert (data.n_options, data.n_subjects) == (2, 101)
    assert data.n_trials == data.n_choices == 132_251
    blocks = data.sequences.groupby("subject")["session"].agg(["nunique", "min", "max"])
    assert (blocks["nunique"] == 12).all() and blocks["nunique"].max() == 12
    assert (blocks["min"] == 1).all() and (blocks["max"] == 12).all()
    assert data.n_sequences == 101 * 12
    per_subject = data.summary()["n_trials"]
    assert (per_subject.min(), per_subject.max(), per_subject.median()) == (398, 2021, 1256)
    assert data.sequences["n_trials"].min() == 6  # the shortest block
    assert list(data.covariates.columns) == ["subject", "diag"]
    assert data.covariates["diag"].value_counts().to_dict() == {
        "Healthy": 34,
        "Depression": 34,
        "Bipolar": 33,
    }
    table = data.to_frame()
    assert set(table["reward"].unique()) == {0.0, 1.0}
    assert table["trial"].groupby([table["subject"], table["session"]]).min().eq(0).all()


def test_dezfouli_choice_is_key_not_the_choice_column(dezfouli):
    raw = pd.read_csv(DEZFOULI)
    choice = dezfouli.to_frame()["choice"].to_numpy(dtype=int)
    np.testing.assert_array_equal(choice, (raw["key"] == "R2").astype(int))  # R1 -> 0, R2 -> 1
    agree = (choice == (raw["choice"] == "R2").astype(int)).mean()
    assert 0.4 < agree < 0.6  # the file's `choice` column is something else


def test_dezfouli_split_blocks(dezfouli):
    train, test = datasets.split_blocks(dezfouli)
    assert sorted(test.sequences["session"].unique()) == [3, 6, 9]
    assert test.n_sequences == 101 * 3
    assert test.n_choices == 33_827
    assert test.n_choices - test.n_sequences == 33_524  # the README's scored choices
    assert train.n_choices == 132_251 - 33_827
    assert 3 not in set(train.sequences["session"])
    with raises(
        ValueError,
        "test_blocks [13] are not blocks of the data; its blocks are "
        "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].",
    ):
        datasets.split_blocks(dezfouli, [3, 13])


def test_dezfouli_other_covariates():
    data = datasets.dezfouli2019(need(DEZFOULI), covariates=None)
    assert data.covariates is None
    data = datasets.dezfouli2019(DEZFOULI, covariates=["diag", "Mania", "Depression"])
    assert list(data.covariates.columns) == ["subject", "diag", "Mania", "Depression"]
    assert len(data.covariates) == 101


# ---------------------------------------------------------------------- Fintz et al. 2022


@pytest.fixture(scope="module")
def fintz() -> cr.ChoiceData:
    return datasets.fintz2022(need(FINTZ), outcomes=True)


def test_fintz_counts_missed_trials_and_outcomes(fintz):
    data = fintz
    assert (data.n_options, data.n_subjects, data.n_sequences) == (4, 965, 965)
    assert data.n_trials == 144_750 and (data.sequences["n_trials"] == 150).all()
    assert data.n_trials - data.n_choices == 4_934
    table = data.to_frame()
    missed = table["choice"].isna()
    assert set(table["choice"][~missed].unique()) == {0, 1, 2, 3}
    # the file leaves reward (and time) empty on a missed trial; the outcomes are still known
    assert table["reward"][missed].isna().all() and table["reward"][~missed].notna().all()
    assert (table["reward"][~missed].min(), table["reward"][~missed].max()) == (1.0, 98.0)
    outcomes = table[[f"outcome_{k}" for k in range(4)]].to_numpy()
    assert data.has_outcomes and not np.isnan(outcomes).any()
    chosen = outcomes[~missed, table["choice"][~missed].to_numpy(dtype=int)]
    np.testing.assert_array_equal(chosen, table["reward"][~missed])
    assert data.covariates["payoff_structure"].value_counts().to_dict() == {2: 329, 4: 324, 3: 312}
    batch = data.tensors()
    assert int(batch.mask.sum()) == data.n_choices and batch.outcomes.shape == (965, 150, 4)


def test_fintz_without_outcomes():
    data = datasets.fintz2022(need(FINTZ), outcomes=False)
    assert not data.has_outcomes and data.n_trials - data.n_choices == 4_934


# ---------------------------------------------------------------------- recipes


def test_recipe_names_a_loader():
    path = need(HBAYESDM / "bandit2arm_exampleData.txt")
    spec = {"name": "x", "data": {"loader": "hbayesdm_bandit2arm", "path": str(path)}}
    data = recipe_from_dict({**spec, "models": [{"type": "bias"}]}).load_data()
    assert (data.n_subjects, data.n_trials, data.n_options) == (20, 2000, 2)
    # further keys of the data table are the loader's keyword arguments
    path = need(HBAYESDM / "bandit4arm_exampleData.txt")
    spec = {"loader": "hbayesdm_bandit4arm", "path": str(path), "reward": "gain"}
    data = recipe_from_dict({"name": "x", "data": spec, "models": [{"type": "bias"}]}).load_data()
    assert set(data.to_frame()["reward"].unique()) == {0.0, 1.0}


def test_recipe_with_unknown_loader_lists_the_loaders(tmp_path):
    spec = {"loader": "nope", "path": str(tmp_path)}
    recipe = recipe_from_dict({"name": "x", "data": spec, "models": [{"type": "bias"}]})
    with raises(RecipeError, f"recipe x: data.loader: unknown; loaders are {datasets.__all__}"):
        recipe.load_data()


# ---------------------------------------------------------------------- malformed copies


def bandit2arm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subjID": [1, 1, 1, 2, 2, 2],
            "trial": [1, 2, 3, 1, 2, 3],
            "choice": [1, 2, 1, 2, 2, 1],
            "outcome": [1, -1, -1, 1, 1, -1],
        }
    )


def bandit4arm_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"subjID": [7] * 4, "gain": [0, 1, 1, 0], "loss": [0, 0, -1, -1], "choice": [1, 2, 3, 4]}
    )


def dezfouli_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ID": ["s1"] * 4 + ["s2"] * 3,
            "key": ["R1", "R2", "R2", "R1", "R2", "R2", "R1"],
            "reward": [0, 1, 0, 1, 1, 0, 0],
            "trial": [1, 1, 2, 2, 1, 2, 2],
            "diag": ["Healthy"] * 4 + ["Bipolar"] * 3,
            "choice": ["R2"] * 7,
        }
    )


def fintz_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user": [1, 1, 1, 2, 2],
            "choice": [1, None, 4, 2, 3],
            "reward": [50, None, 20, 60, 30],
            "time": [500, None, 400, 300, 200],
            "payoff_structure": [2, 2, 2, 3, 3],
            "reward_1": [50, 51, 52, 40, 41],
            "reward_2": [60, 61, 62, 60, 61],
            "reward_3": [30, 31, 32, 30, 30],
            "reward_4": [20, 21, 20, 20, 21],
        }
    )


def write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


def test_small_files_in_each_layout_load(tmp_path):
    data = datasets.hbayesdm_bandit2arm(write(bandit2arm_frame(), tmp_path / "b.txt", sep="\t"))
    assert data.to_frame()["choice"].tolist() == [0, 1, 0, 1, 1, 0]
    # a copy re-saved as comma-separated reads too
    data = datasets.hbayesdm_bandit4arm(write(bandit4arm_frame(), tmp_path / "b4.csv"))
    assert data.to_frame()["reward"].tolist() == [0.0, 1.0, 0.0, -1.0]
    data = datasets.dezfouli2019(write(dezfouli_frame(), tmp_path / "d.csv.zip"))
    assert data.sequences[["subject", "session", "n_trials"]].values.tolist() == [
        ["s1", 1, 2],
        ["s1", 2, 2],
        ["s2", 1, 1],
        ["s2", 2, 2],
    ]
    assert data.to_frame()["choice"].tolist() == [0, 1, 1, 0, 1, 1, 0]
    assert data.covariates.values.tolist() == [["s1", "Healthy"], ["s2", "Bipolar"]]
    train, test = datasets.split_blocks(data, [2])
    assert (train.n_trials, test.n_trials) == (3, 4)
    data = datasets.fintz2022(write(fintz_frame(), tmp_path / "f.csv"), outcomes=True)
    table = data.to_frame()
    assert table["choice"].isna().tolist() == [False, True, False, False, False]
    assert np.isnan(table["reward"][1]) and table["outcome_0"][1] == 51.0


def test_missing_file_names_the_dataset(tmp_path):
    path = tmp_path / "nope.txt"
    with raises(
        FileNotFoundError,
        f"no data file at {str(path)!r}: pass the path of your copy of the {B4} file.",
    ):
        datasets.hbayesdm_bandit4arm(path)


def test_missing_column(tmp_path):
    path = write(bandit2arm_frame().drop(columns="outcome"), tmp_path / "b.txt", sep="\t")
    with raises(
        cr.ChoiceDataError,
        f"this does not look like the {B2} file: column 'outcome' is missing from "
        f"{str(path)!r}. Expected a tab-separated file with one row per trial and columns "
        f"subjID, trial, choice (1 or 2), outcome (1 reward / -1 loss); the file has columns "
        f"['subjID', 'trial', 'choice'].",
    ):
        datasets.hbayesdm_bandit2arm(path)
    path = write(dezfouli_frame().drop(columns="key"), tmp_path / "d.csv")
    with pytest.raises(
        cr.ChoiceDataError,
        match=re.escape(f"this does not look like the {DZ} file: column 'key' is missing from"),
    ):
        datasets.dezfouli2019(path)
    with pytest.raises(cr.ChoiceDataError, match="column 'Mania' is missing"):
        datasets.dezfouli2019(write(dezfouli_frame(), path), covariates=["diag", "Mania"])
    path = write(fintz_frame().drop(columns="reward_3"), tmp_path / "f.csv")
    with pytest.raises(
        cr.ChoiceDataError, match=f"^{re.escape(f'this does not look like the {FZ}')}"
    ):
        datasets.fintz2022(path)
    path = write(bandit4arm_frame().drop(columns="gain"), tmp_path / "b4.txt", sep="\t")
    with pytest.raises(cr.ChoiceDataError, match="column 'gain' is missing"):
        datasets.hbayesdm_bandit4arm(path)


def test_bad_choice_value(tmp_path):
    frame = bandit2arm_frame()
    frame.loc[4, "choice"] = 3
    path = write(frame, tmp_path / "p.txt", sep="\t")
    with raises(
        cr.ChoiceDataError,
        f"{PRL} file {str(path)!r}: column 'choice' (choice): value 3 at row 4 (subject 2) is "
        f"out of range: n_options=2 with choice_base=1 allows 1..2. Check n_options and "
        f"choice_base, or declare a missed-trial code with missing=.",
    ):
        datasets.hbayesdm_prl(path)
    frame = dezfouli_frame()
    frame.loc[5, "key"] = "R3"
    path = write(frame, tmp_path / "d.csv")
    with raises(
        cr.ChoiceDataError,
        f"{DZ} file {str(path)!r}: column 'key' (choice): value 'R3' at row 5 (subject 's2') "
        f"is not one of option_labels=['R1', 'R2']. Add it to option_labels or declare it as "
        f"the missed-trial code with missing=.",
    ):
        datasets.dezfouli2019(path)
    frame = fintz_frame()
    frame.loc[3, "choice"] = 0
    path = write(frame, tmp_path / "f.csv")
    with pytest.raises(cr.ChoiceDataError, match=r"column 'choice' \(choice\): value 0.0 at row 3"):
        datasets.fintz2022(path)


def test_non_numeric_reward(tmp_path):
    frame = bandit2arm_frame().astype({"outcome": object})
    frame.loc[2, "outcome"] = "win"
    path = write(frame, tmp_path / "b.txt", sep="\t")
    with raises(
        cr.ChoiceDataError,
        f"{B2} file {str(path)!r}: column 'outcome' (reward): value 'win' at row 2 (subject 1) "
        f"is not a number.",
    ):
        datasets.hbayesdm_bandit2arm(path)
    frame = bandit4arm_frame().astype({"loss": object})
    frame.loc[1, "loss"] = "-"
    path = write(frame, tmp_path / "b4.txt", sep="\t")
    with raises(
        cr.ChoiceDataError,
        f"{B4} file {str(path)!r}: column 'loss': value '-' at row 1 (subject 7) is not a number.",
    ):
        datasets.hbayesdm_bandit4arm(path)
    frame = fintz_frame().astype({"reward": object})
    frame.loc[3, "reward"] = "60pts"
    path = write(frame, tmp_path / "f.csv")
    with raises(
        cr.ChoiceDataError,
        f"{FZ} file {str(path)!r}: column 'reward' (reward): value '60pts' at row 3 (subject 2) "
        f"is not a number.",
    ):
        datasets.fintz2022(path)


def test_fintz_reward_missing_on_a_chosen_trial(tmp_path):
    frame = fintz_frame()
    frame.loc[2, "reward"] = None
    path = write(frame, tmp_path / "f.csv")
    with raises(
        cr.ChoiceDataError,
        f"{FZ} file {str(path)!r}: column 'reward' (reward): no reward at row 2 (subject 1), a "
        f"trial with a choice. Only missed trials may lack a reward.",
    ):
        datasets.fintz2022(path)


def test_dezfouli_covariate_must_be_per_participant(tmp_path):
    frame = dezfouli_frame()
    frame.loc[1, "diag"] = "Depression"
    path = write(frame, tmp_path / "d.csv")
    with raises(
        cr.ChoiceDataError,
        f"{DZ} file {str(path)!r}: column 'diag' (covariate): subject 's1' has more than one "
        f"value; covariates are per subject.",
    ):
        datasets.dezfouli2019(path)


def test_bandit4arm_reward_option_is_checked(tmp_path):
    path = write(bandit4arm_frame(), tmp_path / "b4.txt", sep="\t")
    with raises(ValueError, "reward must be 'net', 'gain' or 'loss', got 'both'"):
        datasets.hbayesdm_bandit4arm(path, reward="both")
