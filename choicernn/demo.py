"""The embedded demo study: bundled simulated data that ``choicernn demo`` fits end to end.

The bundled CSV (``choicernn/demo_data/demo_study.csv``) was written by :func:`make_demo_study`
and is read back through :func:`choicernn.read_csv`, the path a user's own data takes. The test
suite checks that regenerating it gives the same file.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .data import ChoiceData, read_csv
from .models.qlearning import QLearning
from .simulation import simulate
from .tasks import load_task

DEMO_SEED = 2026
DEMO_SUBJECTS = 40
DEMO_TRIALS = 200


def make_demo_study(seed: int = DEMO_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the demo study: 40 Q-learning subjects with perseveration, 200 reversal trials.

    Returns
    -------
    (trials, params) : the trial table as stored in the CSV (1-based choices, like most lab
    files) and the generating parameters.
    """
    model = QLearning("rw_persev")
    rng = np.random.default_rng(seed)
    params = pd.DataFrame(
        {
            "alpha": rng.uniform(0.1, 0.7, DEMO_SUBJECTS).round(3),
            "beta": rng.uniform(2.0, 8.0, DEMO_SUBJECTS).round(3),
            "persev": rng.uniform(-0.5, 1.5, DEMO_SUBJECTS).round(3),
        }
    )
    data = simulate(
        model, load_task("reversal"), DEMO_SUBJECTS, DEMO_TRIALS, seed=seed, params=params
    )
    table = data.to_frame()
    trials = pd.DataFrame(
        {
            "participant": "p" + (table["subject"] + 1).astype(str).str.zfill(2),
            "trial": table["trial"] + 1,
            "choice": table["choice"].astype(int) + 1,
            "reward": table["reward"].astype(int),
        }
    )
    params.insert(0, "participant", [f"p{i + 1:02d}" for i in range(DEMO_SUBJECTS)])
    return trials, params


def demo_path() -> Path:
    """Path of the bundled demo CSV."""
    return Path(str(resources.files("choicernn.demo_data").joinpath("demo_study.csv")))


def load_demo() -> ChoiceData:
    """The bundled demo study as ChoiceData (subject ``participant``, 1-based choices, 2 options)."""
    data = read_csv(
        demo_path(),
        subject="participant",
        choice="choice",
        reward="reward",
        trial="trial",
        n_options=2,
        choice_base=1,
    )
    params = pd.read_csv(demo_path().with_name("demo_params.csv")).rename(
        columns={"participant": "subject"}
    )
    return data.with_params(params)
