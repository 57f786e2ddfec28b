"""Plots: each runs on small simulated data, draws on the given Axes and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

import choicernn as cr
from choicernn import plots
from choicernn import signatures as sg

PARAMS = {"alpha": 0.3, "beta": 5.0}


@pytest.fixture(autouse=True)
def close_figures(monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("plots must not call plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def study():
    return cr.simulate(
        cr.QLearning("rw"), "reversal", n_subjects=8, n_trials=80, seed=0, params=PARAMS
    )


@pytest.fixture(scope="module")
def replica():
    """The model's simulations of the same task (another seed)."""
    return cr.simulate(
        cr.QLearning("rw"), "reversal", n_subjects=8, n_trials=80, seed=1, params=PARAMS
    )


@pytest.fixture
def subject_table(rng):
    """Per-subject fits of three models; "b" is best on average, then "a", then "c"."""
    offset = {"a": 0.55, "b": 0.5, "c": 0.65}
    rows = [
        {"model": m, "subject": s, "nll": 80 * (o + 0.02 * rng.standard_normal()), "n_trials": 80}
        for m, o in offset.items()
        for s in range(8)
    ]
    return pd.DataFrame(rows)


def labels(ax):
    return [t.get_text() for t in ax.get_xticklabels()]


# --------------------------------------------------------------------------- comparison
def test_model_comparison_orders_best_first_and_pairs_subjects(subject_table):
    fig, ax = plt.subplots()
    out = plots.plot_model_comparison(subject_table, ax=ax)
    assert out is ax
    assert labels(ax) == ["b", "a", "c"]
    subject_lines = [ln for ln in ax.get_lines() if ln.get_color() == "0.75"]
    assert len(subject_lines) == 8
    assert ax.get_ylabel().startswith("NLL per trial (nats)")
    plots.plot_model_comparison(subject_table, metric="normalized_lik", ax=ax)
    assert labels(ax) == ["b", "a", "c"]  # highest normalized likelihood first


def test_model_comparison_sums_folds_and_reads_a_result_table(subject_table):
    class Result:  # a result object exposing a per-fold table
        table = pd.concat(
            [
                subject_table.assign(fold=0, nll=subject_table["nll"] / 2, n_trials=40),
                subject_table.assign(fold=1, nll=subject_table["nll"] / 2, n_trials=40),
            ]
        )

    fig, ax = plt.subplots()
    plots.plot_model_comparison(Result(), ax=ax)
    per_subject = ax.collections[0].get_offsets()[:, 1]
    np.testing.assert_allclose(
        np.sort(per_subject), np.sort(subject_table.query("model == 'b'")["nll"] / 80)
    )


def test_model_comparison_uses_the_current_axes_and_names_bad_input(subject_table):
    fig, ax = plt.subplots()
    assert plots.plot_model_comparison(subject_table) is ax
    with pytest.raises(ValueError, match=r"lacks columns \['n_trials'\]"):
        plots.plot_model_comparison(subject_table.drop(columns="n_trials"), ax=ax)
    with pytest.raises(ValueError, match="metric 'bic' is neither"):
        plots.plot_model_comparison(subject_table, metric="bic", ax=ax)


def test_difference_to_best(subject_table):
    fig, ax = plt.subplots()
    assert plots.plot_difference_to_best(subject_table, ax=ax) is ax
    assert labels(ax) == ["a", "c"]
    assert "model − b" in ax.get_ylabel()
    wide = subject_table.pivot(index="subject", columns="model", values="nll") / 80
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 1], wide["a"] - wide["b"])
    assert any(np.allclose(ln.get_ydata(), 0) for ln in ax.get_lines())  # the zero line
    with pytest.raises(ValueError, match="two or more models"):
        plots.plot_difference_to_best(subject_table.query("model == 'a'"), ax=ax)


# --------------------------------------------------------------------------- signatures
def test_stay_probabilities_plot(study, replica):
    tables = {"data": sg.stay_probabilities(study), "rw": sg.stay_probabilities(replica)}
    fig, ax = plt.subplots()
    assert plots.plot_stay_probabilities(tables, ax=ax) is ax
    bars = ax.patches
    assert len(bars) == 4
    assert len({b.get_hatch() for b in bars}) == 2  # sources differ by hatch, not colour only
    expected = sg.mean_ci(tables["data"], "p_stay", by=["previous_reward"])["mean"]
    np.testing.assert_allclose([b.get_height() for b in bars[:2]], expected)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data", "rw"]
    # one table with a source column gives the same bars
    one = pd.concat([t.assign(source=k) for k, t in tables.items()])
    fig2, ax2 = plt.subplots()
    plots.plot_stay_probabilities(one, ax=ax2)
    assert [b.get_height() for b in ax2.patches] == [b.get_height() for b in bars]


def test_reversal_curves_plot(study, replica):
    def curves(data, seed):
        return sg.reversal_curves(
            data, sg.reversal_onsets(sg.task_schedule(data, "reversal", seed))
        )

    fig, ax = plt.subplots()
    out = plots.plot_reversal_curves({"data": curves(study, 0), "rw": curves(replica, 1)}, ax=ax)
    assert out is ax
    lines = [ln for ln in ax.get_lines() if ln.get_label() in ("data", "rw")]
    assert len(lines) == 2
    assert lines[0].get_marker() != lines[1].get_marker()
    assert lines[0].get_linestyle() != lines[1].get_linestyle()
    np.testing.assert_array_equal(lines[0].get_xdata(), np.arange(-5, 16))
    assert len(ax.collections) == 2  # one CI band per source
    assert "reversal" in ax.get_xlabel()


def test_learning_curves_plot(study):
    curve = sg.learning_curve(study, sg.task_schedule(study, "reversal", 0), n_bins=4)
    fig, ax = plt.subplots()
    assert plots.plot_learning_curves(curve, ax=ax) is ax  # one table, no source: "data"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["data"]


def test_signature_plots_name_missing_columns(study):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"tables lacks columns \['lag', 'p_new_best'\]"):
        plots.plot_reversal_curves({"data": sg.stay_probabilities(study)}, ax=ax)


# --------------------------------------------------------------------------- one subject
def test_choice_trace(study):
    model = cr.QLearning("rw")
    probabilities = model.choice_probabilities(study, params=study.params)
    fig, ax = plt.subplots()
    assert plots.plot_choice_trace(probabilities, study, subject=3, ax=ax) is ax
    line = ax.get_lines()[0]
    expected = probabilities.query("subject == 3 and option == 1")["probability"]
    np.testing.assert_allclose(line.get_ydata(), expected)
    n_markers = sum(len(c.get_offsets()) for c in ax.collections)
    assert n_markers == 80  # one per observed choice
    with pytest.raises(ValueError, match="subject 99 is not in data"):
        plots.plot_choice_trace(probabilities, study, subject=99, ax=ax)
    with pytest.raises(ValueError, match="has no session 5"):
        plots.plot_choice_trace(probabilities, study, subject=3, session=5, ax=ax)


def test_choice_trace_shades_missed_trials(random_data):
    probabilities = cr.WSLS().choice_probabilities(
        random_data, params=pd.DataFrame({"subject": random_data.subjects, "epsilon": 0.2})
    )
    fig, ax = plt.subplots()
    plots.plot_choice_trace(probabilities, random_data, "s0", session=1, option=2, ax=ax)
    rows = random_data.to_frame().query("subject == 's0' and session == 1")
    assert len(ax.patches) == rows["choice"].isna().sum() > 0
    assert ax.get_ylabel().startswith("P(choose option 2)")


# --------------------------------------------------------------------------- parameters
def test_parameter_distributions(study, replica):
    results = pd.concat(
        [
            study.params.assign(model="rw", nll=40.0, n_trials=80, aic=84.0, converged=True),
            replica.params.assign(model="rw2", nll=41.0, n_trials=80, aic=86.0, converged=True),
            pd.DataFrame({"subject": range(8), "model": "wsls", "epsilon": np.linspace(0, 1, 8)}),
        ]
    )
    fig = plots.plot_parameter_distributions(results)
    assert isinstance(fig, Figure)
    assert [a.get_title() for a in fig.axes] == ["alpha", "beta", "epsilon"]
    assert labels(fig.axes[0]) == ["rw", "rw2"]
    assert labels(fig.axes[2]) == ["wsls"]
    fig2 = plots.plot_parameter_distributions(results, models=["rw2", "rw"], col_wrap=1)
    assert labels(fig2.axes[0]) == ["rw2", "rw"] and len(fig2.axes) == 2
    fig3 = plots.plot_parameter_distributions(study.params)  # a params_ table, no model column
    assert len(fig3.axes) == 2
    with pytest.raises(ValueError, match=r"models \['gru'\] are not in params"):
        plots.plot_parameter_distributions(results, models=["gru"])


# --------------------------------------------------------------------------- saving
def test_save_figure_writes_every_format(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    paths = plots.save_figure(fig, tmp_path / "sub" / "figure")
    assert paths == [tmp_path / "sub" / f"figure.{f}" for f in ("pdf", "svg", "png")]
    assert all(p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == sorted(p.name for p in paths)
    assert paths[2].read_bytes()[:4] == b"\x89PNG"
    assert plots.save_figure(ax, tmp_path / "fig.png", formats="png") == [tmp_path / "fig.png"]


def test_save_figure_failure_leaves_nothing(tmp_path, monkeypatch):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="formats \\['jpeg2'\\] are not supported"):
        plots.save_figure(fig, tmp_path / "f", formats=("pdf", "jpeg2"))
    original = Figure.savefig

    def fail_on_svg(self, fname, *args, **kwargs):
        if kwargs.get("format") == "svg":
            raise OSError("disk full")
        return original(self, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", fail_on_svg)
    with pytest.raises(OSError, match="disk full"):
        plots.save_figure(fig, tmp_path / "f")
    assert list(tmp_path.iterdir()) == []


def test_every_axes_plot_returns_an_axes(subject_table, study):
    fig, ax = plt.subplots()
    stay = sg.stay_probabilities(study)
    for draw in (
        lambda: plots.plot_model_comparison(subject_table),
        lambda: plots.plot_difference_to_best(subject_table),
        lambda: plots.plot_stay_probabilities(stay),
    ):
        assert isinstance(draw(), Axes)


def test_styles_stay_distinct_past_eight_sources():
    from choicernn.plots._common import _style

    looks = {(str(_style(i)["color"]), _style(i)["hatch"]) for i in range(16)}
    assert len(looks) == 16
