"""A whole study on each back end, and how its wall time grows with the number of subjects.

    python benchmarks/bench_scale.py                  # 250, 500, 1000, 2000 subjects, 3 back ends
    python benchmarks/bench_scale.py --subjects 250 --backends in-process processes
    python benchmarks/bench_scale.py --quick          # 60 subjects, a smoke test

The study: subjects simulated by ``rw_persev`` on the drifting two-armed task, 300 trials each;
6 Q-learning presets (3 restarts) and GRUs of 4, 16 and 64 units (at most 20 epochs, patience 5,
batches of 128 sequences) compared by 5-fold block cross-validation, 45 (model, fold) units. It
runs through ``cr.cross_validate(..., executor=...)`` in-process, on local processes
(``n_jobs`` = cores) and on a local Dask cluster (as many single-threaded workers).

Each (back end, subjects) row goes to ``--results`` (CSV) as soon as it is measured, and rows
already there are not measured again, so an interrupted run resumes. ``table_sha1`` is a hash of
the cross-validation table: equal hashes at the same size mean identical results. ``--plot``
draws wall time against subjects, one line per back end.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import pandas as pd
import torch

import choicernn as cr
from choicernn.io import write_csv_atomic

HERE = Path(__file__).resolve().parent
PRESETS = ["rw", "dual_alpha", "forgetting", "rw_persev", "choice_kernel", "reward_sensitivity"]
GRU_SIZES = [4, 16, 64]


def study_models(device: str = "auto"):
    """The six classic Q presets (MLE, 3 restarts, as measured in round 1) and three GRU sizes."""
    training = cr.TrainingConfig(max_epochs=20, patience=5, batch_size=128)
    return [cr.QLearning(p, method="mle", n_restarts=3, device=device) for p in PRESETS] + [
        cr.GRUModel(hidden_size=h, training=training, device=device) for h in GRU_SIZES
    ]


def executor(name: str) -> cr.Executor:
    if name == "in-process":
        return cr.Executor()
    return cr.Executor(name, n_jobs=os.cpu_count())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, nargs="+", default=[250, 500, 1000, 2000])
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument(
        "--backends",
        nargs="+",
        default=["in-process", "processes", "dask"],
        choices=cr.execution.BACKENDS,
    )
    ap.add_argument("--results", default=str(HERE / "scale_results.csv"))
    ap.add_argument("--plot", default=str(HERE / "scale.png"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.subjects, args.trials = [60], 100
        args.results = str(Path(args.results).with_name("scale_results_quick.csv"))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    machine = f"{os.cpu_count()} cores" + (
        f", {torch.cuda.get_device_name()}" if device == "cuda" else ""
    )
    print(f"torch {torch.__version__}, {machine}; {args.trials} trials per subject")
    results = Path(args.results)
    done = pd.read_csv(results) if results.exists() else pd.DataFrame()
    population = cr.simulate(
        cr.QLearning("rw_persev"), "drifting_two_armed", max(args.subjects), args.trials, seed=1
    )
    for n in sorted(args.subjects):
        data = population.subset(population.subjects[:n])
        for backend in args.backends:
            if (
                not done.empty
                and (
                    (done["backend"] == backend)
                    & (done["n_subjects"] == n)
                    & (done["machine"] == machine)
                ).any()
            ):
                print(f"{n:5d} subjects, {backend:10s}: already measured")
                continue
            start = time.perf_counter()
            cv = cr.cross_validate(
                study_models(device),
                data,
                folds=5,
                in_sample=False,
                executor=executor(backend),
            )
            wall = time.perf_counter() - start
            sha = hashlib.sha1(cv.table.to_csv(index=False).encode()).hexdigest()[:12]
            row = {
                "machine": machine,
                "backend": backend,
                "workers": executor(backend).workers,
                "n_subjects": n,
                "n_trials": args.trials,
                "units": len(cv.models) * cv.n_folds,
                "wall_s": round(wall, 1),
                "table_sha1": sha,
            }
            print(f"{n:5d} subjects, {backend:10s}: {wall:7.1f} s  table {sha}")
            done = pd.concat([done, pd.DataFrame([row])], ignore_index=True)
            write_csv_atomic(done, results)
    print(done.to_string(index=False))
    if args.plot and not done.empty:
        plot(done, Path(args.plot))


def plot(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="ticks", context="paper")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    sns.lineplot(
        results,
        x="n_subjects",
        y="wall_s",
        hue="backend",
        style="machine",
        marker="o",
        ax=ax,
    )
    ax.set(xscale="log", yscale="log", xlabel="subjects (300 trials each)", ylabel="wall time (s)")
    ticks = sorted(results["n_subjects"].unique())
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    low, high = results["wall_s"].min(), results["wall_s"].max()
    yticks = [
        t for t in (10, 25, 50, 100, 200, 400, 800, 1600, 3200) if low / 1.5 <= t <= high * 1.5
    ]
    ax.set_yticks(yticks, [str(t) for t in yticks])
    ax.set_title("5-fold CV: 6 Q presets + 3 GRU sizes")
    sns.despine(fig)
    fig.tight_layout()
    cr.save_figure(fig, path.with_suffix(""), formats=("png",))
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
