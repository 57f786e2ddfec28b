"""Bandit tasks declared as data: a TOML file per task, validated into a :class:`Task`."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TaskKind = Literal["fixed", "reversal", "drifting", "restless", "two_step"]

# Per-kind settings: name -> (accepted python types, default, check, description).
_SETTINGS: dict[str, dict[str, tuple[tuple[type, ...], Any, str]]] = {
    "fixed": {
        "p_reward": ((list,), None, "reward probability of each option (K numbers in [0, 1])"),
        "shuffle_options": (
            (bool,),
            False,
            "assign the probabilities to options at random per session",
        ),
    },
    "reversal": {
        "p_reward": ((list,), None, "reward probability of each option before the first reversal"),
        "schedule": ((str,), "fixed", "'fixed' (every reversal_every trials) or 'criterion'"),
        "reversal_every": ((int,), 40, "trials between reversals on the fixed schedule"),
        "jitter": ((int,), 0, "fixed schedule: each interval varies uniformly by +-jitter trials"),
        "criterion": ((int,), 8, "criterion schedule: consecutive choices of the best option"),
        "min_block": ((int,), 10, "criterion schedule: fewest trials between reversals"),
    },
    "drifting": {
        "initial": ((list, str), "uniform", "starting probabilities (K numbers) or 'uniform'"),
        "step_sd": ((float, int), 0.1, "SD of the Gaussian step of each probability per trial"),
        "bounds": ((list,), [0.0, 1.0], "lower and upper bound of the probabilities"),
        "boundary": ((str,), "reflect", "'reflect' or 'clip' at the bounds"),
    },
    "restless": {
        "decay": ((float, int), 0.9836, "decay of the mean payoffs toward decay_center"),
        "decay_center": ((float, int), 50.0, "value the mean payoffs decay toward"),
        "drift_sd": ((float, int), 2.8, "SD of the mean payoff's Gaussian step per trial"),
        "noise_sd": ((float, int), 4.0, "SD of a payoff around its mean"),
        "initial_sd": ((float, int), 20.0, "SD of the starting means around decay_center"),
        "payoff_bounds": ((list,), [1.0, 100.0], "payoffs are clipped to these bounds"),
        "round_payoffs": ((bool,), True, "round payoffs to whole points"),
    },
    "two_step": {
        "transition_prob": (
            (float, int),
            0.7,
            "probability of the common transition (first-stage option k -> state k), in (0.5, 1]",
        ),
        "initial": (
            (list, str),
            "uniform",
            "starting reward probabilities of the four second-stage options [state 0 option 0, "
            "state 0 option 1, state 1 option 0, state 1 option 1], or 'uniform' within bounds",
        ),
        "step_sd": ((float, int), 0.025, "SD of the Gaussian step of each probability per trial"),
        "bounds": ((list,), [0.25, 0.75], "lower and upper bound of the probabilities"),
        "boundary": ((str,), "reflect", "'reflect' or 'clip' at the bounds"),
    },
}
_COMMON = {
    "name": "task name",
    "kind": "one of " + ", ".join(_SETTINGS),
    "n_options": "number of options K (>= 2)",
    "n_trials": "default trials per session",
    "n_sessions": "default sessions per subject",
    "feedback": "'partial' (only the chosen option's payoff is seen) or 'full'",
    "reward_values": "[no-reward value, reward value] of a binary task (default [0, 1]; e.g. "
    "[-1, 1] for win/loss feedback)",
    "description": "free text",
}


class TaskSpecError(ValueError):
    """A task specification with a missing, unknown or invalid field (the message names it)."""


@dataclass(frozen=True)
class Task:
    """A bandit task: how many options, and how their payoffs are generated.

    Load one with :func:`load_task`. ``settings`` holds the kind-specific fields with defaults
    filled in. :meth:`environment` makes a seeded environment that steps agents.

    Parameters
    ----------
    name : str
    kind : {"fixed", "reversal", "drifting", "restless"}
    n_options : int
    n_trials : int
        Default number of trials per session.
    n_sessions : int
        Default number of sessions per subject.
    feedback : {"partial", "full"}
        Two-step tasks are partial-feedback only.
    reward_values : (float, float), optional
        What a binary task pays for no reward and for a reward (default 0 and 1); e.g.
        ``[-1, 1]`` for the win/loss coding of many reversal studies (hBayesDM's examples).
    settings : mapping
        Kind-specific settings (see ``choicernn.tasks.spec._SETTINGS`` or a shipped TOML file).
    description : str
    """

    name: str
    kind: TaskKind
    n_options: int
    n_trials: int = 200
    n_sessions: int = 1
    feedback: Literal["partial", "full"] = "partial"
    settings: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    reward_values: tuple[float, float] | None = None

    @property
    def paid_rewards(self) -> tuple[float, float] | None:
        """The two reward values a binary task pays (``(0, 1)`` unless ``reward_values``), or
        None for graded payoffs."""
        if self.reward_kind != "binary":
            return None
        return tuple(self.reward_values) if self.reward_values is not None else (0.0, 1.0)

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def is_two_step(self) -> bool:
        """Whether trials have two stages (Daw et al. 2011): a first-stage choice leads to one
        of two second-stage states, where a second choice earns the reward."""
        return self.kind == "two_step"

    @property
    def reward_kind(self) -> Literal["binary", "points"]:
        """``"binary"`` for 0/1 rewards, ``"points"`` for graded payoffs (restless task)."""
        return "points" if self.kind == "restless" else "binary"

    def environment(self, n_sequences: int, n_trials: int | None = None, seed: Any = None):
        """A seeded :class:`~choicernn.tasks.Environment` for ``n_sequences`` sessions."""
        from .environment import Environment

        return Environment(self, n_sequences, self.n_trials if n_trials is None else n_trials, seed)


def _fail(source: str, name: str, message: str) -> None:
    raise TaskSpecError(f"{source}: field {name!r}: {message}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _validate(task: Task) -> None:
    source = f"task {task.name!r}"
    if not isinstance(task.name, str) or not task.name:
        _fail(source, "name", f"must be a non-empty string, got {task.name!r}")
    if not isinstance(task.description, str):
        _fail(source, "description", f"must be a string, got {task.description!r}")
    if not isinstance(task.settings, Mapping):
        _fail(source, task.kind, f"must be a table of settings, got {task.settings!r}")
    if task.kind not in _SETTINGS:
        _fail(source, "kind", f"{task.kind!r} is not one of {list(_SETTINGS)}")
    for name in ("n_options", "n_trials", "n_sessions"):
        value = getattr(task, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            _fail(source, name, f"must be a positive integer, got {value!r}")
    if task.n_options < 2:
        _fail(source, "n_options", f"must be >= 2, got {task.n_options}")
    if task.feedback not in ("partial", "full"):
        _fail(source, "feedback", f"must be 'partial' or 'full', got {task.feedback!r}")
    schema = _SETTINGS[task.kind]
    settings = dict(task.settings)
    for name in settings:
        if name not in schema:
            _fail(
                source,
                name,
                f"unknown for a {task.kind!r} task; known fields are "
                f"{sorted(list(_COMMON) + list(schema))}",
            )
    for name, (types, default, doc) in schema.items():
        value = settings.get(name, default)
        if value is None:
            _fail(source, name, f"is required for a {task.kind!r} task ({doc})")
        if isinstance(value, bool) and bool not in types:
            _fail(source, name, f"expected {doc}, got {value!r}")
        if not isinstance(value, types):
            _fail(source, name, f"expected {doc}, got {value!r}")
        settings[name] = value
    k = task.n_options
    if task.reward_values is not None:
        rv = task.reward_values
        if task.reward_kind != "binary":
            _fail(source, "reward_values", f"is for binary tasks; a {task.kind!r} task pays points")
        if (
            not isinstance(rv, list | tuple)
            or len(rv) != 2
            or not all(_is_number(v) and math.isfinite(v) for v in rv)
            or rv[0] >= rv[1]
        ):
            _fail(
                source,
                "reward_values",
                f"must be [no-reward value, reward value], two finite numbers in increasing "
                f"order, got {rv!r}",
            )
    if task.kind in ("fixed", "reversal"):
        p = settings["p_reward"]
        if len(p) != k or not all(_is_number(x) and 0 <= x <= 1 for x in p):
            _fail(source, "p_reward", f"must be {k} probabilities in [0, 1], got {p!r}")
    if task.kind == "reversal":
        if settings["schedule"] not in ("fixed", "criterion"):
            _fail(
                source, "schedule", f"must be 'fixed' or 'criterion', got {settings['schedule']!r}"
            )
        for name in ("reversal_every", "criterion", "min_block"):
            if settings[name] < 1:
                _fail(source, name, f"must be >= 1, got {settings[name]!r}")
        if not 0 <= settings["jitter"] < settings["reversal_every"]:
            _fail(
                source,
                "jitter",
                f"must be >= 0 and smaller than reversal_every={settings['reversal_every']}, "
                f"got {settings['jitter']!r}",
            )
    if task.kind == "two_step":
        if k != 2:
            _fail(source, "n_options", f"must be 2 for a two-step task, got {k}")
        if task.feedback != "partial":
            _fail(source, "feedback", "a two-step task has partial feedback only")
        p = settings["transition_prob"]
        if not 0.5 < p <= 1:
            _fail(source, "transition_prob", f"must be in (0.5, 1] (common transition), got {p!r}")
        k = 4  # the four second-stage options drift
    if task.kind in ("drifting", "two_step"):
        bounds = settings["bounds"]
        if (
            len(bounds) != 2
            or not all(map(_is_number, bounds))
            or not 0 <= bounds[0] < bounds[1] <= 1
        ):
            _fail(
                source,
                "bounds",
                f"must be [lower, upper] with 0 <= lower < upper <= 1, got {settings['bounds']!r}",
            )
        init = settings["initial"]
        if isinstance(init, str) and init != "uniform":
            _fail(source, "initial", f"must be 'uniform' or {k} probabilities, got {init!r}")
        lo, hi = bounds
        if isinstance(init, list) and (
            len(init) != k or not all(_is_number(x) and lo <= x <= hi for x in init)
        ):
            _fail(source, "initial", f"must be {k} probabilities within bounds, got {init!r}")
        if settings["boundary"] not in ("reflect", "clip"):
            _fail(source, "boundary", f"must be 'reflect' or 'clip', got {settings['boundary']!r}")
        if settings["step_sd"] < 0:
            _fail(source, "step_sd", "must be >= 0")
    if task.kind == "restless":
        if not 0 <= settings["decay"] <= 1:
            _fail(source, "decay", f"must be in [0, 1], got {settings['decay']!r}")
        b = settings["payoff_bounds"]
        if len(b) != 2 or not all(map(_is_number, b)) or b[0] >= b[1]:
            _fail(source, "payoff_bounds", f"must be [lower, upper], got {b!r}")
        for name in ("drift_sd", "noise_sd", "initial_sd"):
            if settings[name] < 0:
                _fail(source, name, "must be >= 0")
    object.__setattr__(task, "settings", settings)


def task_from_dict(spec: Mapping[str, Any], source: str = "task") -> Task:
    """Build a :class:`Task` from a mapping laid out like a task TOML file."""
    spec = dict(spec)
    for required in ("name", "kind", "n_options"):
        if required not in spec:
            _fail(source, required, f"is required ({_COMMON[required]})")
    kind = spec["kind"]
    if kind not in _SETTINGS:
        _fail(source, "kind", f"{kind!r} is not one of {list(_SETTINGS)}")
    common = {k: spec.pop(k) for k in list(spec) if k in _COMMON}
    settings = spec.pop(kind, {})
    if not isinstance(settings, dict):
        _fail(source, kind, f"must be a [{kind}] table of settings, got {settings!r}")
    if spec:
        name = next(iter(spec))
        _fail(
            source,
            name,
            f"unknown field; known fields are {sorted(_COMMON)} and a [{kind}] table "
            f"with {sorted(_SETTINGS[kind])}",
        )
    try:
        return Task(**common, settings=settings)
    except TaskSpecError as err:
        raise TaskSpecError(str(err).replace(f"task {common.get('name')!r}", source, 1)) from None


def available_tasks() -> list[str]:
    """Names of the tasks shipped with choicernn."""
    root = resources.files("choicernn.task_specs")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_task(name_or_path: str | os.PathLike, **overrides: Any) -> Task:
    """Load a shipped task by name (e.g. ``"reversal"``) or a task TOML file by path.

    Keyword ``overrides`` replace top-level fields (``n_trials=300``) or, when they name a
    kind-specific field (``reversal_every=30``), that setting.

    Raises
    ------
    TaskSpecError
        For a file with a missing, unknown or invalid field, naming the field.
    """
    text_path = os.fspath(name_or_path)
    is_path = text_path.endswith(".toml") or os.sep in text_path or "/" in text_path
    if is_path or (text_path not in available_tasks() and Path(text_path).is_file()):
        path = Path(text_path)
        if not path.exists():
            raise FileNotFoundError(f"no task file at {text_path!r}")
        raw, source = path.read_text(), str(path)
    else:
        names = available_tasks()
        if text_path not in names:
            raise KeyError(
                f"no task named {text_path!r}; shipped tasks are {names}, or pass the "
                f"path of a TOML file"
            )
        raw = resources.files("choicernn.task_specs").joinpath(f"{text_path}.toml").read_text()
        source = f"task {text_path!r}"
    try:
        spec = tomllib.loads(raw)
    except tomllib.TOMLDecodeError as err:
        raise TaskSpecError(f"{source}: not valid TOML: {err}") from None
    kind = spec.get("kind")
    for key, value in overrides.items():
        if key in _COMMON:
            spec[key] = value
        elif kind in _SETTINGS and key in _SETTINGS[kind]:
            spec.setdefault(kind, {})[key] = value
        else:
            _fail(source, key, "cannot be overridden: not a field of this task")
    return task_from_dict(spec, source)
