"""Many networks in one recurrence: ``GRUModel.fit_many`` next to one ``fit`` after another.

For R in {1, 4, 16, 64} fits (e.g. folds x data sets; each fit here has one seed, so R is also
the number of replicas), both ways train R pooled GRUs on R data sets of the same size
(different simulated subjects), with the same settings and seeds, in the same process one after
the other, so both see the same machine load. Reported: seconds for all R fits each way, the
speed-up, and the largest difference between the two ways' held-out logits (the fits are the
same computation: it should be ~0).

    python benchmarks/bench_replicas.py                 # 64 subjects x 300 trials per data set
    python benchmarks/bench_replicas.py --replicas 1 4 --hidden 32
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
import warnings

import numpy as np
import torch

import choicernn as cr
from choicernn.models.gru import GRUModel, TrainingConfig


def simulate(n_subjects: int, n_trials: int, seed: int) -> cr.ChoiceData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cr.simulate(
            cr.QLearning("rw"),
            "reversal",
            n_subjects=n_subjects,
            n_trials=n_trials,
            seed=seed,
            params={"alpha": 0.3, "beta": 3.0},
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicas", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--subjects", type=int, default=64)
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(
        f"commit {commit}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; torch {torch.__version__}, device {args.device}"
    )
    config = TrainingConfig(
        max_epochs=args.epochs,
        patience=args.epochs,
        n_seeds=1,
        batch_size=None,
        split="blocks",
        lr=0.01,
        weight_decay=1e-4,
        l1=0.0,
    )
    model = GRUModel(args.hidden, training=config, device=args.device)
    pool = [simulate(args.subjects, args.trials, seed) for seed in range(max(args.replicas))]
    print(
        f"GRU {args.hidden} units, {args.epochs} epochs, full batch, block validation split; "
        f"each fit: {args.subjects} subjects x {args.trials} trials"
    )
    print(f"{'R':>4} {'separate s':>11} {'fit_many s':>11} {'speed-up':>9} {'max |dlogit|':>13}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for n in args.replicas:
            datasets = pool[:n]
            start = time.perf_counter()
            alone = [model.clone().fit(d, seed=0) for d in datasets]
            separate = time.perf_counter() - start
            start = time.perf_counter()
            together = model.fit_many(datasets, seed=0)
            batched = time.perf_counter() - start
            diff = max(
                float((a.logits(d) - b.logits(d)).abs().max())
                for a, b, d in zip(alone, together, datasets, strict=True)
            )
            print(
                f"{n:>4} {separate:>11.1f} {batched:>11.1f} {separate / batched:>8.1f}x {diff:>13.1e}"
            )
    print(f"load at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
