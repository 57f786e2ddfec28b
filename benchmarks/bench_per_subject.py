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

``protocols`` mode (issue #13, accuracy rather than speed): 100 heterogeneous Q-learners x 2
sessions x 300 trials of ``--task`` (``reversal``: fixed schedule; ``drifting_two_armed``:
reward probabilities on random walks, nothing to memorise); every variant is trained on session 0
and scored on session 1; printed as the ratio of its held-out NLL to the generating model's
(one JSON line per variant, with its validation NLL and run time).

Usage::

    python benchmarks/bench_per_subject.py                     # the full grid
    python benchmarks/bench_per_subject.py --quick             # 20 subjects, sizes 1 and 4
    python benchmarks/bench_per_subject.py --protocols gru2_from_pooled gru8_emb2_sd1 \
        --task drifting_two_armed
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import pandas as pd
import torch

import choicernn as cr
from choicernn.models.gru import GRUModel, TrainingConfig


def simulate(
    n_subjects: int, n_trials: int, seed: int = 0, task: str = "reversal", n_sessions: int = 1
) -> cr.ChoiceData:
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
        task,
        n_subjects=n_subjects,
        n_trials=n_trials,
        n_sessions=n_sessions,
        seed=seed,
        params=params,
    )


def _embedded(sd=None, split="auto", hidden=8):
    config = TrainingConfig(embedding_sd=sd, split=split)
    return GRUModel(hidden, subject_embedding=2, training=config)


#: The protocols compared for issue #13 (name -> unfitted model).
PROTOCOLS = {
    "gru2_subj_tail": lambda: GRUModel(2, scope="subject", training=TrainingConfig(split="blocks")),
    "gru2_subj_interleaved": lambda: GRUModel(2, scope="subject"),
    "gru2_pooled": lambda: GRUModel(2),
    "gru8_pooled": lambda: GRUModel(8),
    "gru2_from_pooled": lambda: GRUModel(2, scope="subject", init="pooled"),
    "gru2_from_pooled_sd0.2": lambda: GRUModel(
        2, scope="subject", init="pooled", training=TrainingConfig(pooled_sd=0.2)
    ),
    "gru2_from_pooled_sd1": lambda: GRUModel(
        2, scope="subject", init="pooled", training=TrainingConfig(pooled_sd=1.0)
    ),
    "gru4_from_pooled": lambda: GRUModel(4, scope="subject", init="pooled"),
    "gru8_emb2": lambda: _embedded(),
    "gru8_emb2_sd1": lambda: _embedded(1.0),
    "gru8_emb2_sd0.3": lambda: _embedded(0.3),
    "gru8_emb2_sd1_interleaved": lambda: _embedded(1.0, "interleaved"),
    "gru8_emb2_sd0.3_long": lambda: GRUModel(
        8,
        subject_embedding=2,
        training=TrainingConfig(embedding_sd=0.3, patience=50, n_seeds=3),
    ),
    "gru8_from_pooled": lambda: GRUModel(8, scope="subject", init="pooled"),
    "gru2_from_pooled_distilled": lambda: GRUModel(
        2, scope="subject", init="pooled", teacher=_embedded(1.0, hidden=20)
    ),
}


def protocols(names: list[str], task: str) -> None:
    """Each protocol trained on session 0, scored on session 1; ratio to the generating NLL."""
    data = simulate(100, 300, seed=0, task=task, n_sessions=2)
    train, test = data.split_sessions([1])
    logits = cr.QLearning("rw").logits(test, params=data.params).double()
    batch = test.tensors()
    ll = torch.log_softmax(logits, -1).gather(-1, batch.choices.clamp(min=0).unsqueeze(-1))
    generating = -float(ll.squeeze(-1)[batch.mask].sum()) / test.n_choices
    for name in names:
        start = time.perf_counter()
        model = PROTOCOLS[name]().fit(train, seed=0)
        row = {
            "task": task,
            "model": name,
            "ratio": round(-model.score(test) / generating, 4),
            "generating": round(generating, 4),
            "validation_nll": model.validation_nll_,
            "pooled_validation_nll": getattr(model, "pooled_validation_nll_", None),
            "seconds": round(time.perf_counter() - start),
        }
        if hasattr(model, "teacher_"):
            row["teacher_ratio"] = round(-model.teacher_.score(test) / generating, 4)
        print(json.dumps(row), flush=True)


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
    parser.add_argument("--protocols", nargs="+", choices=sorted(PROTOCOLS), default=None)
    parser.add_argument("--task", default="reversal")
    args = parser.parse_args()
    if args.protocols:
        torch.set_num_threads(args.threads)
        protocols(args.protocols, args.task)
        return
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
