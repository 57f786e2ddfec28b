"""Figures of model comparisons, behavioural signatures, choice traces and fitted parameters.

Every function takes a tidy table (or a result object exposing it as ``.table``) with roles
given by column names, draws on ``ax`` (the current Axes when ``None``) and returns that Axes;
:func:`plot_parameter_distributions` draws one panel per parameter and returns the Figure.
Nothing here calls ``plt.show()``. Statistics come from :mod:`choicernn.signatures` (means and
t-based 95% confidence intervals across subjects, :func:`~choicernn.signatures.mean_ci`).
Sources and models differ by marker, line style and hatch as well as colour, so the figures
read in greyscale. :func:`save_figure` writes a figure in several formats atomically.

Modules: :mod:`~choicernn.plots.comparison` (model comparison), :mod:`~choicernn.plots.behaviour`
(stay probabilities, reversal and learning curves), :mod:`~choicernn.plots.trace` (one
subject's choices and predictions), :mod:`~choicernn.plots.parameters` (fitted parameters),
:mod:`~choicernn.plots.saving` (:func:`save_figure`).
"""

from .behaviour import plot_learning_curves, plot_reversal_curves, plot_stay_probabilities
from .comparison import plot_difference_to_best, plot_model_comparison
from .parameters import plot_parameter_distributions
from .saving import save_figure
from .trace import plot_choice_trace

__all__ = [
    "plot_choice_trace",
    "plot_difference_to_best",
    "plot_learning_curves",
    "plot_model_comparison",
    "plot_parameter_distributions",
    "plot_reversal_curves",
    "plot_stay_probabilities",
    "save_figure",
]
