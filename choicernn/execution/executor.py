"""One executor for the independent units of a study, with three back ends.

A study (a cross-validation, a recovery study) is a list of independent *units*, e.g. one
(model, fold) fit. :class:`Executor` runs them

- ``"in-process"`` (default): one after another in this process, using all its threads;
- ``"processes"``: on ``n_jobs`` local worker processes (joblib's loky process pool);
- ``"dask"``: on a Dask cluster: a local one started for the study (``n_jobs`` single-threaded
  workers) or an existing one (``address=`` a scheduler, or ``client=`` a connected
  ``dask.distributed.Client``, e.g. from dask-jobqueue on a SLURM cluster).

Whatever runs them, a unit gets the same inputs and seeds, so results are identical. The data a
study shares (the ``shared`` argument of :meth:`Executor.run`) travel to each worker once: the
process pool installs them when a worker starts, Dask broadcasts them to every worker; a task
carries only its small unit description.

Failure policy. A unit whose own code raises is not retried (with the same seed it would raise
again); it is reported with its identity, message and worker traceback. A unit whose worker dies
(killed, out of memory), even before the unit started (while starting or loading the study's
data), is started again on a fresh worker, up to ``retries`` more times. Units
that finished are handed to the caller as they arrive (the studies save each to disk at once), so
a failure never loses them; the caller then raises :class:`UnitsFailedError`
(``on_error="raise"``) or returns what finished with a table of the failures
(``on_error="skip"``).

Local worker processes exit on their own within a second when the process that started them
dies, even by ``kill -9``, so a killed study leaves no worker holding memory.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import torch
from tqdm.auto import tqdm

from .failures import Raised, UnitFailure
from .parent_watch import exit_with_parent

Backend = Literal["in-process", "processes", "dask"]
BACKENDS = ("in-process", "processes", "dask")
ErrorPolicy = Literal["raise", "skip"]

Work = Callable[[Any, Any], Any]


def unit_label(unit: Any) -> str:
    """A unit's identity in reports: its ``label`` attribute, else ``str(unit)``."""
    return str(getattr(unit, "label", unit))


@dataclass(frozen=True)
class Executor:
    """Where and how the units of a study run.

    Parameters
    ----------
    backend : {"in-process", "processes", "dask"}
    n_jobs : int, optional
        Worker processes for ``"processes"`` and for a local Dask cluster (default and ``-1``:
        one per CPU core). Ignored in-process and for an existing Dask cluster.
    address : str, optional
        Scheduler address of a running Dask cluster (``"tcp://host:8786"``); ``backend="dask"``
        only. Without it (and without ``client``) a local cluster is started and closed.
    client : dask.distributed.Client, optional
        An already connected client (e.g. from ``dask_jobqueue.SLURMCluster``); it is left open.
    retries : int
        How many more times a unit is started after its worker died (default 2). A unit that
        raises is never retried. On ``"processes"`` a dying worker breaks the whole pool, so the
        units that were running then are re-run alone on fresh workers, and a unit is given up
        only after dying while it ran alone (never for running beside one that died); on a Dask
        cluster this is the scheduler's ``allowed-failures`` (set from ``retries`` for a cluster
        started here).
    on_error : {"raise", "skip"}
        After every other unit finished: raise :class:`UnitsFailedError` (default) or return
        the result without the failed units, with a table of them in ``result.failures``.
    threads_per_worker : int, optional
        torch threads in each worker (default: the cores divided among the local workers; left
        alone on an existing cluster).

    Examples
    --------
    >>> cr.cross_validate(models, data, executor="processes")                    # doctest: +SKIP
    >>> cr.cross_validate(models, data, executor=cr.Executor("dask", n_jobs=8))  # doctest: +SKIP
    """

    backend: Backend = "in-process"
    n_jobs: int | None = None
    address: str | None = None
    client: Any = None
    retries: int = 2
    on_error: ErrorPolicy = "raise"
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.n_jobs is not None and (
            not isinstance(self.n_jobs, int) or (self.n_jobs < 1 and self.n_jobs != -1)
        ):
            raise ValueError(f"n_jobs must be a positive integer or -1, got {self.n_jobs!r}")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"retries must be an integer >= 0, got {self.retries!r}")
        if self.on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {self.on_error!r}")
        if (self.address is not None or self.client is not None) and self.backend != "dask":
            raise ValueError("address= and client= are for backend='dask'")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ValueError(f"threads_per_worker must be >= 1, got {self.threads_per_worker!r}")

    @property
    def workers(self) -> int:
        """Local worker processes this executor starts (1 in-process)."""
        if self.backend == "in-process":
            return 1
        if self.n_jobs is None or self.n_jobs == -1:
            return os.cpu_count() or 1
        return self.n_jobs

    def _threads(self) -> int | None:
        if self.threads_per_worker is not None:
            return self.threads_per_worker
        if self.backend == "in-process" or self.address is not None or self.client is not None:
            return None
        return max(1, (os.cpu_count() or 1) // self.workers)

    def run(
        self,
        work: Work,
        shared: Any,
        units: Sequence[Any],
        on_result: Callable[[Any, Any], None],
        *,
        progress: bool = False,
        desc: str = "units",
    ) -> RunLog:
        """Run ``work(shared, unit)`` for every unit; returns the failures and the timings.

        ``work`` must be a module-level function (it is pickled by reference for the worker
        back ends). ``on_result(unit, value)`` is called here, in the calling process, as each
        unit finishes, in completion order.
        """
        units = list(units)
        log = RunLog()
        if not units:
            return log
        bar = tqdm(total=len(units), desc=desc, disable=not progress)

        def finished(unit, done: Done):
            on_result(unit, done.value)
            log.timings.append(
                {
                    "unit": unit_label(unit),
                    "worker": done.worker,
                    "start": done.start,
                    "seconds": done.seconds,
                }
            )
            bar.set_postfix_str(unit_label(unit)[:60])
            bar.update()

        try:
            if self.backend == "in-process":
                log.failures = _run_in_process(work, shared, units, finished)
            elif self.backend == "processes":
                log.failures = _run_processes(self, work, shared, units, finished)
            else:
                log.failures = _run_dask(self, work, shared, units, finished)
        finally:
            bar.close()
        return log


@dataclass
class RunLog:
    """What :meth:`Executor.run` reports: ``failures`` and, per finished unit, ``timings``
    (``unit, worker`` (host:pid), ``start`` (Unix time), ``seconds`` (in the worker))."""

    failures: list[UnitFailure] = field(default_factory=list)
    timings: list[dict] = field(default_factory=list)

    def timing_table(self) -> pd.DataFrame:
        return pd.DataFrame(self.timings, columns=["unit", "worker", "start", "seconds"])


@dataclass(frozen=True)
class Done:
    """A unit's value with where and how long it ran."""

    value: Any
    worker: str
    start: float
    seconds: float


def as_executor(executor: Executor | str | None) -> Executor:
    """An :class:`Executor` from ``None`` (in-process), a back-end name, or an Executor."""
    if executor is None:
        return Executor()
    if isinstance(executor, Executor):
        return executor
    if isinstance(executor, str):
        return Executor(executor)  # type: ignore[arg-type]
    raise TypeError(f"executor must be an Executor, a back-end name or None, got {executor!r}")


def call_unit(work: Work, shared: Any, unit: Any, threads: int | None) -> Done | Raised:
    """Run one unit in a worker; an exception comes back as :class:`Raised`."""
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    start, clock = time.time(), time.perf_counter()
    try:
        value = work(shared, unit)
    except Exception as exc:  # reported to the parent with the unit's identity
        return Raised.capture(exc)
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return Done(value, worker, start, time.perf_counter() - clock)


def _record(unit, out, attempts: int, finished, failures: list[UnitFailure]) -> None:
    if isinstance(out, Raised):
        failures.append(
            UnitFailure(unit_label(unit), "error", out.error, out.message, attempts, out.traceback)
        )
    else:
        finished(unit, out)


def _run_in_process(work, shared, units, finished) -> list[UnitFailure]:
    failures: list[UnitFailure] = []
    for unit in units:
        _record(unit, call_unit(work, shared, unit, None), 1, finished, failures)
    return failures


# ---------------------------------------------------------------- local processes (loky)

_INSTALLED: dict[str, Any] = {}


def _install(shared: Any, threads: int | None, parent: int | None = None) -> None:
    """Worker initializer: exit with ``parent``; keep the study's shared data for every task
    of this worker."""
    if parent is not None:
        exit_with_parent(parent)
    _INSTALLED["shared"] = shared
    if threads is not None:
        torch.set_num_threads(threads)


def _call_installed(work: Work, unit: Any, index: int, threads: int | None, markers: str) -> Any:
    Path(markers, str(index)).touch()  # lets the parent tell a killed unit from a queued one
    return call_unit(work, _INSTALLED["shared"], unit, threads)


def _run_processes(ex: Executor, work, shared, units, finished) -> list[UnitFailure]:
    """Units on loky process pools.

    When a worker dies, loky breaks its whole pool, and every unit running in it is lost. Those
    units are then run again *alone* (each in a one-worker pool of its own, up to ``workers``
    such pools at a time), so that a unit is only ever given up after dying while running
    alone, never because it ran beside a unit that died: after ``retries`` + 1 deaths (at least
    two: one beside others, one alone) when it first ran beside others.

    A worker may also die before any unit of its pool started (while it starts, loads the
    study's data or receives its first unit). Such an *early* death is retried like a later
    one: the pool is started again, up to ``retries`` times, and after that its units are run
    alone, where an early death counts as a death of that unit. Units that were only queued
    behind a death that did not stop the pool's progress are run again without counting.
    """
    from joblib.externals import loky

    threads = ex._threads()
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else None
    markers = tempfile.mkdtemp(prefix="choicernn-units-")
    failures: list[UnitFailure] = []
    starts = [0] * len(units)  # deaths of a unit's worker while it ran (beside others or alone)
    early = [0] * len(units)  # deaths of its pool's worker before any unit of the pool started
    queue, suspects = list(range(len(units))), []
    parent = os.getpid()

    def new_pool(workers: int):
        return loky.ProcessPoolExecutor(
            max_workers=workers, initializer=_install, initargs=(shared, threads, parent), env=env
        )

    def give_up(i: int, exc: BaseException, before_start: bool) -> None:
        failure = UnitFailure.worker_died(unit_label(units[i]), exc, starts[i] + early[i])
        if before_start:
            failure = dataclasses.replace(
                failure, message=f"the worker died before the unit started: {failure.message}"
            )
        failures.append(failure)

    try:
        while queue or suspects:
            alone = bool(suspects)
            if alone:
                batch, suspects = suspects[: ex.workers], suspects[ex.workers :]
                groups = [[i] for i in batch]
            else:
                batch, queue = queue, []
                groups = [batch]
            pools, futures, group_of = [], {}, {}
            broken: dict[int, BaseException] = {}
            active = [False] * len(groups)  # a unit of the group started or finished
            try:
                for g, group in enumerate(groups):
                    pool = new_pool(min(ex.workers, len(group)))
                    pools.append(pool)
                    for i in group:
                        fut = pool.submit(_call_installed, work, units[i], i, threads, markers)
                        futures[fut], group_of[i] = i, g
                for fut in loky.as_completed(futures):
                    i = futures[fut]
                    try:
                        out = fut.result()
                    except loky.BrokenProcessPool as exc:  # a worker of its pool died
                        broken[i] = exc
                        continue
                    except Exception as exc:  # e.g. the unit or its result could not be pickled
                        out = Raised.capture(exc)
                    active[group_of[i]] = True
                    _record(units[i], out, starts[i] + early[i] + 1, finished, failures)
            finally:
                for pool in pools:  # also on an error or Ctrl-C: no orphaned workers
                    pool.shutdown(wait=True, kill_workers=True)
            started = {i for i in broken if Path(markers, str(i)).exists()}
            for i in started:
                Path(markers, str(i)).unlink()
                active[group_of[i]] = True
            for i, exc in broken.items():
                if i in started:
                    starts[i] += 1
                    if not alone:
                        suspects.append(i)  # it or a unit beside it died: run it alone to tell
                    elif starts[i] + early[i] > ex.retries:
                        give_up(i, exc, before_start=False)
                    else:
                        suspects.append(i)
                elif active[group_of[i]]:  # never started: queued behind a death
                    (suspects if alone else queue).append(i)
                else:  # its pool died before running anything
                    early[i] += 1
                    if alone and starts[i] + early[i] > ex.retries:
                        give_up(i, exc, before_start=True)
                    elif alone or early[i] > ex.retries:
                        suspects.append(i)  # alone from now on, to tell which unit it is
                    else:
                        queue.append(i)
    finally:
        shutil.rmtree(markers, ignore_errors=True)
    return failures


# ---------------------------------------------------------------- Dask


def _dask_client(ex: Executor):
    """(client, cluster or None, whether we own the client)."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ImportError(
            "backend='dask' needs dask.distributed: pip install 'choicernn[dask]'"
        ) from exc
    if ex.client is not None:
        return ex.client, None, False
    if ex.address is not None:
        return Client(ex.address), None, True
    settings = {
        "distributed.scheduler.allowed-failures": ex.retries,
        # a worker holds only the unit it runs: units are long, and a dying worker then takes
        # no queued unit down with it
        "distributed.scheduler.worker-saturation": 1.0,
        # a worker's own monitoring (stack-sampling profiler every 10 ms, GIL probe every 1 ms,
        # event-loop tick every 20 ms) slowed the Python-heavy units of a fit by ~25% in a local
        # cluster (measured: benchmarks/README.md); long units need none of it that often
        "distributed.worker.profile.enabled": False,
        "distributed.admin.system-monitor.gil.enabled": False,
        "distributed.admin.system-monitor.interval": "5s",
        "distributed.admin.tick.interval": "1s",
    }
    threads = ex._threads()
    with dask.config.set(settings):
        cluster = LocalCluster(
            n_workers=ex.workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)},
        )
    try:
        return Client(cluster), cluster, True
    except BaseException:
        cluster.close()
        raise


def _shared_plugin(shared: Any, token: str):
    """A Dask worker plugin that installs the study's shared data on every worker, once.

    Workers that join later, or replace a dead one, receive it when they connect. The units then
    have no dependencies, so the scheduler queues them and hands each worker one at a time.
    """
    from dask.distributed import WorkerPlugin

    class SharedData(WorkerPlugin):
        def __init__(self) -> None:
            self.shared = shared

        # this class travels by value; the store it fills must be the worker's imported module
        def setup(self, worker) -> None:
            from choicernn.execution import executor

            executor._INSTALLED[token] = self.shared

        def teardown(self, worker) -> None:
            from choicernn.execution import executor

            executor._INSTALLED.pop(token, None)

    return SharedData()


def _call_dask(work: Work, token: str, unit: Any, threads: int | None) -> Any:
    if token not in _INSTALLED:
        return Raised(
            "RuntimeError", f"the study's data are not installed on this worker ({token})", ""
        )
    return call_unit(work, _INSTALLED[token], unit, threads)


def _allowed_failures(ex: Executor, client) -> int:
    """Deaths the scheduler tolerates per unit: ours for a local cluster, else the cluster's."""
    if ex.address is None and ex.client is None:
        return ex.retries
    try:
        return int(
            client.run_on_scheduler(
                lambda: __import__("dask").config.get("distributed.scheduler.allowed-failures")
            )
        )
    except Exception:  # an old or restricted scheduler: fall back to Dask's default
        return 3


def _run_dask(ex: Executor, work, shared, units, finished) -> list[UnitFailure]:
    client, cluster, owned = _dask_client(ex)
    from dask.distributed import KilledWorker, as_completed

    failures: list[UnitFailure] = []
    token = f"choicernn-{uuid.uuid4().hex[:8]}"
    submitted = []
    try:
        client.register_plugin(_shared_plugin(shared, token), name=token)
        threads = ex._threads()
        n = len(units)
        # Units go out as workers free up: at most one per worker thread is ever in flight,
        # so a worker never holds a unit queued behind the one it runs, and a dying worker
        # takes only its own unit down (the scheduler's own queueing does this for large
        # groups of tasks only; a study with a few grouped units was assigned eagerly)
        capacity = max(1, sum(client.nthreads().values())) if n else 1
        futures: dict = {}
        running = as_completed()

        def submit(i: int) -> None:
            fut = client.submit(
                _call_dask, work, token, units[i], threads, key=f"unit-{token}-{i}", pure=False
            )
            futures[fut] = i
            submitted.append(fut)
            running.add(fut)

        queue = iter(range(n))
        for i in itertools.islice(queue, capacity):
            submit(i)
        for fut in running:
            i = futures[fut]
            following = next(queue, None)
            if following is not None:
                submit(following)
            try:
                out = fut.result()
            except KilledWorker as exc:  # its workers died allowed-failures + 1 times
                attempts = _allowed_failures(ex, client) + 1
                failures.append(UnitFailure.worker_died(unit_label(units[i]), exc, attempts))
                continue
            except Exception as exc:  # e.g. the unit or its result could not be pickled
                out = Raised.capture(exc)
            _record(units[i], out, 1, finished, failures)
    finally:
        try:
            pending = [f for f in submitted if not f.done()]
            if pending:  # an error or Ctrl-C here must not leave units running on the cluster
                client.cancel(pending)
            if cluster is None:  # a cluster that outlives us must not keep the data
                client.unregister_worker_plugin(token)
        except Exception:
            pass
        finally:
            if owned:
                client.close()
            if cluster is not None:
                cluster.close()
    return failures
