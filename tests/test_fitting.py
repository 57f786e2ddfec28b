"""Batched ML / MAP fits: recovery, restarts, priors, devices, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import choicernn as cr
from choicernn.fitting.bfgs import minimize_batched


def test_batched_bfgs_minimises_independent_quadratics():
    rng = np.random.default_rng(0)
    n, p = 50, 3
    a = torch.as_tensor(rng.uniform(0.5, 5.0, (n, p)))
    c = torch.as_tensor(rng.normal(size=(n, p)))

    def objective(x, idx):
        return (a[idx] * (x - c[idx]) ** 2).sum(1), 2 * a[idx] * (x - c[idx])

    res = minimize_batched(objective, torch.zeros(n, p, dtype=torch.float64), gtol=1e-8, ftol=0.0)
    torch.testing.assert_close(res.x, c, atol=1e-6, rtol=0)
    assert res.converged.all()


def test_batched_bfgs_rosenbrock_per_problem():
    shift = torch.linspace(0.5, 1.5, 8, dtype=torch.float64)

    def objective(x, idx):
        s = shift[idx]
        u, v = x[:, 0], x[:, 1]
        f = (s - u) ** 2 + 100 * (v - u**2) ** 2
        g = torch.stack([-2 * (s - u) - 400 * u * (v - u**2), 200 * (v - u**2)], 1)
        return f, g

    res = minimize_batched(objective, torch.zeros(8, 2, dtype=torch.float64), max_iter=500)
    torch.testing.assert_close(res.x[:, 0], shift, atol=1e-4, rtol=0)
    torch.testing.assert_close(res.x[:, 1], shift**2, atol=1e-3, rtol=0)


def _scipy_fit_one(frame, k):
    """Plain per-subject reference fit: numpy likelihood + scipy L-BFGS-B on the bounded scale."""
    from scipy.optimize import minimize

    c = frame["choice"].to_numpy(dtype=int)
    r = frame["reward"].to_numpy(dtype=float)

    def nll(theta):
        alpha, beta = theta
        q = np.zeros(k)
        total = 0.0
        for ci, ri in zip(c, r):
            z = beta * q
            z = z - z.max()
            total -= z[ci] - np.log(np.exp(z).sum())
            q[ci] += alpha * (ri - q[ci])
        return total

    best = None
    for start in [(0.3, 3.0), (0.7, 1.0), (0.1, 10.0)]:
        res = minimize(nll, start, method="L-BFGS-B", bounds=[(1e-6, 1 - 1e-6), (1e-6, 50)])
        if best is None or res.fun < best.fun:
            best = res
    return best.fun


def test_fit_reaches_the_scipy_optimum(rng):
    data = cr.simulate(cr.QLearning("rw"), "two_armed_fixed", n_subjects=6, n_trials=150, seed=3)
    model = cr.QLearning("rw", method="mle").fit(data, seed=0)
    frame = data.to_frame()
    for subject, nll in zip(model.results_["subject"], model.results_["nll"]):
        ref = _scipy_fit_one(frame[frame["subject"] == subject], 2)
        assert nll <= ref + 1e-3


def test_fit_is_reproducible_and_seeded():
    data = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=8, n_trials=120, seed=4)
    a = cr.QLearning("rw").fit(data, seed=1).params_
    b = cr.QLearning("rw").fit(data, seed=1).params_
    pd.testing.assert_frame_equal(a, b)


def test_more_restarts_never_worse():
    data = cr.simulate(cr.QLearning("dual_alpha"), "reversal", n_subjects=10, n_trials=150, seed=5)
    one = cr.QLearning("dual_alpha", method="mle", n_restarts=1).fit(data).results_["nll"]
    many = cr.QLearning("dual_alpha", method="mle", n_restarts=8).fit(data).results_["nll"]
    assert (many.to_numpy() <= one.to_numpy() + 1e-6).all()


def test_multi_session_subjects_share_parameters():
    data = cr.simulate(
        cr.QLearning("rw"), "two_armed_fixed", n_subjects=5, n_trials=60, n_sessions=3, seed=6
    )
    model = cr.QLearning("rw").fit(data)
    assert len(model.params_) == 5
    assert (model.results_["n_trials"] == 180).all()


def test_map_pulls_toward_the_prior():
    data = cr.simulate(cr.QLearning("rw"), "two_armed_fixed", n_subjects=20, n_trials=40, seed=7)
    mle = cr.QLearning("rw").fit(data)
    strong = {
        "beta": torch.distributions.Gamma(torch.tensor(200.0), torch.tensor(100.0))
    }  # beta ~ 2
    mapfit = cr.QLearning("rw", method="map", priors=strong).fit(data)
    assert (mapfit.params_["beta"] - 2).abs().median() < (mle.params_["beta"] - 2).abs().median()
    assert "log_prior" in mapfit.results_.columns
    assert (mapfit.results_["nll"] >= mle.results_["nll"] - 1e-6).all()


def test_unknown_prior_name_is_an_error(random_data):
    with pytest.raises(ValueError, match="unknown parameters"):
        cr.QLearning("rw", method="map", priors={"gamma": torch.distributions.Normal(0, 1)}).fit(
            random_data)


def test_gradients_finite_at_extreme_parameters(random_data):
    from choicernn.fitting.objective import BatchedObjective

    model = cr.QLearning("full")
    params = model.parameters(3)
    batch = random_data.tensors()
    obj = BatchedObjective(model, params, batch, batch.subject_index, random_data.n_subjects)
    idx = torch.arange(random_data.n_subjects)
    for value in (-25.0, 0.0, 25.0):
        f, g = obj(torch.full((len(idx), len(params)), value, dtype=torch.float64), idx)
        assert torch.isfinite(f).all() and torch.isfinite(g).all()


@pytest.mark.slow
def test_parameter_recovery_rw():
    """Basic model, drifting two-armed task, 100 subjects x 500 trials: r >= 0.9 for alpha and beta.

    MAP with the default priors: maximum likelihood puts a few near-deterministic subjects at the
    beta bound (50), which wrecks a Pearson correlation without being wrong about the data.
    """
    rng = np.random.default_rng(11)
    truth = pd.DataFrame({"alpha": rng.uniform(0.1, 0.9, 100), "beta": rng.uniform(1.0, 8.0, 100)})
    data = cr.simulate(
        cr.QLearning("rw"),
        "drifting_two_armed",
        n_subjects=100,
        n_trials=500,
        seed=12,
        params=truth,
    )
    fitted = (
        cr.QLearning("rw", method="map", n_restarts=3).fit(data, seed=0).params_
    )
    assert np.corrcoef(truth["alpha"], fitted["alpha"])[0, 1] >= 0.9
    assert np.corrcoef(truth["beta"], fitted["beta"])[0, 1] >= 0.9


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_fit_matches_cpu():
    data = cr.simulate(cr.QLearning("rw"), "reversal", n_subjects=10, n_trials=100, seed=8)
    cpu = cr.QLearning("rw", device="cpu").fit(data).results_["nll"]
    gpu = cr.QLearning("rw", device="cuda").fit(data).results_["nll"]
    np.testing.assert_allclose(cpu, gpu, atol=1e-6)


@pytest.mark.slow
def test_empirical_bayes_recovers_the_population():
    """EM over a Gaussian population prior finds the population mean and shrinks estimates."""
    rng = np.random.default_rng(21)
    n = 60
    x_alpha = rng.normal(-0.5, 0.5, n)
    x_beta = rng.normal(-1.5, 0.4, n)  # beta = 50 * sigmoid(x): about 9 at the mean
    truth = pd.DataFrame({"alpha": 1 / (1 + np.exp(-x_alpha)), "beta": 50 / (1 + np.exp(-x_beta))})
    data = cr.simulate(
        cr.QLearning("rw"), "drifting_two_armed", n_subjects=n, n_trials=150, seed=22, params=truth
    )
    em = cr.QLearning("rw", method="em", n_restarts=3).fit(data)
    mle = cr.QLearning("rw", n_restarts=3).fit(data)
    pop = em.population_.set_index("parameter")
    assert pop.loc["alpha", "mean_unconstrained"] == pytest.approx(-0.5, abs=0.3)
    assert pop.loc["beta", "mean_unconstrained"] == pytest.approx(-1.5, abs=0.3)
    assert em.em_converged_
    err_em = np.abs(np.log(em.params_["beta"]) - np.log(truth["beta"])).mean()
    err_mle = np.abs(np.log(mle.params_["beta"]) - np.log(truth["beta"])).mean()
    assert err_em < err_mle


def test_hopeless_restarts_are_retired_only_when_far_behind_and_slow():
    from choicernn.fitting.bfgs import _hopeless

    f = torch.tensor([10.0, 20.0, 20.0, 13.0, 5.0], dtype=torch.float64)
    before = torch.tensor([10.0, 20.5, 30.0, 13.1, 6.0], dtype=torch.float64)
    groups = torch.tensor([0, 0, 0, 0, 1])
    converged = torch.tensor([True, False, False, False, False])
    out = _hopeless(f, before, groups, converged, margin=2.0, duplicate_tol=1e-4)
    # 1: 10 behind, gained 0.5 -> retired; 2: gained 10 -> kept; 3: 3 behind, gained 0.1 ->
    # retired; 4: the best of its group -> kept
    assert out.tolist() == [False, True, False, True, False]
    # duplicates of a converged restart (same optimum, creeping along a flat valley) retire;
    # a restart below the converged one, or further above it than duplicate_tol, does not
    f = torch.tensor([10.0, 10.00005, 9.9999, 10.01, 7.0], dtype=torch.float64)
    before = f + 1e-5
    out = _hopeless(f, before, groups, converged, margin=2.0, duplicate_tol=1e-4)
    assert out.tolist() == [False, True, False, False, False]


def test_retiring_restarts_keeps_every_subjects_optimum(monkeypatch):
    import choicernn.models.parametric_fit as pf

    data = cr.simulate(cr.QLearning("full"), "reversal", n_subjects=8, n_trials=200, seed=7)
    with_retire = cr.QLearning("dual_alpha", method="mle", n_restarts=6).fit(data, seed=0)
    original = pf.minimize_batched
    monkeypatch.setattr(
        pf, "minimize_batched", lambda *a, **k: original(*a, **{**k, "groups": None})
    )
    without = cr.QLearning("dual_alpha", method="mle", n_restarts=6).fit(data, seed=0)
    np.testing.assert_allclose(
        with_retire.results_["nll"], without.results_["nll"], rtol=0, atol=1e-6
    )
