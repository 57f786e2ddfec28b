"""Wall time of a whole model comparison: 10-fold CV of 6 Q-learning/heuristic models + one GRU.

    python benchmarks/bench_cross_validation.py            # 100 subjects x 500 trials, 10 folds
    python benchmarks/bench_cross_validation.py --quick    # 30 subjects x 200 trials, 5 folds
    python benchmarks/bench_cross_validation.py --no-compare   # skip the fold-by-fold GRU

Data: simulated by ``rw_persev`` on the drifting two-armed task. Prints the time per model
(summed over folds), the total, and the comparison table. ``cross_validate`` fits all folds of
a model together (``fit_many``: the GRU's folds and seeds as one batched recurrence, a
per-subject model's folds as one batched BFGS); in the same run every model is also fitted fold
by fold, one ``fit`` after another (what cross-validation did before), and the time and the
largest difference between the two ways' held-out log-likelihoods are printed.
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
    ap.add_argument("--no-compare", action="store_true", help="skip the fold-by-fold GRU")
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
    if not args.no_compare:
        print("the same models fold by fold (one fit after another, as before fit_many):")
        total_alone = 0.0
        for model in models:
            t0 = time.perf_counter()
            alone = fold_by_fold(model, data, folds)
            seconds = time.perf_counter() - t0
            total_alone += seconds
            ours = trials[trials["model"] == model.name].reset_index(drop=True)
            diff = float(np.abs(ours["log_lik"].to_numpy() - alone["log_lik"].to_numpy()).max())
            print(
                f"  {model.name:14s} {seconds:7.1f} s vs {times[model.name]:6.1f} s batched "
                f"({seconds / times[model.name]:.1f}x); largest |difference| in held-out "
                f"log-likelihood {diff:.2e}"
            )
        print(f"fold by fold total: {total_alone:.1f} s vs {total:.1f} s")
    pooled = trials.groupby("model")["log_lik"].agg(["sum", "size"])
    print(
        (-pooled["sum"] / pooled["size"])
        .sort_values()
        .rename("held-out NLL per choice")
        .to_string()
    )


def fold_by_fold(model, data, folds: int) -> pd.DataFrame:
    """The GRU's held-out trials with every fold trained alone (the unbatched reference)."""
    from choicernn.comparison.cross_validation import held_out_trials
    from choicernn.comparison.folds import fold_labels, make_folds

    labels = fold_labels(data, folds, "block", 0)
    out = []
    for fold in make_folds(data, folds=folds, by="block", seed=0):
        fit = model.clone().fit(fold.train, seed=0)
        out.append(held_out_trials(fit, data, labels == fold.index))
    return pd.concat(out, ignore_index=True)


if __name__ == "__main__":
    main()
