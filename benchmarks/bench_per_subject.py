"""Per-subject tiny networks: the batched replica engine next to a plain loop over subjects.

The grid of issue #13: 100 simulated subjects (Q-learners with alpha in (0.2, 0.6), beta in
(3, 6), reversal task, 300 training trials each) x hidden sizes {1, 2, 3, 4} x L1 penalties
{1e-5, 1e-4, 1e-3}, one GRU per subject, trained with the tiny-network defaults (AdamW lr 5e-3,
no weight decay, early stopping 200 epochs after the best validation NLL on the last 20% of
every subject's trials, up to ``--max-epochs``), one initialisation each (``--seeds``).

* batched: ``GRUModel(h, scope="subject", training=TrainingConfig(l1=...))`` fitted once per
  (size, penalty): the 100 subjects' networks are replicas of one recurrence, each stopping on
  its own.
* loop: the same model fitted on one subject at a time (``data.subject(s)``), as a plain Python
  loop would; timed on ``--loop-subjects`` subjects and extrapolated to all of them (stated in
  the output).

Both run in the same process, one after the other, on one thread (``torch.set_num_threads``).

Usage::

    python benchmarks/bench_per_subject.py                     # the full grid
    python benchmarks/bench_per_subject.py --quick             # 20 subjects, sizes 1 and 4
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd
import torch

import choicernn as cr
from choicernn.models.gru import GRUModel, TrainingConfig


def simulate(n_subjects: int, n_trials: int, seed: int = 0) -> cr.ChoiceData:
    rng = np.random.default_rng(seed)
    params = pd.DataFrame(
        {
            "subject": np.arange(n_subjects),
            "alpha": rng.uniform(0.2, 0.6, n_subjects),
            "beta": rng.uniform(3, 6, n_subjects),
        }
    )
    return cr.simulate(
        cr.QLearning("rw"),
        "reversal",
        n_subjects=n_subjects,
        n_trials=n_trials,
        seed=seed,
        params=params,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--hidden", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--l1", type=float, nargs="+", default=[1e-5, 1e-4, 1e-3])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--max-epochs", type=int, default=3000)
    parser.add_argument("--loop-subjects", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.hidden, args.loop_subjects = 20, [1, 4], 3
    torch.set_num_threads(args.threads)
    data = simulate(args.subjects, args.trials)
    print(
        f"{args.subjects} subjects x {args.trials} trials, sizes {args.hidden}, L1 {args.l1}, "
        f"{args.seeds} seed(s), max {args.max_epochs} epochs; torch {torch.__version__}, "
        f"{args.threads} thread(s), {platform.processor() or platform.machine()}"
    )
    rows = []
    loop_subjects = data.subjects[: args.loop_subjects]
    for hidden in args.hidden:
        for l1 in args.l1:
            config = TrainingConfig(l1=l1, n_seeds=args.seeds, max_epochs=args.max_epochs)
            start = time.perf_counter()
            model = GRUModel(hidden, scope="subject", training=config).fit(data, seed=0)
            batched = time.perf_counter() - start
            epochs = int(model.history_["epoch"].max()) + 1
            start = time.perf_counter()
            loop_epochs = []
            for subject in loop_subjects:
                alone = GRUModel(hidden, scope="subject", training=config)
                alone.fit(data.subject(subject), seed=0)
                loop_epochs.append(int(alone.history_["epoch"].max()) + 1)
            loop = (time.perf_counter() - start) * args.subjects / len(loop_subjects)
            rows.append(
                {
                    "hidden": hidden,
                    "l1": l1,
                    "batched_s": round(batched, 1),
                    "batched_epochs": epochs,
                    "loop_s_extrapolated": round(loop, 1),
                    "loop_mean_epochs": round(float(np.mean(loop_epochs)), 1),
                    "speedup": round(loop / batched, 1),
                    "val_nll": round(model.validation_nll_, 4),
                }
            )
            print(
                pd.DataFrame([rows[-1]]).to_string(index=False, header=len(rows) == 1), flush=True
            )
    table = pd.DataFrame(rows)
    print()
    print(table.to_string(index=False))
    total_b, total_l = table["batched_s"].sum(), table["loop_s_extrapolated"].sum()
    print(
        f"\nwhole grid ({len(table)} fits of {args.subjects} subjects): batched {total_b:.0f} s "
        f"({total_b / 60:.1f} min); loop {total_l:.0f} s ({total_l / 60:.1f} min, measured on "
        f"{len(loop_subjects)} subjects and scaled by {args.subjects}/{len(loop_subjects)}); "
        f"speed-up {total_l / total_b:.1f}x"
    )


if __name__ == "__main__":
    main()
