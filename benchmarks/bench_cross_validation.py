"""Wall time of a whole model comparison: 10-fold CV of 6 Q-learning/heuristic models + one GRU.

    python benchmarks/bench_cross_validation.py            # 100 subjects x 500 trials, 10 folds
    python benchmarks/bench_cross_validation.py --quick    # 30 subjects x 200 trials, 5 folds

Data: simulated by ``rw_persev`` on the drifting two-armed task. Prints the time per model
(summed over folds), the total, and the comparison table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

import choicernn as cr


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_subjects, n_trials, folds = (30, 200, 5) if args.quick else (100, 500, 10)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; {n_subjects} subjects x {n_trials} "
        f"trials, {folds}-fold CV by block"
    )
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(
        {
            "alpha": rng.uniform(0.1, 0.7, n_subjects),
            "beta": rng.uniform(2, 8, n_subjects),
            "persev": rng.uniform(-0.5, 1.5, n_subjects),
        }
    )
    data = cr.simulate(
        cr.QLearning("rw_persev"), "drifting_two_armed", n_subjects, n_trials, seed=1, params=truth
    )
    models = [
        cr.Bias(),
        cr.WSLS(),
        cr.QLearning("rw"),
        cr.QLearning("rw_persev"),
        cr.QLearning("dual_alpha"),
        cr.QLearning("choice_kernel"),
        cr.GRUModel(hidden_size=8, training=cr.TrainingConfig(max_epochs=60, n_seeds=2)),
    ]
    times = {}
    start = time.perf_counter()
    tables = []
    for model in models:
        t0 = time.perf_counter()
        cv = cr.cross_validate([model], data, folds=folds, in_sample=False)
        times[model.name] = time.perf_counter() - t0
        tables.append(cv.trials)
        print(f"  {model.name:14s} {times[model.name]:7.1f} s")
    total = time.perf_counter() - start
    print(f"total: {total:.1f} s ({total / 60:.2f} min)")
    trials = pd.concat(tables)
    pooled = trials.groupby("model")["log_lik"].agg(["sum", "size"])
    print(
        (-pooled["sum"] / pooled["size"])
        .sort_values()
        .rename("held-out NLL per choice")
        .to_string()
    )


if __name__ == "__main__":
    main()
