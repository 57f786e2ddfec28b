"""Saving and loading every model without pickle.

A saved model is a folder: ``model.json`` with the format tag, the registered model type, its
settings (constructor arguments, encoded as JSON) and its learned state as written by the
model's :meth:`~choicernn.ChoiceModel.write_fitted`; networks add tensor files read with
``torch.load(weights_only=True)``. Nothing in a model folder can run code when loaded: settings
decode only to plain values, the setting classes registered here (``TrainingConfig``,
``QComponents``, ...), ``torch.distributions`` priors and other registered models.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import json
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

FORMAT = "choicernn.model"
VERSION = 1

_SETTING_TYPES: dict[str, type] = {}


class ModelFileError(ValueError):
    """A model folder is missing, of another format, or does not hold a valid saved model."""


def register_setting_type(cls: type) -> type:
    """Allow a frozen dataclass as a model setting in saved files (usable as a decorator)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    _SETTING_TYPES[cls.__name__] = cls
    return cls


# ---------------------------------------------------------------------- settings <-> JSON
def encode_setting(value: Any) -> Any:
    """A constructor argument as JSON-able data (see the module docstring for what is allowed)."""
    from .base import ChoiceModel
    from .registry import type_name

    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [encode_setting(v) for v in value]}
    if isinstance(value, list):
        return [encode_setting(v) for v in value]
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, str)]
        if bad:
            raise TypeError(f"setting dictionaries need string keys to be saved; got {bad[:3]}")
        return {"__dict__": {k: encode_setting(v) for k, v in value.items()}}
    if isinstance(value, torch.device):
        return str(value)
    if isinstance(value, torch.dtype):
        return {"__dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, ChoiceModel):
        return {"__model__": type_name(value), "settings": encode_settings(value)}
    if isinstance(value, torch.distributions.Distribution):
        args = {k: float(getattr(value, k)) for k in type(value).arg_constraints}
        return {"__distribution__": type(value).__name__, "args": args}
    if dataclasses.is_dataclass(value) and type(value).__name__ in _SETTING_TYPES:
        fields = {f.name: encode_setting(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"__setting__": type(value).__name__, "fields": fields}
    raise TypeError(
        f"a setting of type {type(value).__name__} cannot be saved; register it with "
        f"choicernn.models.persistence.register_setting_type if it is a dataclass"
    )


def decode_setting(value: Any, where: str = "settings") -> Any:
    """Inverse of :func:`encode_setting`; anything else is a :class:`ModelFileError`."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode_setting(v, where) for v in value]
    if not isinstance(value, dict) or len(value) not in (1, 2):
        raise ModelFileError(f"{where}: unreadable setting {value!r}")
    if "__tuple__" in value:
        return tuple(decode_setting(v, where) for v in value["__tuple__"])
    if "__dict__" in value:
        return {str(k): decode_setting(v, where) for k, v in value["__dict__"].items()}
    if "__float__" in value:
        return float(value["__float__"])
    if "__dtype__" in value:
        dtype = getattr(torch, str(value["__dtype__"]), None)
        if not isinstance(dtype, torch.dtype):
            raise ModelFileError(f"{where}: unknown dtype {value['__dtype__']!r}")
        return dtype
    if "__model__" in value:
        return build_model(value["__model__"], value.get("settings", {}), where)
    if "__distribution__" in value:
        cls = getattr(torch.distributions, str(value["__distribution__"]), None)
        if not (isinstance(cls, type) and issubclass(cls, torch.distributions.Distribution)):
            raise ModelFileError(f"{where}: unknown distribution {value['__distribution__']!r}")
        args = {str(k): torch.tensor(float(v)) for k, v in dict(value.get("args", {})).items()}
        return cls(**args)
    if "__setting__" in value:
        cls = _SETTING_TYPES.get(str(value["__setting__"]))
        if cls is None:
            raise ModelFileError(f"{where}: unknown setting type {value['__setting__']!r}")
        fields = {k: decode_setting(v, where) for k, v in dict(value.get("fields", {})).items()}
        return cls(**fields)
    raise ModelFileError(f"{where}: unreadable setting {value!r}")


def encode_settings(model: Any) -> dict[str, Any]:
    """All constructor arguments of ``model``, encoded."""
    return {k: encode_setting(v) for k, v in model.get_params(deep=False).items()}


def build_model(kind: Any, settings: Any, where: str = "settings"):
    """A model of the registered type ``kind`` from encoded ``settings``."""
    from .registry import model_class

    if not isinstance(settings, dict):
        raise ModelFileError(f"{where}: settings must be a table, got {type(settings).__name__}")
    cls = model_class(str(kind))
    decoded = {str(k): decode_setting(v, where) for k, v in settings.items()}
    try:
        return cls(**decoded)
    except (TypeError, ValueError) as err:
        raise ModelFileError(
            f"{where}: settings of model type {kind!r} are invalid: {err}"
        ) from err


# ---------------------------------------------------------------------- tables <-> JSON
def table_to_json(table: pd.DataFrame) -> dict[str, Any]:
    """A table as exact JSON: column order, values as Python scalars (floats by ``repr``)."""
    columns = {}
    for name in table.columns:
        values = []
        for v in table[name].tolist():
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and not math.isfinite(v):
                v = {"__float__": repr(v)}
            values.append(v)
        columns[str(name)] = values
    return {"columns": list(map(str, table.columns)), "data": columns}


def table_from_json(spec: Any, where: str) -> pd.DataFrame:
    """Inverse of :func:`table_to_json`, checking its shape."""
    if not isinstance(spec, dict) or not isinstance(spec.get("data"), dict):
        raise ModelFileError(f"{where}: not a saved table")
    names = spec.get("columns", [])
    data = spec["data"]
    lengths = {len(data.get(n, [])) for n in names}
    if set(names) != set(data) or len(lengths) > 1:
        raise ModelFileError(f"{where}: columns do not match or have different lengths")
    out = {}
    for n in names:
        out[n] = [float(v["__float__"]) if isinstance(v, dict) else v for v in data[n]]
    return pd.DataFrame(out, columns=names)


# ---------------------------------------------------------------------- folders
def save_model(model: Any, path: str | os.PathLike, *, require_registered: bool = True) -> Path:
    """Write ``model`` to the folder ``path``; see :meth:`choicernn.ChoiceModel.save`.

    With ``require_registered=False`` a model of an unregistered class is saved too (its
    type is recorded as ``"unregistered:<class>"``); such a folder can be read back only into
    a model of the same settings (:func:`load_fitted_into`), as a study's cache does.
    """
    from .registry import is_registered, type_name

    model.check_fitted()
    out = Path(path)
    if is_registered(model) or require_registered:
        kind = type_name(model)
    else:
        kind = f"unregistered:{type(model).__name__}"
    settings = encode_settings(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        fitted = model.write_fitted(tmp)
        doc = {
            "format": FORMAT,
            "version": VERSION,
            "type": kind,
            "name": model.name,
            "settings": settings,
            "fitted": fitted,
            "save_id": uuid.uuid4().hex,  # tells one save from the next (concurrent readers)
        }
        (tmp / "model.json").write_text(json.dumps(doc, indent=1, allow_nan=False))
        _apply_umask(tmp)
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, exchange = -100, 2
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange)
    return result == 0


def _install(tmp: Path, out: Path) -> None:
    """Put the finished folder ``tmp`` at ``out``: an atomic swap where the system has one (a
    concurrent reader sees the old or the new model, never a gap or a mix), else a move of the
    old folder aside followed by the rename, retried when another writer gets in between."""
    if out.exists() and _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old model
        return
    old_folders = []
    for _ in range(20):
        try:
            os.replace(tmp, out)
            break
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".old"))
            old.rmdir()
            try:
                os.replace(out, old)
                old_folders.append(old)
            except FileNotFoundError:
                continue
    else:
        raise OSError(
            f"could not put the saved model in place at {out}: other writers kept it busy"
        )
    for old in old_folders:
        shutil.rmtree(old, ignore_errors=True)


def _save_id(folder: Path) -> tuple:
    """What identifies the save now at ``folder``: its folder's inode and the save's unique id
    (an inode number can be reused by a later save; the id cannot)."""
    st = os.stat(folder)
    try:
        doc = json.loads((folder / "model.json").read_text())
        save_id = doc.get("save_id") if isinstance(doc, dict) else None
    except (OSError, ValueError):
        save_id = None
    return (st.st_ino, st.st_dev, save_id)


def _read_stably(folder: Path, read):
    """``read()`` while the folder stays the same (a concurrent save swaps in a new one): retried
    up to five times when the folder changed during the read or was briefly missing."""
    for attempt in range(6):
        try:
            before = _save_id(folder)
            result = read()
            after = _save_id(folder)
        except (ModelFileError, FileNotFoundError) as err:
            if attempt == 5 or not any(folder.parent.glob(f".{folder.name}.*")):
                if isinstance(err, FileNotFoundError) and not (folder / "model.json").is_file():
                    raise ModelFileError(
                        f"{folder} holds no model.json: it is not a model saved by choicernn"
                    ) from None
                raise
            time.sleep(0.05)
            continue
        if before == after:
            return result
        time.sleep(0.05)
    raise ModelFileError(f"{folder} kept changing while it was read (another process saving)")


def _apply_umask(folder: Path) -> None:
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(folder, 0o777 & ~mask)
    for item in folder.rglob("*"):
        os.chmod(item, (0o777 if item.is_dir() else 0o666) & ~mask)


def read_model_json(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """The folder and its checked ``model.json``."""
    folder = Path(path)
    file = folder / "model.json"
    if not file.is_file():
        raise ModelFileError(f"{folder} holds no model.json: it is not a model saved by choicernn")
    try:
        doc = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{file} is not valid JSON ({err}); the file is damaged") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{file} is not a choicernn model file (format {FORMAT!r} expected)")
    if doc.get("version") != VERSION:
        raise ModelFileError(
            f"{file} has format version {doc.get('version')!r}; this choicernn reads {VERSION}"
        )
    for key in ("type", "settings", "fitted"):
        if key not in doc:
            raise ModelFileError(f"{file} lacks the entry {key!r}")
    return folder, doc


def load_fitted_into(template: Any, path: str | os.PathLike):
    """A copy of the unfitted ``template`` with the fitted state saved in ``path``.

    The saved settings must equal the template's (encoded), so a file written by another model
    or with other settings is refused. No type lookup is needed, so this also reads models of
    unregistered classes (a study's cache).
    """
    return _read_stably(Path(path), lambda: _load_fitted_into(template, path))


def _load_fitted_into(template: Any, path: str | os.PathLike):
    from .registry import is_registered, type_name

    folder, doc = read_model_json(path)
    where = str(folder / "model.json")
    if doc["settings"] != encode_settings(template):
        raise ModelFileError(f"{where}: saved with other settings than {template!r}")
    kind = (
        type_name(template)
        if is_registered(template)
        else f"unregistered:{type(template).__name__}"
    )
    if doc["type"] != kind:
        raise ModelFileError(f"{where}: saved as model type {doc['type']!r}, not {kind!r}")
    model = template.clone()
    try:
        model.read_fitted(folder, doc["fitted"])
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{where}: the fitted state is invalid: {err}") from err
    return model


def load_model(path: str | os.PathLike, *, device: str | None = None):
    """Load a model written by ``model.save(path)``; no pickle is read.

    Parameters
    ----------
    path : path
        The folder given to ``save``.
    device : str, optional
        Override the saved ``device`` setting (models that have one).

    Returns
    -------
    ChoiceModel
        The fitted model; its log-likelihoods equal the saved model's.

    Raises
    ------
    ModelFileError
        The folder does not hold a saved model, was written by another model type, or was
        altered (values of the wrong type, shape or a non-finite number), naming the file.
    """
    return _read_stably(Path(path), lambda: _load_model(path, device))


def _load_model(path: str | os.PathLike, device: str | None):
    folder, doc = read_model_json(path)
    where = str(folder / "model.json")
    model = build_model(doc["type"], doc["settings"], where)
    if device is not None and "device" in model.get_params(deep=False):
        model.set_params(device=device)
    try:
        model.read_fitted(folder, doc["fitted"])
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{where}: the fitted state is invalid: {err}") from err
    return model
