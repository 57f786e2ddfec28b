"""How many threads torch uses for a fit: the cores actually free, one for small work.

torch's default thread pool takes every core and spins while waiting; when other processes use
some of the cores (a shared laptop, CI, several workers of a study) that made fits 4-10x slower
than on one thread. :func:`torch_threads` sets the count for one fit and restores it after;
:func:`auto_threads` picks it: one thread for small work (below ``SMALL_WORK`` elements per
step, where threads cost more than they give), else the cores not busy by the one-minute load
average. ``CHOICERNN_THREADS`` (an integer) overrides the choice.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

SMALL_WORK = 2_000_000


def free_cores() -> int:
    """Cores not busy with other work (one-minute load average), at least 1."""
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not on every platform
        return n
    return max(1, min(n, int(n - load + 0.5)))


def auto_threads(work: int | None = None) -> int:
    """Threads for a fit whose steps touch about ``work`` numbers (None: unknown)."""
    env = os.environ.get("CHOICERNN_THREADS")
    if env and env.isdigit() and int(env) > 0:
        return int(env)
    if work is not None and work < SMALL_WORK:
        return 1
    return free_cores()


@contextmanager
def torch_threads(n: int):
    """Within the block torch uses ``n`` intra-op threads; the previous count is restored."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
