from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
# One torch thread: torch's thread pool spins when the machine's cores are shared, which made
# the quick suite 5-10x slower on a busy machine. A test that needs more threads sets them.
torch.set_num_threads(1)

from synthetic import random_choice_frame  # noqa: E402

import choicernn as cr  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test starts on one torch thread (small networks train fastest so, and stay fast
    when other jobs share the CPU) and leaves the count as it found it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(20261125)


@pytest.fixture
def random_data(rng):
    frame = random_choice_frame(rng, k=3)
    return cr.ChoiceData.from_frame(frame, n_options=3, session="session", trial="trial")
