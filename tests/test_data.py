"""ChoiceData: validation messages, missed trials, tensors, splits and the per-subject summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr

K = 3
ROUND_TRIP = dict(
    subject="subject", choice="choice", reward="reward", session="session", trial="trial"
)


def hand_frame() -> pd.DataFrame:
    """Subject "s2" (two sessions) appears before "s1" (one session, a missed trial at row 8).

    Input rows: 0-3 s2/session 1, 4-6 s2/session 2, 7-11 s1/session 1.
    """
    return pd.DataFrame(
        {
            "subject": ["s2"] * 7 + ["s1"] * 5,
            "session": [1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1, 1],
            "trial": [1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 4, 5],
            "choice": [0, 0, 1, 1, 1, 1, 0, 2, np.nan, 2, 0, 0],
            "reward": [1, 0, 1, 1, 0, 1, 0, 1, np.nan, 0, 1, 0],
        }
    )


def load(frame: pd.DataFrame, **kwargs) -> cr.ChoiceData:
    kwargs = {"n_options": K, "session": "session", "trial": "trial", **kwargs}
    return cr.ChoiceData.from_frame(frame, **kwargs)


@pytest.fixture
def data() -> cr.ChoiceData:
    return load(hand_frame())


# ---------------------------------------------------------------------------- loading
def test_canonical_table(data):
    table = data.to_frame()
    assert list(table.columns) == ["subject", "session", "trial", "choice", "reward"]
    assert str(table["choice"].dtype) == "Int64"
    assert table["reward"].dtype == np.float64
    assert table["trial"].dtype == np.int64
    assert table["choice"].tolist()[:7] == [0, 0, 1, 1, 1, 1, 0]
    assert (data.n_subjects, data.n_sequences, data.n_trials, data.n_choices) == (2, 3, 12, 11)
    assert len(data) == 12
    assert "2 subjects, 3 sessions, 12 trials (1 missed), n_options=3" in repr(data)


def test_round_trip_gives_identical_table(data):
    table = data.to_frame()
    again = cr.ChoiceData.from_frame(table, **ROUND_TRIP, n_options=K)
    pd.testing.assert_frame_equal(again.to_frame(), table)
    assert again.n_options == K
    assert again.subjects == data.subjects


def test_to_frame_is_a_copy(data):
    table = data.to_frame()
    table.loc[0, "reward"] = 99.0
    assert data.to_frame().loc[0, "reward"] == 1.0


def test_choice_base_one_and_option_labels_match_zero_based():
    frame = hand_frame()
    base0 = load(frame).to_frame()
    one = frame.assign(choice=frame["choice"] + 1)
    pd.testing.assert_frame_equal(load(one, choice_base=1).to_frame(), base0)
    labels = ["L", "M", "R"]
    text = frame.assign(
        choice=[labels[int(c)] if c == c else None for c in frame["choice"]]  # NaN stays missing
    )
    pd.testing.assert_frame_equal(load(text, option_labels=labels).to_frame(), base0)
    # n_options can be left out when option_labels is given
    pd.testing.assert_frame_equal(
        load(text, n_options=None, option_labels=labels).to_frame(), base0
    )


def test_row_order_and_trial_numbers_default_to_input_order():
    frame = hand_frame().drop(columns=["trial"])
    data = cr.ChoiceData.from_frame(frame, n_options=K, session="session")
    assert data.to_frame()["trial"].tolist() == [0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3, 4]
    no_session = cr.ChoiceData.from_frame(frame.drop(columns=["session"]), n_options=K)
    assert no_session.n_sequences == 2
    assert no_session.to_frame()["session"].tolist() == [0] * 12


@pytest.mark.parametrize(
    ("sep", "suffix", "compression"),
    [(",", ".csv", None), ("\t", ".tsv", None), (";", ".csv", None), (",", ".csv.zip", "zip")],
)
def test_read_csv_detects_separator(tmp_path, sep, suffix, compression):
    path = tmp_path / f"choices{suffix}"
    hand_frame().to_csv(path, sep=sep, index=False, compression=compression)
    data = cr.read_csv(path, **ROUND_TRIP, n_options=K)
    pd.testing.assert_frame_equal(data.to_frame(), load(hand_frame()).to_frame())


@pytest.mark.parametrize("sep", [",", "\t"])
def test_read_csv_strips_byte_order_mark(tmp_path, sep):
    """Spreadsheet programs save "CSV UTF-8" with a byte-order mark and CRLF line ends."""
    path = tmp_path / "excel.csv"
    hand_frame().to_csv(path, sep=sep, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    data = cr.read_csv(path, **ROUND_TRIP, n_options=K)
    pd.testing.assert_frame_equal(data.to_frame(), load(hand_frame()).to_frame())


def test_read_csv_passes_pandas_options(tmp_path):
    path = tmp_path / "decimal.csv"
    path.write_text("subject;choice;reward\na;0;1,5\na;1;0,25\n")
    data = cr.read_csv(path, n_options=2, decimal=",")
    assert data.to_frame()["reward"].tolist() == [1.5, 0.25]


def test_read_csv_explicit_sep_and_missing_file(tmp_path):
    path = tmp_path / "choices.txt"
    hand_frame().to_csv(path, sep="\t", index=False)
    data = cr.read_csv(str(path), **ROUND_TRIP, n_options=K, sep="\t")
    assert data.n_trials == 12
    with pytest.raises(FileNotFoundError, match="no data file"):
        cr.read_csv(tmp_path / "absent.csv", n_options=K)


def test_read_csv_text_choices_with_missing_code(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("id,key,points\na,R1,1\na,R2,0\na,none,\nb,R2,1\n")
    data = cr.read_csv(
        path,
        subject="id",
        choice="key",
        reward="points",
        option_labels=["R1", "R2"],
        missing="none",
    )
    assert data.n_options == 2
    assert data.to_frame()["choice"].tolist()[:2] == [0, 1]
    assert pd.isna(data.to_frame()["choice"].iloc[2])
    assert data.n_choices == 3


def test_covariates_kept_per_subject():
    frame = hand_frame().assign(diag=["x"] * 7 + ["y"] * 5)
    data = load(frame, covariates=["diag"])
    assert data.covariates.to_dict("list") == {"subject": ["s2", "s1"], "diag": ["x", "y"]}
    assert data.subset(["s1"]).covariates["subject"].tolist() == ["s1"]


# ---------------------------------------------------------------------------- bad input
def _set(row: int, column: str, value):
    def mutate(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({column: object})
        frame.loc[row, column] = value
        return frame

    return mutate


def _where(column: str, row: int = 9, subject: str = "s1") -> str:
    return rf"column '{column}'.* at row {row} \(subject '{subject}'"


BAD_INPUTS = {
    "missing column": (
        lambda f: f.drop(columns=["reward"]),
        {},
        r"column 'reward' \(the reward column\) is not in the data.*Pass reward=",
    ),
    "missing session column": (
        lambda f: f.drop(columns=["session"]),
        {},
        r"column 'session' \(the session column\) is not in the data",
    ),
    "non-integer choice": (_set(9, "choice", 1.5), {}, _where("choice") + r".*not an integer"),
    "text choice": (
        _set(9, "choice", "left"),
        {},
        r"column 'choice' \(choice\): value 'left' at row 9 \(subject 's1'\) is not a number.*"
        r"option_labels=",
    ),
    "choice out of range, base 0": (
        _set(9, "choice", 3),
        {},
        r"column 'choice' \(choice\): value 3 at row 9 \(subject 's1'\) is out of range: "
        r"n_options=3 with choice_base=0 allows 0..2",
    ),
    "negative choice, base 0": (_set(9, "choice", -1), {}, _where("choice") + r".*out of range"),
    "non-numeric reward": (
        _set(9, "reward", "lots"),
        {},
        r"column 'reward' \(reward\): value 'lots' at row 9 \(subject 's1'\) is not a number",
    ),
    "missing reward on an observed trial": (
        _set(9, "reward", np.nan),
        {},
        r"column 'reward' \(reward\): no reward at row 9 \(subject 's1'\), a trial with a choice",
    ),
    "infinite reward": (_set(9, "reward", np.inf), {}, r"column 'reward'.*infinite value at row 9"),
    "duplicated trial": (
        _set(9, "trial", 2),
        {},
        r"column 'trial' \(trial\): duplicated trial number 2 at row 9 \(subject 's1', session 1\)",
    ),
    "unsorted trial": (
        _set(9, "trial", 0),
        {},
        r"column 'trial' \(trial\): unsorted trial number 0 at row 9 \(subject 's1', session 1\)"
        r".*Sort the table by trial first",
    ),
    "non-integer trial": (_set(9, "trial", 2.5), {}, _where("trial") + r".*not an integer trial"),
    "missing trial number": (_set(9, "trial", None), {}, _where("trial") + r".*not an integer"),
    "missing session label": (_set(9, "session", None), {}, _where("session")),
    "subject without an observed choice": (
        lambda f: f.assign(choice=[0.0] * 7 + [np.nan] * 5),
        {},
        r"column 'choice' \(choice\): subject 's1' has no trial with a choice "
        r"\(all its trials, rows 7..11, are missed\)",
    ),
    "missing subject id": (
        _set(9, "subject", None),
        {},
        r"column 'subject' \(subject\): missing subject identifier at row 9",
    ),
    "option_labels length differs from n_options": (
        lambda f: f,
        {"option_labels": ["L", "R"]},
        r"n_options=3 but option_labels has 2 labels",
    ),
    "choice not among option_labels": (
        lambda f: f.assign(choice=["L"] * 9 + ["X", "M", "R"]),
        {"option_labels": ["L", "M", "R"]},
        r"column 'choice' \(choice\): value 'X' at row 9 \(subject 's1'\) is not one of "
        r"option_labels=\['L', 'M', 'R'\]",
    ),
    "duplicated option_labels": (lambda f: f, {"option_labels": ["L", "L", "R"]}, "duplicates"),
    "n_options missing": (lambda f: f, {"n_options": None}, r"n_options is required"),
    "n_options too small": (lambda f: f, {"n_options": 1}, r"n_options must be an integer >= 2"),
    "bad choice_base": (lambda f: f, {"choice_base": 2}, r"choice_base must be 0 or 1, got 2"),
    "covariate varies within a subject": (
        lambda f: f.assign(diag=["x"] * 7 + ["y", "y", "z", "y", "y"]),
        {"covariates": ["diag"]},
        r"column 'diag' \(covariate\): subject 's1' has more than one value",
    ),
    "outcomes of the wrong length": (
        lambda f: f.assign(o0=0.0, o1=0.0),
        {"outcomes": ["o0", "o1"]},
        r"outcomes names 2 columns but n_options=3",
    ),
    "empty table": (lambda f: f.iloc[:0], {}, r"the data has no rows"),
}


@pytest.mark.parametrize(("mutate", "kwargs", "match"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_raises_named_error(mutate, kwargs, match):
    with pytest.raises(cr.ChoiceDataError, match=match):
        load(mutate(hand_frame()), **kwargs)


@pytest.mark.parametrize("value", [0, 4, 7])
def test_choice_out_of_range_base_one(value):
    frame = hand_frame()
    frame["choice"] = frame["choice"] + 1
    frame = _set(9, "choice", value)(frame)
    with pytest.raises(
        cr.ChoiceDataError,
        match=rf"column 'choice' \(choice\): value {value} at row 9 \(subject 's1'\) is out of "
        r"range: n_options=3 with choice_base=1 allows 1..3",
    ):
        load(frame, choice_base=1)


def test_error_names_input_position_after_regrouping():
    """Rows are regrouped by subject; the message still names the row of the input table."""
    frame = hand_frame().iloc[[7, 0, 8, 1, 9, 2, 10, 3, 11, 4, 5, 6]].reset_index(drop=True)
    assert load(frame).subjects == ["s1", "s2"]
    bad = _set(6, "trial", 3)(frame)  # s1's fourth trial (input row 6) repeats trial number 3
    with pytest.raises(cr.ChoiceDataError, match=r"duplicated trial number 3 at row 6 \(subject"):
        load(bad)


def test_error_names_position_not_index_label():
    frame = _set(9, "choice", 5)(hand_frame())
    frame.index = frame.index + 1000
    with pytest.raises(cr.ChoiceDataError, match=r"value 5 at row 9 \(subject 's1'\)"):
        load(frame)


def test_integer_subject_ids_shown_plainly():
    frame = hand_frame().assign(subject=[7] * 7 + [8] * 5)
    with pytest.raises(cr.ChoiceDataError, match=r"at row 9 \(subject 8\)"):
        load(_set(9, "choice", 9)(frame))


def test_choice_data_error_is_a_value_error():
    assert issubclass(cr.ChoiceDataError, ValueError)
    with pytest.raises(TypeError, match="expected a pandas DataFrame"):
        cr.ChoiceData.from_frame({"subject": [1]}, n_options=2)


# ---------------------------------------------------------------------------- missed trials
def _missed_frames():
    nan = hand_frame()
    code = hand_frame().assign(choice=[0, 0, 1, 1, 1, 1, 0, 2, -1, 2, 0, 0])
    code.loc[8, "reward"] = 0.0  # a reward recorded on a missed trial is ignored
    text = hand_frame().astype({"choice": object})
    text.loc[8, "choice"] = "missed"
    return {
        "nan": (nan, {}),
        "code -1": (code, {"missing": -1}),
        "text": (text, {"missing": "missed"}),
    }


@pytest.mark.parametrize("case", ["nan", "code -1", "text"])
def test_missed_trials_are_kept_and_masked(case):
    frame, kwargs = _missed_frames()[case]
    data = load(frame, **kwargs)
    table = data.to_frame()
    assert len(table) == 12 and data.n_trials == 12 and data.n_choices == 11
    assert pd.isna(table["choice"].iloc[8])
    assert table["choice"].isna().sum() == 1
    assert table.loc[8, ["subject", "trial"]].tolist() == ["s1", 2]
    batch = data.tensors()
    assert not batch.mask[2, 1]
    assert batch.choices[2, 1] == -1
    assert batch.rewards[2, 1] == 0
    assert int(batch.mask.sum()) == 11
    assert data.sequences["n_choices"].tolist() == [4, 3, 4]


def test_missed_trial_survives_round_trip():
    data = load(_missed_frames()["code -1"][0], missing=-1)
    again = cr.ChoiceData.from_frame(data.to_frame(), **ROUND_TRIP, n_options=K)
    pd.testing.assert_frame_equal(again.to_frame(), data.to_frame())


def test_missing_code_matches_text_and_numbers():
    frame = hand_frame().assign(
        choice=["0", "0", "1", "1", "1", "1", "0", "2", "-1", "2", "0", "0"]
    )
    assert load(frame, missing=-1).n_choices == 11
    with pytest.raises(cr.ChoiceDataError, match=r"value '-1' at row 8"):
        load(frame)


def test_nullable_integer_columns_load():
    frame = hand_frame().astype({"choice": "Int64", "reward": "Int64", "trial": "Int64"})
    pd.testing.assert_frame_equal(load(frame).to_frame(), load(hand_frame()).to_frame())


# ---------------------------------------------------------------------------- tensors
def test_tensor_shapes_and_padding(data):
    batch = data.tensors()
    assert isinstance(batch, cr.SequenceBatch)
    assert batch.choices.shape == (3, 5) and batch.n_sequences == 3 and batch.n_trials == 5
    assert batch.choices.dtype == torch.int64 and batch.mask.dtype == torch.bool
    assert batch.rewards.dtype == torch.float64
    assert batch.choices.tolist() == [[0, 0, 1, 1, -1], [1, 1, 0, -1, -1], [2, -1, 2, 0, 0]]
    assert batch.rewards.tolist() == [[1, 0, 1, 1, 0], [0, 1, 0, 0, 0], [1, 0, 0, 1, 0]]
    assert batch.mask.tolist() == [
        [True, True, True, True, False],
        [True, True, True, False, False],
        [True, False, True, True, True],
    ]
    assert batch.lengths.tolist() == [4, 3, 5]
    assert batch.subject_index.tolist() == [0, 0, 1]
    assert batch.n_options == K and batch.outcomes is None
    onehot = batch.onehot()
    assert onehot.shape == (3, 5, K)
    assert torch.equal(onehot.sum(-1), batch.mask.to(onehot.dtype))


def test_tensors_dtype_and_cache(data):
    assert data.tensors(dtype=torch.float32).rewards.dtype == torch.float32
    assert data.tensors() is data.tensors()


def full_feedback_frame() -> pd.DataFrame:
    """hand_frame with outcomes o0..o2: the reward for the chosen option, 5 + k for the others.

    The missed trial (row 8) has no outcomes (NaN), which is allowed.
    """
    frame = hand_frame()
    for k in range(K):
        frame[f"o{k}"] = np.where(frame["choice"] == k, frame["reward"], 5.0 + k)
    frame.loc[8, ["o0", "o1", "o2"]] = np.nan
    return frame


def test_full_feedback_outcomes():
    data = load(full_feedback_frame(), outcomes=["o0", "o1", "o2"])
    assert data.has_outcomes and "full feedback" in repr(data)
    out = data.tensors().outcomes
    assert out.shape == (3, 5, K)
    assert out[0, 0].tolist() == [1.0, 6.0, 7.0]
    assert out[2, 1].tolist() == [0.0, 0.0, 0.0]  # missed trial without outcomes
    assert out[1, 4].tolist() == [0.0, 0.0, 0.0]  # padding
    assert np.isnan(data.to_frame().loc[8, ["outcome_0", "outcome_1", "outcome_2"]]).all()


def test_one_sequence_per_subject_session(data):
    seq = data.sequences
    assert seq.columns.tolist() == ["subject", "session", "n_trials", "n_choices"]
    assert seq[["subject", "session", "n_trials"]].values.tolist() == [
        ["s2", 1, 4],
        ["s2", 2, 3],
        ["s1", 1, 5],
    ]


def test_subject_and_session_order_is_first_appearance():
    frame = pd.DataFrame(
        {
            "subject": ["zeta", "zeta", "alpha", "alpha", "zeta", "mid"],
            "session": ["B", "B", "A", "A", "A", "A"],
            "choice": [0, 1, 1, 1, 0, 0],
            "reward": [1, 0, 0, 1, 1, 0],
        }
    )
    data = cr.ChoiceData.from_frame(frame, n_options=2, session="session")
    assert data.subjects == ["zeta", "alpha", "mid"]
    table = data.to_frame()
    assert table["subject"].tolist() == ["zeta", "zeta", "zeta", "alpha", "alpha", "mid"]
    assert table["session"].tolist() == ["B", "B", "A", "A", "A", "A"]
    assert table["reward"].tolist() == [1, 0, 1, 0, 1, 0]
    assert data.tensors().subject_index.tolist() == [0, 0, 1, 2]


def test_trial_values_align_with_to_frame(data):
    batch = data.tensors()
    padded = (
        100 * torch.arange(batch.n_sequences)[:, None] + torch.arange(batch.n_trials)[None, :]
    ).double()
    table = data.to_frame()
    seq = table.groupby(["subject", "session"], sort=False).ngroup().to_numpy()
    pos = table.groupby(["subject", "session"], sort=False).cumcount().to_numpy()
    np.testing.assert_array_equal(data.trial_values(padded), 100 * seq + pos)
    np.testing.assert_array_equal(data.trial_values(padded.numpy()), 100 * seq + pos)
    # the choices come back as the table's choices (-1 where missed)
    back = data.trial_values(batch.choices)
    np.testing.assert_array_equal(back, table["choice"].fillna(-1).to_numpy(dtype=np.int64))
    # trailing axes are kept
    assert data.trial_values(batch.onehot()).shape == (12, K)


# ---------------------------------------------------------------------------- subsets and splits
def test_subset_keeps_data_order(data):
    sub = data.subset(["s1", "s2"])
    assert sub.subjects == ["s2", "s1"]
    only = data.subject("s1")
    assert only.subjects == ["s1"] and only.n_trials == 5
    pd.testing.assert_frame_equal(only.to_frame(), data.to_frame().iloc[7:].reset_index(drop=True))
    assert [s for s, _ in data.iter_subjects()] == ["s2", "s1"]
    with pytest.raises(KeyError, match="not in the data"):
        data.subset(["nobody"])
    with pytest.raises(ValueError, match="empty"):
        data.subset([])


def test_split_by_subject(data):
    train, test = data.split_by_subject(["s2"])
    assert train.subjects == ["s1"] and test.subjects == ["s2"]
    assert train.n_trials + test.n_trials == data.n_trials
    with pytest.raises(KeyError, match="nobody"):
        data.split_by_subject(["nobody"])
    with pytest.raises(ValueError, match="some but not all"):
        data.split_by_subject(["s1", "s2"])


def test_split_and_select_sessions(data):
    train, test = data.split_sessions([2])
    assert test.to_frame()["session"].unique().tolist() == [2]
    assert test.subjects == ["s2"] and test.n_trials == 3
    assert train.n_trials == 9 and train.n_sequences == 2
    assert data.select_sessions([1]).n_trials == 9
    with pytest.raises(ValueError, match="some but not all"):
        data.split_sessions([9])
    with pytest.raises(KeyError, match="no session labelled"):
        data.select_sessions([9])


@pytest.mark.parametrize("n_blocks", [1, 2, 3])
def test_trial_blocks_are_contiguous_and_cover_every_row_once(data, n_blocks):
    blocks = data.trial_blocks(n_blocks)
    assert blocks.shape == (data.n_trials,)
    table = data.to_frame()
    for _, rows in table.groupby(["subject", "session"], sort=False).groups.items():
        b = blocks[np.asarray(rows)]
        assert b[0] == 0 and b[-1] == n_blocks - 1
        assert set(np.diff(b)) <= {0, 1}  # contiguous, in order, none skipped
        sizes = np.bincount(b, minlength=n_blocks)
        assert sizes.max() - sizes.min() <= 1
    parts = data.split_trial_blocks(n_blocks)
    assert len(parts) == n_blocks
    assert sum(p.n_trials for p in parts) == data.n_trials
    for b, part in enumerate(parts):
        expected = table[blocks == b].reset_index(drop=True)
        pd.testing.assert_frame_equal(part.to_frame(), expected)
        assert part.n_sequences == data.n_sequences  # every sequence has a piece in every block


def test_trial_blocks_errors(data):
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        data.trial_blocks(0)
    with pytest.raises(ValueError, match="fewer than n_blocks=4"):
        data.trial_blocks(4)


def test_select_trials_checks_shape(data):
    with pytest.raises(ValueError, match=r"keep must have shape \(12,\)"):
        data.select_trials(np.ones(3, dtype=bool))


def test_with_params_filters_with_subset(data):
    params = pd.DataFrame({"subject": ["s2", "s1"], "alpha": [0.1, 0.2]})
    withp = data.with_params(params)
    assert withp.subset(["s1"]).params["alpha"].tolist() == [0.2]
    assert data.params is None


# ---------------------------------------------------------------------------- summary
def test_summary_by_hand(data):
    summary = data.summary()
    assert summary.columns.tolist() == [
        "subject",
        "n_sessions",
        "n_trials",
        "n_missed",
        "mean_reward",
        "p_stay",
    ]
    assert summary["subject"].tolist() == ["s2", "s1"]
    assert summary["n_sessions"].tolist() == [2, 1]
    assert summary["n_trials"].tolist() == [7, 5]
    assert summary["n_missed"].tolist() == [0, 1]
    # s2 rewards 1,0,1,1 | 0,1,0; s1 observed rewards 1,0,1,0 (the missed trial is left out)
    np.testing.assert_allclose(summary["mean_reward"], [4 / 7, 2 / 4])
    # s2: 0 0 1 1 -> stay, switch, stay; 1 1 0 -> stay, switch (no pair across sessions): 3/5.
    # s1: 2 . 2 0 0 -> against the previous observed choice: stay, switch, stay: 2/3.
    np.testing.assert_allclose(summary["p_stay"], [3 / 5, 2 / 3])


def test_summary_p_stay_nan_without_pairs():
    frame = pd.DataFrame(
        {"subject": ["a", "a", "b"], "choice": [1, None, 0], "reward": [1, None, 0]}
    )
    summary = cr.ChoiceData.from_frame(frame, n_options=2).summary()
    assert summary["p_stay"].isna().all()
    assert summary["n_missed"].tolist() == [1, 0]
