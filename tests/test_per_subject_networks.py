"""Per-subject networks, the batched replica engine, distillation, L1, splits, hidden states."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.models.base import ChoiceModel
from choicernn.models.gru import GRUModel, TrainingConfig
from choicernn.models.persistence import load_model
from choicernn.models.rnn_training import split_kind, split_validation

SHORT = TrainingConfig(max_epochs=25, patience=5, n_seeds=2, lr=0.02)


def heterogeneous(n_subjects: int, n_trials: int, n_sessions: int = 1, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = pd.DataFrame(
        {
            "subject": np.arange(n_subjects),
            "alpha": rng.uniform(0.2, 0.6, n_subjects),
            "beta": rng.uniform(3, 6, n_subjects),
        }
    )
    return cr.simulate(
        cr.QLearning("rw"),
        "reversal",
        n_subjects=n_subjects,
        n_trials=n_trials,
        n_sessions=n_sessions,
        seed=seed,
        params=params,
    )


@pytest.fixture(scope="module")
def data() -> cr.ChoiceData:
    """5 subjects x 2 sessions x 40 trials (string labels for subject 'e')."""
    frame = heterogeneous(5, 40, n_sessions=2, seed=1).to_frame()
    frame["subject"] = frame["subject"].map({0: 10, 1: 11, 2: 12, 3: 13, 4: "e"})
    return cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")


@pytest.fixture(scope="module")
def per_subject(data) -> GRUModel:
    return GRUModel(2, scope="subject", training=SHORT).fit(data, seed=3)


# ---------------------------------------------------------------------- settings
def test_settings_and_capabilities():
    model = GRUModel(2, scope="subject")
    assert model.name == "gru2_subj"
    assert model.capabilities().per_subject_parameters and model.capabilities().network
    assert not GRUModel(8).capabilities().per_subject_parameters
    distilled = GRUModel(2, scope="subject", teacher=GRUModel(20))
    assert distilled.name == "gru2_subj_distilled"
    clone = distilled.clone()
    assert clone.teacher is not distilled.teacher and clone.teacher.hidden_size == 20
    assert distilled.get_params()["teacher__hidden_size"] == 20
    with pytest.raises(ValueError, match="scope must be 'pooled' or 'subject'"):
        GRUModel(2, scope="subjects")
    with pytest.raises(ValueError, match="subject_embedding is for pooled networks"):
        GRUModel(2, scope="subject", subject_embedding=2)
    with pytest.raises(TypeError, match="teacher must be a choice model"):
        GRUModel(2, teacher="gru20")
    with pytest.raises(ValueError, match="l1 must be >= 0"):
        TrainingConfig(l1=-1.0)


def test_automatic_settings_by_size_and_scope():
    big = TrainingConfig().resolve(8, "pooled")
    assert (big.lr, big.weight_decay, big.patience, big.l1, big.n_seeds) == (
        0.01,
        1e-4,
        10,
        0.0,
        1,
    )
    tiny = TrainingConfig().resolve(2, "pooled")
    assert (tiny.lr, tiny.weight_decay, tiny.patience) == (5e-3, 0.0, 200)
    assert TrainingConfig().resolve(16, "subject").patience == 200
    assert TrainingConfig(patience=7).resolve(2, "subject").patience == 7  # explicit wins


# ---------------------------------------------------------------------- validation split
def test_auto_split_holds_out_a_fraction_never_half(data):
    """Two sessions per subject: 'auto' holds out ~20% of every subject's choices (blocks)."""
    assert split_kind(data.sequences, TrainingConfig()) == "blocks"
    model = GRUModel(2, training=SHORT)
    model._start(data)
    full = model._prepare(data, torch.device("cpu"))
    train, val = split_validation(full, data.sequences, TrainingConfig())
    assert val.n_choices / data.n_choices == pytest.approx(0.2, abs=0.02)
    for row in range(full.subject.max() + 1):
        mine = full.subject == row
        assert int((val.y[mine] >= 0).sum()) > 0 and int((train.y[mine] >= 0).sum()) > 0
    five = heterogeneous(2, 20, n_sessions=5)
    assert split_kind(five.sequences, TrainingConfig()) == "sessions"
    assert split_kind(five.sequences, TrainingConfig(validation_fraction=0.1)) == "blocks"


# ---------------------------------------------------------------------- the batched engine
def test_batched_per_subject_training_equals_each_subject_alone(data, per_subject):
    """Every subject's network is the one it gets when trained alone (same seed)."""
    together = per_subject.logits(data)
    rows = data.sequences["subject"].to_numpy()
    for subject in data.subjects:
        alone = GRUModel(2, scope="subject", training=SHORT).fit(data.subject(subject), seed=3)
        mine = np.flatnonzero(rows == subject)
        assert torch.allclose(alone.logits(data.subject(subject)), together[mine], atol=2e-5)
        kept_alone = alone.seeds_[alone.seeds_["kept"]].iloc[0]
        kept = per_subject.seeds_[
            per_subject.seeds_["kept"] & (per_subject.seeds_["subject"] == subject)
        ].iloc[0]
        assert kept_alone["seed"] == kept["seed"]
        assert kept_alone["best_epoch"] == kept["best_epoch"]


def test_mini_batches_with_unequal_sessions_equal_alone(data):
    """One sequence per step, subjects with 1 or 2 sessions: still each subject's own run."""
    frame = data.to_frame()
    frame = frame[~((frame["subject"] == "e") & (frame["session"] == 1))]
    uneven = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    config = TrainingConfig(max_epochs=8, patience=3, n_seeds=1, batch_size=1, lr=0.02)
    together = GRUModel(2, scope="subject", training=config).fit(uneven, seed=5)
    assert together.history_["n_training"].iloc[0] == uneven.n_subjects
    rows = uneven.sequences["subject"].to_numpy()
    for subject in (10, "e"):
        alone = GRUModel(2, scope="subject", training=config).fit(uneven.subject(subject), seed=5)
        mine = np.flatnonzero(rows == subject)
        assert torch.allclose(
            alone.logits(uneven.subject(subject)), together.logits(uneven)[mine], atol=2e-5
        )


def test_each_subject_stops_on_its_own(per_subject, data):
    seeds = per_subject.seeds_
    assert list(seeds.columns) == ["subject", "seed", "best_epoch", "train_nll", "val_nll", "kept"]
    assert len(seeds) == 2 * data.n_subjects
    assert seeds.groupby("subject", sort=False)["kept"].sum().eq(1).all()
    history = per_subject.history_
    assert list(history.columns) == ["seed", "epoch", "train_nll", "val_nll", "n_training"]
    assert history["n_training"].max() == data.n_subjects
    # The kept networks score their subjects' held-out blocks as recorded.
    ll = per_subject.log_likelihood_tensor(data)
    late = torch.arange(40) >= 32
    nll = -float(ll[:, late].sum()) / int(data.tensors().mask[:, late].sum())
    assert nll == pytest.approx(per_subject.validation_nll_, rel=1e-5)


def test_per_subject_scores_only_fitted_subjects_and_agent_matches(per_subject, data):
    other = heterogeneous(1, 10, seed=5)
    with pytest.raises(ValueError, match="were not in its training data"):
        per_subject.logits(other)
    agent, table = per_subject.agent(data.n_sequences, params=list(data.sequences["subject"]))
    assert table["source_subject"].tolist() == list(data.sequences["subject"])
    batch = data.tensors()
    steps = []
    for t in range(batch.n_trials):
        steps.append(agent.logits().clone())
        agent.update(batch.choices[:, t].numpy(), batch.rewards[:, t].numpy(), None)
    assert torch.allclose(torch.stack(steps, 1), per_subject.logits(data).double(), atol=1e-5)
    with pytest.raises(ValueError, match="not fitted subjects"):
        per_subject.agent(2, params=["nobody"])
    sim = cr.simulate(per_subject, "reversal", n_subjects=3, n_trials=10, seed=0)
    assert sim.params["source_subject"].tolist() == [10, 11, 12]


def test_l1_shrinks_weights(data):
    def weight_mass(l1):
        config = TrainingConfig(max_epochs=40, patience=40, n_seeds=1, lr=0.02, l1=l1)
        model = GRUModel(3, scope="subject", training=config).fit(data, seed=0)
        return sum(float(w.detach().abs().sum()) for w in model.network_.core.penalized())

    assert weight_mass(0.05) < 0.7 * weight_mass(0.0)


def test_pooled_seeds_are_replicas_and_reproducible(data):
    config = TrainingConfig(max_epochs=6, n_seeds=3, batch_size=3)
    a = GRUModel(3, training=config).fit(data, seed=1)
    b = GRUModel(3, training=config).fit(data, seed=1)
    assert torch.equal(a.logits(data), b.logits(data))
    assert a.seeds_["kept"].sum() == 1 and len(a.seeds_) == 3


# ---------------------------------------------------------------------- distillation
class SpyTeacher(ChoiceModel):
    """A fixed policy that records what it is fitted on; ``crazy`` flips it on the student's
    validation blocks (the last 20% of every sequence)."""

    fitted_on: list[pd.DataFrame] = []

    def __init__(self, crazy: bool = False, name: str = "spy") -> None:
        self.crazy = crazy
        self.name = name

    def fit(self, data, *, seed=None, validation=None):
        SpyTeacher.fitted_on.append(data.to_frame())
        self.n_options_ = data.n_options
        return self

    def logits(self, data):
        batch = data.tensors()
        logits = torch.zeros(batch.n_sequences, batch.n_trials, 2)
        logits[..., 1] = 1.5  # p(option 1) ~ 0.82 everywhere ...
        if self.crazy:
            start = torch.floor(batch.lengths * 0.8).long()
            late = torch.arange(batch.n_trials).unsqueeze(0) >= start.unsqueeze(1)
            logits[..., 1] = torch.where(late, torch.tensor(-8.0), logits[..., 1])
        return logits

    def agent(self, n_agents, *, seed=None, params=None, n_options=None):
        raise NotImplementedError


def test_distillation_never_uses_held_out_trials(data):
    """The teacher is fitted on exactly the data given to fit, and the students never train on
    the teacher's probabilities of their validation blocks (a teacher that is wildly different
    there gives the same students)."""
    fold_train, fold_test = data.split_trial_blocks(2)
    config = TrainingConfig(max_epochs=15, patience=15, n_seeds=1, lr=0.05)
    SpyTeacher.fitted_on.clear()
    sane = GRUModel(2, scope="subject", teacher=SpyTeacher(), training=config)
    sane.fit(fold_train, seed=0)
    crazy = GRUModel(2, scope="subject", teacher=SpyTeacher(True), training=config)
    crazy.fit(fold_train, seed=0)
    assert len(SpyTeacher.fitted_on) == 2
    for seen in SpyTeacher.fitted_on:
        pd.testing.assert_frame_equal(seen, fold_train.to_frame())
    assert torch.equal(sane.logits(fold_test), crazy.logits(fold_test))
    assert isinstance(sane.teacher_, SpyTeacher) and sane.teacher is not sane.teacher_
    # Control: a teacher that differs on the training trials moves the students its way.
    flipped = GRUModel(2, scope="subject", teacher=CrazyEverywhere(), training=config)
    flipped.fit(fold_train, seed=0)
    mask = fold_train.tensors().mask

    def lean(model):
        return float(torch.softmax(model.logits(fold_train), -1)[..., 1][mask].mean())

    assert lean(sane) > lean(flipped) + 0.1


class CrazyEverywhere(SpyTeacher):
    def logits(self, data):
        out = super().logits(data)
        out[..., 1] = -8.0
        return out


def test_distilled_with_permutations_round_trip(data, tmp_path):
    teacher = GRUModel(6, training=TrainingConfig(max_epochs=5, n_seeds=1))
    config = TrainingConfig(max_epochs=10, patience=10, n_seeds=1, augment_permutations=True)
    model = GRUModel(2, scope="subject", teacher=teacher, training=config).fit(data, seed=0)
    assert model.teacher_.is_fitted() and not teacher.is_fitted()
    folder = model.save(tmp_path / "distilled")
    loaded = load_model(folder)
    assert isinstance(loaded.teacher, GRUModel) and loaded.teacher.hidden_size == 6
    assert loaded.get_params(deep=False)["training"] == config
    assert torch.equal(loaded.logits(data), model.logits(data))


def test_per_subject_save_load_identical(per_subject, data, tmp_path):
    loaded = load_model(per_subject.save(tmp_path / "subj"))
    assert loaded.subjects_ == [10, 11, 12, 13, "e"]
    assert loaded.scope == "subject"
    pd.testing.assert_frame_equal(
        loaded.trial_log_likelihood(data), per_subject.trial_log_likelihood(data)
    )
    pd.testing.assert_frame_equal(loaded.seeds_, per_subject.seeds_)


# ---------------------------------------------------------------------- hidden states
@pytest.mark.parametrize(
    "cell, layers, scope", [("gru", 1, "subject"), ("lstm", 2, "pooled"), ("rnn", 1, "pooled")]
)
def test_hidden_states(data, cell, layers, scope):
    config = TrainingConfig(max_epochs=2, n_seeds=1)
    model = GRUModel(3, cell=cell, n_layers=layers, scope=scope, training=config).fit(data)
    states = model.hidden_states(data)
    assert list(states.columns) == [
        "subject",
        "session",
        "trial",
        "layer",
        "unit",
        "state",
        "value",
    ]
    n_kinds = 2 if cell == "lstm" else 1
    assert len(states) == data.n_trials * 3 * layers * n_kinds
    # The logits are read out from the last layer's hidden state of the same trial.
    last = states[(states["layer"] == layers - 1) & (states["state"] == "h")]
    h = last["value"].to_numpy().reshape(data.n_trials, 3)
    core = model.network_.core
    row = 0 if scope == "pooled" else None
    if row is None:
        index = data.tensors().subject_index.numpy()[data.sequence_of_row]
        w = core.readout_w.detach().numpy()[index]
        b = core.readout_b.detach().numpy()[index]
        logits = np.einsum("nh,nhk->nk", h, w) + b
    else:
        logits = h @ core.readout_w.detach().numpy()[0] + core.readout_b.detach().numpy()[0]
    expected = data.trial_values(model.logits(data))
    assert np.allclose(logits, expected, atol=1e-5)
    assert not np.allclose(h[0], h[1])


# ---------------------------------------------------------------------- statistical check
@pytest.mark.slow
@pytest.mark.long
@pytest.mark.xfail(
    reason="issue #13 target (1.02x the generating NLL) not reached yet: measured (reversal) "
    "gru2 per subject fine-tuned from the pooled gru2 1.033 (random starts 1.44 with either "
    "split), gru8 + 2-d embedding with a "
    "Normal(0, 0.3) prior 1.024; the generating family refitted by MAP reaches 1.010",
    strict=False,
)
def test_tiny_networks_near_generating_model_on_heterogeneous_q_learners():
    """100 Q-learners (alpha in (0.2, 0.6), beta in (3, 6)), 300 training trials (session 0)
    and 300 test trials (session 1) each: the best tiny per-subject or embedded network comes
    within 2% of the generating model's held-out NLL (issue #13).

    Measured (seed 0, reversal task; 2026-11-30): generating 0.3155 nats/choice; Q `rw` refitted
    per subject by MAP 1.010 (the ceiling of any fitted model here). Ratios: per-subject gru2
    from random weights 1.438 (tail validation); per-subject gru2 fine-tuned from the pooled
    gru2 (``init="pooled"``, prior sd 0.5) 1.033 (drifting task: 1.029); gru8 + 2-d embedding
    1.029, with an embedding prior sd 1.0 1.027, sd 0.3 1.024 (drifting: 1.032, 1.030, 1.030).
    Runs about 30 minutes on a loaded 2-core machine (the tiny pooled stage dominates).
    """
    data = heterogeneous(100, 300, n_sessions=2, seed=0)
    train, test = data.split_sessions([1])
    truth = cr.QLearning("rw")
    logits = truth.logits(test, params=data.params).double()
    choices = test.tensors().choices
    ll = torch.log_softmax(logits, -1).gather(-1, choices.clamp(min=0).unsqueeze(-1))
    generating = -float(ll.squeeze(-1)[test.tensors().mask].sum()) / test.n_choices
    candidates = {
        "gru2_subj_from_pooled": GRUModel(2, scope="subject", init="pooled"),
        "gru8_emb2_sd0.3": GRUModel(
            8, subject_embedding=2, training=TrainingConfig(embedding_sd=0.3)
        ),
    }
    ratios = {
        name: -model.fit(train, seed=0).score(test) / generating
        for name, model in candidates.items()
    }
    assert min(ratios.values()) < 1.02, ratios


# ---------------------------------------------------------------------- interleaved split
def test_interleaved_split_spreads_short_blocks_through_every_session():
    data = heterogeneous(3, 100, n_sessions=2, seed=2)
    assert split_kind(data.sequences, TrainingConfig(), "subject") == "interleaved"
    assert split_kind(data.sequences, TrainingConfig(), "pooled") == "blocks"
    model = GRUModel(2, scope="subject")
    model._start(data)
    full = model._prepare(data, torch.device("cpu"))
    config = TrainingConfig(split="interleaved", validation_block=10)
    train, val = split_validation(full, data.sequences, config, "subject")
    assert train.x is val.x and torch.equal(train.lengths, full.lengths)  # whole sessions read
    held = val.y >= 0
    assert not bool(((train.y >= 0) & held).any())  # no held-out choice is a training target
    assert torch.equal((train.y >= 0) | held, full.y >= 0)
    # 100 trials, 20%, blocks of 10: trials 40-49 and 90-99 of every session.
    expected = torch.zeros(100, dtype=torch.bool)
    expected[40:50] = expected[90:100] = True
    for row in range(data.n_sequences):
        assert torch.equal(held[row] | (full.y[row] < 0), expected | (full.y[row] < 0))
    assert val.n_choices / full.n_choices == pytest.approx(0.2, abs=0.01)


def test_interleaved_blocks_for_short_and_uneven_sequences():
    from choicernn.models.rnn_training import interleaved_blocks

    flags = interleaved_blocks(np.array([40, 7, 1, 300]), 300, 0.2, 10)
    assert flags[0].nonzero()[0].tolist() == list(range(32, 40))  # one block: the tail
    assert flags[1].nonzero()[0].tolist() == [6]
    assert not flags[2].any()  # one trial: nothing to hold out
    assert flags[3].sum() == 60 and flags[3, 40:50].all() and flags[3, 290:300].all()


# ---------------------------------------------------------------------- init="pooled"
def test_from_pooled_settings():
    model = GRUModel(2, scope="subject", init="pooled")
    assert model.name == "gru2_subj_from_pooled"
    resolved = model.config
    assert (resolved.n_seeds, resolved.l1, resolved.pooled_sd) == (1, 0.0, 0.5)
    with pytest.raises(ValueError, match="init='pooled' starts per-subject networks"):
        GRUModel(2, init="pooled")
    with pytest.raises(ValueError, match="init must be 'random' or 'pooled'"):
        GRUModel(2, scope="subject", init="warm")


def test_from_pooled_starts_at_the_pooled_network_and_never_validates_worse(data):
    """Epoch 0 of every subject is the pooled network: each subject keeps its best epoch, so
    the per-subject validation NLL is never above the pooled one; a tight prior keeps every
    subject at the pooled network."""
    config = TrainingConfig(max_epochs=30, patience=10, lr=0.02)
    model = GRUModel(2, scope="subject", init="pooled", training=config).fit(data, seed=0)
    assert model.validation_nll_ <= model.pooled_validation_nll_ + 1e-6
    assert model.seeds_["kept"].all() and len(model.seeds_) == data.n_subjects
    # Before any step, every subject's network is the pooled network itself.
    start = GRUModel(2, scope="subject", init="pooled", training=replace(config, max_epochs=1)).fit(
        data, seed=0
    )
    x = start._prepare(data, torch.device("cpu")).x
    with torch.no_grad():
        pooled_logits, _ = start.pooled_network_(x, None)
    assert torch.allclose(start.logits(data), pooled_logits, atol=1e-5)

    # The prior's width sets how far subjects move from the pooled weights.
    def moved(sd):
        fit = GRUModel(
            2, scope="subject", init="pooled", training=replace(config, pooled_sd=sd)
        ).fit(data, seed=0)
        anchor = fit.pooled_network_.core.params()
        return sum(
            float((p.detach() - anchor[n].detach()).abs().mean())
            for n, p in fit.network_.core.params().items()
        )

    assert moved(1e-3) < 0.5 * moved(10.0)
    # Reproducible.
    again = GRUModel(2, scope="subject", init="pooled", training=config).fit(data, seed=0)
    assert torch.equal(again.logits(data), model.logits(data))


def test_embedding_prior_shrinks_subject_vectors(data):
    def spread(sd):
        config = TrainingConfig(max_epochs=30, patience=30, lr=0.05, embedding_sd=sd)
        model = GRUModel(4, subject_embedding=2, training=config).fit(data, seed=0)
        return float(model.network_.core.embedding.detach().pow(2).sum())

    assert spread(1e-3) < 0.1 * spread(None)


def test_gru_teacher_gets_the_students_split(data):
    teacher = GRUModel(4, training=TrainingConfig(max_epochs=3, n_seeds=1))
    config = TrainingConfig(max_epochs=3, patience=3, n_seeds=1)
    student = GRUModel(2, scope="subject", teacher=teacher, training=config).fit(data, seed=0)
    assert student.teacher_.training.split == "interleaved"
    assert teacher.training.split == "auto"  # the user's teacher is untouched


def test_a_network_still_improving_at_max_epochs_warns():
    """Issue #14: training that ends while the validation NLL still falls says so."""
    from choicernn.models.rnn_replicas import (
        ReplicaSettings,
        TrainingWarning,
        _warn_if_still_improving,
    )

    settings = ReplicaSettings(
        lr=0.01, weight_decay=0.0, max_epochs=50, patience=10, batch_size=None, clip=None
    )
    with pytest.warns(TrainingWarning, match="still improving"):
        _warn_if_still_improving(torch.tensor([12, 49]), settings, True, "fit gru2")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_still_improving(torch.tensor([12, 30]), settings, True, "fit gru2")


def test_a_subject_without_validation_choices_is_trained_not_refused():
    """A participant who missed the held-out part of every session (Fintz: 127 of 150 trials
    missed) gets a warning and keeps its lowest-training-NLL epoch; the others early-stop."""
    data = heterogeneous(3, 60, n_sessions=1, seed=4)
    frame = data.to_frame()
    last = frame["subject"] == data.subjects[2]
    frame.loc[last & (frame["trial"] >= 30), "choice"] = pd.NA  # every late trial missed
    gappy = cr.ChoiceData.from_frame(frame, n_options=2, session="session", trial="trial")
    model = GRUModel(2, scope="subject", training=TrainingConfig(max_epochs=4, split="blocks"))
    from choicernn.models.rnn_replicas import TrainingWarning

    with pytest.warns(TrainingWarning, match="no validation choice"):
        model.fit(gappy, seed=0)
    assert np.isfinite(model.score(gappy))
