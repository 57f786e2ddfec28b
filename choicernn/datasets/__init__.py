"""Loaders for published bandit datasets: each reads a user's copy of one file layout.

choicernn ships no data. Each loader takes the path of the file you downloaded, checks that it
has the expected columns (a :class:`~choicernn.ChoiceDataError` names the first missing one and
the layout it expected), and returns a validated :class:`~choicernn.ChoiceData`. The docstrings
cite the source paper and the data's license.

======================== ===================================================================
loader                   file
======================== ===================================================================
hbayesdm_bandit2arm      hBayesDM ``bandit2arm_exampleData.txt`` (2 options, ±1 outcomes)
hbayesdm_prl             hBayesDM ``prl_exampleData.txt`` (reversal learning, ±1 outcomes)
hbayesdm_bandit4arm      hBayesDM ``bandit4arm_exampleData.txt`` (4 arms, gains and losses)
hbayesdm_two_step        hBayesDM two-step layout ``ts_exampleData.txt`` (Daw et al. 2011 task)
dezfouli2019             Dezfouli et al. 2019 ``choices_diagno.csv.zip`` (2 keys, 12 blocks)
fintz2022                Fintz et al. 2022 ``DataAllSubjectsRewards.csv`` (4 arms, 150 trials)
======================== ===================================================================

Also: :data:`dezfouli2019_heldout_blocks` and :func:`split_blocks` (the published held-out
blocks 3, 6 and 9 of the Dezfouli et al. data).

A study recipe names a loader in its data table; further keys are the loader's keyword
arguments::

    [data]
    loader = "dezfouli2019"
    path = "../shared/data/dezfouli2019/choices_diagno.csv.zip"
    covariates = ["diag"]

Adding a loader for another layout
----------------------------------
The core (:mod:`choicernn.data`) needs no change: a loader is a function that reads the file
with pandas and returns :meth:`ChoiceData.from_frame` with the column map of that layout::

    import pandas as pd
    import choicernn as cr

    def smith2024(path):
        \"\"\"Read Smith et al. (2024) ... (cite the paper and the license).\"\"\"
        frame = pd.read_csv(path)
        for col in ("participant", "response", "points", "run"):
            if col not in frame.columns:
                raise cr.ChoiceDataError(
                    f"this does not look like the Smith et al. 2024 file: column {col!r} "
                    f"is missing"
                )
        return cr.ChoiceData.from_frame(
            frame, subject="participant", choice="response", reward="points",
            session="run", n_options=3, choice_base=1,
        )

Use it in your own code (pass the ChoiceData to :func:`~choicernn.cross_validate`), or, to
name it from a recipe, add it as a module here and list it in ``__all__`` below. If the
study's task should be simulated too, describe it in a task TOML file (see
:func:`~choicernn.load_task`) and name that in the recipe's ``[task]`` table. Tests for a new
loader read the real file when it is present and skip with a reason when it is not (see
``tests/test_datasets.py``).
"""

from .dezfouli import dezfouli2019
from .dezfouli import dezfouli2019_heldout_blocks as dezfouli2019_heldout_blocks
from .dezfouli import split_blocks as split_blocks
from .fintz import fintz2022
from .hbayesdm import hbayesdm_bandit2arm, hbayesdm_bandit4arm, hbayesdm_prl, hbayesdm_two_step

#: The loader functions (what a recipe's ``[data] loader = "..."`` may name). The helpers
#: ``dezfouli2019_heldout_blocks`` and ``split_blocks`` are exported too, but are not loaders.
__all__ = [
    "dezfouli2019",
    "fintz2022",
    "hbayesdm_bandit2arm",
    "hbayesdm_bandit4arm",
    "hbayesdm_prl",
    "hbayesdm_two_step",
]
