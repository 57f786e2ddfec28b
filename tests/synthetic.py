"""Random test data generators shared by the tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_choice_frame(
    rng, n_subjects=4, n_sessions=2, n_trials=40, k=2, p_missed=0.1, points=False
):
    """Random data with missed trials, several sessions and unequal lengths."""
    rows = []
    for s in range(n_subjects):
        for sess in range(n_sessions):
            length = n_trials - int(rng.integers(0, n_trials // 4))
            for t in range(length):
                missed = rng.random() < p_missed
                reward = float(rng.integers(1, 100)) if points else float(rng.integers(0, 2))
                rows.append(
                    {
                        "subject": f"s{s}",
                        "session": sess,
                        "trial": t,
                        "choice": np.nan if missed else int(rng.integers(0, k)),
                        "reward": np.nan if missed else reward,
                    }
                )
    return pd.DataFrame(rows)
