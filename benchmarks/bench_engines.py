"""Dask or Ray? The measurement behind choicernn's choice of distributed engine.

    python benchmarks/bench_engines.py            # both engines, 2 local workers
    python benchmarks/bench_engines.py --workers 4

For each engine, started locally on this machine, it measures:

- ``start``: starting a local cluster of ``--workers`` single-threaded worker processes and
  importing choicernn in each (the first task);
- ``broadcast``: sending one simulated study (2,000 subjects x 300 trials) to every worker once;
- ``overhead``: 200 empty tasks that only look up the broadcast data (scheduling round trip);
- ``work``: 20 real units (a ``rw`` fit of 50 subjects each) on the broadcast data;
- ``memory``: resident memory of the engine's processes (scheduler, workers, daemons) at the end.

The in-process time of the same 20 units is printed beside them. Needs ``dask[distributed]`` and
``ray``; an engine that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import psutil
import torch

import choicernn as cr


def make_data():
    return cr.simulate(cr.QLearning("rw"), "drifting_two_armed", 2000, 300, seed=0)


def empty_task(data, i):
    return data.n_subjects + i


def warm_task(i):
    import choicernn  # noqa: F401  (the import is part of a worker's start)

    return i


def work_task(data, i):
    torch.set_num_threads(1)
    subjects = data.subjects[50 * i : 50 * (i + 1)]
    fit = cr.QLearning("rw", n_restarts=3).fit(data.subset(subjects), seed=i)
    return float(fit.results_["nll"].sum())


def tree_rss(pids) -> float:
    total = 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for q in [p, *p.children(recursive=True)]:
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    return total / 2**20


def bench_dask(data, workers: int) -> dict:
    from dask.distributed import Client, LocalCluster

    out = {}
    t = time.perf_counter()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
    client = Client(cluster)
    client.run(warm_task, 0)
    out["start"] = time.perf_counter() - t
    t = time.perf_counter()
    shared = client.scatter(data, broadcast=True, hash=False)
    client.gather(client.submit(empty_task, shared, 0, pure=False))
    out["broadcast"] = time.perf_counter() - t
    t = time.perf_counter()
    client.gather([client.submit(empty_task, shared, i, pure=False) for i in range(200)])
    out["overhead"] = time.perf_counter() - t
    t = time.perf_counter()
    out["result"] = client.gather(
        [client.submit(work_task, shared, i, pure=False) for i in range(20)]
    )
    out["work"] = time.perf_counter() - t
    pids = [os.getpid()]
    out["memory"] = tree_rss(pids)  # the nanny and worker processes are our children
    client.close()
    cluster.close()
    return out


def bench_ray(data, workers: int) -> dict:
    import ray

    out = {}
    t = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    empty = ray.remote(num_cpus=1)(empty_task)
    work = ray.remote(num_cpus=1)(work_task)
    ray.get([ray.remote(num_cpus=1)(warm_task).remote(i) for i in range(workers)])
    out["start"] = time.perf_counter() - t
    t = time.perf_counter()
    shared = ray.put(data)
    ray.get(empty.remote(shared, 0))
    out["broadcast"] = time.perf_counter() - t
    t = time.perf_counter()
    ray.get([empty.remote(shared, i) for i in range(200)])
    out["overhead"] = time.perf_counter() - t
    t = time.perf_counter()
    out["result"] = ray.get([work.remote(shared, i) for i in range(20)])
    out["work"] = time.perf_counter() - t
    out["memory"] = tree_rss([os.getpid()])
    ray.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    data = make_data()
    base_rss = tree_rss([os.getpid()])
    print(f"{os.cpu_count()} cores, torch {torch.__version__}; {data!r}")
    t = time.perf_counter()
    reference = [work_task(data, i) for i in range(20)]
    in_process = time.perf_counter() - t
    torch.set_num_threads(os.cpu_count() or 1)
    print(f"in-process, 20 units one after another (1 thread): {in_process:.1f} s")
    rows = []
    for name, bench in [("dask", bench_dask), ("ray", bench_ray)]:
        try:
            __import__("dask.distributed" if name == "dask" else "ray")
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        out = bench(data, args.workers)
        same = np.allclose(out.pop("result"), reference, rtol=0, atol=1e-9)
        rows.append((name, out, same))
    print(
        f"\n{'engine':8} {'start s':>8} {'broadcast s':>12} {'200 empty s':>12} "
        f"{'20 units s':>11} {'memory MiB':>11}  same NLLs"
    )
    for name, out, same in rows:
        print(
            f"{name:8} {out['start']:8.1f} {out['broadcast']:12.2f} {out['overhead']:12.2f} "
            f"{out['work']:11.1f} {out['memory'] - base_rss:11.0f}  {same}"
        )


if __name__ == "__main__":
    main()
