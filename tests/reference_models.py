"""Slow, independent reference likelihoods: plain Python loops over trials, written from the
model equations in the docstrings, sharing no code with choicernn's batched implementations."""

from __future__ import annotations

import math

import numpy as np


def _log_softmax(x):
    m = max(x)
    s = sum(math.exp(v - m) for v in x)
    return [v - m - math.log(s) for v in x]


def q_learning_loglik(
    frame,
    k,
    p,
    *,
    dual=False,
    forgetting=False,
    persev=False,
    choice_kernel=False,
    reward_sensitivity=False,
    side_bias=False,
    q0=0.0,
):
    """Per-row log-likelihood (NaN on missed rows) of a Q-learning model; ``p`` maps subject -> params."""
    out = np.full(len(frame), np.nan)
    for (subject, _session), rows in frame.groupby(
        ["subject", "session"], sort=False
    ).groups.items():
        th = p[subject]
        q = [q0] * k
        ck = [0.0] * k
        prev = None
        for i in rows:
            c = frame.at[i, "choice"]
            if (
                c is None
                or (isinstance(c, float) and math.isnan(c))
                or c is __import__("pandas").NA
            ):
                continue
            c = int(c)
            r = float(frame.at[i, "reward"])
            logits = []
            for j in range(k):
                v = q[j] if reward_sensitivity else th["beta"] * q[j]
                if persev and prev == j:
                    v += th["persev"]
                if choice_kernel:
                    v += th["beta_ck"] * ck[j]
                if side_bias and j > 0:
                    v += th[f"bias_{j}"]
                logits.append(v)
            out[i] = _log_softmax(logits)[c]
            rr = th["rho"] * r if reward_sensitivity else r
            delta = rr - q[c]
            if dual:
                lr = th["alpha_pos"] if delta > 0 else th["alpha_neg"]
            else:
                lr = th["alpha"]
            for j in range(k):
                if j == c:
                    q[j] = q[j] + lr * delta
                elif forgetting:
                    q[j] = q[j] + th["phi"] * (q0 - q[j])
            if choice_kernel:
                for j in range(k):
                    ck[j] = ck[j] + th["alpha_ck"] * ((1.0 if j == c else 0.0) - ck[j])
            prev = c
    return out


def wsls_loglik(frame, k, p, win_threshold=0.0):
    out = np.full(len(frame), np.nan)
    for (subject, _session), rows in frame.groupby(
        ["subject", "session"], sort=False
    ).groups.items():
        eps = p[subject]["epsilon"]
        last = None
        for i in rows:
            c = frame.at[i, "choice"]
            if c is __import__("pandas").NA:
                continue
            c = int(c)
            if last is None:
                prob = 1.0 / k
            else:
                pc, won = last
                if won:
                    prob = 1 - eps + eps / k if c == pc else eps / k
                else:
                    prob = eps / k if c == pc else (1 - eps) / (k - 1) + eps / k
            out[i] = math.log(prob)
            last = (c, float(frame.at[i, "reward"]) > win_threshold)
    return out


def kalman_loglik(frame, k, p, decay, center, sigma_obs, sigma_drift, mu0, var0):
    out = np.full(len(frame), np.nan)
    for (subject, _session), rows in frame.groupby(
        ["subject", "session"], sort=False
    ).groups.items():
        th = p[subject]
        mu = [mu0] * k
        var = [var0] * k
        for i in rows:
            c = frame.at[i, "choice"]
            if c is __import__("pandas").NA:
                continue
            c = int(c)
            logits = [th["beta"] * (mu[j] + th["bonus"] * math.sqrt(var[j])) for j in range(k)]
            out[i] = _log_softmax(logits)[c]
            r = float(frame.at[i, "reward"])
            gain = var[c] / (var[c] + sigma_obs**2)
            mu[c] += gain * (r - mu[c])
            var[c] *= 1 - gain
            for j in range(k):
                mu[j] = decay * mu[j] + (1 - decay) * center
                var[j] = decay**2 * var[j] + sigma_drift**2
    return out
