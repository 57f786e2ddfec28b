"""Dynamics of tiny recurrent choice networks: fixed points, stability, vector fields, dimension.

A pooled one-layer GRU (:class:`~choicernn.GRUModel` with ``cell="gru"``) fitted on two-option,
partial-feedback data is a map ``h' = F(h, x)`` from its state to the next one, one map per
input ``x`` (previous choice x reward: four conditions). Under a fixed input the state
converges to a stable fixed point ``h* = F(h*, x)``, where ``|eigenvalues of dF/dh| < 1``
(Sussillo & Barak 2013; Ji-An, Benna & Mattar 2025 read tiny networks this way).

:func:`fixed_points` finds them by Newton's method on ``F(h) - h`` from many starting states
(and, for one unit, from every sign change of ``F(h) - h`` on a fine grid, so none is missed);
:func:`vector_field` tabulates ``F(h) - h`` on a grid; :func:`state_dimensionality` summarises how
many dimensions the states of any network use on data. Figures:
:mod:`choicernn.plots.disrnn` (:func:`~choicernn.plots.disrnn.plot_fixed_points` draws them on
a logit portrait, :func:`~choicernn.plots.disrnn.plot_vector_field`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..data import ChoiceData
from .base import ChoiceModel
from .rnn_network import trial_features

_CONDITIONS = [(c, r) for c in (0, 1) for r in (0, 1)]


def condition_label(choice: int, rewarded: int) -> str:
    """``"choice 0, reward"``: the label of an input condition (options numbered from 0), as in
    :func:`choicernn.logit_portrait`."""
    return f"choice {choice}, {'reward' if rewarded else 'no reward'}"


@dataclass
class GRUMap:
    """The update map of a one-layer GRU, in float64.

    Attributes: ``w_ih`` (F, 3H), ``w_hh`` (H, 3H), ``b_ih``, ``b_hh`` (3H,) in PyTorch's gate
    order (reset, update, new); ``readout_w`` (H, K), ``readout_b`` (K,); ``inputs`` (the
    feature kind), ``reward_scale``; ``embedding`` (E,) appended to every input (the mean
    fitted subject's), or None.
    """

    w_ih: torch.Tensor
    w_hh: torch.Tensor
    b_ih: torch.Tensor
    b_hh: torch.Tensor
    readout_w: torch.Tensor
    readout_b: torch.Tensor
    inputs: str
    reward_scale: float
    embedding: torch.Tensor | None = None

    @property
    def hidden_size(self) -> int:
        return int(self.w_hh.shape[0])

    def features(
        self, choice: int, rewarded: int, reward_values: tuple[float, float]
    ) -> torch.Tensor:
        """The input vector (with the embedding) of one condition, shape (F,)."""
        reward = reward_values[1] if rewarded else reward_values[0]
        x = trial_features(
            torch.tensor([choice]),
            torch.tensor([reward], dtype=torch.float64),
            None,
            2,
            self.inputs,
            self.reward_scale,
        )[0]
        if self.embedding is not None:
            x = torch.cat([x, self.embedding])
        return x

    def step(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``F(h, x)`` for states ``h`` (..., H) and one input ``x`` (F,): the GRU cell of
        :class:`~choicernn.models.rnn_replicas.ReplicaRNN`."""
        n_h = self.hidden_size
        gi = x @ self.w_ih + self.b_ih
        gh = h @ self.w_hh + self.b_hh
        r, z = torch.sigmoid(gi[: 2 * n_h] + gh[..., : 2 * n_h]).split(n_h, -1)
        n = torch.tanh(gi[2 * n_h :] + r * gh[..., 2 * n_h :])
        return n + z * (h - n)

    def logit(self, h: torch.Tensor) -> torch.Tensor:
        """Choice log-odds ``logit(option 1) - logit(option 0)`` in states ``h`` (..., H)."""
        out = h @ self.readout_w + self.readout_b
        return out[..., 1] - out[..., 0]


def gru_map(model: ChoiceModel) -> GRUMap:
    """The update map of a fitted pooled one-layer GRU on two-option partial-feedback data.

    Reads the weights from ``model.network_.core`` (replica 0); with subject embeddings, the
    mean embedding (an unseen subject) is appended to the inputs.
    """
    from .gru import GRUModel

    if not isinstance(model, GRUModel):
        raise TypeError(f"fixed points need a fitted GRUModel, got {type(model).__name__}")
    model.check_fitted()
    problems = []
    if model.cell != "gru":
        problems.append(f"cell={model.cell!r} (need 'gru')")
    if model.n_layers != 1:
        problems.append(f"n_layers={model.n_layers} (need 1)")
    if model.scope != "pooled":
        problems.append(f"scope={model.scope!r} (need 'pooled')")
    if model.n_options_ != 2:
        problems.append(f"n_options={model.n_options_} (need 2)")
    if model.uses_outcomes_:
        problems.append("full-feedback inputs (need choice x reward inputs only)")
    if problems:
        raise ValueError(f"{model.name}: fixed points cover {', '.join(problems)}")
    p = {k: v.detach().cpu().double()[0] for k, v in model.network_.core.params().items()}
    emb = p["embedding"].mean(0) if "embedding" in p else None
    return GRUMap(
        p["w_ih_0"],
        p["w_hh_0"],
        p["b_ih_0"],
        p["b_hh_0"],
        p["readout_w"],
        p["readout_b"],
        model.inputs,
        float(model.reward_scale_),
        emb,
    )


def _jacobian(fmap: GRUMap, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dF/dh at every state of ``h`` (N, H): shape (N, H, H)."""
    jac = torch.func.vmap(torch.func.jacrev(lambda s: fmap.step(s, x)))
    return jac(h)


def _newton(fmap: GRUMap, h: torch.Tensor, x: torch.Tensor, max_iter: int) -> torch.Tensor:
    """Damped Newton steps on ``F(h) - h`` from every row of ``h`` (N, H)."""
    eye = torch.eye(fmap.hidden_size, dtype=h.dtype)
    for _ in range(max_iter):
        g = fmap.step(h, x) - h
        jac = _jacobian(fmap, h, x) - eye
        step = torch.linalg.lstsq(jac, -g.unsqueeze(-1)).solution.squeeze(-1)
        step = step.clamp(-0.5, 0.5)
        h = (h + step).clamp(-1 + 1e-12, 1 - 1e-12)
        if float(step.abs().max()) < 1e-14:
            break
    return h


@dataclass
class FixedPointResult:
    """Fixed points of a network's update map under each input condition.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per fixed point: ``input, prev_choice, rewarded, unit_0 .. unit_{H-1}, logit,
        stable, spectral_radius, eigenvalues`` (``logit``: log-odds of option 1 over option 0
        read out in that state; ``eigenvalues``: a tuple of complex eigenvalues of dF/dh;
        ``stable``: all of them inside the unit circle).
    """

    table: pd.DataFrame

    def plot(self, ax=None):
        """The fixed points in logit coordinates; see
        :func:`choicernn.plots.disrnn.plot_fixed_points`. Returns the Axes."""
        from ..plots.disrnn import plot_fixed_points

        return plot_fixed_points(self.table, ax=ax)


def fixed_points(
    model: ChoiceModel | GRUMap,
    *,
    n_starts: int = 200,
    seed: int = 0,
    reward_values: tuple[float, float] | None = None,
    tol: float = 1e-9,
    max_iter: int = 60,
) -> FixedPointResult:
    """Fixed points and their stability for every input condition of a 1- or few-unit GRU.

    Parameters
    ----------
    model : GRUModel or GRUMap
        A fitted pooled one-layer GRU on two-option partial-feedback data (see :func:`gru_map`).
    n_starts : int
        Random starting states, uniform in (-1, 1)^H (every GRU fixed point lies there). One
        unit: also every sign change of ``F(h) - h`` on a 2001-point grid.
    seed : int
        Seeds the starting states.
    reward_values : (float, float), optional
        Raw rewards of "no reward" and "reward"; default ``(0, reward_scale_)``.
    tol : float
        A converged point has ``max |F(h) - h| < tol``; points closer than ``1e-6`` are merged.
    max_iter : int
        Newton iterations per start.

    Returns
    -------
    FixedPointResult
    """
    fmap = model if isinstance(model, GRUMap) else gru_map(model)
    if reward_values is None:
        reward_values = (0.0, fmap.reward_scale)
    n_h = fmap.hidden_size
    rng = np.random.default_rng(seed)
    starts = torch.as_tensor(rng.uniform(-1, 1, size=(int(n_starts), n_h)))
    rows = []
    for c, r in _CONDITIONS:
        x = fmap.features(c, r, reward_values).double()
        h0 = starts
        if n_h == 1:
            grid = torch.linspace(-1 + 1e-9, 1 - 1e-9, 2001, dtype=torch.float64).unsqueeze(-1)
            g = (fmap.step(grid, x) - grid)[:, 0]
            change = (torch.sign(g[1:]) != torch.sign(g[:-1])).nonzero().flatten()
            brackets = 0.5 * (grid[change] + grid[change + 1])
            h0 = torch.cat([starts, brackets, grid[(g == 0).nonzero().flatten()]])
        with torch.no_grad():
            h = _newton(fmap, h0.clone(), x, max_iter)
            resid = (fmap.step(h, x) - h).abs().amax(-1)
        found: list[torch.Tensor] = []
        for point in h[resid < tol]:
            if all(float((point - q).abs().max()) > 1e-6 for q in found):
                found.append(point)
        found.sort(key=lambda q: tuple(q.tolist()))
        for point in found:
            jac = _jacobian(fmap, point.unsqueeze(0), x)[0]
            eig = torch.linalg.eigvals(jac).numpy()
            radius = float(np.abs(eig).max())
            row = {"input": condition_label(c, r), "prev_choice": c, "rewarded": bool(r)}
            row.update({f"unit_{u}": float(point[u]) for u in range(n_h)})
            row.update(
                logit=float(fmap.logit(point)),
                stable=radius < 1.0,
                spectral_radius=radius,
                eigenvalues=tuple(complex(e) for e in eig),
            )
            rows.append(row)
    columns = ["input", "prev_choice", "rewarded", *[f"unit_{u}" for u in range(n_h)]]
    columns += ["logit", "stable", "spectral_radius", "eigenvalues"]
    return FixedPointResult(pd.DataFrame(rows, columns=columns))


def vector_field(
    model: ChoiceModel | GRUMap,
    *,
    n_grid: int = 15,
    reward_values: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """The update ``F(h) - h`` on a grid of states in (-1, 1)^H, per input condition (H <= 2).

    Returns
    -------
    pandas.DataFrame
        ``input, prev_choice, rewarded, unit_0[, unit_1], delta_0[, delta_1], logit``: one row per
        grid state and condition (``delta_u``: next value of unit ``u`` minus its value;
        ``logit``: log-odds of option 1 over option 0 in that state).
    """
    fmap = model if isinstance(model, GRUMap) else gru_map(model)
    n_h = fmap.hidden_size
    if n_h > 2:
        raise ValueError(f"vector fields are drawn for 1 or 2 units; this network has {n_h}")
    if not isinstance(n_grid, int | np.integer) or n_grid < 2:
        raise ValueError(f"n_grid must be an integer >= 2, got {n_grid!r}")
    if reward_values is None:
        reward_values = (0.0, fmap.reward_scale)
    axis = np.linspace(-0.99, 0.99, int(n_grid))
    grid = np.stack(np.meshgrid(*([axis] * n_h), indexing="ij"), -1).reshape(-1, n_h)
    h = torch.as_tensor(grid)
    parts = []
    with torch.no_grad():
        for c, r in _CONDITIONS:
            x = fmap.features(c, r, reward_values).double()
            delta = (fmap.step(h, x) - h).numpy()
            part = {"input": condition_label(c, r), "prev_choice": c, "rewarded": bool(r)}
            part.update({f"unit_{u}": grid[:, u] for u in range(n_h)})
            part.update({f"delta_{u}": delta[:, u] for u in range(n_h)})
            part["logit"] = fmap.logit(h).numpy()
            parts.append(pd.DataFrame(part))
    return pd.concat(parts, ignore_index=True)


@dataclass
class DimensionalityResult:
    """How many dimensions a network's states use on data.

    Attributes
    ----------
    table : pandas.DataFrame
        ``component`` (1-based), ``variance_ratio``, ``cumulative``: principal components of the
        states (all trials of ``data``).
    participation_ratio : float
        ``(sum lambda)^2 / sum lambda^2`` of the state covariance's eigenvalues: 1 when the
        states lie on a line, H when they fill every unit equally.
    n_components : int
        Components needed for ``threshold`` of the variance.
    threshold : float
    """

    table: pd.DataFrame
    participation_ratio: float
    n_components: int
    threshold: float


def state_dimensionality(
    model: ChoiceModel, data: ChoiceData, *, threshold: float = 0.95
) -> DimensionalityResult:
    """Principal components of a network's states over ``data`` (any network model: its
    :meth:`~choicernn.ChoiceModel.hidden_states`, every layer and state kind as units)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    states = model.hidden_states(data)
    keys = [c for c in ("layer", "state", "unit") if c in states.columns]
    wide = states.pivot_table(index=["subject", "session", "trial"], columns=keys, values="value")
    values = wide.to_numpy(dtype=np.float64)
    values = values - values.mean(0)
    eig = np.clip(
        np.linalg.eigvalsh(np.cov(values, rowvar=False).reshape(values.shape[1], -1)), 0, None
    )[::-1]
    total = float(eig.sum())
    ratio = eig / total if total > 0 else np.zeros_like(eig)
    cumulative = np.cumsum(ratio)
    table = pd.DataFrame(
        {"component": np.arange(1, len(eig) + 1), "variance_ratio": ratio, "cumulative": cumulative}
    )
    pr = float(total**2 / (eig**2).sum()) if total > 0 else 0.0
    n_comp = int(np.searchsorted(cumulative, threshold - 1e-12) + 1) if total > 0 else 0
    return DimensionalityResult(table, pr, min(n_comp, len(eig)), float(threshold))


# ---------------------------------------------------------------------- disentangled RNNs
def disrnn_update_rules(
    model: ChoiceModel,
    data: ChoiceData | None = None,
    *,
    latents: list[int] | None = None,
    n_points: int = 41,
    reward_values: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """The update rule of each open latent of a fitted ``DisRNNModel``: its next value against its current value, per
    input (previous choice x reward), the other latents held at a reference state.

    Parameters
    ----------
    data : ChoiceData, optional
        Sets the grid (1st to 99th percentile of each latent over ``data``), the reference
        state (median latents) and the values of another latent read by the rule (10th, 50th
        and 90th percentiles). Without data: grid -2 .. 2, reference 0, values -1, 0, 1.
    latents : list of int, optional
        Default: the model's ``open_latents_``.
    n_points : int
    reward_values : (float, float), optional
        Raw rewards fed for "no reward" and "reward"; default ``(0, model.reward_scale_)``.

    Returns
    -------
    pandas.DataFrame
        ``latent, input, prev_choice, rewarded, other_latent, other_value, value,
        next_value``: ``other_latent`` is the most open other latent the rule reads (-1:
        none; ``other_value`` then missing).
    """
    from .disrnn import DisRNNModel

    if not isinstance(model, DisRNNModel):
        raise TypeError(f"update rules need a fitted DisRNNModel, got {type(model).__name__}")
    model.check_fitted()
    if model.uses_outcomes_:
        raise ValueError(
            f"{model.name} reads every option's outcome; update rules cover choice x reward"
        )
    if not isinstance(n_points, int | np.integer) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}")
    latents = list(model.open_latents_ if latents is None else latents)
    bad = [
        i for i in latents if not (isinstance(i, int | np.integer) and 0 <= i < model.latent_size)
    ]
    if bad:
        raise ValueError(f"latents must be in 0 .. {model.latent_size - 1}, got {bad}")
    lat_size, k = model.latent_size, model.n_options_
    low, high, ref = np.full(lat_size, -2.0), np.full(lat_size, 2.0), np.zeros(lat_size)
    levels = np.tile([-1.0, 0.0, 1.0], (lat_size, 1))
    if data is not None:
        states = model.hidden_states(data).pivot_table(
            index=["subject", "session", "trial"], columns="unit", values="value"
        )
        values = states.to_numpy()
        low, high = np.percentile(values, 1, 0), np.percentile(values, 99, 0)
        high = np.maximum(high, low + 1e-3)
        ref = np.median(values, 0)
        levels = np.percentile(values, [10, 50, 90], 0).T
    table = model.bottleneck_table()
    reads = table[(table["kind"] == "update_input") & table["open"]]
    if reward_values is None:
        reward_values = (0.0, float(model.reward_scale_))
    core = model.network_
    dev = next(core.parameters()).device
    parts = []
    for i in latents:
        other = [
            int(n.split()[1])
            for n in reads[reads["latent"] == i].sort_values("sigma")["input"]
            if n.startswith("latent ")
            and int(n.split()[1]) != i
            and int(n.split()[1]) in model.open_latents_
        ]
        j = other[0] if other else -1
        grid = np.linspace(low[i], high[i], n_points)
        other_values = levels[j] if j >= 0 else [np.nan]
        combos = [(c, r, o) for c in range(k) for r in (0, 1) for o in other_values]
        n = len(combos) * n_points
        state = np.tile(ref, (n, 1))
        state[:, i] = np.tile(grid, len(combos))
        ch = np.repeat([c for c, _, _ in combos], n_points)
        rw = np.repeat([r for _, r, _ in combos], n_points)
        ov = np.repeat([o for _, _, o in combos], n_points)
        if j >= 0:
            state[:, j] = ov
        x = trial_features(
            torch.as_tensor(ch),
            torch.as_tensor(
                np.where(rw > 0, reward_values[1], reward_values[0]), dtype=torch.float32
            ),
            None,
            k,
            "reward",
            model.reward_scale_,
        )
        z = torch.as_tensor(state, dtype=torch.float32, device=dev)[None]
        sub = torch.full((n,), -1, dtype=torch.long, device=dev)
        with torch.no_grad():
            _, lat, _ = core.run(x.to(dev)[None, :, None], core.embed(sub), None, z)
        parts.append(
            pd.DataFrame(
                {
                    "latent": i,
                    "input": [
                        f"choice {c}, {'reward' if r else 'no reward'}" for c, r in zip(ch, rw)
                    ],
                    "prev_choice": ch,
                    "rewarded": rw.astype(bool),
                    "other_latent": j,
                    "other_value": ov,
                    "value": state[:, i],
                    "next_value": lat[0, :, 0, i].double().cpu().numpy(),
                }
            )
        )
    columns = [
        "latent",
        "input",
        "prev_choice",
        "rewarded",
        "other_latent",
        "other_value",
        "value",
        "next_value",
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
