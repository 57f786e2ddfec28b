"""Plots: each runs on small simulated data, draws on the given Axes and returns it, and passes
the figure checklist (choicernn/plots/CHECKLIST.md) where it can be tested."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

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


def texts(ax):
    """The axis labels and title of ``ax``."""
    return [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]


def check_labels(ax):
    """Checklist 2-3: both axis labels present; at most one parenthesised group per label."""
    assert ax.get_xlabel() or ax.get_xticklabels(), "x axis unlabelled"
    assert ax.get_ylabel() or ax.get_yticklabels(), "y axis unlabelled"
    for text in texts(ax):
        assert "((" not in text and ") (" not in text and "))" not in text, text
        assert text.count("(") <= 1, f"more than one set of parentheses: {text!r}"


def legend_texts(ax_or_fig):
    legends = [ax_or_fig.get_legend()] if hasattr(ax_or_fig, "get_legend") else []
    legends += list(getattr(ax_or_fig, "legends", []))
    return [t.get_text() for leg in legends if leg is not None for t in leg.get_texts()]


def overlapping_ticklabels(ax):
    """Pairs of x tick labels whose text overlaps once drawn (rotation taken into account)."""
    ax.figure.canvas.draw()
    pixels = ax.transData.transform(np.c_[ax.get_xticks(), np.zeros(len(ax.get_xticks()))])[:, 0]
    shown = [(x, t) for x, t in zip(pixels, ax.get_xticklabels()) if t.get_text()]
    bad = []
    for (xa, a), (xb, b) in itertools.pairwise(shown):
        angle = np.deg2rad(a.get_rotation() % 180)
        if angle == 0:
            overlap = a.get_window_extent().overlaps(b.get_window_extent())
        else:  # parallel rotated lines: their distance across the text must exceed its height
            height = a.get_fontsize() * ax.figure.dpi / 72
            overlap = abs(xb - xa) * np.sin(angle) < height
        if overlap:
            bad.append((a.get_text(), b.get_text()))
    return bad


# --------------------------------------------------------------------------- comparison
def test_model_comparison_orders_best_first_and_pairs_subjects(subject_table):
    fig, ax = plt.subplots()
    out = plots.plot_model_comparison(subject_table, ax=ax)
    assert out is ax
    assert labels(ax) == ["b", "a", "c"]
    subject_lines = [ln for ln in ax.get_lines() if ln.get_color() == "0.75"]
    assert len(subject_lines) == 8
    assert ax.get_ylabel() == "Held-out NLL per choice (nats)"
    check_labels(ax)
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


def test_model_comparison_names_bad_input(subject_table):
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"lacks columns \['n_trials'\]"):
        plots.plot_model_comparison(subject_table.drop(columns="n_trials"), ax=ax)
    with pytest.raises(ValueError, match="metric 'bic' is neither"):
        plots.plot_model_comparison(subject_table, metric="bic", ax=ax)


def test_difference_to_best(subject_table):
    fig, ax = plt.subplots()
    assert plots.plot_difference_to_best(subject_table, ax=ax) is ax
    assert labels(ax) == ["a", "c"]
    assert "model − b" in ax.get_xlabel()
    assert ax.get_ylabel() == "Δ held-out NLL per choice (nats)"
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
    assert ax.get_ylabel() == "Predicted P(option 3)"  # option code 2 is the third option


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


def test_styles_stay_distinct_past_eight_sources():
    from choicernn.plots._common import _style

    looks = {(str(_style(i)["color"]), _style(i)["hatch"]) for i in range(16)}
    assert len(looks) == 16


# --------------------------------------------------------------------------- checklist
PLOTS_DIR = Path(cr.__file__).parent / "plots"


def test_import_of_the_plots_package_is_light():
    """Checklist 14: the plots modules import neither matplotlib nor seaborn (the package's
    own ``__init__`` is bypassed, so this checks choicernn/plots/ alone)."""
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('choicernn'); pkg.__path__ = [{str(PLOTS_DIR.parent)!r}]\n"
        "sys.modules['choicernn'] = pkg\n"
        "import choicernn.plots\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'seaborn'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_import_choicernn_plots_does_not_import_matplotlib():
    code = (
        "import choicernn.plots; import sys; "
        "assert 'matplotlib' not in sys.modules and 'seaborn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.fixture(scope="module")
def fitted(study):
    return cr.QLearning("rw", n_restarts=2, device="cpu").fit(study, seed=0)


@pytest.fixture(scope="module")
def recovery():
    return cr.parameter_recovery(
        cr.QLearning("rw", n_restarts=2, device="cpu"), "reversal", n_subjects=8, n_trials=60
    )


@pytest.fixture
def axes_figures(subject_table, study, replica, fitted, recovery):
    """Every single-panel figure, as a function of ``ax``."""
    schedule = sg.task_schedule(study, "reversal", 0)
    reversal = sg.reversal_curves(study, sg.reversal_onsets(schedule))
    probabilities = fitted.choice_probabilities(study)
    ppc = cr.posterior_predictive(fitted, study, "reversal", seed=0)
    portrait = pd.DataFrame(
        {
            "logit": np.tile(np.linspace(-2, 2, 10), 4),
            "delta_logit": np.linspace(-1, 1, 40),
            "prev_choice": np.repeat([0, 0, 1, 1], 10),
            "rewarded": np.repeat([False, True, False, True], 10),
        }
    )
    agreement = pd.DataFrame(
        {
            "value_diff": [0.1, 0.3, 0.5],
            "agree_q": [0.6, 0.7, 0.9],
            "sem_q": 0.05,
            "agree_oblivious": [0.8, 0.7, 0.6],
            "sem_oblivious": 0.05,
        }
    )
    roc = pd.DataFrame({"false_positive_rate": [0, 0.5, 1], "true_positive_rate": [0, 0.7, 1]})
    confusion = pd.DataFrame(
        [[0.8, 0.2], [0.3, 0.7]],
        index=pd.Index(["rw", "wsls"], name="generating"),
        columns=pd.Index(["rw", "wsls"], name="fitted"),
    )
    return {
        "model_comparison": lambda ax: plots.plot_model_comparison(subject_table, ax=ax),
        "difference_to_best": lambda ax: plots.plot_difference_to_best(subject_table, ax=ax),
        "stay": lambda ax: plots.plot_stay_probabilities(
            {"data": sg.stay_probabilities(study), "rw": sg.stay_probabilities(replica)}, ax=ax
        ),
        "reversal": lambda ax: plots.plot_reversal_curves(reversal, ax=ax),
        "learning": lambda ax: plots.plot_learning_curves(
            sg.learning_curve(study, schedule, n_bins=4), ax=ax
        ),
        "trace": lambda ax: plots.plot_choice_trace(probabilities, study, subject=0, ax=ax),
        "ppc": lambda ax: plots.plot_ppc(ppc, model="rw", ax=ax),
        "confusion": lambda ax: plots.plot_confusion(confusion, ax=ax),
        "portrait": lambda ax: plots.plot_logit_portrait(portrait, ax=ax),
        "agreement": lambda ax: plots.plot_agreement(agreement, ax=ax),
        "roc": lambda ax: plots.plot_membership_roc(roc, auc=0.6, auc_ci=(0.4, 0.8), ax=ax),
    }


def test_every_axes_plot_returns_an_axes_and_passes_the_label_checks(axes_figures):
    for name, draw in axes_figures.items():
        fig, ax = plt.subplots()
        out = draw(ax)
        assert out is ax, name
        check_labels(ax)
        assert legend_texts(ax) or name == "confusion", f"{name} has no legend"
        plt.close(fig)


def test_a_new_figure_when_ax_is_none(axes_figures):
    """Checklist 12: two calls without ``ax`` never draw on the same figure."""
    for name, draw in axes_figures.items():
        first, second = draw(None), draw(None)
        assert isinstance(first, Axes) and isinstance(second, Axes), name
        assert first.figure is not second.figure, name
        plt.close("all")


def test_held_out_is_named_in_comparison_figures(subject_table, axes_figures):
    fig, (a, b, c, d) = plt.subplots(1, 4)
    plots.plot_model_comparison(subject_table, ax=a)
    plots.plot_difference_to_best(subject_table, metric="normalized_lik", ax=b)
    axes_figures["confusion"](c)
    axes_figures["roc"](d)
    for ax in (a, b, c, d):
        assert "held-out" in " ".join(texts(ax)).lower()
    assert a.get_ylabel() == "Held-out NLL per choice (nats)"
    assert b.get_ylabel().startswith("Δ held-out likelihood per choice")
    plots.plot_model_comparison(subject_table, held_out=False, ax=a)
    assert a.get_ylabel() == "NLL per choice (nats)"


def test_model_comparison_error_bars_are_paired_differences_to_the_best(subject_table):
    fig, ax = plt.subplots()
    plots.plot_model_comparison(subject_table, ax=ax)
    segments = ax.containers[0].lines[2][0].get_segments()  # one vertical bar per model
    wide = subject_table.pivot(index="subject", columns="model", values="nll") / 80
    for (low, high), model in zip([(s[0][1], s[1][1]) for s in segments], ["b", "a", "c"]):
        diff = (wide[model] - wide["b"]).rename("d").to_frame()
        ci = sg.mean_ci(diff, "d").iloc[0]
        between = sg.mean_ci(wide[[model]].rename(columns={model: "v"}), "v").iloc[0]
        if model == "b":
            assert high - low == pytest.approx(0.0)  # the best is the reference
            continue
        assert high - low == pytest.approx(ci["ci_high"] - ci["ci_low"])
        assert high - low != pytest.approx(between["ci_high"] - between["ci_low"])
        assert (low + high) / 2 == pytest.approx(wide[model].mean())
    assert "paired" in " ".join(legend_texts(ax))
    dotted = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
    assert np.allclose(dotted[0].get_ydata(), wide["b"].mean())  # the best model's mean


def test_long_model_names_do_not_overlap(subject_table):
    names = {m: f"qlearning_{m}_with_a_long_name" for m in "abc"}
    long = pd.concat(
        [subject_table.assign(model=subject_table["model"].map(names))]
        + [subject_table.assign(model=f"another_model_number_{i}") for i in range(5)]
    )
    for draw in (plots.plot_model_comparison, plots.plot_difference_to_best):
        ax = draw(long)
        assert overlapping_ticklabels(ax) == []
        assert ax.get_xticklabels()[0].get_rotation() != 0
        plt.close("all")
    ax = plots.plot_model_comparison(subject_table)  # short names stay horizontal
    assert ax.get_xticklabels()[0].get_rotation() == 0 and overlapping_ticklabels(ax) == []


def test_integer_and_one_based_axes(study, fitted, axes_figures):
    from matplotlib.ticker import MaxNLocator

    for name in ("reversal", "learning", "trace"):
        ax = axes_figures[name](None)
        locator = ax.xaxis.get_major_locator()
        assert isinstance(locator, MaxNLocator) and locator._integer, name
    ax = axes_figures["learning"](None)
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "data")
    np.testing.assert_array_equal(line.get_xdata(), [1, 2, 3, 4])  # bins numbered from 1
    ax = plots.plot_choice_trace(fitted.choice_probabilities(study), study, subject=0, option=0)
    assert ax.get_ylabel() == "Predicted P(option 1)"
    assert ax.get_title() == "Subject 0, session 1 of 1"
    assert ax.get_lines()[0].get_xdata()[0] == 1  # trials numbered from 1
    ax = axes_figures["portrait"](None)
    assert legend_texts(ax) == [
        "chose option 1, no reward",
        "chose option 1, reward",
        "chose option 2, no reward",
        "chose option 2, reward",
    ]
    assert "option 2 over option 1" in ax.get_xlabel()


def test_trace_and_ppc_legends_name_the_model(study, fitted):
    probabilities = fitted.choice_probabilities(study)
    ax = plots.plot_choice_trace(probabilities, study, subject=1, model="rw")
    assert legend_texts(ax)[0] == "rw: P(option 2)"
    ax = plots.plot_choice_trace(probabilities.assign(model="gru4"), study, subject=1)
    assert legend_texts(ax)[0] == "gru4: P(option 2)"
    ppc = cr.posterior_predictive(fitted, study, "reversal", seed=0)
    ax = plots.plot_ppc(ppc, model="rw")
    assert legend_texts(ax) == ["data", "rw, simulated"]
    assert labels(ax) == ["stay after\nreward", "stay after\nno reward", "switch"]
    data_bars = ax.patches[:3]
    expected = ppc.pooled.query("source == 'data'")["mean"].to_numpy()
    np.testing.assert_allclose([b.get_height() for b in data_bars], expected)


def test_parameter_distributions_mark_bounds_and_name_markers(study, replica):
    results = pd.concat(
        [
            study.params.assign(model="rw", alpha=np.linspace(0.1, 0.95, 8)),
            replica.params.assign(model="rw2"),
        ]
    )
    table = cr.QLearning("rw").parameter_table()
    fig = plots.plot_parameter_distributions(results, bounds=table)
    alpha, beta = fig.axes
    assert alpha.get_title() == "alpha, bounds 0 to 1"
    dashed = [ln.get_ydata()[0] for ln in alpha.get_lines() if ln.get_linestyle() == "--"]
    assert sorted(dashed) == [0.0, 1.0]
    assert not [ln for ln in beta.get_lines() if ln.get_linestyle() == "--"]  # 50 is far
    assert beta.get_title() == "beta, bounds 0 to 50"
    assert alpha.get_ylim() != beta.get_ylim()  # one y range per parameter
    assert legend_texts(fig)[:2] == ["rw: circle", "rw2: square"]
    assert "parameter bound" in legend_texts(fig)
    for ax in fig.axes:
        check_labels(ax)
    fig = plots.plot_parameter_distributions(results, bounds={"alpha": (0, 1)})
    assert fig.axes[1].get_title() == "beta"


def test_parameter_recovery_plot(recovery):
    fig = plots.plot_parameter_recovery(recovery, bounds={"alpha": (0, 1), "beta": (0, 50)})
    assert isinstance(fig, Figure)
    alpha, beta = fig.axes
    r = recovery.summary.set_index("parameter")["r"]
    assert alpha.get_title() == f"alpha: r = {r['alpha']:.2f}"
    assert beta.get_xscale() == beta.get_yscale() == "log"
    fig.canvas.draw()
    assert all(not t.get_text() for t in beta.xaxis.get_minorticklabels())
    shown = [t.get_text() for t in beta.xaxis.get_majorticklabels() if t.get_text()]
    assert shown and all("$" not in t and "^" not in t for t in shown)  # plain numbers
    assert alpha.get_xlim() == alpha.get_ylim()
    for ax in fig.axes:
        check_labels(ax)
        part = recovery.table.query("parameter == @ax.get_title().split(':')[0]")
        assert len(ax.collections[0].get_offsets()) == len(part)
    assert "identity, fitted = true" in legend_texts(fig)
    # a table and a summary work as well as the result; given Axes are used
    fig2, grid = plt.subplots(1, 2)
    out = plots.plot_parameter_recovery(recovery.table, summary=recovery.summary, ax=grid)
    assert out is fig2
    with pytest.raises(ValueError, match="one Axes per parameter"):
        plots.plot_parameter_recovery(recovery.table, ax=grid[0])


def test_confusion_plot(axes_figures):
    ax = axes_figures["confusion"](None)
    assert [t.get_text() for t in ax.texts] == ["0.80", "0.20", "0.30", "0.70"]
    assert labels(ax) == ["rw", "wsls"]
    with pytest.raises(TypeError, match="confusion must be a DataFrame"):
        plots.plot_confusion(object())


def test_panel_label():
    fig, ax = plt.subplots()
    assert plots.panel_label(ax, "A") is ax
    assert ax.texts[0].get_text() == "A" and ax.texts[0].get_fontweight() == "bold"
