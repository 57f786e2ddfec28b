"""Training throughput of GRUModel next to a plain hand-written torch.nn.GRU loop.

Both train on the same simulated data (a Q-learner in the reversal task) with the same hidden
size, mini-batch size, number of epochs and optimiser family (Adam), in the same process, one
after the other for every hidden size and repeat, so both see the same machine load. Reported:
trials per second (trials in the data x epochs / seconds), best of ``--repeats``; which of the
two runs first alternates between repeats.

* ``GRUModel`` is timed end to end through ``fit`` (input building, initialisation, masked
  loss, gradient clipping, AdamW, per-epoch bookkeeping; the once-per-fit costs, about 40 ms
  at this size, are why the default runs 3 epochs), with ``split="none"`` so no time goes
  to validation passes; a last column also times the block validation split (the last 20% of
  every session held out: training runs over the first 80%, plus one no-grad pass per epoch
  over whole sessions to score the held-out trials in context).
* The plain loop is timed for its training loop only (its inputs are built beforehand):
  ``nn.GRU`` + ``nn.Linear`` + ``cross_entropy`` + ``Adam`` on the same inputs.

Usage::

    python benchmarks/bench_gru.py            # 1,000 subjects x 500 trials, H = 1, 8, 32, 128
    python benchmarks/bench_gru.py --threads 1 --hidden 8 32 --epochs 1
    python benchmarks/bench_gru.py --quick    # 200 subjects x 200 trials, a smoke run
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import torch
from torch import nn

import choicernn as cr
from choicernn.models.base import resolve_device
from choicernn.models.gru import GRUModel, TrainingConfig
from choicernn.models.rnn_network import sequence_inputs


def simulate_data(n_subjects: int, n_trials: int) -> cr.ChoiceData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return cr.simulate(
            cr.QLearning("rw"),
            "reversal",
            n_subjects=n_subjects,
            n_trials=n_trials,
            seed=0,
            params={"alpha": 0.3, "beta": 3.0},
        )


def time_ours(data, hidden: int, epochs: int, batch_size: int, device, split: str) -> float:
    config = TrainingConfig(
        max_epochs=epochs,
        batch_size=batch_size,
        split=split,
        patience=epochs,
        n_seeds=1,
        l1=0.0,
        lr=0.01,
        weight_decay=1e-4,
    )
    model = GRUModel(hidden_size=hidden, training=config, device=device)
    _sync(device)
    start = time.perf_counter()
    model.fit(data, seed=0)
    _sync(device)
    return time.perf_counter() - start


def time_plain(data, hidden: int, epochs: int, batch_size: int, device) -> float:
    """A plain nn.GRU training loop, as one would write it by hand."""
    batch = data.tensors(device, torch.float32)
    x = sequence_inputs(batch, "reward", False, 1.0)  # same inputs, built outside the timing
    y = batch.choices
    k = data.n_options
    torch.manual_seed(0)
    gru = nn.GRU(x.shape[-1], hidden, batch_first=True).to(device)
    head = nn.Linear(hidden, k).to(device)
    opt = torch.optim.Adam([*gru.parameters(), *head.parameters()], lr=0.01)
    _sync(device)
    start = time.perf_counter()
    for _ in range(epochs):
        for rows in torch.randperm(x.shape[0], device=device).split(batch_size):
            out, _ = gru(x[rows])
            logits = head(out)
            loss = nn.functional.cross_entropy(
                logits.reshape(-1, k), y[rows].reshape(-1), ignore_index=-1
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
    _sync(device)
    return time.perf_counter() - start


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 subjects x 200 trials, 1 repeat")
    parser.add_argument("--subjects", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=500)
    parser.add_argument("--hidden", type=int, nargs="+", default=[1, 8, 32, 128])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128, help="sequences per step")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-validation-column", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.subjects, args.trials, args.repeats = 200, 200, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    data = simulate_data(args.subjects, args.trials)
    n = data.n_trials * args.epochs
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(
        f"# {data.n_subjects} subjects x {args.trials} trials, {args.epochs} epoch(s), batch "
        f"{args.batch_size} sequences, best of {args.repeats}; torch {torch.__version__}, "
        f"device {device} ({name or platform.machine()}), {torch.get_num_threads()} threads"
    )
    header = f"{'H':>5} {'plain nn.GRU':>14} {'GRUModel':>14} {'ratio':>7}"
    if not args.no_validation_column:
        header += f" {'GRUModel+val':>14}"
    print(header + "   (trials/s)")
    time_ours(simulate_data(20, 20), 2, 1, 8, device, "none")  # warm-up
    for hidden in args.hidden:
        ours, plain, val = [], [], []
        for repeat in range(args.repeats):
            # Alternate which runs first, so neither always gets the warmer caches.
            if repeat % 2 == 0:
                plain.append(time_plain(data, hidden, args.epochs, args.batch_size, device))
            ours.append(time_ours(data, hidden, args.epochs, args.batch_size, device, "none"))
            if repeat % 2 == 1:
                plain.append(time_plain(data, hidden, args.epochs, args.batch_size, device))
            if not args.no_validation_column:
                val.append(time_ours(data, hidden, args.epochs, args.batch_size, device, "blocks"))
        ratio = min(plain) / min(ours)
        row = f"{hidden:>5} {n / min(plain):>14,.0f} {n / min(ours):>14,.0f} {ratio:>7.2f}"
        if val:
            row += f" {n / min(val):>14,.0f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
