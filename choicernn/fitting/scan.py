"""A first-order linear recurrence with a hand-written backward pass.

Every Q-learning preset is a linear recurrence in its state once the data are given:
``h[t+1] = a[t] * h[t] + b[t]`` (element-wise), where ``a`` and ``b`` depend on the parameters and
the observed choices and rewards. Autograd over a Python loop of such steps records a graph node
per trial; :class:`LinearScan` runs the loop with no graph (one fused multiply-add per trial) and
computes the gradient with the adjoint recurrence ``lam[t] = g[t] + a[t] * lam[t+1]``, again one
multiply-add per trial, so a likelihood and its gradient cost a few passes over the data.
"""

from __future__ import annotations

import torch


class LinearScan(torch.autograd.Function):
    """``H[0] = h0``, ``H[t+1] = a[t] * H[t] + b[t]``; returns ``H`` of shape (n_trials, ...)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        n_t = a.shape[0]
        h = torch.empty_like(a)
        h[0] = h0
        for t in range(n_t - 1):
            torch.addcmul(b[t], a[t], h[t], out=h[t + 1])
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor):
        a, h = ctx.saved_tensors
        n_t = a.shape[0]
        lam = torch.empty_like(grad_h)
        lam[n_t - 1] = grad_h[n_t - 1]
        for t in range(n_t - 2, -1, -1):
            torch.addcmul(grad_h[t], a[t], lam[t + 1], out=lam[t])
        grad_a = torch.zeros_like(a)
        grad_b = torch.zeros_like(a)
        if n_t > 1:
            torch.mul(lam[1:], h[:-1], out=grad_a[:-1])
            grad_b[:-1] = lam[1:]
        return grad_a, grad_b, lam[0]


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """States before each step of ``h[t+1] = a[t] * h[t] + b[t]``.

    Parameters
    ----------
    a, b : torch.Tensor, shape (n_trials, ...)
    h0 : torch.Tensor, shape (...)
        Broadcastable to ``a[0]``.

    Returns
    -------
    torch.Tensor, shape (n_trials, ...)
        ``H[t]`` is the state in force on trial ``t`` (before its update).
    """
    return LinearScan.apply(a, b, h0.expand_as(a[0]).contiguous())
