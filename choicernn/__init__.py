"""choicernn: models of trial-by-trial choices in bandit tasks.

Data
    :class:`ChoiceData` (validated container), :func:`read_csv`, :class:`ChoiceDataError`.
Tasks
    :func:`load_task` (TOML specs shipped in ``tasks/`` or your own file), :class:`Task`,
    :func:`available_tasks`.
Models (one interface: ``fit``, ``logits``, ``trial_log_likelihood``, ``agent``; see
:mod:`choicernn.models.base`)
    :class:`QLearning` presets ``rw``, ``dual_alpha``, ``forgetting``, ``rw_persev``,
    ``choice_kernel``, ``reward_sensitivity``, ``full`` or any :class:`QComponents`;
    heuristics :class:`WSLS`, :class:`Bias`, :class:`KalmanFilter`.
Simulation
    :func:`simulate` runs any model as an agent in a task.
"""

from .data import ChoiceData, ChoiceDataError, SequenceBatch, read_csv
from .models.base import Agent, ChoiceModel, NotFittedError
from .models.heuristics import WSLS, Bias, KalmanFilter
from .models.qlearning import PRESETS, QComponents, QLearning
from .comparison.cross_validation import CrossValidationResult, cross_validate
from .simulation import simulate
from .tasks import Task, TaskSpecError, available_tasks, load_task

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Bias",
    "ChoiceData",
    "ChoiceDataError",
    "ChoiceModel",
    "KalmanFilter",
    "NotFittedError",
    "PRESETS",
    "QComponents",
    "QLearning",
    "SequenceBatch",
    "Task",
    "TaskSpecError",
    "WSLS",
    "CrossValidationResult",
    "cross_validate",
    "available_tasks",
    "load_task",
    "read_csv",
    "simulate",
]
