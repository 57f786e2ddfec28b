"""Several fits of a network trained as one batched recurrence (``fit_many``) equal fitting each
alone, and ``cross_validate`` trains all folds of a network model that way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import choicernn as cr
from choicernn.comparison.folds import make_folds
from choicernn.models.base import ChoiceModel
from choicernn.models.gru import GRUModel, TrainingConfig

pytestmark = pytest.mark.filterwarnings("ignore:.*still improving:UserWarning")

SHORT = TrainingConfig(max_epochs=20, patience=4, n_seeds=2, lr=0.02, batch_size=3)


@pytest.fixture(scope="module")
def data() -> cr.ChoiceData:
    """6 subjects x 2 sessions x 30 trials, rewards 0/1."""
    rng = np.random.default_rng(0)
    params = pd.DataFrame(
        {"subject": np.arange(6), "alpha": rng.uniform(0.2, 0.6, 6), "beta": rng.uniform(3, 6, 6)}
    )
    return cr.simulate(
        cr.QLearning("rw"),
        "reversal",
        n_subjects=6,
        n_trials=30,
        n_sessions=2,
        seed=2,
        params=params,
    )


def assert_same_fit(batched: GRUModel, alone: GRUModel, data: cr.ChoiceData) -> None:
    pd.testing.assert_frame_equal(
        batched.seeds_[["seed", "best_epoch", "kept"]], alone.seeds_[["seed", "best_epoch", "kept"]]
    )
    assert batched.history_.shape == alone.history_.shape
    np.testing.assert_allclose(batched.logits(data), alone.logits(data), atol=2e-5, rtol=0)
    if alone.validation_nll_ is not None:
        assert batched.validation_nll_ == pytest.approx(alone.validation_nll_, abs=2e-6)


@pytest.mark.parametrize(
    "model",
    [
        GRUModel(4, training=SHORT),
        GRUModel(3, training=SHORT, subject_embedding=2),
        GRUModel(2, scope="subject", training=SHORT),
        GRUModel(2, scope="subject", init="pooled", training=SHORT),
    ],
    ids=["pooled", "embedding", "per_subject", "from_pooled"],
)
def test_fit_many_equals_each_fit_alone(data, model):
    folds = make_folds(data, folds=3, by="block")
    datasets = [f.train for f in folds]
    batched = model.fit_many(datasets, seed=5)
    assert not model.is_fitted()
    assert len(batched) == 3
    for fit, train in zip(batched, datasets, strict=True):
        alone = model.clone().fit(train, seed=5)
        assert_same_fit(fit, alone, data)
    if model.init == "pooled":
        for fit, train in zip(batched, datasets, strict=True):
            alone = model.clone().fit(train, seed=5)
            assert fit.pooled_validation_nll_ == pytest.approx(
                alone.pooled_validation_nll_, abs=2e-6
            )


def test_fit_many_with_different_subjects_and_an_embedding(data):
    """Subject folds: each fit has its own subjects (embedding rows drawn as alone)."""
    folds = make_folds(data, folds=3, by="subject", seed=1)
    datasets = [f.train for f in folds]
    model = GRUModel(3, training=SHORT, subject_embedding=2)
    for fit, train in zip(model.fit_many(datasets, seed=0), datasets, strict=True):
        alone = model.clone().fit(train, seed=0)
        assert fit.subjects_ == alone.subjects_
        assert_same_fit(fit, alone, train)


def test_fit_many_with_a_teacher(data):
    folds = make_folds(data, folds=2, by="block")
    datasets = [f.train for f in folds]
    model = GRUModel(2, training=SHORT, teacher=GRUModel(6, training=SHORT))
    for fit, train in zip(model.fit_many(datasets, seed=1), datasets, strict=True):
        alone = model.clone().fit(train, seed=1)
        np.testing.assert_allclose(
            fit.teacher_.logits(data), alone.teacher_.logits(data), atol=2e-5
        )
        assert_same_fit(fit, alone, data)


def test_default_fit_many_is_a_loop_of_clones(data):
    model = cr.QLearning("rw", method="em")  # EM: one data set at a time
    assert not model.capabilities().batched_fits
    assert GRUModel(2).capabilities().batched_fits
    folds = make_folds(data, folds=2, by="block")
    fits = model.fit_many([f.train for f in folds], seed=0)
    for fit, fold in zip(fits, folds, strict=True):
        alone = model.clone().fit(fold.train, seed=0)
        pd.testing.assert_frame_equal(fit.params_, alone.params_)
    assert GRUModel(2).fit_many([]) == []
    with pytest.raises(TypeError, match="ChoiceData"):
        GRUModel(2).fit_many([data.to_frame()])
    two_step = cr.simulate(cr.TwoStepModel("hybrid"), "two_step", n_subjects=2, n_trials=10)
    with pytest.raises(ValueError, match="one kind"):
        GRUModel(2).fit_many([data, two_step])


def _unbatched_trials(model: ChoiceModel, data, folds, seed):
    """What cross_validate scores, fold by fold with separate fits (the reference)."""
    from choicernn.comparison.cross_validation import held_out_trials
    from choicernn.comparison.folds import fold_labels

    labels = fold_labels(data, folds, "block", seed)
    out = []
    for fold in make_folds(data, folds=folds, by="block", seed=seed):
        fit = model.clone().fit(fold.train, seed=seed)
        trials = held_out_trials(fit, data, labels == fold.index)
        trials.insert(0, "fold", fold.index)
        out.append(trials)
    return pd.concat(out, ignore_index=True)


def test_cross_validate_trains_all_folds_at_once_with_the_same_result(data, tmp_path):
    model = GRUModel(3, training=SHORT)
    cv = cr.cross_validate([model, cr.QLearning("rw")], data, folds=3, cache_dir=tmp_path)
    units = cv.timings["unit"].tolist()
    assert "model=gru3 folds=0,1,2" in units  # one unit for every fold of the network
    assert "model=rw folds=0,1,2" in units and "model=rw fold=all" in units
    ours = cv.trials[cv.trials["model"] == "gru3"].reset_index(drop=True)
    reference = _unbatched_trials(model, data, 3, 0)
    np.testing.assert_allclose(ours["log_lik"], reference["log_lik"], atol=2e-5)
    assert (
        ours[["fold", "subject", "session", "trial"]].to_numpy()
        == reference[["fold", "subject", "session", "trial"]].to_numpy()
    ).all()
    assert set(k for k in cv.fitted if k[0] == "gru3") == {("gru3", 0), ("gru3", 1), ("gru3", 2)}
    # every fold is cached on its own: a resumed study recomputes nothing and agrees exactly
    again = cr.cross_validate([model, cr.QLearning("rw")], data, folds=3, cache_dir=tmp_path)
    assert again.timings.empty
    pd.testing.assert_frame_equal(again.table, cv.table)
    # a lost fold is recomputed alone, with the same result
    lost = next(tmp_path.glob("gru3__fold1__*.csv"))
    lost.unlink()
    partial = cr.cross_validate([model, cr.QLearning("rw")], data, folds=3, cache_dir=tmp_path)
    assert partial.timings["unit"].tolist() == ["model=gru3 fold=1"]
    pd.testing.assert_frame_equal(partial.table, cv.table, atol=1e-5)


@pytest.mark.slow
def test_with_worker_processes_each_worker_gets_a_group_of_folds(data):
    model = GRUModel(2, training=SHORT)
    ex = cr.Executor("processes", n_jobs=2)
    cv = cr.cross_validate([model], data, folds=4, executor=ex, in_sample=False)
    units = sorted(cv.timings["unit"])
    assert units == ["model=gru2 folds=0,1", "model=gru2 folds=2,3"]
    reference = _unbatched_trials(model, data, 4, 0)
    ours = cv.trials.sort_values(["fold", "subject", "session", "trial"]).reset_index(drop=True)
    np.testing.assert_allclose(ours["log_lik"], reference["log_lik"], atol=2e-5)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "model",
    [cr.QLearning("rw_persev"), cr.QLearning("dual_alpha", method="mle"), cr.WSLS()],
    ids=["rw_persev_map", "dual_alpha_mle", "wsls"],
)
def test_parametric_fit_many_stacks_the_folds_and_equals_each_fit_alone(data, model):
    """Per-subject models fit all folds' subjects in one batched BFGS, each fold with its own
    starting points: the same parameters, results and restarts as fitting the fold alone."""
    assert model.capabilities().batched_fits
    folds = make_folds(data, folds=3, by="block")
    fits = model.fit_many([f.train for f in folds], seed=4)
    for fit, fold in zip(fits, folds, strict=True):
        alone = model.clone().fit(fold.train, seed=4)
        # the same optimum; the path to it may take an iteration more or less (the stacked
        # batch sums in another order, and backtracking reads the last digits), so iteration
        # counts are not compared, and the SEs (a numerical Hessian) loosely
        se = [c for c in alone.results_ if c.startswith("se_")]
        drop = [*se, "n_iter"]
        pd.testing.assert_frame_equal(
            fit.results_.drop(columns=drop), alone.results_.drop(columns=drop), rtol=1e-6, atol=1e-8
        )
        pd.testing.assert_frame_equal(fit.results_[se], alone.results_[se], rtol=1e-4)
        pd.testing.assert_frame_equal(fit.restart_nll_, alone.restart_nll_, rtol=1e-7, atol=1e-6)
    # EM estimates one population per data set: fitted one data set at a time
    em = cr.QLearning("rw", method="em")
    assert not em.capabilities().batched_fits
    assert not cr.GQL().capabilities().batched_fits  # its own fit: not stacked


def test_parametric_fit_many_with_subject_folds(data):
    """Folds with different subjects and numbers of sequences stack too."""
    folds = make_folds(data, folds=3, by="subject", seed=0)
    model = cr.QLearning("rw")
    fits = model.fit_many([f.train for f in folds], seed=0)
    for fit, fold in zip(fits, folds, strict=True):
        alone = model.clone().fit(fold.train, seed=0)
        assert fit.params_["subject"].tolist() == alone.params_["subject"].tolist()
        pd.testing.assert_frame_equal(fit.params_, alone.params_, rtol=1e-7, atol=1e-9)
