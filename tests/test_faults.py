"""Fault injection: a study's cache and saved models under kills, tampering and races.

Each test breaks something on purpose (a killed run, an edited or planted file, two runs at
once, a save while another process loads) and checks that nothing finished is lost, nothing is
silently wrong (a damaged file is an error naming it, never a different table), and nothing in
a data file runs code. (The defects these tests first found -- silently accepted edits of unit
CSVs, a cache ignoring the saved model type, and saves and loads racing -- are fixed; the
fourth field of ``TAMPERING`` records what each case used to get past.)
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.comparison.unit_cache import CacheFileError
from choicernn.io import write_bytes_atomic, write_csv_atomic, write_text_atomic

TESTS = str(Path(__file__).parent)
MARKER_NAME = "PAYLOAD_RAN"


@pytest.fixture(autouse=True)
def _quiet():
    cr.set_progress(False)
    yield
    cr.set_progress(True)


def small_data(ids=None, seed=1) -> cr.ChoiceData:
    """4 simulated subjects x 40 trials, renamed to ``ids`` (exactly as given) if any."""
    data = cr.simulate(cr.WSLS(), "two_armed_fixed", 4, 40, seed=seed)
    if ids is None:
        return data
    frame = data.to_frame()
    frame["subject"] = frame["subject"].map(dict(zip(data.subjects, ids))).astype(object)
    return cr.ChoiceData.from_frame(frame, n_options=2)


def tiny_gru() -> cr.GRUModel:
    return cr.GRUModel(hidden_size=2, training=cr.TrainingConfig(max_epochs=2, n_seeds=1))


def cached_models() -> list:
    return [cr.WSLS(), cr.QLearning("rw", n_restarts=2), tiny_gru()]


def assert_same_tables(got: cr.CrossValidationResult, want: cr.CrossValidationResult) -> None:
    """Equal cell by cell, type by type, and byte for byte once written."""
    for name in ("table", "trials", "in_sample"):
        a, b = getattr(got, name), getattr(want, name)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert [type(v) for v in a["subject"]] == [type(v) for v in b["subject"]], name
        assert a.to_csv(index=False) == b.to_csv(index=False), name


# ------------------------------------------------------------------ files colleagues can read
@pytest.mark.parametrize("umask", [0o022, 0o002], ids=["umask022", "umask002"])
def test_every_written_file_follows_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        files = [
            write_csv_atomic(pd.DataFrame({"a": [1]}), tmp_path / "t.csv"),
            write_text_atomic("report", tmp_path / "report.md"),
            write_bytes_atomic(b"x", tmp_path / "b.bin"),
        ]
        cache = tmp_path / "units"
        cr.cross_validate([cr.WSLS()], small_data(), folds=2, cache_dir=cache)
        files += list(cache.glob("*.csv"))
        files += [f for m in cache.glob("*.model") for f in m.iterdir()]
        folders = [cache, *cache.glob("*.model")]
    finally:
        os.umask(previous)
    assert len(files) > 5
    for file in files:
        assert oct(file.stat().st_mode & 0o777) == oct(0o666 & ~umask), file
    for folder in folders:
        assert oct(folder.stat().st_mode & 0o777) == oct(0o777 & ~umask), folder
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary file left


# ------------------------------------------------------------------ (a) resume with odd IDs
@pytest.mark.parametrize(
    "ids",
    [["001", "1", "01", "0010"], [101, 1, 7, 33], ["101", "1", "7", "33"]],
    ids=["zero-padded-text", "integers", "digit-text"],
)
def test_resumed_tables_are_byte_identical_to_a_fresh_run(tmp_path, ids):
    data = small_data(ids)
    assert list(data.subjects) == ids
    models = [cr.WSLS(), cr.QLearning("rw", n_restarts=2)]
    fresh = cr.cross_validate(models, data, folds=3)
    cache = tmp_path / "units"
    first = cr.cross_validate(models, data, folds=3, cache_dir=cache)
    for path in [*cache.glob("*__fold1__*"), *cache.glob("rw__all__*")]:  # an interrupted run
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    resumed = cr.cross_validate(models, data, folds=3, cache_dir=cache)
    # a per-subject model refits every fold in its stacked fit (the same batch as the fresh
    # run, so the same numbers to the last bit) and keeps the lost one
    assert sorted(resumed.timings["unit"]) == [
        "model=rw fold=1 (fitted with folds 0,1,2)",
        "model=rw fold=all",
        "model=wsls fold=1 (fitted with folds 0,1,2)",
    ]
    again = cr.cross_validate(models, data, folds=3, cache_dir=cache)
    assert again.timings.empty
    for result in (first, resumed, again):
        assert_same_tables(result, fresh)


def test_one_subject_written_two_ways_is_refused():
    with pytest.raises(cr.ChoiceDataError, match=r"the labels 101 .* and '101' .* differ only"):
        small_data([101, "101", 7, 33])


# ------------------------------------------------------------------ (b) tampered cache files
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A finished study's cache (WSLS, Q-learning, a tiny GRU; 2 folds) and its result."""
    cache = tmp_path_factory.mktemp("pristine") / "units"
    data = small_data()
    result = cr.cross_validate(cached_models(), data, folds=2, cache_dir=cache)
    return cache, data, result


def _copy(pristine, tmp_path) -> Path:
    cache = tmp_path / "units"
    shutil.copytree(pristine[0], cache)
    return cache


def _one(cache: Path, pattern: str) -> Path:
    (path,) = cache.glob(pattern)
    return path


def _edit_csv(change):
    def tamper(cache: Path) -> Path:
        path = _one(cache, "wsls__fold0__*.csv")
        write_csv_atomic(change(pd.read_csv(path)), path)
        return path

    return tamper


def _cut(keep):
    def tamper(cache: Path) -> Path:
        path = _one(cache, "wsls__fold0__*.csv")
        path.write_bytes(keep(path.read_bytes()))
        return path

    return tamper


def _edit_json(pattern, change):
    def tamper(cache: Path) -> Path:
        path = _one(cache, pattern) / "model.json"
        doc = json.loads(path.read_text())
        change(doc)
        path.write_text(json.dumps(doc))
        return path

    return tamper


def _swap_subjects(table):
    codes = table["subject"].to_numpy().copy()
    table["subject"] = np.where(codes == 0, 1, np.where(codes == 1, 0, codes))
    return table


def _first_param(doc, value):
    data = doc["fitted"]["params"]["data"]
    name = next(c for c in doc["fitted"]["params"]["columns"] if c != "subject")
    data[name][0] = value


def _drop_last_field(raw: bytes) -> bytes:
    body = raw.rstrip(b"\n")
    return body[: body.rfind(b",")] + b"\n"


CSV_SILENT = (
    "unit_cache.read_trials checks columns, row count, code ranges and finite log_lik only; it "
    "does not check that the (subject, session, trial, choice) rows are the fold's held-out "
    "trials of the data, nor that p_choice/correct are present and consistent, so an edited "
    "or cut file is read as a different table"
)
TYPE_IGNORED = (
    "persistence.load_fitted_into (the study cache) compares settings but ignores "
    "model.json's 'type', so a file claiming another or an unknown model type is accepted"
)

TAMPERING = [
    # (tampering, what the error must say, what it used to get past before the fix)
    ("csv-codes-out-of-range", _edit_csv(lambda t: t.assign(subject=t.subject + 10)), "", None),
    ("csv-negative-session", _edit_csv(lambda t: t.assign(session=-1)), "", None),
    ("csv-subjects-swapped", _edit_csv(_swap_subjects), "", CSV_SILENT),
    ("csv-trials-shifted", _edit_csv(lambda t: t.assign(trial=t.trial + 1)), "", CSV_SILENT),
    ("csv-choices-flipped", _edit_csv(lambda t: t.assign(choice=1 - t.choice)), "", CSV_SILENT),
    ("csv-extra-rows", _edit_csv(lambda t: pd.concat([t, t.iloc[:3]])), "", None),
    (
        "csv-rows-repeated",
        _edit_csv(lambda t: pd.concat([t.iloc[:-3], t.iloc[:3]])),
        "",
        CSV_SILENT,
    ),
    ("csv-p-choice-edited", _edit_csv(lambda t: t.assign(p_choice=0.5)), "", CSV_SILENT),
    ("csv-truncated-half", _cut(lambda b: b[: len(b) // 2]), "", None),
    ("csv-truncated-in-last-row", _cut(_drop_last_field), "", CSV_SILENT),
    ("csv-empty", _cut(lambda b: b""), "unreadable", None),
    (
        "json-other-settings",
        _edit_json("wsls__fold0__*.model", lambda d: d["settings"].update(n_restarts=3)),
        "other settings",
        None,
    ),
    (
        "json-nan-parameter",
        _edit_json("rw__fold0__*.model", lambda d: _first_param(d, {"__float__": "nan"})),
        "not a number",
        None,
    ),
    (
        "json-bare-nan-parameter",
        _edit_json("rw__all__*.model", lambda d: _first_param(d, float("nan"))),
        "not a number",
        None,
    ),
    (
        "json-unknown-type",
        _edit_json("rw__fold0__*.model", lambda d: d.update(type="no_such_model")),
        "type",
        TYPE_IGNORED,
    ),
    ("json-not-json", None, "not valid JSON", None),
    ("weights-empty", None, "missing or empty", None),
    ("weights-pickle-payload", None, "not a readable weights file", None),
]


class _Payload:
    """Unpickling this runs ``touch <marker>``: proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _tamper(name: str, cache: Path, marker: Path):
    """Apply the named tampering to ``cache``; returns the damaged file."""
    if name == "json-not-json":
        path = _one(cache, "wsls__all__*.model") / "model.json"
        path.write_text(path.read_text()[:-20])
        return path
    if name == "weights-empty":
        path = _one(cache, "gru2__fold1__*.model") / "weights.pt"
        path.write_bytes(b"")
        return path
    if name == "weights-pickle-payload":
        path = _one(cache, "gru2__fold0__*.model") / "weights.pt"
        torch.save({"weight": _Payload(marker)}, path)  # a torch file whose unpickling runs code
        return path
    return next(t for t in TAMPERING if t[0] == name)[1](cache)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n)
        for n, _, _, why in TAMPERING
    ],
)
def test_a_tampered_cache_file_is_an_error_naming_it(pristine, tmp_path, name):
    cache = _copy(pristine, tmp_path)
    marker = tmp_path / MARKER_NAME
    damaged = _tamper(name, cache, marker)
    says = next(t for t in TAMPERING if t[0] == name)[2]
    with pytest.raises(CacheFileError) as caught:
        cr.cross_validate(cached_models(), pristine[1], folds=2, cache_dir=cache)
    message = str(caught.value)
    assert str(damaged) in message or str(damaged.parent) in message
    assert says in message
    assert not marker.exists()  # nothing was unpickled


def test_a_pickled_weights_file_never_runs_code_even_outside_a_study(pristine, tmp_path):
    cache = _copy(pristine, tmp_path)
    marker = tmp_path / MARKER_NAME
    weights = _tamper("weights-pickle-payload", cache, marker)
    with pytest.raises(cr.ModelFileError, match="weights.pt is not a readable weights file"):
        cr.load_model(weights.parent)
    with open(weights, "wb") as handle:  # a bare pickle, not even a torch file
        pickle.dump(_Payload(marker), handle)
    with pytest.raises(cr.ModelFileError, match="weights.pt is not a readable weights file"):
        cr.load_model(weights.parent)
    assert not marker.exists()


# ------------------------------------------------------------------ (c) planted pickles
def test_planted_pickles_are_never_read(pristine, tmp_path, monkeypatch):
    cache = _copy(pristine, tmp_path)
    marker = tmp_path / MARKER_NAME
    payload = pickle.dumps(_Payload(marker))
    for name in ("wsls__fold0__0000000000.pkl", "cv.pkl", "result.pickle"):
        (cache / name).write_bytes(payload)
    for folder in cache.glob("*.model"):
        (folder / "model.pkl").write_bytes(payload)
        (folder / "state.pkl").write_bytes(payload)

    def refuse(*args, **kwargs):
        raise AssertionError("a cache file was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    result = cr.cross_validate(cached_models(), pristine[1], folds=2, cache_dir=cache)
    assert result.timings.empty  # everything read back from the cache
    assert_same_tables(result, pristine[2])
    assert not marker.exists()


# ------------------------------------------------------------------ (d) a study killed mid-run
KILLED_STUDY = """
import sys
sys.path.insert(0, {tests!r})
import choicernn as cr
from test_faults import killable_models, small_data

cr.set_progress(False)
cr.cross_validate(killable_models({pids!r}), small_data(), folds=4, cache_dir={cache!r})
"""


def killable_models(pid_dir: str) -> list:
    from faulty_models import SlowWSLS

    return [*cached_models(), cr.Bias(), SlowWSLS(pid_dir, seconds=0.3)]


def _check_visible_files(cache: Path) -> None:
    """Every file a reader can see is whole: unit CSVs parse with all their rows' fields, and
    every model folder holds valid JSON (and weights when it names them)."""
    for csv in cache.glob("*.csv"):
        table = pd.read_csv(csv)
        assert len(table) > 0 and not table.isna().any().any(), csv
    for folder in cache.glob("*.model"):
        json.loads((folder / "model.json").read_text())
        if folder.name.startswith("gru"):
            assert (folder / "weights.pt").stat().st_size > 0


@pytest.mark.slow
def test_a_study_killed_mid_run_resumes_to_the_uninterrupted_tables(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    cache = tmp_path / "units"
    data = small_data()
    fresh = cr.cross_validate(killable_models(str(pids)), data, folds=4)
    script = KILLED_STUDY.format(tests=TESTS, pids=str(pids), cache=str(cache))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    delay = random.uniform(0.0, 1.5)
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 180
        while len(list(cache.glob("*.csv"))) < 2 and child.poll() is None:
            assert time.monotonic() < deadline, "the study did not save a unit"
            time.sleep(0.02)
        time.sleep(delay)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -9, "the study finished before it was killed"
    _check_visible_files(cache)
    saved = len(list(cache.glob("*.csv"))) + len(list(cache.glob("*__all__*.model")))
    resumed = cr.cross_validate(killable_models(str(pids)), data, folds=4, cache_dir=cache)
    units = 5 * 4 + 4  # 5 models x 4 folds, and the in-sample fits of the 4 parametric ones
    assert len(resumed.timings) == units - saved, f"killed {delay:.2f} s after 2 units"
    assert_same_tables(resumed, fresh)
    _check_visible_files(cache)
    leftovers = [p.name for p in cache.iterdir() if p.name.startswith(".")]
    assert all(p.endswith((".tmp", ".old")) for p in leftovers), leftovers


# ------------------------------------------------------------------ (e) two runs at once
CONCURRENT_STUDY = """
import sys, time
sys.path.insert(0, {tests!r})
import choicernn as cr
from test_faults import cached_models, small_data

cr.set_progress(False)
data = small_data()
while time.time() < {start}:
    time.sleep(0.005)
cv = cr.cross_validate([*cached_models(), cr.Bias()], data, folds=3, cache_dir={cache!r})
cv.table.to_csv({out!r} + ".table.csv", index=False)
cv.trials.to_csv({out!r} + ".trials.csv", index=False)
"""


@pytest.mark.slow
def test_two_concurrent_runs_of_one_study_agree_and_leave_no_partial_files(tmp_path):
    cache = tmp_path / "units"
    fresh = cr.cross_validate([*cached_models(), cr.Bias()], small_data(), folds=3)
    start = time.time() + 15  # both start their units at the same moment, after importing
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT_STUDY.format(
                    tests=TESTS, start=start, cache=str(cache), out=str(tmp_path / f"run{i}")
                ),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    errors = [run.communicate(timeout=300)[1] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], errors
    for i in range(2):
        for name in ("table", "trials"):
            written = (tmp_path / f"run{i}.{name}.csv").read_text()
            assert written == getattr(fresh, name).to_csv(index=False), (i, name)
    assert [p.name for p in cache.rglob(".*")] == []  # no temporary or moved-aside file
    _check_visible_files(cache)
    again = cr.cross_validate([*cached_models(), cr.Bias()], small_data(), folds=3, cache_dir=cache)
    assert again.timings.empty
    assert_same_tables(again, fresh)


CONCURRENT_SAVES = """
import collections, sys, time
import choicernn as cr
from choicernn.models.persistence import save_model

cr.set_progress(False)
data = cr.simulate(cr.WSLS(), "two_armed_fixed", 3, 30, seed=1)
model = cr.WSLS().fit(data, seed=0)
while time.time() < {start}:
    time.sleep(0.005)
failures = collections.Counter()
while time.time() < {start} + {seconds} and not failures:
    try:
        save_model(model, {target!r}, require_registered=False)
    except OSError as err:
        failures[type(err).__name__ + ": " + str(err)[:80]] += 1
print(dict(failures))
sys.exit(1 if failures else 0)
"""


@pytest.mark.slow
def test_two_processes_saving_one_model_folder_both_succeed(tmp_path):
    target = tmp_path / "model"
    start = time.time() + 12
    script = CONCURRENT_SAVES.format(start=start, seconds=8, target=str(target))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


# ------------------------------------------------------------------ (f) save while loading
LOADER = """
import collections, json, sys, time
import torch
import choicernn as cr

target, reference, seconds, out = {target!r}, {reference!r}, {seconds}, {out!r}
refs = {{k: cr.load_model(reference + "/" + k) for k in "ab"}}
def signature(model):
    weights = {{n: v.clone() for n, v in model.network_.state_dict().items()}}
    return weights, model.history_.to_json()
sigs = {{k: signature(m) for k, m in refs.items()}}
seen = collections.Counter()
with open(out + ".ready", "w"):
    pass
stop = time.time() + seconds
while time.time() < stop and not set(seen) - {{"a", "b"}}:
    try:
        model = cr.load_model(target)
    except Exception as err:
        seen[type(err).__name__ + ": " + str(err)[-70:]] += 1
        continue
    weights, history = signature(model)
    by_weights = [k for k in "ab" if all(torch.equal(weights[n], sigs[k][0][n]) for n in weights)]
    by_json = [k for k in "ab" if history == sigs[k][1]]
    seen[by_weights[0] if by_weights == by_json and by_weights else "mixed"] += 1
json.dump(seen, open(out, "w"))
"""


@pytest.mark.slow
def test_a_load_during_saves_sees_one_whole_save(tmp_path):
    data = small_data()
    a = tiny_gru().fit(data, seed=1)
    b = tiny_gru().fit(data, seed=2)
    reference, target, out = tmp_path / "ref", tmp_path / "gru", tmp_path / "seen.json"
    a.save(reference / "a")
    b.save(reference / "b")
    a.save(target)
    script = LOADER.format(target=str(target), reference=str(reference), seconds=8, out=str(out))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    loader = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 120
        while not Path(f"{out}.ready").exists():
            assert loader.poll() is None and time.monotonic() < deadline, "the loader failed"
            time.sleep(0.05)
        saves = 0
        while loader.poll() is None:
            (b if saves % 2 else a).save(target)
            saves += 1
            time.sleep(0.01)  # saves back to back, yet with room for a load to finish
    finally:
        if loader.poll() is None:
            loader.kill()
        loader.wait()
    seen = collections.Counter(json.loads(out.read_text()))
    assert saves > 10 and seen["a"] + seen["b"] > 0
    assert set(seen) <= {"a", "b"}, dict(seen)


@pytest.mark.skipif(sys.platform != "linux", reason="what Linux does")
def test_replacing_a_non_empty_folder_fails_here(tmp_path):
    """Why save_model moves the old folder aside: os.replace onto a non-empty folder fails."""
    old, new = tmp_path / "old", tmp_path / "new"
    for folder in (old, new):
        folder.mkdir()
        (folder / "model.json").write_text("{}")
    with pytest.raises(OSError) as caught:
        os.replace(new, old)
    assert caught.value.errno in (39, 17)  # ENOTEMPTY (or EEXIST)
    empty = tmp_path / "empty"
    empty.mkdir()
    os.replace(new, empty)  # onto an empty folder it works
    assert (empty / "model.json").exists()
