"""The executor: identical results on every back end, failures reported, re-runs resume."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from faulty_models import (
    DiesWhenUnpickled,
    DiesWhenUnpickledWSLS,
    DyingWSLS,
    NaNWSLS,
    RaisingWSLS,
    double,
)

import choicernn as cr
from choicernn.comparison.cross_validation import _Unit
from choicernn.execution import Executor, as_executor

BACKENDS = [
    "in-process",
    Executor("processes", n_jobs=2),
    pytest.param(Executor("dask", n_jobs=2), marks=pytest.mark.dask),
]


@pytest.fixture(scope="module")
def study_data():
    return cr.simulate(cr.QLearning("rw_persev"), "drifting_two_armed", 12, 90, seed=4)


def small_models():
    return [
        cr.QLearning("rw"),
        cr.QLearning("rw_persev"),
        cr.WSLS(),
        cr.GRUModel(hidden_size=3, training=cr.TrainingConfig(max_epochs=3, n_seeds=2)),
    ]


@pytest.fixture(scope="module")
def reference(study_data):
    return cr.cross_validate(small_models(), study_data, folds=3, seed=2)


def test_executor_validates_its_settings():
    with pytest.raises(ValueError, match="backend must be one of"):
        Executor("threads")
    with pytest.raises(ValueError, match="n_jobs"):
        Executor("processes", n_jobs=0)
    with pytest.raises(ValueError, match="retries"):
        Executor("processes", retries=-1)
    with pytest.raises(ValueError, match="on_error"):
        Executor(on_error="ignore")
    with pytest.raises(ValueError, match="address= and client= are for backend='dask'"):
        Executor("processes", address="tcp://localhost:8786")
    with pytest.raises(TypeError, match="executor must be"):
        as_executor(3)
    assert as_executor(None) == Executor()
    assert as_executor("processes").backend == "processes"
    assert Executor("processes", n_jobs=-1).workers >= 1


@pytest.mark.parametrize("executor", BACKENDS[1:])
def test_every_backend_gives_identical_tables(study_data, reference, executor):
    if executor.backend == "dask":
        pytest.importorskip("dask.distributed")
    result = cr.cross_validate(small_models(), study_data, folds=3, seed=2, executor=executor)
    pd.testing.assert_frame_equal(result.table, reference.table, check_exact=True)
    pd.testing.assert_frame_equal(result.trials, reference.trials, check_exact=True)
    pd.testing.assert_frame_equal(result.in_sample, reference.in_sample, check_exact=True)
    assert set(result.fitted) == set(reference.fitted)
    assert result.failures.empty
    # every unit computed here: each per-subject model's folds stacked in one fit, its
    # in-sample fit, and the network's folds trained together, one group of folds per worker
    timings = result.timings
    per_subject = ["rw", "rw_persev", "wsls"]
    assert sorted(timings["unit"]) == sorted(
        [f"model={m} folds=0,1,2" for m in per_subject]
        + [f"model={m} fold=all" for m in per_subject]
        + ["model=gru3 folds=0,1", "model=gru3 fold=2"]
    )
    assert len(timings) == 8 and (timings["seconds"] > 0).all()
    assert timings["worker"].nunique() <= 2  # the local workers, nothing else


def test_units_carry_models_not_data():
    """Workers get the data once per worker; each task ships only a model and a fold number."""
    unit = _Unit(cr.GRUModel(hidden_size=8), 3)
    shipped = pickle.dumps(unit)
    assert b"ChoiceData" not in shipped and len(shipped) < 5_000
    assert unit.label == "model=gru8 fold=3"


@pytest.mark.parametrize("executor", BACKENDS)
def test_a_raising_unit_is_reported_the_others_finish_and_a_rerun_completes(
    study_data, reference, executor, tmp_path
):
    if not isinstance(executor, str) and executor.backend == "dask":
        pytest.importorskip("dask.distributed")
    switch = tmp_path / "broken"
    switch.touch()
    models = [*small_models()[:3], RaisingWSLS(str(switch))]
    cache = tmp_path / "units"
    with pytest.raises(cr.UnitsFailedError) as caught:
        cr.cross_validate(
            models,
            study_data,
            folds=3,
            seed=2,
            executor=executor,
            cache_dir=cache,
        )
    err = caught.value
    assert "model=raising_wsls fold=0" in str(err)
    assert "ValueError: bad hyper-parameters on purpose" in str(err)
    assert str(cache) in str(err)
    failures = err.failures
    assert list(failures["unit"]) == ["model=raising_wsls fold=0"]
    assert failures.loc[0, "kind"] == "error" and failures.loc[0, "attempts"] == 1
    assert "bad hyper-parameters on purpose" in failures.loc[0, "traceback"]
    partial = err.partial
    assert "raising_wsls" not in partial.models
    assert set(partial.table.loc[partial.table.model == "raising_wsls", "fold"]) == {1, 2}
    pd.testing.assert_frame_equal(
        partial.table[partial.table.model == "rw"].reset_index(drop=True),
        reference.table[reference.table.model == "rw"].reset_index(drop=True),
    )
    saved = {p.name: p.stat().st_mtime_ns for p in cache.iterdir()}
    assert len(list(cache.glob("*.csv"))) == 3 * 4 - 1  # every finished unit is on disk
    assert len(list(cache.glob("*__all__*.model"))) == 4  # and every in-sample fit

    switch.unlink()
    rerun = cr.cross_validate(
        models, study_data, folds=3, seed=2, executor=executor, cache_dir=cache
    )
    assert list(rerun.timings["unit"]) == ["model=raising_wsls fold=0"]  # only it ran again
    assert {(m.name, "all") for m in models} <= set(rerun.fitted)  # cached fits read back
    assert {p.name: p.stat().st_mtime_ns for p in cache.iterdir() if p.name in saved} == saved
    assert rerun.failures.empty and rerun.models == [m.name for m in models]
    wsls = rerun.table[rerun.table.model == "wsls"].reset_index(drop=True)
    fixed = rerun.table[rerun.table.model == "raising_wsls"].reset_index(drop=True)
    pd.testing.assert_frame_equal(wsls.drop(columns="model"), fixed.drop(columns="model"))


def test_skip_policy_returns_what_finished_with_the_failures(study_data, tmp_path):
    switch = tmp_path / "broken"
    switch.touch()
    with pytest.warns(RuntimeWarning, match="model=raising_wsls fold=0"):
        result = cr.cross_validate(
            [cr.WSLS(), RaisingWSLS(str(switch))],
            study_data,
            folds=3,
            executor=Executor(on_error="skip"),
        )
    assert list(result.failures["unit"]) == ["model=raising_wsls fold=0"]
    assert result.models == ["wsls"]
    assert result.summary().index.tolist() == ["wsls"]  # compared only on complete models
    assert set(result.table.loc[result.table.model == "raising_wsls", "fold"]) == {1, 2}


def test_non_finite_likelihood_is_a_failure_that_names_the_trial(study_data):
    with pytest.raises(cr.UnitsFailedError) as caught:
        cr.cross_validate([cr.WSLS(), NaNWSLS()], study_data, folds=2)
    failures = caught.value.failures
    assert sorted(failures["unit"]) == ["model=nan_wsls fold=0", "model=nan_wsls fold=1"]
    assert (failures["error"] == "FloatingPointError").all()
    assert failures["message"].str.contains(r"non-finite held-out log-likelihood \(nan\)").all()
    assert failures["message"].str.contains("subject .* session .* trial", regex=True).all()


@pytest.mark.slow  # ~11 s of worker restarts: CI runs it; the quick suite stays under 3 minutes
def test_a_killed_worker_is_retried_on_a_fresh_one(study_data, reference, tmp_path):
    switch = tmp_path / "die once"
    switch.touch()
    models = [cr.QLearning("rw"), DyingWSLS(str(switch), once=True, name="wsls")]
    result = cr.cross_validate(
        models,
        study_data,
        folds=3,
        seed=2,
        executor=Executor("processes", n_jobs=2),
    )
    assert not switch.exists()  # it died once
    assert result.failures.empty
    expected = reference.table[reference.table.model.isin(["rw", "wsls"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.table, expected, check_exact=True)


@pytest.mark.parametrize(
    ("executor", "attempts"),
    [
        # processes: first beside the others (its death breaks their pool too), then alone
        (Executor("processes", n_jobs=2, retries=0, on_error="skip"), 2),
        (Executor("processes", n_jobs=2, retries=2, on_error="skip"), 3),
        pytest.param(
            Executor("dask", n_jobs=2, retries=0, on_error="skip"), 1, marks=pytest.mark.dask
        ),
    ],
    ids=["processes-retries0", "processes-retries2", "dask"],
)
@pytest.mark.slow  # 5-12 s per back end of repeated worker deaths (run in CI)
def test_a_unit_that_keeps_killing_workers_fails_alone(study_data, executor, attempts, tmp_path):
    """Only the killer fails; units that ran beside it when it died finish (even retries=0)."""
    if executor.backend == "dask":
        pytest.importorskip("dask.distributed")
    switch = tmp_path / "always die"
    switch.touch()
    with pytest.warns(RuntimeWarning, match="worker died"):
        result = cr.cross_validate(
            [cr.WSLS(), DyingWSLS(str(switch))],
            study_data,
            folds=3,
            executor=executor,
            in_sample=False,
        )
    failures = result.failures
    assert list(failures["unit"]) == ["model=dying_wsls fold=0"]
    assert failures.loc[0, "kind"] == "worker died"
    assert failures.loc[0, "attempts"] == attempts
    assert "exit code" in failures.loc[0, "message"] or executor.backend == "dask"
    assert sorted(result.table.loc[result.table.model == "dying_wsls", "fold"].unique()) == [1, 2]
    assert sorted(result.table.loc[result.table.model == "wsls", "fold"].unique()) == [0, 1, 2]


def test_missing_dask_gives_an_install_hint(study_data, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(ImportError, match=r"pip install 'choicernn\[dask\]'"):
        cr.cross_validate([cr.WSLS()], study_data, folds=2, executor="dask")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_processes_share_the_gpu_and_match_the_cpu(study_data):
    """On a CUDA machine, units on worker processes fit on the GPU; the per-subject Q fits agree
    with the CPU ones (float64), the networks within training noise."""
    cpu = cr.cross_validate(
        [cr.QLearning("rw", device="cpu"), cr.WSLS(device="cpu")], study_data, folds=3
    )
    gpu = cr.cross_validate(
        [cr.QLearning("rw", device="cuda"), cr.WSLS(device="cuda")],
        study_data,
        folds=3,
        executor=Executor("processes", n_jobs=2),
    )
    pd.testing.assert_frame_equal(gpu.table, cpu.table, check_exact=False, atol=1e-6)


@pytest.mark.parametrize(
    "executor", ["in-process", pytest.param(Executor("processes", n_jobs=2), id="processes")]
)
def test_random_folds_are_drawn_once_for_all_workers(executor):
    """seed=None: workers must hold out the trials the caller drew, not draw their own folds."""
    data = cr.simulate(cr.WSLS(), "two_armed_fixed", 6, 30, n_sessions=4, seed=3)
    cv = cr.cross_validate(
        [cr.WSLS(), cr.Bias()],
        data,
        folds=2,
        by="session",
        seed=None,
        in_sample=False,
        executor=executor,
    )
    for _, trials in cv.trials.groupby("model"):
        held_out = trials[["subject", "session", "trial"]]
        assert not held_out.duplicated().any()  # no trial held out twice
        assert len(held_out) == data.n_choices  # and none never
        # a session is held out whole, in one fold
        assert (trials.groupby(["subject", "session"])["fold"].nunique() == 1).all()


def test_an_in_sample_fit_that_fails_is_reported_and_resumed(study_data, tmp_path):
    switch = tmp_path / "broken"
    switch.touch()
    model = RaisingWSLS(str(switch), rows=len(study_data))
    cache = tmp_path / "units"
    with pytest.raises(cr.UnitsFailedError, match="model=raising_wsls fold=all"):
        cr.cross_validate([model], study_data, folds=3, cache_dir=cache)
    assert len(list(cache.glob("*.csv"))) == 3 and not list(cache.glob("*__all__*.model"))
    switch.unlink()
    done = cr.cross_validate([model], study_data, folds=3, cache_dir=cache)
    assert list(done.timings["unit"]) == ["model=raising_wsls fold=all"]  # only it was run
    assert len(list(cache.glob("*__all__*.model"))) == 1
    again = cr.cross_validate([model], study_data, folds=3, cache_dir=cache)
    pd.testing.assert_frame_equal(again.in_sample, done.in_sample)  # read back (JSON, no pickle)


def test_cached_units_of_other_data_are_not_reused(study_data, tmp_path):
    other = cr.simulate(cr.QLearning("rw_persev"), "drifting_two_armed", 12, 90, seed=5)
    cache = tmp_path / "units"
    cr.cross_validate([cr.WSLS()], study_data, folds=3, cache_dir=cache)
    reused = cr.cross_validate([cr.WSLS()], other, folds=3, cache_dir=cache)
    fresh = cr.cross_validate([cr.WSLS()], other, folds=3)
    pd.testing.assert_frame_equal(reused.table, fresh.table)
    # the three folds (one stacked fit) and the in-sample fit, all recomputed
    assert reused.timings["unit"].tolist() == ["model=wsls folds=0,1,2", "model=wsls fold=all"]


def test_failure_error_pickles_and_the_study_ships_without_folds(study_data):
    from choicernn.comparison.cross_validation import _Study
    from choicernn.execution import UnitFailure, UnitsFailedError

    err = UnitsFailedError([UnitFailure("model=x fold=0", "error", "ValueError", "bad", 1)], None)
    back = pickle.loads(pickle.dumps(err))
    assert str(back) == str(err) and back.failures.equals(err.failures)
    study = _Study(study_data, None, [1], 0, "in_context")
    study._folds[0] = "built"
    assert pickle.loads(pickle.dumps(study))._folds == {}


def test_select_by_cv_passes_over_a_failing_candidate(study_data):
    selector = cr.SelectByCV([NaNWSLS(), cr.WSLS()], folds=2).fit(study_data)
    assert selector.selected_ == "wsls"
    assert sorted(selector.failures_["unit"]) == ["model=nan_wsls fold=0", "model=nan_wsls fold=1"]
    with pytest.raises(RuntimeError, match="every candidate failed"):
        cr.SelectByCV([NaNWSLS()], folds=2).fit(study_data)


# ------------------------------------------------------------ worker deaths and orphans


def test_an_early_worker_death_is_retried(tmp_path):
    """A worker that dies while starting (here: loading the study's data), before any unit
    started, is replaced and every unit finishes (it used to abort with a bare RuntimeError)."""
    switch = tmp_path / "die while starting"
    switch.write_text(str(os.getpid()))
    got = {}  # one worker, so that no unit can start before the death
    log = Executor("processes", n_jobs=1).run(
        double, DiesWhenUnpickled(str(switch)), [1, 2, 3], lambda u, v: got.update({u: v})
    )
    assert not switch.exists()  # a worker died once
    assert log.failures == [] and got == {1: 2, 2: 4, 3: 6}


def test_early_worker_deaths_are_reported_with_the_units(tmp_path):
    switch = tmp_path / "always die while starting"
    switch.write_text(str(os.getpid()))
    log = Executor("processes", n_jobs=2, retries=0).run(
        double, DiesWhenUnpickled(str(switch), once=False), ["a", "b"], lambda u, v: None
    )
    assert sorted(f.unit for f in log.failures) == ["a", "b"]
    for failure in log.failures:
        assert failure.kind == "worker died" and failure.attempts == 2
        assert failure.message.startswith("the worker died before the unit started")
        assert "EXIT(3)" in failure.message


def test_a_unit_that_kills_its_worker_on_arrival_is_retried(study_data, reference, tmp_path):
    """The worker dies while receiving its first unit (before it starts); one worker, so that
    no other unit started before the death."""
    switch = tmp_path / "die on arrival"
    switch.write_text(str(os.getpid()))
    result = cr.cross_validate(
        [DiesWhenUnpickledWSLS(str(switch), name="wsls")],
        study_data,
        folds=3,
        seed=2,
        in_sample=False,
        executor=Executor("processes", n_jobs=1),
    )
    assert not switch.exists()
    expected = reference.table[reference.table.model == "wsls"].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.table, expected, check_exact=True)


ORPHAN_STUDY = """
import sys
sys.path.insert(0, {tests!r})
import choicernn as cr
from faulty_models import SlowWSLS

data = cr.simulate(cr.WSLS(), "two_armed_fixed", 4, 40, seed=0)
cr.cross_validate([SlowWSLS({pids!r}, 120.0)], data, folds=2, in_sample=False,
                  executor=cr.Executor("processes", n_jobs=2))
"""


def _alive(pids: list[int]) -> list[int]:
    psutil = pytest.importorskip("psutil")
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def test_workers_die_with_their_parent(tmp_path):
    """kill -9 of a study on local processes leaves no worker running its unit (they used to
    hold their memory for minutes)."""
    psutil = pytest.importorskip("psutil")
    pids = tmp_path / "pids"
    pids.mkdir()
    script = ORPHAN_STUDY.format(tests=str(Path(__file__).parent), pids=str(pids))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    descendants: list[int] = []
    try:
        deadline = time.monotonic() + 240
        while len(list(pids.iterdir())) < 2:  # both workers are running a unit
            assert child.poll() is None, "the study ended before its units started"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        workers = sorted(int(p.name) for p in pids.iterdir())
        descendants = [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
        assert set(workers) <= set(descendants)
        child.kill()
        child.wait()
        deadline = time.monotonic() + 10
        while _alive(descendants) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _alive(descendants) == []
    finally:
        if child.poll() is None:
            child.kill()
        for pid in _alive(descendants):  # only if the test failed: do not leave them running
            os.kill(pid, signal.SIGKILL)
