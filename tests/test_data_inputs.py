"""Bad or unusual input: full-feedback outcomes, colliding labels, huge rewards, file encodings,
separator detection, single-trial subjects and the user's own labels (original_labels)."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

import choicernn as cr
from choicernn.data.reading import detect_separator

OUTCOMES = ["o0", "o1"]


def frame(**columns) -> pd.DataFrame:
    """Subjects "a" (rows 0-2) and "b" (rows 3-5); row 4 is a missed trial; 2 options.

    Outcomes: the reward for the chosen option, 5 + k for the other; none on the missed trial.
    """
    base = pd.DataFrame(
        {
            "subject": ["a", "a", "a", "b", "b", "b"],
            "choice": [0, 1, 1, 0, np.nan, 1],
            "reward": [1.0, 0.0, 1.0, 0.0, np.nan, 1.0],
        }
    )
    for k, col in enumerate(OUTCOMES):
        base[col] = np.where(base["choice"] == k, base["reward"], 5.0 + k)
    base.loc[4, OUTCOMES] = np.nan
    for name, value in columns.items():
        base[name] = value
    return base


def _set(row: int, column: str, value) -> pd.DataFrame:
    bad = frame().astype({column: object})
    bad.loc[row, column] = value
    return bad


def load(table: pd.DataFrame, **kwargs) -> cr.ChoiceData:
    return cr.ChoiceData.from_frame(table, **{"n_options": 2, **kwargs})


# ---------------------------------------------------------------------------- outcomes
def test_valid_outcomes_load_and_missed_trials_may_lack_them():
    data = load(frame(), outcomes=OUTCOMES)
    assert data.has_outcomes
    assert data.tensors().outcomes[1, 1].tolist() == [0.0, 0.0]  # missed trial: no outcomes


BAD_OUTCOMES = {
    "empty outcome on a trial with a choice": (
        _set(3, "o1", np.nan),
        r"^column 'o1' \(outcome of option 1\): no value at row 3 \(subject 'b'\), a trial with "
        r"a choice.*only missed trials may leave them empty",
    ),
    "infinite outcome": (
        _set(2, "o0", np.inf),
        r"^column 'o0' \(outcome of option 0\): infinite value at row 2 \(subject 'a'\)",
    ),
    "negative infinite outcome on a missed trial": (
        _set(4, "o0", -np.inf),
        r"^column 'o0' \(outcome of option 0\): infinite value at row 4 \(subject 'b'\)",
    ),
    "outcome beyond float32": (
        _set(2, "o0", 1e39),
        r"^column 'o0' \(outcome of option 0\): value 1e\+39 at row 2 \(subject 'a'\) is outside "
        r"the float32 range",
    ),
    "outcome of the chosen option differs from the reward": (
        _set(5, "o1", 0.0),
        r"^column 'o1' \(outcome of option 1\): value 0.0 at row 5 \(subject 'b'\) differs from "
        r"the reward 1.0 although that trial's choice \(1.0 in column 'choice'\) is this option",
    ),
    "outcome text": (
        _set(1, "o0", "five"),
        r"^column 'o0' \(outcome of option 0\): value 'five' at row 1 \(subject 'a'\) is not a "
        r"number",
    ),
}


@pytest.mark.parametrize(("table", "match"), BAD_OUTCOMES.values(), ids=BAD_OUTCOMES.keys())
def test_bad_outcomes_are_named(table, match):
    with pytest.raises(cr.ChoiceDataError, match=match):
        load(table, outcomes=OUTCOMES)


def test_swapped_outcome_columns_are_caught():
    with pytest.raises(cr.ChoiceDataError, match=r"check that outcomes= lists one column per"):
        load(frame(), outcomes=OUTCOMES[::-1])


def test_outcome_equal_to_reward_up_to_rounding():
    table = frame()
    table.loc[0, "o0"] = 1.0 + 1e-9
    assert load(table, outcomes=OUTCOMES).n_trials == 6


# ---------------------------------------------------------------------------- rewards
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1e300, r"value 1e\+300 at row 2 \(subject 'a'\) is outside the float32 range"),
        (-4e38, r"value -4e\+38 at row 2 \(subject 'a'\) is outside the float32 range"),
        (np.inf, r"infinite value at row 2 \(subject 'a'\)"),
        (-np.inf, r"infinite value at row 2 \(subject 'a'\)"),
    ],
)
def test_rewards_beyond_float32_are_refused(value, match):
    with pytest.raises(cr.ChoiceDataError, match=r"^column 'reward' \(reward\): " + match):
        load(_set(2, "reward", value))


def test_large_finite_rewards_within_float32_load_and_summarise():
    table = frame()
    table.loc[[0, 2], "reward"] = 3e38
    summary = load(table).summary()
    assert np.isfinite(summary["mean_reward"]).all()


# ---------------------------------------------------------------------------- subject labels
@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        ([101, 101, 101.0, 101.0, 7, 7], r"101 \(row 0\) and 101.0 \(row 2\)"),
        ([101, 101, "101", "101", 7, 7], r"101 \(row 0\) and '101' \(row 2\)"),
        (["7", "7", "101", "101", 101.0, 101.0], r"'101' \(row 2\) and 101.0 \(row 4\)"),
        (["101", "101", "101.0", "101.0", "7", "7"], r"'101' \(row 0\) and '101.0' \(row 2\)"),
    ],
)
def test_subject_labels_that_differ_only_in_type_are_refused(labels, shown):
    table = frame(subject=pd.Series(labels, dtype=object))
    with pytest.raises(
        cr.ChoiceDataError,
        match=rf"^column 'subject' \(subject\): the labels {shown} differ only in type or "
        r"spelling.*\.astype\(int\) or \.astype\(str\)",
    ):
        load(table)


def test_session_labels_that_differ_only_in_type_are_refused():
    table = frame(session=pd.Series([1, 1, 1.0, 2, 2, 2], dtype=object))
    with pytest.raises(cr.ChoiceDataError, match=r"^column 'session' \(session\): the labels 1 "):
        load(table, session="session")


def test_text_subject_labels_keep_their_spelling():
    data = load(frame(subject=["001", "001", "001", "1", "1", "1"]))
    assert data.subjects == ["001", "1"]
    mixed = load(frame(subject=pd.Series([1, 1, 1, "b", "b", "b"], dtype=object)))
    assert mixed.subjects == [1, "b"]


@pytest.mark.parametrize(
    ("cells", "subjects", "dtype"),
    [
        (["001", "1"], ["001", "1"], "text"),
        (["001", "002"], ["001", "002"], "text"),
        (["12", "7"], [12, 7], "int64"),
        (["1.5", "2.5"], [1.5, 2.5], "float64"),
        (["s1", "s2"], ["s1", "s2"], "text"),
    ],
)
def test_read_csv_keeps_subject_labels_as_written(tmp_path, cells, subjects, dtype):
    path = tmp_path / "ids.csv"
    path.write_text(f"subject,choice,reward\n{cells[0]},0,1\n{cells[1]},1,0\n")
    data = cr.read_csv(path, n_options=2)
    assert data.subjects == subjects
    column = data.to_frame()["subject"]
    if dtype == "text":
        assert pd.api.types.is_string_dtype(column)
    else:
        assert column.dtype == dtype


def test_read_csv_refuses_integer_and_float_spellings_of_one_subject(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("subject,choice,reward\n101,0,1\n101.0,1,0\n")
    with pytest.raises(
        cr.ChoiceDataError, match=r"the labels '101' \(row 0\) and '101.0' \(row 1\) differ"
    ):
        cr.read_csv(path, n_options=2)


def test_read_csv_session_labels_as_written(tmp_path):
    path = tmp_path / "sessions.csv"
    path.write_text("subject,session,choice,reward\na,01,0,1\na,1,1,0\na,2,1,1\n")
    data = cr.read_csv(path, n_options=2, session="session")
    assert data.sequences["session"].tolist() == ["01", "1", "2"]


def test_read_csv_respects_a_given_dtype(tmp_path):
    path = tmp_path / "ids.csv"
    path.write_text("subject,choice,reward\n001,0,1\n002,1,0\n")
    assert cr.read_csv(path, n_options=2, dtype={"subject": int}).subjects == [1, 2]


# ---------------------------------------------------------------------------- files
def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(cr.ChoiceDataError, match=r"file '.*empty.csv' is empty: it has no header"):
        cr.read_csv(path, n_options=2)
    path.write_bytes(b"\xef\xbb\xbf\r\n")  # a byte-order mark and a blank line: empty too
    with pytest.raises(cr.ChoiceDataError, match=r"is empty"):
        cr.read_csv(path, n_options=2)
    with pytest.raises(cr.ChoiceDataError, match=r"is empty"):
        cr.read_csv(path, n_options=2, sep=",")


def test_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("subject,choice,reward\n")
    with pytest.raises(
        cr.ChoiceDataError,
        match=r"file '.*header.csv' has no rows: only the header line \['subject', 'choice', "
        r"'reward'\]",
    ):
        cr.read_csv(path, n_options=2)


@pytest.mark.parametrize(("encoding", "sep"), [("utf-16", "\t"), ("utf-16", ","), ("utf-32", ";")])
def test_read_csv_decodes_utf16_and_utf32_with_byte_order_mark(tmp_path, encoding, sep):
    """Excel's "Unicode text" is UTF-16 (little-endian, with a byte-order mark), tab-separated."""
    path = tmp_path / "unicode.txt"
    table = frame(subject=["é1", "é1", "é1", "b", "b", "b"]).drop(columns=OUTCOMES)
    table.to_csv(path, sep=sep, index=False, encoding=encoding, lineterminator="\r\n")
    assert path.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")
    data = cr.read_csv(path, n_options=2)
    pd.testing.assert_frame_equal(data.to_frame(), load(table).to_frame())


def test_read_csv_names_a_wrong_encoding(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("subject,choice,reward\nJosé,0,1\n".encode("cp1252"))
    with pytest.raises(cr.ChoiceDataError, match=r"is not UTF-8 text.*Save it as UTF-8"):
        cr.read_csv(path, n_options=2)
    assert cr.read_csv(path, n_options=2, encoding="cp1252").subjects == ["José"]


@pytest.mark.parametrize(
    ("sample", "sep"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a;b;c\n1;2,5;3\n1;0,25;3\n", ";"),  # decimal commas
        ("a|b|c\n1|2|3\n", "|"),
        ('name,note\nx,"one; two; three"\ny,"four; five"\n', ","),
        ("subject\na\nb\n", ","),  # one column
    ],
)
def test_detect_separator(sample, sep):
    assert detect_separator(sample) == sep


def test_read_csv_large_file_gzip_and_bar_separator(tmp_path):
    """A file beyond the 64 KiB sample (the cut last line is dropped), gzip, and "|"."""
    n = 12_000
    table = pd.DataFrame(
        {
            "subject": np.repeat(["s1", "s2"], n // 2),
            "choice": np.arange(n) % 2,
            "reward": np.round(np.linspace(0, 1, n), 6),
        }
    )
    plain, zipped = tmp_path / "big.csv", tmp_path / "big.csv.gz"
    table.to_csv(plain, sep="|", index=False)
    assert plain.stat().st_size > 64 * 1024
    with gzip.open(zipped, "wt") as handle:
        table.to_csv(handle, sep="|", index=False)
    for path in (plain, zipped):
        data = cr.read_csv(path, n_options=2)
        pd.testing.assert_frame_equal(data.to_frame(), load(table).to_frame())


def test_read_csv_keeps_row_positions_in_original_labels(tmp_path):
    path = tmp_path / "interleaved.csv"
    path.write_text("subject,choice,reward\nb,1,0\na,2,1\nb,2,1\na,1,0\n")
    data = cr.read_csv(path, n_options=2, choice_base=1)
    labels = data.original_labels()
    assert labels["subject"].tolist() == ["b", "b", "a", "a"]
    assert labels["row"].tolist() == [0, 2, 1, 3]
    assert labels["choice_label"].tolist() == [1, 2, 2, 1]


# ---------------------------------------------------------------------------- single trials
def test_single_trial_subjects_load():
    table = pd.DataFrame({"subject": ["a", "b"], "choice": [0, 1], "reward": [1.0, 0.0]})
    data = load(table)
    batch = data.tensors()
    assert batch.choices.shape == (2, 1)
    assert batch.lengths.tolist() == [1, 1]
    assert data.summary()["p_stay"].isna().all()


def test_q_learning_fits_when_every_sequence_has_one_trial():
    table = pd.DataFrame({"subject": ["a", "b"], "choice": [0, 1], "reward": [1.0, 0.0]})
    model = cr.QLearning("rw").fit(load(table), seed=0)
    assert len(model.params_) == 2


# ---------------------------------------------------------------------------- original labels
def test_original_labels_keep_the_users_codes():
    table = pd.DataFrame(
        {
            "id": ["s2", "s2", "s1", "s2", "s1", "s1"],
            "day": ["mon", "mon", "tue", "tue", "tue", "tue"],
            "t": [10, 20, 1, 5, 2, 3],
            "key": ["R", "L", "L", "none", "R", "R"],
            "points": [1, 0, 1, np.nan, 0, 1],
        }
    )
    data = cr.ChoiceData.from_frame(
        table,
        subject="id",
        choice="key",
        reward="points",
        session="day",
        trial="t",
        option_labels=["L", "R"],
        missing="none",
    )
    canonical = data.to_frame()
    assert list(canonical.columns) == ["subject", "session", "trial", "choice", "reward"]
    labels = data.original_labels()
    assert list(labels.columns) == [
        "subject",
        "session",
        "trial",
        "row",
        "session_label",
        "trial_label",
        "choice_label",
    ]
    pd.testing.assert_frame_equal(labels[["subject", "session", "trial"]], canonical.iloc[:, :3])
    assert labels["row"].tolist() == [0, 1, 3, 2, 4, 5]
    assert labels["session_label"].tolist() == ["mon", "mon", "tue", "tue", "tue", "tue"]
    assert labels["trial_label"].tolist() == [10, 20, 5, 1, 2, 3]
    assert labels["choice_label"].tolist() == ["R", "L", "none", "L", "R", "R"]
    # every row points back at its input row
    back = table.iloc[labels["row"]].reset_index(drop=True)
    assert back["key"].tolist() == labels["choice_label"].tolist()
    assert back["id"].tolist() == labels["subject"].tolist()
    # merging per-trial results on the canonical keys brings the labels along
    ll = canonical.loc[canonical["choice"].notna(), ["subject", "session", "trial"]]
    merged = ll.merge(labels, on=["subject", "session", "trial"], how="left")
    assert merged["choice_label"].notna().all() and len(merged) == 5


def test_original_labels_without_session_and_trial_columns():
    data = load(frame().assign(choice=lambda f: f["choice"] + 1), choice_base=1)
    labels = data.original_labels()
    assert labels["session_label"].isna().all()
    assert labels["trial_label"].isna().all() and str(labels["trial_label"].dtype) == "Int64"
    assert labels["trial"].tolist() == [0, 1, 2, 0, 1, 2]
    assert labels["choice_label"].tolist()[:4] == [1.0, 2.0, 2.0, 1.0]
    assert np.isnan(labels["choice_label"].iloc[4])


def test_original_labels_follow_subsets_splits_and_params():
    data = load(frame(subject=["a", "b", "a", "b", "a", "b"]).drop(index=4))
    labels = data.original_labels()
    sub = data.subset(["b"])
    pd.testing.assert_frame_equal(
        sub.original_labels(), labels[labels["subject"] == "b"].reset_index(drop=True)
    )
    for part in data.split_trial_blocks(2):
        got = part.original_labels()
        expected = labels.merge(got[["subject", "trial"]], on=["subject", "trial"])
        pd.testing.assert_frame_equal(got, expected)
    params = pd.DataFrame({"subject": ["a", "b"], "alpha": [0.1, 0.2]})
    pd.testing.assert_frame_equal(data.with_params(params).original_labels(), labels)


def test_original_labels_of_a_canonical_table_are_its_own():
    data = load(frame())
    again = cr.ChoiceData(data.to_frame(), 2)
    labels = again.original_labels()
    assert labels["row"].tolist() == list(range(6))
    pd.testing.assert_series_equal(
        labels["choice_label"], again.to_frame()["choice"], check_names=False
    )
    assert labels["session_label"].tolist() == [0] * 6
