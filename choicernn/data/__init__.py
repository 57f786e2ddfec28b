"""Trial-by-trial choice data: validation, the ChoiceData container and padded tensors."""

from .batch import SequenceBatch
from .choice_data import ChoiceData
from .errors import ChoiceDataError
from .reading import read_csv

__all__ = ["ChoiceData", "ChoiceDataError", "SequenceBatch", "read_csv"]
