"""The one scoring path: logits and observed choices to log-probabilities of the choices.

Every consumer of a model's predictions (the base class's log-likelihoods and probabilities,
held-out scoring in cross-validation, network training and validation) calls
:func:`chosen_log_prob`. The batched parametric objective uses a fused version of the same
formula (:class:`choicernn.fitting.likelihood.ChoiceNLL`, faster backward pass); a test pins the
two together.
"""

from __future__ import annotations

import torch


def chosen_log_prob(logits: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
    """Log-probability of each observed choice under ``softmax(logits)``; 0 where not counted.

    Parameters
    ----------
    logits : torch.Tensor, shape (..., n_options)
    choices : torch.Tensor of int, shape (...)
        0-based options; a negative value (missed trial, padding or a trial that is not scored)
        contributes 0.

    Returns
    -------
    torch.Tensor, shape (...)
        Same dtype as ``logits``; differentiable with respect to ``logits``.
    """
    counted = choices >= 0
    logp = torch.log_softmax(logits, dim=-1)
    chosen = logp.gather(-1, choices.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return torch.where(counted, chosen, torch.zeros_like(chosen))


def choice_nll(logits: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
    """Summed negative log-likelihood of the counted choices (a scalar); see :func:`chosen_log_prob`."""
    return -chosen_log_prob(logits, choices).sum()


def top_choice_credit(logits: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
    """1 when the choice had the highest logit, ``1/n`` when ``n`` options tie for it, else 0."""
    top = logits == logits.amax(-1, keepdim=True)
    hit = top.gather(-1, choices.clamp(min=0).unsqueeze(-1)).squeeze(-1).to(torch.float64)
    return hit / top.sum(-1).to(torch.float64)
