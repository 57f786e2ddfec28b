"""Privacy audit: does a trained network remember the subjects it was trained on?

:func:`membership_audit` runs a likelihood-based membership-inference attack (Shokri et al. 2017;
Yeom et al. 2018): a subject is guessed to be a training subject ("member") when the network
predicts its choices unusually well. The attack's AUC is the probability that a random training
subject is better predicted than a random held-out subject: 0.5 means the network's predictions
reveal nothing about who was in its training data; values near 1 mean it memorised them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..data import ChoiceData
from ..models.base import ChoiceModel

__all__ = ["MembershipAuditResult", "membership_audit"]


@dataclass
class MembershipAuditResult:
    """Result of :func:`membership_audit`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per subject (training subjects first): ``subject``, ``member`` (bool: a
        training subject), ``nll_per_choice`` (negative log-likelihood per observed choice),
        ``score`` (the attack score, ``-nll_per_choice``: higher means "more likely a member").
    auc : float
        Mann–Whitney U / (n_members · n_non_members): the probability that a random member
        scores higher than a random non-member (ties count 1/2).
    auc_ci : (float, float)
        Percentile bootstrap 95% interval of the AUC (subjects resampled within each group).
    p_value : float
        One-sided Mann–Whitney test that members score higher than non-members.
    """

    table: pd.DataFrame
    auc: float
    auc_ci: tuple[float, float]
    p_value: float

    def roc(self) -> pd.DataFrame:
        """The attack's ROC curve: ``threshold, false_positive_rate, true_positive_rate``.

        A subject is called a member when its score is at least the threshold; the curve starts
        at (0, 0) (threshold +inf) and ends at (1, 1).
        """
        score = self.table["score"].to_numpy(dtype=float)
        member = self.table["member"].to_numpy(dtype=bool)
        thresholds = np.r_[np.inf, np.unique(score)[::-1]]
        called = score[None, :] >= thresholds[:, None]
        return pd.DataFrame(
            {
                "threshold": thresholds,
                "false_positive_rate": called[:, ~member].mean(axis=1),
                "true_positive_rate": called[:, member].mean(axis=1),
            }
        )

    def plot(self, ax=None):
        """ROC curve of the audit with its AUC; returns the Axes."""
        from ..plots import plot_membership_roc

        return plot_membership_roc(self, ax=ax)


def _bootstrap_auc(
    members: np.ndarray, others: np.ndarray, n_bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """AUC of ``n_bootstrap`` resamples (subjects drawn with replacement within each group)."""
    wins = (members[:, None] > others[None, :]) + 0.5 * (members[:, None] == others[None, :])
    n1, n2 = wins.shape
    count1 = rng.multinomial(n1, np.full(n1, 1 / n1), size=n_bootstrap)
    count2 = rng.multinomial(n2, np.full(n2, 1 / n2), size=n_bootstrap)
    return np.einsum("bi,ij,bj->b", count1, wins, count2) / (n1 * n2)


def membership_audit(
    network: ChoiceModel,
    train: ChoiceData,
    test: ChoiceData,
    *,
    n_bootstrap: int = 2000,
    level: float = 0.95,
    seed: int | None = 0,
) -> MembershipAuditResult:
    """Membership-inference audit of a fitted model: are its training subjects recognisable?

    Parameters
    ----------
    network : ChoiceModel
        A fitted model, usually a :class:`~choicernn.GRUModel` (any model works: a model with
        per-subject parameters should be scored on subjects it has parameters for).
    train : ChoiceData
        Subjects the model was trained on (its training data, or part of it).
    test : ChoiceData
        Subjects from the same population that the model never saw. Subject labels must not
        overlap with ``train``.
    n_bootstrap : int
        Bootstrap resamples for the interval of the AUC.
    level : float
        Confidence level of the interval.
    seed : int or None
        Seeds the bootstrap.

    Returns
    -------
    MembershipAuditResult
        ``.table``, ``.auc``, ``.auc_ci``, ``.p_value``, ``.roc()``, ``.plot()``.

    Notes
    -----
    A network with per-subject embeddings scores unseen subjects with the mean embedding, so
    memorisation through the embeddings shows up here as well as memorisation in the weights.
    With few subjects the interval is wide: report it with the AUC.
    """
    for name, value in (("train", train), ("test", test)):
        if not isinstance(value, ChoiceData):
            raise TypeError(f"{name} must be a ChoiceData, got {type(value).__name__}")
    if not isinstance(network, ChoiceModel):
        raise TypeError(f"network must be a fitted ChoiceModel, got {type(network).__name__}")
    if not isinstance(n_bootstrap, int | np.integer) or n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be a positive integer, got {n_bootstrap!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    test_subjects = set(test.subjects)
    shared = [
        s.item() if isinstance(s, np.generic) else s for s in train.subjects if s in test_subjects
    ]
    if shared:
        raise ValueError(
            f"train and test share subjects {shared[:10]}"
            f"{f' (and {len(shared) - 10} more)' if len(shared) > 10 else ''}: the audit "
            f"compares training subjects with subjects the model never saw, so test must hold "
            f"other subjects."
        )
    parts = []
    for data, member in ((train, True), (test, False)):
        ll = network.subject_log_likelihood(data)
        parts.append(
            pd.DataFrame(
                {
                    "subject": ll["subject"],
                    "member": member,
                    "nll_per_choice": ll["nll_per_choice"].astype(float),
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    table["score"] = -table["nll_per_choice"]
    members = table.loc[table["member"], "score"].to_numpy()
    others = table.loc[~table["member"], "score"].to_numpy()
    test_result = stats.mannwhitneyu(members, others, alternative="greater")
    auc = float(test_result.statistic) / (len(members) * len(others))
    boot = _bootstrap_auc(members, others, int(n_bootstrap), np.random.default_rng(seed))
    tail = (1 - level) / 2
    ci = (float(np.quantile(boot, tail)), float(np.quantile(boot, 1 - tail)))
    return MembershipAuditResult(table=table, auc=auc, auc_ci=ci, p_value=float(test_result.pvalue))
