"""Study recipes, the command line, and the README's quick start."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import choicernn as cr
from choicernn.cli import main
from choicernn.recipes import RecipeError, recipe_from_dict

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

SMALL = """
name = "small"
[data]
path = "trials.csv"
subject = "participant"
choice = "choice"
reward = "reward"
trial = "trial"
n_options = 2
choice_base = 1
[task]
name = "reversal"
[cv]
folds = 3
[[models]]
type = "bias"
[[models]]
type = "qlearning"
preset = "rw"
"""


@pytest.fixture
def small_recipe(tmp_path):
    from choicernn.demo import demo_path

    trials = pd.read_csv(demo_path())
    trials[trials["participant"].isin(["p01", "p02", "p03", "p04", "p05", "p06"])].to_csv(
        tmp_path / "trials.csv", index=False
    )
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return path


def test_run_writes_tables_figures_report_and_resumes(small_recipe, capsys):
    assert main(["run", str(small_recipe), "--quiet"]) == 0
    out = small_recipe.parent / "small"
    for name in [
        "cv_table.csv",
        "subject_table.csv",
        "summary.csv",
        "bms.csv",
        "in_sample.csv",
        "report.md",
        "params/rw.csv",
        "figures/model_comparison.png",
        "figures/model_comparison.pdf",
        "figures/difference_to_best.svg",
        "figures/stay_probabilities.png",
        "figures/parameters.png",
    ]:
        assert (out / name).exists(), name
    summary = pd.read_csv(out / "summary.csv")
    assert summary["model"].iloc[0] == "rw"
    assert "rw" in capsys.readouterr().out
    assert not list(out.rglob("*.tmp"))  # no half-written files left behind
    stamps = {p: p.stat().st_mtime_ns for p in (out / "units").glob("*__fold*.csv")}
    assert len(stamps) == 6
    report = (out / "report.md").read_text()
    figures = sorted(p.name for p in (out / "figures").iterdir())
    cv = cr.run_recipe(cr.load_recipe(small_recipe), out)
    assert cv.timings is None or len(cv.timings) == 0  # every unit came from units/
    assert {k for k in cv.fitted if k[1] != "all"} == {(m, f) for m in cv.models for f in range(3)}
    assert {p: p.stat().st_mtime_ns for p in (out / "units").glob("*__fold*.csv")} == stamps
    # a resumed run writes the same report and the same figures as the fresh one
    assert (out / "report.md").read_text() == report
    assert sorted(p.name for p in (out / "figures").iterdir()) == figures
    # a model removed from the recipe: its outputs are moved aside and the report says so
    small_recipe.write_text(SMALL.replace('[[models]]\ntype = "bias"\n', ""))
    cr.run_recipe(cr.load_recipe(small_recipe), out, figures=False)
    assert not (out / "params" / "bias.csv").exists()
    assert (out / "removed" / "params" / "bias.csv").exists()
    assert "moved to `removed/`: bias" in (out / "report.md").read_text()


def test_recipe_errors_name_the_field():
    base = {"name": "x", "data": {"bundled": "demo"}, "models": [{"type": "bias"}]}
    with pytest.raises(RecipeError, match=r"unknown fields \['colour'\]"):
        recipe_from_dict({**base, "colour": 1})
    with pytest.raises(RecipeError, match=r"\[data\] has unknown fields \['subjekt'\]"):
        recipe_from_dict({**base, "data": {"bundled": "demo", "subjekt": "id"}})
    with pytest.raises(RecipeError, match="unknown model type 'svm'; available types are"):
        recipe_from_dict({**base, "models": [{"type": "svm"}]})
    with pytest.raises(RecipeError, match="models\\[0\\] needs a 'type'"):
        recipe_from_dict({**base, "models": [{"preset": "rw"}]})
    with pytest.raises(RecipeError, match="'models' is required|field 'models' is required"):
        recipe_from_dict({"name": "x", "data": {"bundled": "demo"}})


def test_shipped_demo_recipe_loads():
    recipe = cr.load_recipe("demo")
    names = [m.name for m in recipe.make_models()]
    assert {"bias", "wsls", "rw", "rw_persev", "gru4"} <= set(names)


@pytest.mark.parametrize(
    "command",
    ["demo", "run", "compare", "fit", "simulate", "tasks", "parameter-recovery", "model-recovery"],
)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: choicernn" in capsys.readouterr().out


def test_simulate_then_fit_from_the_command_line(tmp_path, capsys):
    csv = tmp_path / "sim.csv"
    assert (
        main(
            [
                "simulate",
                "--model",
                "rw",
                "--task",
                "reversal",
                "--n-subjects",
                "4",
                "--n-trials",
                "60",
                "--out",
                str(csv),
            ]
        )
        == 0
    )
    assert (tmp_path / "sim.params.csv").exists()
    fits = tmp_path / "fits.csv"
    assert (
        main(
            [
                "fit",
                str(csv),
                "--models",
                "rw",
                "wsls",
                "--n-options",
                "2",
                "--session",
                "session",
                "--trial",
                "trial",
                "--restarts",
                "2",
                "--quiet",
                "--out",
                str(fits),
            ]
        )
        == 0
    )
    table = pd.read_csv(fits)
    assert set(table["model"]) == {"rw", "wsls"} and len(table) == 8


def test_readme_quick_start_runs(tmp_path, monkeypatch):
    path = SHARED / "hbayesdm" / "bandit2arm_exampleData.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder lives beside the checkout in CI)")
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## Quick start\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(path.parent)
    namespace: dict = {}
    exec(compile(code, "README quick start", "exec"), namespace)
    assert isinstance(namespace["sim"], cr.ChoiceData)
    assert len(namespace["model"].params_) == 20


def test_select_type_builds_a_nested_selector():
    recipe = recipe_from_dict(
        {
            "name": "x",
            "data": {"bundled": "demo"},
            "models": [
                {
                    "type": "select",
                    "name": "nested",
                    "folds": 2,
                    "candidates": [{"type": "bias"}, {"type": "qlearning", "preset": "rw"}],
                }
            ],
        }
    )
    (model,) = recipe.make_models()
    assert model.name == "nested" and [m.name for m in model.candidates] == ["bias", "rw"]
    with pytest.raises(RecipeError, match="candidates"):
        recipe_from_dict(
            {
                "name": "x",
                "data": {"bundled": "demo"},
                "models": [{"type": "select", "candidates": []}],
            }
        )


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys):
    """The README's main command: the bundled study, seven models, tables and report."""
    assert main(["demo", "--quiet", "--no-figures", "--out", str(tmp_path / "demo")]) == 0
    summary = pd.read_csv(tmp_path / "demo" / "summary.csv")
    assert summary["model"].iloc[0] == "rw_persev"  # the generating model ranks first
    assert len(summary) == 7
    assert (tmp_path / "demo" / "report.md").exists()
    assert "rw_persev" in capsys.readouterr().out


def test_recovery_subcommands_write_tables_and_figures(tmp_path, capsys):
    out = tmp_path / "rec"
    assert (
        main(
            [
                "parameter-recovery",
                "--model",
                "rw",
                "--n-subjects",
                "20",
                "--n-trials",
                "150",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = pd.read_csv(out / "parameter_recovery_summary.csv")
    assert set(summary["parameter"]) == {"alpha", "beta"}
    assert (out / "parameter_recovery.png").exists()
    assert (
        main(
            [
                "model-recovery",
                "--models",
                "bias",
                "rw",
                "--n-subjects",
                "8",
                "--n-trials",
                "120",
                "--folds",
                "3",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    confusion = pd.read_csv(out / "confusion.csv").set_index("generating")
    assert confusion.sum(axis=1).round(9).eq(1).all()
    assert (out / "model_recovery.pdf").exists()


def test_recipe_analyses_write_their_tables(small_recipe):
    text = small_recipe.read_text().replace(
        '[[models]]\ntype = "bias"',
        """[[models]]
type = "bias"
[[models]]
type = "gru"
hidden_size = 2
name = "tiny"
training = { max_epochs = 3, n_seeds = 1 }""",
        1,
    )
    text += '\n[analyses]\nposterior_predictive = true\nexplain = [{model = "tiny", candidates = [{type = "qlearning", preset = "rw"}, {type = "wsls"}], n_subjects = 6, n_trials = 80, folds = 2}]\nmembership_audit = ["tiny"]\n'
    small_recipe.write_text(text)
    recipe = cr.load_recipe(small_recipe)
    out = small_recipe.parent / "small"
    cr.run_recipe(recipe, out, figures=False)
    ppc = pd.read_csv(out / "analyses" / "posterior_predictive.csv")
    assert set(ppc["model"]) == {"bias", "rw", "tiny"}
    assert (out / "analyses" / "explain_tiny.csv").exists()
    audit = pd.read_csv(out / "analyses" / "membership_tiny.csv")
    assert audit["member"].sum() == 3 and 0 <= audit["auc"].iloc[0] <= 1
    assert (out / "figures" / "membership_tiny.png").exists()
    with pytest.raises(RecipeError, match="analyses"):
        recipe_from_dict(
            {
                "name": "x",
                "data": {"bundled": "demo"},
                "models": [{"type": "bias"}],
                "analyses": {"ppc": True},
            }
        )


def test_recipe_execution_section_runs_the_study_on_processes(small_recipe):
    path = small_recipe
    path.write_text(SMALL + '\n[execution]\nbackend = "processes"\nn_jobs = 2\n')
    recipe = cr.load_recipe(path)
    assert recipe.make_executor() == cr.Executor("processes", n_jobs=2)
    assert recipe.make_executor(backend="in-process", n_jobs=None).backend == "in-process"
    assert recipe.make_executor(address="tcp://host:8786").backend == "dask"
    parallel = cr.run_recipe(recipe, path.parent / "parallel", figures=False)
    serial = cr.run_recipe(
        recipe, path.parent / "serial", figures=False, executor="in-process"
    )
    pd.testing.assert_frame_equal(parallel.table, serial.table, check_exact=True)


def test_recipe_execution_errors_name_the_field():
    base = {"name": "x", "data": {"bundled": "demo"}, "models": [{"type": "bias"}]}
    with pytest.raises(RecipeError, match=r"\[execution\] has unknown fields \['workers'\]"):
        recipe_from_dict({**base, "execution": {"workers": 2}})
    with pytest.raises(RecipeError, match=r"\[execution\]: backend must be one of"):
        recipe_from_dict({**base, "execution": {"backend": "slurm"}})


def test_cli_reports_failed_units_and_a_rerun_completes(tmp_path, capsys, monkeypatch):
    """`choicernn compare` with one unit that raises: exit 1, failures.csv, then a clean re-run."""
    from choicernn.demo import demo_path

    calls = {"n": 0}
    original = cr.WSLS.fit

    def flaky(self, data, **options):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("transient failure")
        return original(self, data, **options)

    monkeypatch.setattr(cr.WSLS, "fit", flaky)
    args = ["compare", str(demo_path()), "--subject", "participant", "--trial", "trial"]
    args += ["--n-options", "2", "--choice-base", "1", "--models", "bias", "wsls", "--folds", "3"]
    args += ["--quiet", "--out", str(tmp_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "model=wsls fold=1: error (RuntimeError: transient failure)" in err
    assert pd.read_csv(tmp_path / "failures.csv")["unit"].tolist() == ["model=wsls fold=1"]
    assert len(list((tmp_path / "units").glob("*.csv"))) == 5
    assert main(args) == 0
    # first run: folds 0, 1 (failed), 2 and the in-sample fit; the re-run: fold 1 only
    assert calls["n"] == 5
    assert not (tmp_path / "failures.csv").exists()  # the failure is gone, so is its report
    assert (tmp_path / "summary.csv").exists()


def test_recipe_with_skip_reports_failures_and_leaves_the_model_out(small_recipe, monkeypatch):
    original = cr.Bias.fit

    def broken(self, data, **options):
        raise RuntimeError("no bias today")

    monkeypatch.setattr(cr.Bias, "fit", broken)
    out = small_recipe.parent / "skip"
    with pytest.warns(RuntimeWarning, match="4 unit"):
        cv = cr.run_recipe(
            cr.load_recipe(small_recipe),
            out,
            figures=False,
            executor=cr.Executor(on_error="skip"),
        )
    assert cv.models == ["rw"]
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures["unit"]) == [f"model=bias fold={f}" for f in (0, 1, 2, "all")]
    assert "4 unit(s) failed and were skipped" in (out / "report.md").read_text()
    assert not (out / "params" / "bias.csv").exists() and (out / "params" / "rw.csv").exists()
    monkeypatch.setattr(cr.Bias, "fit", original)
    cv = cr.run_recipe(cr.load_recipe(small_recipe), out, figures=False)
    assert cv.models == ["bias", "rw"] and not (out / "failures.csv").exists()


def test_cli_contract_fit_gru_compare_outputs_and_one_line_errors(tmp_path, capsys):
    """`choicernn fit --models gru` works; `compare` writes what it says; data errors are one
    line naming the flag, exit status 2; --debug shows the traceback; help shows defaults."""
    from choicernn.cli import build_parser, main

    data = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=4, n_trials=60, seed=0)
    path = tmp_path / "d.csv"
    data.to_frame().to_csv(path, index=False)
    assert main(["fit", str(path), "--n-options", "2", "--models", "gru", "rw", "--quiet",
                 "--out", str(tmp_path / "fits.csv")]) == 0
    fits = pd.read_csv(tmp_path / "fits.csv")
    assert set(fits["model"]) == {"gru8", "rw"}
    assert main(["fit", str(path), "--n-options", "2", "--method", "em", "--quiet",
                 "--out", str(tmp_path / "em.csv")]) == 0
    out = tmp_path / "cmp"
    assert main(["compare", str(path), "--n-options", "2", "--models", "wsls", "rw", "--folds",
                 "2", "--quiet", "--out", str(out)]) == 0
    for name in ("summary.csv", "cv_table.csv", "trials.csv", "report.md",
                 "figures/model_comparison.png", "figures/difference_to_best.png"):
        assert (out / name).exists(), name
    capsys.readouterr()
    assert main(["fit", str(path), "--n-options", "2", "--subject", "nope",
                 "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "nope" in err[0]
    assert "subject=" not in err[0]
    with pytest.raises(cr.ChoiceDataError):
        main(["--debug", "fit", str(path), "--n-options", "2", "--subject", "nope",
              "--out", str(tmp_path / "x.csv")])
    helptext = build_parser()._subparsers._group_actions[0].choices["compare"].format_help()
    assert "(default: 5)" in helptext and "(default: 0)" in helptext


def test_a_recipe_with_one_surviving_model_still_writes_its_figures(small_recipe):
    """--on-error skip can leave a single model: the comparison figure is drawn, the
    difference-to-best figure (which needs two models) is left out, nothing crashes."""
    small_recipe.write_text(SMALL.replace('[[models]]\ntype = "bias"\n', ""))
    out = small_recipe.parent / "one"
    cv = cr.run_recipe(cr.load_recipe(small_recipe), out)
    assert cv.models == ["rw"]
    assert (out / "figures" / "model_comparison.png").exists()
    assert not (out / "figures" / "difference_to_best.png").exists()
    assert (out / "report.md").exists()
