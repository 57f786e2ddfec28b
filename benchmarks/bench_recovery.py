"""Parameter recovery of the basic Q-learning model: 200 simulated subjects x 500 trials.

    python benchmarks/bench_recovery.py

Subjects: alpha ~ U(0.1, 0.9), beta ~ U(1, 8), drifting two-armed task. Fits by maximum likelihood
and by MAP with the default priors (10 restarts each) and prints, per parameter, the Pearson
correlation of true and fitted values, the bias and the RMSE, and the fit time.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

import choicernn as cr


def main() -> None:
    rng = np.random.default_rng(2026)
    n = 200
    truth = pd.DataFrame({"alpha": rng.uniform(0.1, 0.9, n), "beta": rng.uniform(1.0, 8.0, n)})
    data = cr.simulate(
        cr.QLearning("rw"), "drifting_two_armed", n_subjects=n, n_trials=500, seed=7, params=truth
    )
    rows = []
    for method in ("mle", "map"):
        start = time.perf_counter()
        fitted = cr.QLearning("rw", method=method).fit(data, seed=0).params_
        seconds = time.perf_counter() - start
        for p in ("alpha", "beta"):
            err = fitted[p] - truth[p]
            rows.append(
                {
                    "method": method,
                    "parameter": p,
                    "r": np.corrcoef(truth[p], fitted[p])[0, 1],
                    "spearman": truth[p].corr(fitted[p], method="spearman"),
                    "bias": err.mean(),
                    "rmse": np.sqrt((err**2).mean()),
                    "fit_seconds": seconds,
                }
            )
    print(f"{n} subjects x 500 trials, drifting two-armed task, 10 restarts")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
