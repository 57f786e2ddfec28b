"""Reading a tidy CSV/TSV file: encoding and separator detected from its first lines, C parser."""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import lzma
import os
import re
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .choice_data import ChoiceData
from .errors import ChoiceDataError

SEPARATORS = ",\t;|"
_SAMPLE_BYTES = 64 * 1024
# UTF-32 first: its little-endian mark starts with UTF-16's
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_UTF8 = ("utf-8", "utf8", "utf-8-sig")
_INTEGER = re.compile(r"-?(0|[1-9]\d*)")
_DECIMAL = re.compile(r"-?(0|[1-9]\d*)(\.\d*)?([eE][+-]?\d+)?")


def _head(path: str, compression: Any) -> bytes | None:
    """The first bytes of the file's text (decompressed); None for a compression not handled."""
    if isinstance(compression, dict):
        compression = compression.get("method")
    if compression == "infer":
        compression = next(
            (method for suffix, method in _SUFFIXES.items() if path.lower().endswith(suffix)), None
        )
    if compression is None:
        with open(path, "rb") as handle:
            return handle.read(_SAMPLE_BYTES)
    if compression in _OPENERS:
        with _OPENERS[compression](path, "rb") as handle:
            return handle.read(_SAMPLE_BYTES)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                return None  # let pandas say what is wrong
            with archive.open(names[0]) as handle:
                return handle.read(_SAMPLE_BYTES)
    return None


def _encoding(head: bytes) -> str:
    """The encoding named by the byte-order mark; UTF-8 without one."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding
    return "utf-8-sig"  # also strips a UTF-8 mark; plain UTF-8 otherwise


def detect_separator(sample: str) -> str:
    """The separator of a CSV sample (its first lines): one of ``SEPARATORS``.

    :class:`csv.Sniffer` restricted to comma, tab, semicolon and bar decides; when it cannot, the
    candidate found most often in the header line; a single column falls back to a comma.
    """
    lines = [line for line in sample.splitlines() if line.strip()][:200]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=SEPARATORS).delimiter
    except csv.Error:
        counts = {sep: lines[0].count(sep) for sep in SEPARATORS}
        best = max(counts, key=counts.__getitem__)
        return best if counts[best] else ","


def _as_written(labels: pd.Series) -> pd.Series:
    """Subject or session labels read as text, turned into numbers when no spelling is lost.

    Integers without leading zeros become ``int64`` (``float64`` when a cell is empty, as pandas
    reads them), plain decimals ``float64`` when no two spellings give one number; anything else
    ("001", or "101" beside "101.0") stays text, so distinct spellings stay distinct labels.
    """
    codes, uniques = pd.factorize(labels)
    texts = [str(u).strip() for u in uniques]
    numbers: np.ndarray | None = None
    if all(_INTEGER.fullmatch(t) for t in texts):
        values = [int(t) for t in texts]
        if len(set(values)) == len(values) and all(abs(v) < 2**63 for v in values):
            numbers = np.array(values, dtype=np.int64)
    elif all(_DECIMAL.fullmatch(t) for t in texts):
        values = [float(t) for t in texts]
        if len(set(values)) == len(values):
            numbers = np.array(values, dtype=np.float64)
    if numbers is None:
        return labels
    if (codes < 0).any():
        numbers = np.append(numbers.astype(np.float64), np.nan)  # code -1 picks the NaN
    return pd.Series(numbers[codes], index=labels.index, name=labels.name)


def _read_table(path: str, sep: str | None, read_kwargs: dict[str, Any]) -> pd.DataFrame:
    """``pandas.read_csv`` with the C parser, separator and encoding found from the first lines."""
    if sep is None:
        sep = read_kwargs.pop("delimiter", None)
    head = _head(path, read_kwargs.get("compression", "infer"))
    if head is not None:
        if read_kwargs.get("encoding") is None:
            read_kwargs["encoding"] = _encoding(head)
        sample = head.decode(read_kwargs["encoding"], errors="replace")
        if len(head) == _SAMPLE_BYTES:  # the last line may be cut
            sample = sample[: max(sample.rfind("\n"), 0)] or sample
        if not sample.strip("\ufeff \t\r\n"):
            raise ChoiceDataError(
                f"file {path!r} is empty: it has no header line and no rows. Check that the "
                f"file was saved completely (one row per trial under a header line)."
            )
        if sep is None:
            sep = detect_separator(sample.lstrip("\ufeff"))
    elif sep is None:  # a compression we cannot peek into: pandas sniffs the first line
        read_kwargs.setdefault("encoding", "utf-8-sig")
        read_kwargs["engine"] = "python"
    try:
        return pd.read_csv(path, sep=sep, **read_kwargs)
    except pd.errors.EmptyDataError:
        raise ChoiceDataError(
            f"file {path!r} is empty: it has no header line and no rows."
        ) from None
    except UnicodeDecodeError as error:
        encoding = read_kwargs.get("encoding") or "utf-8"
        encoding = "UTF-8" if encoding.lower().replace("_", "-") in _UTF8 else encoding
        raise ChoiceDataError(
            f"file {path!r} is not {encoding} text ({error.reason} "
            f"at byte {error.start}). Save it as UTF-8 (in Excel: 'CSV UTF-8'), or pass its "
            f"encoding, e.g. encoding='cp1252' for older Windows files."
        ) from None


def read_csv(
    path: str | os.PathLike,
    *,
    subject: str = "subject",
    choice: str = "choice",
    reward: str = "reward",
    n_options: int | None = None,
    choice_base: int = 0,
    session: str | None = None,
    trial: str | None = None,
    outcomes: Sequence[str] | None = None,
    option_labels: Sequence[Any] | None = None,
    missing: Any = None,
    covariates: Sequence[str] | None = None,
    state: str | None = None,
    choice2: str | None = None,
    state_labels: Sequence[Any] | None = None,
    sep: str | None = None,
    **read_kwargs: Any,
) -> ChoiceData:
    """Read a tidy CSV/TSV file (one row per trial) into a validated :class:`ChoiceData`.

    The separator is detected from the file's first lines (comma, tab, semicolon or bar) unless
    ``sep`` is given, and the file is read with pandas' fast C parser. The encoding is UTF-8, or
    UTF-16/UTF-32 when the file starts with that byte-order mark (Excel's "Unicode text");
    pass ``encoding=`` for others. Zipped, gzip, bz2 and xz files with one table inside are read
    directly. Subject and session labels are read as written: ``"001"`` and ``"1"`` are two
    subjects, and columns of plain numbers become numbers. Other keyword arguments are passed to
    :func:`pandas.read_csv`. See :meth:`ChoiceData.from_frame` for the column arguments.

    Two-step tasks (Daw et al. 2011): name the second-stage state and choice columns with
    ``state=`` and ``choice2=`` (both coded like ``choice``; ``n_options=2``; state 0 is the
    state reached commonly after first-stage option 0, or give the codes in
    ``state_labels=[...]``). Either stage may be missed (empty cells).

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    ChoiceDataError
        If the file is empty or has no rows under its header, is not text in its encoding, or
        fails validation (see :meth:`ChoiceData.from_frame`).

    Examples
    --------
    >>> data = cr.read_csv("bandit2arm_exampleData.txt", subject="subjID", choice="choice",
    ...                    reward="outcome", n_options=2, choice_base=1)  # doctest: +SKIP
    >>> two_step = cr.read_csv("two_step.csv", subject="id", choice="stage1", state="planet",
    ...                        choice2="stage2", reward="won", n_options=2,
    ...                        choice_base=1)  # doctest: +SKIP
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no data file at {path!r}")
    as_text = [col for col in (subject, session) if col is not None]
    dtype = read_kwargs.get("dtype")
    converters = read_kwargs.get("converters") or {}
    if dtype is None or isinstance(dtype, dict):
        dtype = dict(dtype or {})
        as_text = [col for col in as_text if col not in dtype and col not in converters]
        read_kwargs["dtype"] = {**{col: str for col in as_text}, **dtype}
    else:
        as_text = []  # one dtype for every column: the caller's choice
    frame = _read_table(path, sep, read_kwargs)
    if frame.empty and len(frame.columns):
        raise ChoiceDataError(
            f"file {path!r} has no rows: only the header line {list(frame.columns)}. Add one "
            f"row per trial under it."
        )
    for col in as_text:
        if col in frame.columns:
            frame[col] = _as_written(frame[col])
    return ChoiceData.from_frame(
        frame,
        subject=subject,
        choice=choice,
        reward=reward,
        n_options=n_options,
        choice_base=choice_base,
        session=session,
        trial=trial,
        outcomes=outcomes,
        option_labels=option_labels,
        missing=missing,
        covariates=covariates,
        state=state,
        choice2=choice2,
        state_labels=state_labels,
    )
