"""choicernn: models of trial-by-trial choices in bandit tasks.

Data
    :class:`ChoiceData` (the one validated container), :func:`read_csv`, :class:`ChoiceDataError`.
Tasks
    :func:`load_task` (TOML specs shipped in ``tasks/`` or your own file), :class:`Task`,
    :func:`available_tasks`.
Models — one interface (:mod:`choicernn.models.base`): ``fit(data) -> self``, ``logits``,
``trial_log_likelihood``, ``choice_probabilities``, ``score``, ``agent``
    :class:`QLearning` presets ``rw``, ``dual_alpha``, ``forgetting``, ``rw_persev``,
    ``choice_kernel``, ``reward_sensitivity``, ``full`` or any :class:`QComponents`;
    heuristics :class:`WSLS`, :class:`Bias`, :class:`KalmanFilter`; generalized Q-learning
    :class:`GQL`, lagged logistic regression :class:`LaggedRegression`, the latent-state reversal
    learner :class:`LatentStateModel`; the disentangled RNN :class:`DisRNNModel`; the two-step
    task's
    hybrid model-based / model-free learner :class:`TwoStepModel`;
    recurrent networks :class:`GRUModel` (GRU, LSTM or vanilla RNN cells) trained with
    :class:`TrainingConfig`.
Simulation
    :func:`simulate` runs any model as an agent in a task.
Comparison
    :func:`cross_validate` (held-out likelihood on block, session or subject folds) returning a
    :class:`CrossValidationResult` (``.table``, ``.summary()``, ``.bms()``, ``.plot()``);
    :func:`bms` (random-effects Bayesian model selection); :func:`compare_subjects`;
    :class:`SelectByCV` (nested cross-validation: hyper-parameters chosen on inner folds).
Scale
    :class:`Executor` runs the independent units of a study (folds x models, in-sample fits)
    in-process, on local processes (``"processes"``) or on a Dask cluster (``"dask"``), with
    identical results; a unit that fails is reported by :class:`UnitsFailedError` after the
    others finish, and ``cache_dir=`` makes a re-run compute only what is missing.
Behaviour and figures
    :mod:`choicernn.signatures` (stay probabilities, switch rates, reversal and learning curves)
    and :mod:`choicernn.plots` (seaborn figures that take a tidy table and ``ax=``).
Trust and insight
    :func:`parameter_recovery`, :func:`model_recovery` (``.confusion``),
    :func:`posterior_predictive`, :func:`explain` (which classical model a network behaves like),
    :func:`logit_portrait`, :func:`agreement_by_value`, :func:`membership_audit` (``.auc``); each
    result has ``.table`` and ``.plot()``.
Studies
    :func:`load_recipe` / :func:`run_recipe`: a TOML recipe in ``fits/`` runs a whole study; the
    ``choicernn`` command line (``demo``, ``run``, ``compare``, ``fit``, ``simulate``, ``tasks``).
"""

from . import signatures
from .analysis.explain import ExplainResult, agreement_by_value, explain, logit_portrait
from .analysis.ppc import PosteriorPredictiveResult, posterior_predictive
from .analysis.privacy import MembershipAuditResult, membership_audit
from .analysis.recovery import (
    ModelRecoveryResult,
    ParameterRecoveryResult,
    model_recovery,
    parameter_recovery,
)
from .comparison.bms import BMSResult, bms
from .comparison.cross_validation import (
    CrossValidationResult,
    SuspectResultWarning,
    cross_validate,
)
from .comparison.folds import make_folds
from .comparison.groups import compare_groups
from .comparison.selection import SelectByCV
from .comparison.statistics import compare_subjects
from .data import ChoiceData, ChoiceDataError, SequenceBatch, read_csv
from .execution import Executor, UnitsFailedError
from .models.base import Agent, Capabilities, ChoiceModel, NotFittedError
from .models.disrnn import DisRNNModel
from .models.gql import GQL
from .models.gru import GRUModel
from .models.heuristics import WSLS, Bias, KalmanFilter
from .models.lagged_regression import LaggedRegression
from .models.latent_state import LatentStateModel
from .models.parametric import FitWarning, ParametricModel
from .models.persistence import ModelFileError, load_model
from .models.qlearning import PRESETS, QComponents, QLearning
from .models.registry import available_models, register_model
from .models.rnn_dimensionality import estimate_dimensionality
from .models.rnn_dynamics import fixed_points, state_dimensionality, vector_field
from .models.rnn_training import TrainingConfig
from .models.two_step import TwoStepModel
from .progress import set_progress
from .recipes import load_recipe, run_recipe
from .signatures import (
    learning_curve,
    reversal_curves,
    reversal_onsets,
    stay_probabilities,
    switch_rate,
    task_schedule,
)
from .simulation import simulate
from .tasks import Task, TaskSpecError, available_tasks, load_task

__version__ = "0.1.0"


def __getattr__(name: str):
    """Figures load matplotlib and seaborn only when first used (``cr.plots``, ``cr.save_figure``)."""
    if name == "plots":
        import importlib

        return importlib.import_module(".plots", __name__)
    if name == "save_figure":
        from .plots import save_figure

        return save_figure
    raise AttributeError(f"module 'choicernn' has no attribute {name!r}")


__all__ = [
    "DisRNNModel",
    "fixed_points",
    "state_dimensionality",
    "vector_field",
    "estimate_dimensionality",
    "GQL",
    "LaggedRegression",
    "LatentStateModel",
    "TwoStepModel",
    "compare_groups",
    "Capabilities",
    "SuspectResultWarning",
    "FitWarning",
    "ModelFileError",
    "ParametricModel",
    "available_models",
    "load_model",
    "register_model",
    "set_progress",
    "Executor",
    "UnitsFailedError",
    "logit_portrait",
    "explain",
    "agreement_by_value",
    "ExplainResult",
    "membership_audit",
    "posterior_predictive",
    "parameter_recovery",
    "model_recovery",
    "MembershipAuditResult",
    "PosteriorPredictiveResult",
    "ParameterRecoveryResult",
    "ModelRecoveryResult",
    "PRESETS",
    "WSLS",
    "Agent",
    "BMSResult",
    "Bias",
    "ChoiceData",
    "ChoiceDataError",
    "ChoiceModel",
    "CrossValidationResult",
    "GRUModel",
    "KalmanFilter",
    "NotFittedError",
    "QComponents",
    "QLearning",
    "SelectByCV",
    "SequenceBatch",
    "Task",
    "TaskSpecError",
    "TrainingConfig",
    "available_tasks",
    "bms",
    "compare_subjects",
    "cross_validate",
    "learning_curve",
    "load_recipe",
    "load_task",
    "make_folds",
    "plots",
    "read_csv",
    "reversal_curves",
    "reversal_onsets",
    "run_recipe",
    "save_figure",
    "signatures",
    "simulate",
    "stay_probabilities",
    "switch_rate",
    "task_schedule",
]
