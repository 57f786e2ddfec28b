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
    lapse=False,
    counterfactual=False,
    full_feedback=False,
    reward_punishment=False,
    gain_loss=False,
):
    """Per-row log-likelihood (NaN on missed rows) of a Q-learning model; ``p`` maps subject -> params.

    hBayesDM variants: ``reward_punishment`` (rate alpha_rew if r > 0 else alpha_pun),
    ``gain_loss`` (effective reward rho_gain * r if r > 0, rho_loss * r if r < 0; beta = 1),
    ``counterfactual`` (every unchosen option moves toward -effective reward, same rate),
    ``full_feedback`` (every option moves toward its own outcome ``outcome_j``; with ``dual`` the
    rate follows each option's own error sign), ``lapse`` (p = (1 - eps) softmax + eps / K).
    """
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
                v = q[j] if (reward_sensitivity or gain_loss) else th["beta"] * q[j]
                if persev and prev == j:
                    v += th["persev"]
                if choice_kernel:
                    v += th["beta_ck"] * ck[j]
                if side_bias and j > 0:
                    v += th[f"bias_{j}"]
                logits.append(v)
            logp = _log_softmax(logits)
            if lapse:
                eps = th["epsilon"]
                out[i] = math.log((1 - eps) * math.exp(logp[c]) + eps / k)
            else:
                out[i] = logp[c]

            def effective(x, th=th):
                if gain_loss:
                    return th["rho_gain"] * x if x > 0 else th["rho_loss"] * x
                return th["rho"] * x if reward_sensitivity else x

            rr = effective(r)
            delta = rr - q[c]
            if dual:
                lr = th["alpha_pos"] if delta > 0 else th["alpha_neg"]
            elif reward_punishment:
                lr = th["alpha_rew"] if r > 0 else th["alpha_pun"]
            else:
                lr = th["alpha"]
            new_q = list(q)
            for j in range(k):
                if full_feedback:
                    target = effective(float(frame.at[i, f"outcome_{j}"]))
                    rate_j = lr
                    if dual:
                        rate_j = th["alpha_pos"] if target - q[j] > 0 else th["alpha_neg"]
                    new_q[j] = q[j] + rate_j * (target - q[j])
                elif j == c:
                    new_q[j] = q[j] + lr * delta
                elif counterfactual:
                    new_q[j] = q[j] + lr * (-rr - q[j])
                elif forgetting:
                    new_q[j] = q[j] + th["phi"] * (q0 - q[j])
            q = new_q
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


def _sessions(frame):
    """(subject, observed rows in order) per subject-session; missed rows are skipped."""
    import pandas as pd

    for (subject, _session), rows in frame.groupby(
        ["subject", "session"], sort=False
    ).groups.items():
        kept = [i for i in rows if frame.at[i, "choice"] is not pd.NA]
        yield subject, kept


def gql_loglik(frame, k, p, d=2):
    """Generalized Q-learning (Dezfouli et al. 2019): Q[a, m] += phi_m (r - Q[a, m]) for the chosen
    a only; H[b, m] += chi_m (1[b = a] - H[b, m]) for all b; logit(b) = sum_m beta_m Q[b, m] +
    sum_m kappa_m H[b, m] + sum_{j, m} C[j, m] H[b, j] Q[b, m]."""
    out = np.full(len(frame), np.nan)
    for subject, rows in _sessions(frame):
        th = p[subject]
        q = [[0.0] * d for _ in range(k)]
        h = [[0.0] * d for _ in range(k)]
        for i in rows:
            c = int(frame.at[i, "choice"])
            r = float(frame.at[i, "reward"])
            logits = []
            for b in range(k):
                v = 0.0
                for m in range(d):
                    v += th[f"beta_{m + 1}"] * q[b][m] + th[f"kappa_{m + 1}"] * h[b][m]
                    for j in range(d):
                        v += th[f"C_{j + 1}_{m + 1}"] * h[b][j] * q[b][m]
                logits.append(v)
            out[i] = _log_softmax(logits)[c]
            for m in range(d):
                q[c][m] += th[f"phi_{m + 1}"] * (r - q[c][m])
                for b in range(k):
                    h[b][m] += th[f"chi_{m + 1}"] * ((1.0 if b == c else 0.0) - h[b][m])
    return out


def lagged_regression_loglik(frame, k, p, n_lags, side_bias=True):
    """Lau & Glimcher (2005) conditional logit: logit(a) = sum_l w_choice_l 1[a chosen l observed
    trials ago] + w_reward_l r_{-l} 1[a chosen l observed trials ago] + bias_a."""
    out = np.full(len(frame), np.nan)
    for subject, rows in _sessions(frame):
        th = p[subject]
        history = []  # (choice, reward) of observed trials, most recent last
        for i in rows:
            c = int(frame.at[i, "choice"])
            logits = []
            for a in range(k):
                v = th[f"bias_{a}"] if (side_bias and a > 0) else 0.0
                for lag in range(1, n_lags + 1):
                    if len(history) >= lag:
                        pc, pr = history[-lag]
                        if pc == a:
                            v += th[f"choice_{lag}"] + th[f"reward_{lag}"] * pr
                logits.append(v)
            out[i] = _log_softmax(logits)[c]
            history.append((c, float(frame.at[i, "reward"])))
    return out


def latent_state_loglik(frame, k, p):
    """Bayesian reversal learner: belief b (uniform at session start); after choice c and outcome
    win = r > 0: L[j] = p_good if (j == c) == win else 1 - p_good; post = b L / sum(b L);
    b = (1 - h) post + h (1 - post) / (K - 1); logit(j) = beta b[j] + persev 1[j == previous]."""
    out = np.full(len(frame), np.nan)
    for subject, rows in _sessions(frame):
        th = p[subject]
        b = [1.0 / k] * k
        prev = None
        for i in rows:
            c = int(frame.at[i, "choice"])
            logits = [th["beta"] * b[j] + (th["persev"] if prev == j else 0.0) for j in range(k)]
            out[i] = _log_softmax(logits)[c]
            win = float(frame.at[i, "reward"]) > 0
            g = th["p_good"]
            lik = [g if ((j == c) == win) else 1 - g for j in range(k)]
            z = sum(b[j] * lik[j] for j in range(k))
            post = [b[j] * lik[j] / z for j in range(k)]
            hz = th["hazard"]
            b = [(1 - hz) * post[j] + hz * (1 - post[j]) / (k - 1) for j in range(k)]
            prev = c
    return out
