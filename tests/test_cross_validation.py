"""Cross-validation: folds, no leakage, resumable units, the generating model ranks first."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import choicernn as cr
from choicernn.comparison.folds import fold_labels, make_folds


@pytest.fixture(scope="module")
def study():
    truth = {"alpha": 0.4, "beta": 5.0, "persev": 1.0}
    return cr.simulate(
        cr.QLearning("rw_persev"), "reversal", n_subjects=12, n_trials=200, seed=3, params=truth
    )


def test_block_folds_partition_every_sequence(study):
    labels = fold_labels(study, 5, "block")
    table = study.to_frame().assign(fold=labels)
    per_seq = table.groupby(["subject", "session"])["fold"]
    assert (per_seq.nunique() == 5).all()
    assert (per_seq.apply(lambda f: (np.diff(f.to_numpy()) >= 0).all())).all()  # contiguous
    folds = make_folds(study, 5, "block")
    assert sum(f.test.n_trials for f in folds) == study.n_trials
    for f in folds:
        assert f.train.n_trials + f.test.n_trials == study.n_trials


def test_session_and_subject_folds_are_seeded():
    data = cr.simulate(
        cr.Bias(),
        "two_armed_fixed",
        n_subjects=6,
        n_trials=20,
        n_sessions=4,
        seed=1,
        params={"bias_1": 0.0},
    )
    a = fold_labels(data, 2, "session", seed=0)
    assert (a == fold_labels(data, 2, "session", seed=0)).all()
    assert not all((fold_labels(data, 2, "session", seed=s) == a).all() for s in range(1, 6))
    s = fold_labels(data, 3, "subject", seed=0)
    per_subject = pd.Series(s).groupby(data.to_frame()["subject"]).nunique()
    assert (per_subject == 1).all()


def test_session_folds_need_two_sessions(study):
    with pytest.raises(ValueError, match="at least 2 sessions per subject"):
        fold_labels(study, 2, "session")


def test_subject_folds_refuse_per_subject_models(study):
    with pytest.raises(ValueError, match="per-subject"):
        cr.cross_validate([cr.QLearning("rw")], study, folds=3, by="subject")


def test_duplicate_names_are_an_error(study):
    with pytest.raises(ValueError, match="unique"):
        cr.cross_validate([cr.QLearning("rw"), cr.QLearning("rw")], study)


def test_no_leakage_from_the_test_fold(study):
    """Changing every held-out choice and reward of fold 2 leaves fold 2's fitted parameters unchanged."""
    labels = fold_labels(study, 5, "block")
    frame = study.to_frame()
    test = labels == 2
    frame.loc[test, "choice"] = 1 - frame.loc[test, "choice"]
    frame.loc[test, "reward"] = 1 - frame.loc[test, "reward"]
    changed = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    a = cr.cross_validate([cr.QLearning("rw")], study, folds=5, in_sample=False)
    b = cr.cross_validate([cr.QLearning("rw")], changed, folds=5, in_sample=False)
    pa, pb = a.fitted[("rw", 2)].params_, b.fitted[("rw", 2)].params_
    pd.testing.assert_frame_equal(pa, pb)
    # ... and the held-out scores of fold 2 do change
    assert not np.allclose(a.table.query("fold == 2")["nll"], b.table.query("fold == 2")["nll"])


def test_generating_model_ranks_first(study):
    models = [cr.Bias(), cr.WSLS(), cr.QLearning("rw"), cr.QLearning("rw_persev")]
    cv = cr.cross_validate(models, study, folds=4)
    assert set(cv.table.columns) >= {
        "model",
        "fold",
        "subject",
        "nll",
        "n_trials",
        "nll_per_trial",
        "normalized_lik",
        "accuracy",
    }
    assert len(cv.table) == 4 * 4 * 12
    assert cv.trials.groupby("model").size().eq(study.n_choices).all()
    pooled = cv.subject_table().groupby("model")[["nll", "n_trials"]].sum()
    per_trial = pooled["nll"] / pooled["n_trials"]
    assert per_trial.idxmin() == "rw_persev"
    summary = cv.summary()
    assert summary.index[0] == "rw_persev"
    assert {"aic", "bic", "accuracy"} <= set(summary.columns)


def test_table_matches_trials_and_model_likelihood(study):
    cv = cr.cross_validate([cr.QLearning("rw")], study, folds=3, in_sample=False, scoring="fresh")
    fold = make_folds(study, 3, "block")[1]
    model = cv.fitted[("rw", 1)]
    expected = -model.trial_log_likelihood(fold.test)["log_lik"].sum()
    assert cv.table.query("fold == 1")["nll"].sum() == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(
        cv.table["normalized_lik"], np.exp(-cv.table["nll"] / cv.table["n_trials"])
    )


def test_in_context_scoring_matches_a_hand_computation(study):
    """Default block scoring: the fitted model runs through each whole sequence (state carried
    through the training trials) and only held-out trials count; checked against the slow
    reference likelihood with the fold's fitted parameters."""
    from reference_models import q_learning_loglik

    cv = cr.cross_validate([cr.QLearning("rw")], study, folds=3, in_sample=False)
    labels = fold_labels(study, 3, "block")
    frame = study.to_frame()
    for fold in range(3):
        model = cv.fitted[("rw", fold)]
        params = {
            row.subject: {"alpha": row.alpha, "beta": row.beta}
            for row in model.params_.itertuples()
        }
        ref = q_learning_loglik(frame, 2, params)
        held = (labels == fold) & frame["choice"].notna().to_numpy()
        got = cv.table.query("fold == @fold")["nll"].sum()
        assert got == pytest.approx(-ref[held].sum(), rel=1e-9)
        fresh = cr.cross_validate(
            [cr.QLearning("rw")], study, folds=3, in_sample=False, scoring="fresh"
        )
        assert fresh.table.query("fold == @fold")["n_trials"].sum() == held.sum()
    # fresh-state scoring is more pessimistic for a learning model
    assert fresh.table["nll"].sum() > cv.table["nll"].sum()


def test_cache_dir_resumes_without_refitting(study, tmp_path):
    first = cr.cross_validate([cr.WSLS()], study, folds=3, cache_dir=tmp_path, in_sample=False)
    assert len(list(tmp_path.glob("*.csv"))) == 3
    next(tmp_path.glob("wsls__fold1__*.csv")).unlink()  # an interrupted run: one unit missing
    second = cr.cross_validate([cr.WSLS()], study, folds=3, cache_dir=tmp_path, in_sample=False)
    # only the missing fold is kept and written; its stacked fit covers every fold, so that the
    # numbers are those of a fresh study to the last bit
    assert list(second.timings["unit"]) == ["model=wsls fold=1 (fitted with folds 0,1,2)"]
    assert set(second.fitted) == {("wsls", 0), ("wsls", 1), ("wsls", 2)}  # cached fits kept
    pd.testing.assert_frame_equal(first.table, second.table, check_dtype=False, check_exact=True)
    # a changed model is not read from the stale files
    third = cr.cross_validate(
        [cr.WSLS(win_threshold=0.5)], study, folds=3, cache_dir=tmp_path, in_sample=False
    )
    assert len(third.fitted) == 3


def test_nested_selection_picks_by_inner_folds_only(study):
    """SelectByCV chooses on the outer training fold; the generating preset wins the inner CV."""
    from choicernn.comparison.selection import SelectByCV

    selector = SelectByCV([cr.Bias(), cr.QLearning("rw_persev"), cr.WSLS()], folds=3, name="nested")
    cv = cr.cross_validate([selector], study, folds=3, in_sample=False)
    picks = {fold: cv.fitted[("nested", fold)].selected_ for fold in range(3)}
    assert set(picks.values()) == {"rw_persev"}
    for fold in range(3):
        inner = cv.fitted[("nested", fold)].selection_
        assert set(inner["model"]) == {"bias", "rw_persev", "wsls"}
        assert inner.loc[inner["nll_per_trial"].idxmin(), "model"] == picks[fold]
    # the outer score is the refitted winner's held-out likelihood
    fold = make_folds(study, 3, "block")[0]
    winner = cv.fitted[("nested", 0)].best_
    assert cv.table.query("fold == 0")["nll"].sum() == pytest.approx(
        -winner.trial_log_likelihood(fold.test)["log_lik"].sum()
    )
    with pytest.raises(cr.NotFittedError, match="call fit"):
        SelectByCV([cr.WSLS()]).logits(study)


def test_session_folds_follow_sessions():
    data = cr.simulate(
        cr.Bias(),
        "two_armed_fixed",
        n_subjects=3,
        n_trials=10,
        n_sessions=4,
        seed=1,
        params={"bias_1": 0.0},
    )
    labels = fold_labels(data, 2, "session", seed=0)
    table = data.to_frame().assign(fold=labels)
    per_session = table.groupby(["subject", "session"])["fold"].nunique()
    assert (per_session == 1).all()  # a session is never split
    per_subject = table.groupby("subject")["fold"].value_counts().unstack()
    assert (per_subject == 20).all().all()  # two sessions of 10 trials in each fold


def test_in_sample_fits_are_kept(study):
    cv = cr.cross_validate([cr.QLearning("rw")], study, folds=2)
    fit = cv.fitted[("rw", "all")]
    np.testing.assert_allclose(fit.results_["aic"].to_numpy(), cv.in_sample["aic"].to_numpy())


def test_summary_attrs_floors_and_shared_bms_draws(study):
    models = [cr.WSLS(), cr.QLearning("rw"), cr.QLearning("rw_persev"), cr.Bias()]
    cv = cr.cross_validate(models, study, folds=3, in_sample=True)
    summary = cv.summary(holm=True)
    assert summary.attrs["best_model"] == summary.index[0]  # kept after the in-sample join
    assert summary.attrs["chance_nll_per_trial"] == pytest.approx(np.log(2))
    bms = cv.bms()
    np.testing.assert_array_equal(  # one Monte Carlo draw behind both tables
        summary["exceedance_prob"].to_numpy(), bms.table.loc[summary.index, "exceedance_prob"]
    )
    p = summary["wilcoxon_p"].dropna().sort_values()
    holm = summary.loc[p.index, "wilcoxon_p_holm"].to_numpy()
    assert (holm >= p.to_numpy() - 1e-15).all() and (np.diff(holm) >= 0).all()
    assert holm[0] == pytest.approx(min(1.0, len(p) * p.iloc[0]))
    pair = cv.paired_test("rw", "wsls")
    diff = cv.subject_table().pivot(index="subject", columns="model", values="nll_per_trial")
    assert pair["delta_nll_per_trial"] == pytest.approx((diff["rw"] - diff["wsls"]).mean())
    floors = cv.floors()
    assert floors.loc["chance", "nll_per_trial"] == pytest.approx(np.log(2))
    table = study.to_frame()
    previous = (  # the previous observed choice of the sequence (missed trials skipped)
        table.groupby(["subject", "session"])["choice"]
        .transform(lambda c: c.ffill().shift(1))
        .astype("float64")
    )
    held = cv.trials[cv.trials["model"] == "wsls"]
    merged = held.merge(
        table.assign(previous=previous)[["subject", "session", "trial", "previous"]],
        on=["subject", "session", "trial"],
    )
    expected = (merged["previous"] == merged["choice"].astype("float64")).mean()  # first: miss
    assert floors.loc["repeat_last", "accuracy"] == pytest.approx(expected)


def test_held_out_trials_merge_back_onto_the_input(study):
    frame = study.to_frame()
    frame["choice"] = frame["choice"].map({0: "left", 1: "right"})
    frame["my_trial"] = frame["trial"] + 1
    data = cr.ChoiceData.from_frame(
        frame,
        subject="subject",
        choice="choice",
        reward="reward",
        session="session",
        trial="my_trial",
        n_options=2,
        option_labels=["left", "right"],
    )
    cv = cr.cross_validate([cr.WSLS()], data, folds=2, in_sample=False)
    back = frame.reset_index(names="row").merge(
        cv.trials[["row", "choice_label", "p_choice"]], on="row"
    )
    assert len(back) == len(cv.trials)
    assert (back["choice"] == back["choice_label"]).all()
    ll = cr.WSLS().fit(data).trial_log_likelihood(data)
    assert (frame.loc[ll["row"], "choice"].to_numpy() == ll["choice_label"].to_numpy()).all()


def test_above_chance_is_flagged_and_warned(study):
    cv = cr.cross_validate(
        [cr.QLearning("full", method="mle", n_restarts=1), cr.Bias()],
        study,
        folds=2,
        in_sample=False,
    )
    cv.trials.loc[cv.trials["model"] == "bias", "log_lik"] = -5.0  # worse than guessing
    with pytest.warns(cr.SuspectResultWarning, match="above chance"):
        summary = cv.summary()
    assert summary.loc["bias", "above_chance"] and not summary.loc["full", "above_chance"]


def test_too_short_sequences_for_the_folds_are_named():
    frame = pd.DataFrame(
        {"subject": ["a"] * 3 + ["b"] * 20, "choice": [0, 1] * 11 + [0], "reward": [1.0] * 23}
    )
    data = cr.ChoiceData.from_frame(frame, n_options=2)
    with pytest.raises(ValueError, match=r"subject 'a' session 0 \(3 trials\)"):
        cr.cross_validate([cr.WSLS()], data, folds=5)
