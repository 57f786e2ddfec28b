"""Bandit tasks as data (TOML files) and the seeded environments that step agents through them."""

from .environment import Environment
from .spec import Task, TaskSpecError, available_tasks, load_task, task_from_dict

__all__ = ["Environment", "Task", "TaskSpecError", "available_tasks", "load_task", "task_from_dict"]
