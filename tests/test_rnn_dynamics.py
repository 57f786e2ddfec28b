"""Tests of the dynamics of tiny networks: fixed points, stability, vector fields, dimension."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

import choicernn as cr
from choicernn.models.rnn_dynamics import (
    fixed_points,
    gru_map,
    state_dimensionality,
    vector_field,
)

ONE_EPOCH = cr.TrainingConfig(max_epochs=1, n_seeds=1, batch_size=None)


@pytest.fixture(scope="module")
def data() -> cr.ChoiceData:
    return cr.simulate(
        cr.QLearning("rw"),
        "reversal",
        n_subjects=4,
        n_trials=30,
        n_sessions=1,
        seed=3,
        params={"alpha": 0.4, "beta": 4.0},
    )


def hand_built(data: cr.ChoiceData, hidden_size: int) -> cr.GRUModel:
    """A GRU whose units are uncoupled copies of ``h' = (1 - z) tanh(2h + 1.5 reward) + z h``
    with z = 1/2 and the reset gate open; the readout is L = sum of units."""
    model = cr.GRUModel(hidden_size=hidden_size, training=ONE_EPOCH, device="cpu").fit(data, seed=0)
    core, n_h = model.network_.core, hidden_size
    with torch.no_grad():
        for p in core.parameters():
            p.zero_()
        core.b_ih_0[0, :n_h] = 30.0  # reset gates open (r = 1)
        for u in range(n_h):
            core.w_hh_0[0, u, 2 * n_h + u] = 2.0  # recurrence of the candidate
            core.w_ih_0[0, 3, 2 * n_h + u] = 1.5  # feature 3 = reward / reward_scale
        core.readout_w[0, :, 1] = 1.0
    assert model.reward_scale_ == 1.0
    return model


def roots(shift: float) -> list[float]:
    """Every h in (-1, 1) with h = tanh(2h + shift)."""
    g = lambda h: math.tanh(2 * h + shift) - h  # noqa: E731
    grid = np.linspace(-0.999999, 0.999998, 20000)  # 0 is not a grid point
    values = np.array([g(h) for h in grid])
    where = np.nonzero(np.sign(values[1:]) != np.sign(values[:-1]))[0]
    return [brentq(g, grid[i], grid[i + 1], xtol=1e-14) for i in where]


def test_fixed_points_of_a_hand_built_one_unit_gru(data):
    model = hand_built(data, 1)
    table = fixed_points(model, n_starts=50).table
    assert list(table.columns) == [
        "input",
        "prev_choice",
        "rewarded",
        "unit_0",
        "logit",
        "stable",
        "spectral_radius",
        "eigenvalues",
    ]
    for (_choice, rewarded), rows in table.groupby(["prev_choice", "rewarded"]):
        expected = roots(1.5 if rewarded else 0.0)
        assert len(rows) == len(expected) == (1 if rewarded else 3)
        np.testing.assert_allclose(sorted(rows["unit_0"]), expected, atol=1e-7)
        np.testing.assert_allclose(rows["logit"], rows["unit_0"], atol=1e-12)
        # dF/dh = (1 - z) * 2 (1 - h^2) + z with z = 1/2; stable when below 1
        slope = 0.5 * 2 * (1 - rows["unit_0"] ** 2) + 0.5
        np.testing.assert_allclose(rows["spectral_radius"], slope.abs(), atol=1e-6)
        assert (rows["stable"] == (slope.abs() < 1)).all()
    no_reward = table[~table["rewarded"] & (table["prev_choice"] == 0)]
    assert list(no_reward["stable"]) == [True, False, True]  # two attractors around a saddle


def test_fixed_points_of_two_uncoupled_units(data):
    model = hand_built(data, 2)
    table = fixed_points(model, n_starts=400, seed=1).table
    quiet = table[(table["prev_choice"] == 1) & ~table["rewarded"]]
    assert len(quiet) == 9  # every pair of the three 1-unit fixed points
    assert quiet["stable"].sum() == 4  # both coordinates at a stable point
    rewarded = table[(table["prev_choice"] == 1) & table["rewarded"]]
    assert len(rewarded) == 1 and bool(rewarded["stable"].iloc[0])
    assert all(len(e) == 2 for e in table["eigenvalues"])


def test_vector_field_and_figures(data):
    import matplotlib.pyplot as plt

    from choicernn.plots.disrnn import plot_fixed_points, plot_vector_field

    one, two = hand_built(data, 1), hand_built(data, 2)
    field = vector_field(one, n_grid=11)
    assert len(field) == 4 * 11 and {"unit_0", "delta_0", "logit"} <= set(field.columns)
    step = gru_map(one).step(
        torch.tensor([[0.3]], dtype=torch.float64), gru_map(one).features(0, 1, (0.0, 1.0))
    )
    assert float(step[0, 0]) == pytest.approx(0.5 * math.tanh(0.6 + 1.5) + 0.15, abs=1e-9)
    fixed = fixed_points(two, n_starts=100)
    fig = plot_vector_field(vector_field(two, n_grid=7), fixed=fixed.table, model="hand-built")
    assert len([a for a in fig.axes if a.get_title()]) == 4
    portrait = cr.logit_portrait(two, n_steps=5, n_sequences=10)
    ax = portrait.plot()
    plot_fixed_points(fixed, ax=ax)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "stable fixed point: filled" in labels
    alone = fixed.plot()
    assert "((" not in alone.get_xlabel() and alone.get_ylabel()
    plt.close("all")


def test_dimensionality_of_states(data):
    one = hand_built(data, 1)
    result = state_dimensionality(one, data)
    assert result.n_components == 1 and result.participation_ratio == pytest.approx(1.0)
    two = hand_built(data, 2)  # identical uncoupled units: the states lie on a line
    result = state_dimensionality(two, data)
    assert result.n_components == 1 and result.participation_ratio == pytest.approx(1.0)
    assert result.table["cumulative"].iloc[-1] == pytest.approx(1.0)


def test_refuses_what_it_cannot_read(data):
    lstm = cr.GRUModel(hidden_size=1, cell="lstm", training=ONE_EPOCH, device="cpu").fit(data)
    with pytest.raises(ValueError, match="cell='lstm'"):
        fixed_points(lstm)
    with pytest.raises(TypeError, match="need a fitted GRUModel"):
        fixed_points(cr.QLearning("rw"))
    three = cr.GRUModel(hidden_size=3, training=ONE_EPOCH, device="cpu").fit(data)
    with pytest.raises(ValueError, match="1 or 2 units"):
        vector_field(three)
