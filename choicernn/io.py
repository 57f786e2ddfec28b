"""Atomic file writing: a table or text appears whole or not at all.

A file is written to a hidden temporary file beside its target and renamed into place
(``os.replace``), so a reader sees the old file or the new one, never a part. The temporary file
is created private (mode 0600, :func:`tempfile.mkstemp`) and that mode would survive the rename;
it is therefore given the mode an ordinary ``open(path, "w")`` gives a new file,
``0o666 & ~umask`` (0644 under the usual umask 022, 0664 under 002), before it is renamed, so
tables, reports and caches are as readable by colleagues as figures and saved models are.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd


def current_umask() -> int:
    """The process's file-creation mask, read without changing it where the system allows.

    On Linux it is read from ``/proc/self/status``; elsewhere it is set and restored at once
    (``os.umask`` has no read-only form).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Permission bits of a new file under the current umask: ``0o666 & ~umask``."""
    return 0o666 & ~current_umask()


def write_atomic(path: str | os.PathLike, write, binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it into place.

    The file gets the permissions of a newly created file (``0o666 & ~umask``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", newline="") as handle:
            write(handle)
        if not hasattr(os, "fchmod"):  # Windows: only the read-only bit exists
            os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv_atomic(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV (no index) atomically."""
    return write_atomic(path, lambda handle: table.to_csv(handle, index=False))


def write_text_atomic(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` atomically."""
    return write_atomic(path, lambda handle: handle.write(text))


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` atomically."""
    return write_atomic(path, lambda handle: handle.write(data), binary=True)
