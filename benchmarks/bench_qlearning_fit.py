"""Batched Q-learning fits vs the plain per-subject scipy approach, measured in the same run.

    python benchmarks/bench_qlearning_fit.py            # 1,000 subjects x 500 trials, K=4, 10 restarts
    python benchmarks/bench_qlearning_fit.py --quick    # 100 subjects, for a smoke run

1. choicernn: ``QLearning("rw_persev").fit`` (alpha, beta, persev), all subjects x 10 restarts in
   one batched BFGS.
2. scipy: per subject and restart, ``scipy.optimize.minimize(method="L-BFGS-B")`` with finite-
   difference gradients of a numpy per-trial likelihood, from the same 10 starting points, on a
   sample of subjects; the time is extrapolated to all subjects.
3. The likelihood + gradient of 10,000 sequences x 500 trials x 4 options: ours (linear scan with a
   hand-written backward pass) vs autograd over a Python loop of per-trial torch ops.
Prints both times, the ratio, and the worst per-subject NLL difference (ours - scipy).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy.optimize import minimize

import choicernn as cr
from choicernn.fitting.objective import BatchedObjective
from choicernn.models.parametric_fit import initial_points


def scipy_nll(theta, choices, rewards, k):
    alpha, beta, persev = theta
    q = np.zeros(k)
    prev = -1
    total = 0.0
    for c, r in zip(choices, rewards):
        z = beta * q
        if prev >= 0:
            z[prev] += persev
        z -= z.max()
        total -= z[c] - np.log(np.exp(z).sum())
        q[c] += alpha * (r - q[c])
        prev = c
    return total


def scipy_fit(choices, rewards, k, starts, bounds):
    best = np.inf
    for x0 in starts:
        res = minimize(scipy_nll, x0, args=(choices, rewards, k), method="L-BFGS-B", bounds=bounds)
        best = min(best, res.fun)
    return best


def autograd_loop_nll(alpha, beta, onehot, reward, mask):
    """Naive reference: autograd through a Python loop of per-trial ops (time-major inputs)."""
    q = torch.zeros_like(onehot[0])
    total = 0.0
    for t in range(onehot.shape[0]):
        logp = torch.log_softmax(beta * q, -1)
        total = total - (logp * onehot[t]).sum()
        q = q + alpha * onehot[t] * (reward[t] - q)
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--subjects", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--scipy-sample", type=int, default=10)
    args = ap.parse_args()
    n_subjects = 100 if args.quick else args.subjects
    n_trials, k, n_restarts = args.trials, 4, 10
    torch.set_num_threads(2)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{n_subjects} subjects x {n_trials} trials, K={k}, {n_restarts} restarts"
    )

    task = cr.load_task("drifting_two_armed", n_options=4)
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(
        {
            "alpha": rng.uniform(0.1, 0.8, n_subjects),
            "beta": rng.uniform(1, 8, n_subjects),
            "persev": rng.uniform(-0.5, 1.5, n_subjects),
        }
    )
    data = cr.simulate(cr.QLearning("rw_persev"), task, n_subjects, n_trials, seed=1, params=truth)

    cr.set_progress(False)
    # maximum likelihood, to compare with scipy's per-subject ML fits
    model = cr.QLearning("rw_persev", method="mle", n_restarts=n_restarts, device="cpu")
    start = time.perf_counter()
    model.fit(data, seed=0)
    ours = time.perf_counter() - start
    print(
        f"choicernn batched fit: {ours:.1f} s  (converged {model.results_['converged'].mean():.1%})"
    )

    # scipy on a sample, from the same starting points as our restarts
    params = model.parameters(k)
    x0 = initial_points(params, n_subjects, n_restarts, 0).reshape(
        n_restarts, n_subjects, -1
    )
    frame = data.to_frame()
    bounds = [(p.lower + 1e-6, p.upper - 1e-6) for p in params]
    sample = np.linspace(0, n_subjects - 1, args.scipy_sample).astype(int)
    diffs = []
    start = time.perf_counter()
    for s in sample:
        rows = frame[frame["subject"] == data.subjects[s]]
        starts = [
            [float(p.to_value(x0[r, s, j])) for j, p in enumerate(params)]
            for r in range(n_restarts)
        ]
        best = scipy_fit(
            rows["choice"].to_numpy(int), rows["reward"].to_numpy(float), k, starts, bounds
        )
        diffs.append(model.results_["nll"].iloc[s] - best)
    per_subject = (time.perf_counter() - start) / len(sample)
    scipy_total = per_subject * n_subjects
    print(
        f"scipy per subject: {per_subject:.2f} s -> {n_subjects} subjects: {scipy_total:.0f} s (extrapolated "
        f"from {len(sample)})"
    )
    print(
        f"speed-up: {scipy_total / ours:.0f}x; worst NLL difference ours - scipy: {max(diffs):+.2e} "
        f"(negative = ours lower)"
    )

    # likelihood + gradient at 10,000 sequences x 500 trials x 4 options
    n_seq = 1000 if args.quick else 10000
    frame = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(n_seq), 500),
            "choice": rng.integers(0, 4, n_seq * 500),
            "reward": rng.integers(0, 2, n_seq * 500).astype(float),
        }
    )
    big = cr.ChoiceData.from_frame(frame, n_options=4)
    rw = cr.QLearning("rw")
    for dtype in (torch.float64, torch.float32):
        batch = big.tensors("cpu", dtype)
        obj = BatchedObjective(rw, rw.parameters(4), batch, batch.subject_index, n_seq)
        x = torch.zeros(n_seq, 2, dtype=dtype)
        idx = torch.arange(n_seq)
        obj(x, idx)
        start = time.perf_counter()
        for _ in range(3):
            obj(x, idx)
        print(
            f"likelihood+gradient {n_seq} x 500 x 4, linear scan, {str(dtype)[6:]}: "
            f"{(time.perf_counter() - start) / 3:.2f} s"
        )
    prep = rw.prepare(big.tensors("cpu", torch.float64))
    alpha = torch.full((n_seq, 1), 0.3, dtype=torch.float64, requires_grad=True)
    beta = torch.full((n_seq, 1), 3.0, dtype=torch.float64, requires_grad=True)
    start = time.perf_counter()
    autograd_loop_nll(alpha, beta, prep["onehot"], prep["reward"], prep["mask"]).backward()
    print(
        f"likelihood+gradient {n_seq} x 500 x 4, autograd over a per-trial loop, float64: "
        f"{time.perf_counter() - start:.2f} s"
    )


if __name__ == "__main__":
    main()
