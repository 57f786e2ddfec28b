"""Batched BFGS: many small independent minimisations (one per subject and restart) at once.

Each problem ``i`` has its own parameters ``x[i]`` (P numbers), its own inverse-Hessian estimate
and its own backtracking (Armijo) line search; one call of the objective evaluates every active
problem together. Converged problems leave the working set, so late iterations cost less.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# objective(x_active, active_index) -> (f, grad): f shape (n_active,), grad shape (n_active, P)
Objective = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class BatchedResult:
    """Result of :func:`minimize_batched`; every field has one entry (row) per problem."""

    x: torch.Tensor
    fun: torch.Tensor
    grad: torch.Tensor
    converged: torch.Tensor
    n_iter: torch.Tensor


def minimize_batched(
    objective: Objective,
    x0: torch.Tensor,
    *,
    max_iter: int = 200,
    gtol: float = 1e-5,
    ftol: float = 1e-10,
    max_step: float = 4.0,
    x_bound: float = 25.0,
    progress: Callable[[int, int], None] | None = None,
    groups: torch.Tensor | None = None,
    retire_margin: float = 2.0,
    retire_every: int = 10,
    duplicate_tol: float = 1e-4,
) -> BatchedResult:
    """Minimise ``n_problems`` independent smooth functions with BFGS.

    Parameters
    ----------
    objective : callable
        ``objective(x, index)`` returns the values (shape (n,)) and gradients (shape (n, P)) of
        problems ``index`` (the active problems, ascending) at ``x`` (shape (n, P)).
    x0 : torch.Tensor, shape (n_problems, P)
    max_iter : int
    gtol : float
        A problem converges when its largest absolute gradient entry is below ``gtol``.
    ftol : float
        ... or when an accepted step lowers its value by less than ``ftol * (1 + |f|)``.
    max_step : float
        Largest step (infinity norm) of one iteration in the unconstrained space.
    x_bound : float
        Parameters are kept within ``[-x_bound, x_bound]`` (the transforms are flat beyond).
    progress : callable, optional
        Called as ``progress(iteration, n_active)``.
    groups : torch.Tensor of int, optional
        Problems that are restarts of one subject share a group. Every ``retire_every``
        iterations a restart is retired (stops, not converged) when its value is more than
        ``retire_margin`` above the best value in its group and its progress over the last
        ``retire_every`` iterations was under a tenth of that gap: at its pace it would need
        over a hundred more iterations to catch up, and a restart of the same subject is
        already better. This trims the slow tail of hopeless restarts; the best restart of
        every group is never retired. A restart is also retired, as a duplicate, when another
        restart of its group has converged and this one's value is at most ``duplicate_tol``
        above it (the same optimum, approached along a flat valley: it could improve the
        subject's value by less than ``duplicate_tol`` at most).
    duplicate_tol : float
        See ``groups``.
    """
    n, p = x0.shape
    dev, dt = x0.device, x0.dtype
    x = x0.clone()
    all_idx = torch.arange(n, device=dev)
    f, g = objective(x, all_idx)
    f, g = f.detach(), g.detach()
    eye = torch.eye(p, device=dev, dtype=dt)
    hinv = eye.repeat(n, 1, 1)
    first = torch.ones(n, dtype=torch.bool, device=dev)
    converged = g.abs().amax(1) < gtol
    n_iter = torch.zeros(n, dtype=torch.long, device=dev)
    bad = ~torch.isfinite(f) | ~torch.isfinite(g).all(1)
    if bad.any():
        raise FloatingPointError(
            f"objective is not finite at the start for problems {all_idx[bad][:5].tolist()}"
        )
    retired = torch.zeros(n, dtype=torch.bool, device=dev)
    f_before = f.clone()
    for it in range(max_iter):
        if groups is not None and it > 0 and it % retire_every == 0:
            retire = _hopeless(f, f_before, groups, converged, retire_margin, duplicate_tol)
            retired |= retire
            converged |= retire
            f_before = f.clone()
        active = all_idx[~converged]
        if active.numel() == 0:
            break
        if progress is not None:
            progress(it, int(active.numel()))
        xa, fa, ga, ha = x[active], f[active], g[active], hinv[active]
        d = -(ha @ ga.unsqueeze(-1)).squeeze(-1)
        slope = (d * ga).sum(1)
        not_descent = slope >= 0
        if not_descent.any():
            ha[not_descent] = eye
            d[not_descent] = -ga[not_descent]
            slope = (d * ga).sum(1)
        # First iteration (identity inverse Hessian): a step of at most 1 in the largest
        # coordinate, as quasi-Newton codes do, instead of the raw gradient.
        fresh = first[active]
        limit = torch.where(fresh, torch.ones_like(fa), torch.full_like(fa, max_step))
        scale = (limit / d.abs().amax(1).clamp(min=1e-300)).clamp(max=1.0)
        d = d * scale.unsqueeze(1)
        slope = slope * scale
        step = torch.ones(active.numel(), device=dev, dtype=dt)
        accepted = torch.zeros(active.numel(), dtype=torch.bool, device=dev)
        f_new, g_new, x_new = fa.clone(), ga.clone(), xa.clone()
        for _ in range(30):
            todo = torch.nonzero(~accepted).squeeze(1)
            trial_x = (xa[todo] + step[todo].unsqueeze(1) * d[todo]).clamp(-x_bound, x_bound)
            ft, gt = objective(trial_x, active[todo])
            ft, gt = ft.detach(), gt.detach()
            ok = (
                torch.isfinite(ft)
                & torch.isfinite(gt).all(1)
                & (ft <= fa[todo] + 1e-4 * step[todo] * slope[todo])
            )
            acc = todo[ok]
            f_new[acc], g_new[acc], x_new[acc] = ft[ok], gt[ok], trial_x[ok]
            accepted[acc] = True
            # Backtrack to the minimum of the quadratic through f(0), f'(0) and f(step),
            # kept within [0.1, 0.5] of the step (halving where f(step) is not finite): fewer
            # trial steps than plain halving, each a pass over every trial of the batch.
            rej = todo[~ok]
            a, f_t = step[rej], ft[~ok]
            curv = f_t - fa[rej] - slope[rej] * a
            quad = -slope[rej] * a * a / (2 * curv.clamp(min=1e-300))
            shrink = torch.where(torch.isfinite(f_t) & (curv > 0), quad, 0.5 * a)
            step[rej] = torch.minimum(torch.maximum(shrink, 0.1 * a), 0.5 * a)
            if accepted.all() or bool((step[~accepted] < 1e-9).all()):
                break
        # Problems whose line search failed cannot improve along any descent direction we find.
        stuck = ~accepted
        s = x_new - xa
        y = g_new - ga
        sy = (s * y).sum(1)
        upd = accepted & (sy > 1e-12)
        if upd.any():
            su, yu, hu = s[upd], y[upd], ha[upd]
            syu = sy[upd]
            init = first[active][upd]
            if init.any():
                gamma = syu[init] / (yu[init] * yu[init]).sum(1)
                hu[init] = eye * gamma.view(-1, 1, 1)
            rho = (1.0 / syu).view(-1, 1, 1)
            left = eye - rho * su.unsqueeze(2) * yu.unsqueeze(1)
            hu = left @ hu @ left.transpose(1, 2) + rho * su.unsqueeze(2) * su.unsqueeze(1)
            ha[upd] = hu
        first[active[upd]] = False
        small_change = accepted & ((fa - f_new).abs() <= ftol * (1 + fa.abs()))
        x[active], f[active], g[active], hinv[active] = x_new, f_new, g_new, ha
        n_iter[active] += 1
        done = stuck | small_change | (g_new.abs().amax(1) < gtol)
        converged[active[done]] = True
    # "converged" as reported: a small gradient, or a stalled line search at a flat point.
    flat = g.abs().amax(1) < max(gtol, 1e-3)
    return BatchedResult(
        x=x, fun=f, grad=g, converged=converged & flat & ~retired, n_iter=n_iter
    )


def _hopeless(f, f_before, groups, converged, margin: float, duplicate_tol: float) -> torch.Tensor:
    """Active restarts far behind the best of their group and closing the gap too slowly, and
    active duplicates of a converged restart of their group (at most ``duplicate_tol`` above)."""
    n_groups = int(groups.max()) + 1
    inf = torch.full((n_groups,), float("inf"), dtype=f.dtype, device=f.device)
    best = inf.scatter_reduce(0, groups, f, reduce="amin")
    gap = f - best[groups]
    progress = f_before - f
    hopeless = ~converged & (gap > margin) & (progress < 0.1 * gap)
    done = torch.where(converged, f, torch.full_like(f, float("inf")))
    best_done = inf.scatter_reduce(0, groups, done, reduce="amin")[groups]
    behind = f - best_done
    duplicate = ~converged & (behind >= 0) & (behind <= duplicate_tol)
    return hopeless | duplicate
