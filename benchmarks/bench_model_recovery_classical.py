"""Model recovery among the classical models of #16 on simulated reversal learning.

    OMP_NUM_THREADS=1 python benchmarks/bench_model_recovery_classical.py            # 40 subjects
    OMP_NUM_THREADS=1 python benchmarks/bench_model_recovery_classical.py --subjects 50 --restarts 10

Candidates (each both a generator and a fitted model): Q-learning ``rw`` (alpha, beta),
generalized Q-learning ``cr.GQL(d=2)`` (12 parameters), lagged logistic regression
``cr.LaggedRegression(n_lags=5)`` (10 lag weights + a side bias) and the Bayesian latent-state
reversal learner ``cr.LatentStateModel()`` (hazard, p_good, beta, persev). Each generates
``--subjects`` subjects x 300 trials of the ``reversal`` task (0/1 rewards, p = 0.8 / 0.2,
reversals every 40 +- 5 trials) with parameters drawn from its default parameter ranges; every
candidate is fitted (MAP, the default) in ``--folds``-fold held-out-block cross-validation, and
each subject goes to the candidate with the lowest held-out NLL
(``cr.model_recovery(..., "reversal", n_trials=300, seed=0)``).

Prints the confusion matrix (rows: generating model; columns: fraction of its subjects won by
each fitted model), the mean held-out NLL per choice of every (generating, fitted) pair and the
wall time, and writes ``report.txt`` (the printed tables), ``confusion.csv``, ``nll.csv``,
``table.csv`` and ``confusion.png`` to ``--out`` (default ``benchmarks/model_recovery_classical/``).
Target: every diagonal entry >= 0.8. A figure that cannot be drawn is reported, not fatal.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import choicernn as cr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", type=int, default=40, help="simulated subjects per model")
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--restarts", type=int, default=10, help="fit restarts per subject")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "model_recovery_classical"
    )
    args = parser.parse_args()
    cr.set_progress(False)

    settings = {"n_restarts": args.restarts}
    models = [
        cr.QLearning("rw", **settings),
        cr.GQL(d=2, **settings),
        cr.LaggedRegression(n_lags=5, **settings),
        cr.LatentStateModel(**settings),
    ]
    start = time.perf_counter()
    result = cr.model_recovery(
        models,
        "reversal",
        n_subjects=args.subjects,
        n_trials=args.trials,
        folds=args.folds,
        seed=args.seed,
    )
    seconds = time.perf_counter() - start

    confusion = result.confusion
    nll = (
        result.table.groupby(["generating", "fitted_model"], sort=False)["nll_per_trial"]
        .mean()
        .unstack()
        .reindex(index=result.models, columns=result.models)
    )
    diagonal = {m: float(confusion.loc[m, m]) for m in result.models}
    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    lines = [
        f"model recovery, reversal task: {args.subjects} subjects x {args.trials} trials per "
        f"generating model, {args.folds}-fold block CV, MAP, {args.restarts} restarts, "
        f"seed {args.seed}: {seconds:.0f} s wall",
        "",
        "confusion (rows: generating; columns: fraction of subjects best fitted by)",
        confusion.to_string(float_format=fmt),
        "",
        "mean held-out NLL per choice (rows: generating; columns: fitted)",
        nll.to_string(float_format=fmt),
        "",
    ]
    misses = {m: d for m, d in diagonal.items() if d < 0.8}
    lines.append(
        "diagonal: "
        + ", ".join(f"{m} {d:.2f}" for m, d in diagonal.items())
        + (
            "; below 0.8: " + ", ".join(f"{m} by {0.8 - d:.2f}" for m, d in misses.items())
            if misses
            else "; all >= 0.8"
        )
    )
    print("\n".join(lines))

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.txt").write_text("\n".join(lines) + "\n")
    confusion.to_csv(args.out / "confusion.csv")
    nll.to_csv(args.out / "nll.csv")
    result.table.to_csv(args.out / "table.csv", index=False)
    written = ["report.txt", "confusion.csv", "nll.csv", "table.csv"]
    try:  # the tables above are the result; a figure that cannot be drawn must not lose them
        import matplotlib

        matplotlib.use("Agg")
        ax = result.plot()
        ax.set_title(f"model recovery, reversal, {args.subjects} x {args.trials} ({seconds:.0f} s)")
        ax.figure.savefig(args.out / "confusion.png", dpi=120, bbox_inches="tight")
        written.append("confusion.png")
    except Exception as error:  # noqa: BLE001
        print(f"\nconfusion.png not drawn: {type(error).__name__}: {error}")
    print(f"\nwritten to {args.out}/: {', '.join(written)}")


if __name__ == "__main__":
    main()
