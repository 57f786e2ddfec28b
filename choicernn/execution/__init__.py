"""Running the independent units of a study in-process, on local processes, or on Dask."""

from .executor import BACKENDS, Executor, as_executor
from .failures import UnitFailure, UnitsFailedError, failure_table

__all__ = [
    "BACKENDS",
    "Executor",
    "UnitFailure",
    "UnitsFailedError",
    "as_executor",
    "failure_table",
]
