"""The per-sequence negative log-likelihood of observed choices, with a fused backward pass."""

from __future__ import annotations

import torch


class ChoiceNLL(torch.autograd.Function):
    """``-sum_t mask[t] * log softmax(logits[t])[choice[t]]`` per sequence.

    Inputs are time-major: ``logits`` (n_trials, n_sequences, K), ``onehot`` the masked one-hot
    choices of the same shape, ``mask`` (n_trials, n_sequences, 1). The gradient with respect to
    the logits is ``mask * (softmax - onehot)``, computed from the probabilities kept from the
    forward pass instead of differentiating through a log-softmax.
    """

    @staticmethod
    def forward(ctx, logits, onehot, mask):
        top = logits.amax(-1, keepdim=True)
        shifted = logits - top
        expd = shifted.exp()
        total = expd.sum(-1, keepdim=True)
        chosen = (shifted * onehot).sum(-1, keepdim=True) - total.log()
        nll = -(chosen * mask).sum(dim=(0, 2))
        ctx.save_for_backward(expd.div_(total), onehot, mask)
        return nll

    @staticmethod
    def backward(ctx, grad):
        probs, onehot, mask = ctx.saved_tensors
        scale = mask * grad.view(1, -1, 1)
        return (probs - onehot).mul_(scale), None, None


def sequence_nll(logits: torch.Tensor, onehot: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood per sequence from time-major logits; see :class:`ChoiceNLL`."""
    return ChoiceNLL.apply(logits, onehot, mask)
