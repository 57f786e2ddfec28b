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
    """``H[0] = h0``, ``H[t+1] = a[t] * H[t] + b[t]``; ``a, b`` have one step fewer than ``H``."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        n_steps = a.shape[0]
        h = torch.empty((n_steps + 1, *a.shape[1:]), dtype=a.dtype, device=a.device)
        h[0] = h0
        for t in range(n_steps):
            torch.addcmul(b[t], a[t], h[t], out=h[t + 1])
        ctx.save_for_backward(a, h)
        return h

    @staticmethod
    def backward(ctx, grad_h: torch.Tensor):
        a, h = ctx.saved_tensors
        n_steps = a.shape[0]
        grad_h = grad_h.contiguous()
        lam = torch.empty_like(grad_h)
        lam[n_steps] = grad_h[n_steps]
        for t in range(n_steps - 1, -1, -1):
            torch.addcmul(grad_h[t], a[t], lam[t + 1], out=lam[t])
        return lam[1:] * h[:-1], lam[1:], lam[0]


def linear_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """States of ``h[t+1] = a[t] * h[t] + b[t]`` starting from ``h0``.

    Parameters
    ----------
    a, b : torch.Tensor, shape (n_steps, ...)
        Broadcastable to each other.
    h0 : torch.Tensor, shape (...)
        Broadcastable to ``a[0]``.

    Returns
    -------
    torch.Tensor, shape (n_steps + 1, ...)
        ``H[t]`` is the state in force on trial ``t`` (before its update); pass the coefficients
        of trials ``0 .. n_trials-2`` to get the states of trials ``0 .. n_trials-1``.
    """
    a, b = torch.broadcast_tensors(a, b)
    return LinearScan.apply(a.contiguous(), b.contiguous(), h0.expand(a.shape[1:]).contiguous())
