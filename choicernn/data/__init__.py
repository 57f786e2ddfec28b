"""Trial-by-trial choice data: validation, the ChoiceData container and padded tensors."""

from .batch import SequenceBatch
from .choice_data import ChoiceData, read_csv
from .errors import ChoiceDataError

__all__ = ["ChoiceData", "ChoiceDataError", "SequenceBatch", "read_csv"]
