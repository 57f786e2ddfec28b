"""Figures of model comparisons, behavioural signatures, choice traces, parameters and checks.

Every function takes a tidy table (or a result object exposing it as ``.table``) with roles
given by column names, draws on ``ax`` (a new figure when ``None``) and returns that Axes; the
multi-panel figures (:func:`plot_parameter_distributions`, :func:`plot_parameter_recovery`)
return the Figure. Nothing here calls ``plt.show()``, and nothing imports matplotlib until a
figure is drawn (``import choicernn.plots`` is light). Statistics come from
:mod:`choicernn.signatures` (means and t-based 95% confidence intervals across subjects,
:func:`~choicernn.signatures.mean_ci`). Sources and models differ by marker, line style and
hatch as well as colour, so the figures read in greyscale. Every figure follows the checklist
in ``choicernn/plots/CHECKLIST.md``. :func:`save_figure` writes a figure in several formats
atomically; :func:`panel_label` writes a panel letter.

Modules: :mod:`~choicernn.plots.comparison` (model comparison), :mod:`~choicernn.plots.behaviour`
(stay probabilities, reversal and learning curves), :mod:`~choicernn.plots.trace` (one
subject's choices and predictions), :mod:`~choicernn.plots.parameters` (fitted parameters),
:mod:`~choicernn.plots.recovery` (parameter and model recovery), :mod:`~choicernn.plots.ppc`
(posterior predictive checks), :mod:`~choicernn.plots.networks` (logit portraits, agreement by
value, membership-inference ROC), :mod:`~choicernn.plots.saving` (:func:`save_figure`).
"""

from ._common import panel_label
from .behaviour import plot_learning_curves, plot_reversal_curves, plot_stay_probabilities
from .comparison import plot_difference_to_best, plot_model_comparison
from .disrnn import plot_bottlenecks, plot_fixed_points, plot_update_rules, plot_vector_field
from .groups import plot_group_comparison
from .networks import plot_agreement, plot_logit_portrait, plot_membership_roc
from .parameters import plot_parameter_distributions
from .ppc import plot_ppc
from .recovery import plot_confusion, plot_parameter_recovery
from .saving import save_figure
from .trace import plot_choice_trace
from .two_step import plot_two_step_stay

__all__ = [
    "plot_bottlenecks",
    "plot_fixed_points",
    "plot_update_rules",
    "plot_vector_field",
    "plot_two_step_stay",
    "plot_group_comparison",
    "panel_label",
    "plot_agreement",
    "plot_choice_trace",
    "plot_confusion",
    "plot_difference_to_best",
    "plot_learning_curves",
    "plot_logit_portrait",
    "plot_membership_roc",
    "plot_model_comparison",
    "plot_parameter_distributions",
    "plot_parameter_recovery",
    "plot_ppc",
    "plot_reversal_curves",
    "plot_stay_probabilities",
    "save_figure",
]
