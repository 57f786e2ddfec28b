"""Worker processes that end with the process that started them."""

from __future__ import annotations

import os
import threading
import time

PARENT_POLL_SECONDS = 0.5


def exit_with_parent(parent: int, interval: float = PARENT_POLL_SECONDS) -> None:
    """Make this worker exit as soon as the process ``parent`` that started it is gone.

    A worker killed with its parent (``kill -9``, an out-of-memory kill, a closed terminal)
    would otherwise keep running its unit, and then wait for work that never comes, for
    minutes, holding its memory. A daemon thread polls the parent's pid: when the worker was
    reparented (``os.getppid()`` changed) or, for a worker that is not a direct child, when the
    pid no longer exists, it ends the process at once (``os._exit``). A poll rather than Linux's
    ``PR_SET_PDEATHSIG``: that signal follows the *thread* that started the worker, and loky
    starts replacement workers from a helper thread.
    """
    direct = os.getppid() == parent

    def gone() -> bool:
        if direct:
            return os.getppid() != parent
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return True
        except OSError:  # exists, owned by someone else
            return False
        return False

    def watch() -> None:
        while not gone():
            time.sleep(interval)
        os._exit(70)  # EX_SOFTWARE: nobody is left to read the exit code

    threading.Thread(target=watch, name="choicernn-parent-watch", daemon=True).start()
