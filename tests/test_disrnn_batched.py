"""Several DisRNN fits trained as replicas of one network (``DisRNNModel.fit_many``) equal
fitting each alone, and ``cross_validate`` trains all folds of a DisRNN that way."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.comparison.folds import make_folds
from choicernn.models.disrnn import DisRNNCore, DisRNNModel

# lr 0.05 and patience 2: the fits and seeds stop early at different epochs
SHORT = cr.TrainingConfig(max_epochs=25, patience=2, n_seeds=2, batch_size=3, lr=0.05)


def tiny(**settings) -> DisRNNModel:
    settings.setdefault("training", SHORT)
    return DisRNNModel(latent_size=2, update_mlp=(4,), choice_mlp=(2,), device="cpu", **settings)


@pytest.fixture(scope="module")
def data() -> cr.ChoiceData:
    """4 subjects x 2 sessions x 31 trials: block folds train on 20 or 21 trials."""
    return cr.simulate(
        cr.QLearning("rw"),
        "reversal",
        n_subjects=4,
        n_trials=31,
        n_sessions=2,
        seed=3,
        params={"alpha": 0.4, "beta": 4.0},
    )


def assert_same_fit(batched: DisRNNModel, alone: DisRNNModel, data: cr.ChoiceData) -> None:
    assert batched.subjects_ == alone.subjects_
    pd.testing.assert_frame_equal(batched.seeds_, alone.seeds_, atol=1e-5, rtol=0)
    pd.testing.assert_frame_equal(batched.history_, alone.history_, atol=1e-5, rtol=0)
    np.testing.assert_allclose(batched.logits(data), alone.logits(data), atol=1e-5, rtol=0)
    if alone.validation_nll_ is None:
        assert batched.validation_nll_ is None
    else:
        assert batched.validation_nll_ == pytest.approx(alone.validation_nll_, abs=1e-6)
    assert batched.open_latents_ == alone.open_latents_


@pytest.mark.parametrize(
    "model",
    [
        tiny(),
        tiny(
            subject_embedding=2,
            training=cr.TrainingConfig(
                max_epochs=12, patience=2, n_seeds=2, batch_size=None, lr=0.05, split="sessions"
            ),
        ),
        tiny(training=cr.TrainingConfig(max_epochs=8, n_seeds=2, batch_size=5, split="none")),
    ],
    ids=["blocks", "embedding_sessions", "no_validation"],
)
def test_fit_many_equals_each_fit_alone(data, model):
    datasets = [f.train for f in make_folds(data, folds=3, by="block")]
    batched = model.fit_many(datasets, seed=5)
    assert not model.is_fitted()
    assert len(batched) == 3 and all(fit is not model for fit in batched)
    for fit, train in zip(batched, datasets, strict=True):
        assert_same_fit(fit, model.clone().fit(train, seed=5), data)


def test_fits_stop_at_different_epochs_and_keep_their_own_seed(data):
    """The default fixture's settings do exercise per-fit early stopping and seed choice."""
    datasets = [f.train for f in make_folds(data, folds=3, by="block")]
    fits = tiny().fit_many(datasets, seed=5)
    epochs = {tuple(f.seeds_["best_epoch"]) for f in fits}
    assert len(epochs) > 1  # not every fit and seed ran to max_epochs together
    assert {len(f.history_) for f in fits} != {2 * SHORT.max_epochs}


def test_fits_with_other_subjects_and_numbers_of_sequences(data):
    """Subject folds: each fit has its own subjects (embedding rows drawn as alone) and its
    own number of sequences and mini-batches (padding never counted)."""
    folds = make_folds(data, folds=3, by="subject", seed=1)
    datasets = [f.train for f in folds]
    assert len({d.n_sequences for d in datasets}) > 1
    model = tiny(subject_embedding=2)
    for fit, train in zip(model.fit_many(datasets, seed=0), datasets, strict=True):
        assert_same_fit(fit, model.clone().fit(train, seed=0), train)


def test_capabilities_and_arguments(data):
    assert tiny().capabilities().batched_fits
    assert tiny().fit_many([]) == []
    with pytest.raises(TypeError, match="fit_many expects ChoiceData"):
        tiny().fit_many([data.to_frame()])
    frame = data.to_frame()
    three = cr.ChoiceData.from_frame(frame, n_options=3, session="session", trial="trial")
    with pytest.raises(ValueError, match="the same number of options"):
        tiny().fit_many([data, three])


def test_pre_drawn_noise_equals_noise_from_a_generator():
    core = DisRNNCore(2, 6, 2, 3, (4,), (2,), n_subjects=3, embedding_dim=2)
    core.reset_parameters([0, 1])
    x = torch.rand(1, 4, 5, 6)
    subject = torch.tensor([0, 2, 1, -1])
    a = core.run(x, core.embed(subject), torch.Generator().manual_seed(3), with_kl=True)
    noise = core.draw_noise(torch.Generator().manual_seed(3), 2, 4, 5)
    b = core.run(x, core.embed(subject.expand(2, -1)), noise, with_kl=True)
    for left, right in zip(a, b, strict=True):
        assert torch.equal(left, right)


def _unbatched_trials(model, data, folds: int, seed: int) -> pd.DataFrame:
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


def test_cross_validate_trains_all_folds_at_once_with_the_same_result(data):
    model = tiny(name="dis")
    cv = cr.cross_validate([model], data, folds=3, in_sample=False)
    assert cv.timings["unit"].tolist() == ["model=dis folds=0,1,2"]
    ours = cv.trials[cv.trials["model"] == "dis"].reset_index(drop=True)
    reference = _unbatched_trials(model, data, 3, 0)
    keys = ["fold", "subject", "session", "trial"]
    assert (ours[keys].to_numpy() == reference[keys].to_numpy()).all()
    np.testing.assert_allclose(ours["log_lik"], reference["log_lik"], atol=1e-5, rtol=0)
