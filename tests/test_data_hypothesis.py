"""Property tests: random valid tables always load and round-trip; one bad cell is always named."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import choicernn as cr

SETTINGS = settings(max_examples=50, deadline=None)
MISSING_CODE = -9


@st.composite
def valid_frames(draw):
    """A random valid table and the keyword arguments that load it.

    Subjects have 1-3 sessions of 1-12 trials with gaps in the trial numbers; some trials are
    missed (NaN or the code -9); blocks of different subjects may be interleaved.
    """
    k = draw(st.integers(2, 5))
    base = draw(st.sampled_from([0, 1]))
    int_ids = draw(st.booleans())
    missed_as = draw(st.sampled_from(["nan", "code"]))
    n_subjects = draw(st.integers(1, 4))
    blocks = []
    for s in range(n_subjects):
        subject = 100 + s if int_ids else f"sub-{s}"
        n_sessions = draw(st.integers(1, 3))
        for session in range(n_sessions):
            n = draw(st.integers(1, 12))
            gaps = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
            start = draw(st.integers(-2, 5))
            choices = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
            missed = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            if session == 0:
                missed[0] = False  # every subject has an observed choice
            rewards = draw(
                st.lists(
                    st.floats(-5, 5, allow_nan=False).map(lambda x: round(x, 3)),
                    min_size=n,
                    max_size=n,
                )
            )
            blocks.append(
                pd.DataFrame(
                    {
                        "subject": subject,
                        "session": f"day{session}",
                        "trial": start + np.cumsum(gaps),
                        "choice": [
                            (np.nan if missed_as == "nan" else MISSING_CODE) if m else c + base
                            for c, m in zip(choices, missed, strict=True)
                        ],
                        "reward": [
                            np.nan if m else r for r, m in zip(rewards, missed, strict=True)
                        ],
                    }
                )
            )
    order = draw(st.permutations(range(len(blocks))))
    # keep each subject's sessions in order, so "first appearance" is well defined
    per_subject: dict = {}
    for i in order:
        per_subject.setdefault(blocks[i]["subject"].iloc[0], []).append(i)
    queue = {s: sorted(ix) for s, ix in per_subject.items()}
    arranged = [queue[blocks[i]["subject"].iloc[0]].pop(0) for i in order]
    frame = pd.concat([blocks[i] for i in arranged], ignore_index=True)
    kwargs = dict(
        subject="subject",
        choice="choice",
        reward="reward",
        session="session",
        trial="trial",
        n_options=k,
        choice_base=base,
        missing=MISSING_CODE if missed_as == "code" else None,
    )
    return frame, kwargs


def _missed(frame: pd.DataFrame) -> np.ndarray:
    return (frame["choice"].isna() | (frame["choice"] == MISSING_CODE)).to_numpy()


@SETTINGS
@given(valid_frames())
def test_valid_frames_load_and_round_trip(case):
    frame, kwargs = case
    data = cr.ChoiceData.from_frame(frame, **kwargs)
    missed = _missed(frame)
    assert data.n_trials == len(frame)
    assert data.n_choices == int((~missed).sum())
    assert data.subjects == list(pd.unique(frame["subject"]))
    assert data.n_sequences == len(frame.drop_duplicates(["subject", "session"]))

    table = data.to_frame()
    # same rows, regrouped by subject: compare after sorting both by (subject, session, trial)
    key = ["subject", "session", "trial"]
    expected = frame.assign(
        choice=np.where(missed, np.nan, frame["choice"] - kwargs["choice_base"])
    ).sort_values(key, kind="stable")
    got = table.sort_values(key, kind="stable")
    np.testing.assert_array_equal(got["trial"].to_numpy(), expected["trial"].to_numpy())
    np.testing.assert_array_equal(
        got["choice"].to_numpy(dtype=float, na_value=np.nan), expected["choice"].to_numpy()
    )
    np.testing.assert_array_equal(got["reward"].to_numpy(), expected["reward"].to_numpy())

    again = cr.ChoiceData.from_frame(
        table,
        subject="subject",
        choice="choice",
        reward="reward",
        session="session",
        trial="trial",
        n_options=kwargs["n_options"],
    )
    pd.testing.assert_frame_equal(again.to_frame(), table)

    # the user's labels: every canonical row points back at its input row
    labels = data.original_labels()
    pd.testing.assert_frame_equal(labels[key], table[key])
    source = frame.iloc[labels["row"].to_numpy()].reset_index(drop=True)
    assert sorted(labels["row"]) == list(range(len(frame)))
    np.testing.assert_array_equal(source["subject"].to_numpy(), table["subject"].to_numpy())
    np.testing.assert_array_equal(source["trial"].to_numpy(), labels["trial_label"].to_numpy())
    np.testing.assert_array_equal(
        source["choice"].to_numpy(dtype=float), labels["choice_label"].to_numpy(dtype=float)
    )

    batch = data.tensors()
    assert int(batch.mask.sum()) == data.n_choices
    assert batch.lengths.tolist() == data.sequences["n_trials"].tolist()
    assert int(batch.choices.max()) < kwargs["n_options"]
    np.testing.assert_array_equal(
        data.trial_values(batch.choices), table["choice"].fillna(-1).to_numpy(dtype=np.int64)
    )


@st.composite
def mutated_frames(draw):
    """A valid table with one bad cell, the row it is in, and the column the error must name."""
    frame, kwargs = draw(valid_frames())
    k, base = kwargs["n_options"], kwargs["choice_base"]
    kind = draw(st.sampled_from(["choice out of range", "choice text", "reward text", "dup trial"]))
    same_as_previous = np.flatnonzero(
        (frame["subject"].to_numpy()[1:] == frame["subject"].to_numpy()[:-1])
        & (frame["session"].to_numpy()[1:] == frame["session"].to_numpy()[:-1])
    )
    if kind == "dup trial" and same_as_previous.size == 0:
        kind = "choice out of range"
    if kind == "dup trial":
        row = int(draw(st.sampled_from(same_as_previous.tolist()))) + 1
        column, value = "trial", frame["trial"].iloc[row - 1]
        message = rf"duplicated trial number {value} at row {row} \("
    else:
        row = draw(st.integers(0, len(frame) - 1))
        if kind == "choice out of range":
            column = "choice"
            value = draw(
                st.one_of(st.integers(base + k, base + k + 20), st.integers(base - 5, base - 1))
            )
            if value == MISSING_CODE and kwargs["missing"] is not None:
                value = base + k
            message = rf"value {value} at row {row} \(subject .*\) is out of range"
        elif kind == "choice text":
            column, value = "choice", draw(st.sampled_from(["left", "?", "2x"]))
            message = rf"value '{re.escape(value)}' at row {row} \(subject .*\) is not a number"
        else:
            column, value = "reward", draw(st.sampled_from(["lots", "1,5", "n/a!"]))
            message = rf"value '{re.escape(value)}' at row {row} \(subject .*\) is not a number"
    frame = frame.astype({column: object})
    frame.loc[row, column] = value
    return frame, kwargs, column, message


@SETTINGS
@given(mutated_frames())
def test_one_bad_cell_is_named(case):
    frame, kwargs, column, message = case
    with pytest.raises(cr.ChoiceDataError, match=rf"^column '{column}' \({column}\): .*{message}"):
        cr.ChoiceData.from_frame(frame, **kwargs)
