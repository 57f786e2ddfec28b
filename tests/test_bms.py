"""Random-effects Bayesian model selection: known answers, invariants, a slow reference, errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import digamma

from choicernn.comparison.bms import BMSResult, bms, exceedance_probabilities


def reference_bms(L, alpha0=1.0, max_iter=1000, tol=1e-8):
    """Stephan et al. (2009) VB and Rigoux et al. (2014) free energies, written with plain loops."""
    n_subjects, n_models = len(L), len(L[0])
    alpha = [alpha0] * n_models
    g = [[0.0] * n_models for _ in range(n_subjects)]
    for _ in range(max_iter):
        psi_sum = digamma(sum(alpha))
        for n in range(n_subjects):
            u = [L[n][k] + digamma(alpha[k]) - psi_sum for k in range(n_models)]
            top = max(u)
            w = [math.exp(x - top) for x in u]
            g[n] = [x / sum(w) for x in w]
        new = [alpha0 + sum(g[n][k] for n in range(n_subjects)) for k in range(n_models)]
        change = max(abs(a - b) for a, b in zip(new, alpha))
        alpha = new
        if change < tol:
            break
    a_sum = sum(alpha)
    e_log_r = [digamma(a) - digamma(a_sum) for a in alpha]
    f1 = math.lgamma(n_models * alpha0) - n_models * math.lgamma(alpha0)
    f1 += sum((alpha0 - 1) * e for e in e_log_r)
    for n in range(n_subjects):
        for k in range(n_models):
            if g[n][k] > 0:
                f1 += g[n][k] * (L[n][k] + e_log_r[k] - math.log(g[n][k]))
    f1 -= math.lgamma(a_sum) - sum(math.lgamma(a) for a in alpha)
    f1 -= sum((a - 1) * e for a, e in zip(alpha, e_log_r))
    f0 = 0.0
    for row in L:
        top = max(row)
        f0 += top + math.log(sum(math.exp(x - top) for x in row) / n_models)
    bor = 1.0 / (1.0 + math.exp(f1 - f0))
    return alpha, g, f1, f0, bor


@pytest.mark.parametrize("n_models", [2, 3, 4])
def test_matches_slow_reference(rng, n_models):
    L = rng.normal(0.0, 3.0, size=(12, n_models)) - 200.0
    result = bms(L)
    alpha, g, f1, f0, bor = reference_bms(L.tolist())
    np.testing.assert_allclose(result.table["alpha"], alpha, rtol=0, atol=1e-8)
    np.testing.assert_allclose(result.responsibilities.to_numpy(), g, rtol=0, atol=1e-8)
    assert result.free_energy == pytest.approx(f1, abs=1e-8)
    assert result.null_free_energy == pytest.approx(f0, abs=1e-8)
    assert result.bor == pytest.approx(bor, abs=1e-8)
    assert result.converged


@pytest.mark.parametrize("n_models", [2, 3, 5])
def test_identical_evidence_gives_uniform_frequencies(n_models):
    result = bms(np.full((20, n_models), -35.0))
    table = result.table
    np.testing.assert_allclose(table["expected_frequency"], 1 / n_models, atol=1e-12)
    np.testing.assert_allclose(table["alpha"], 1 + 20 / n_models, atol=1e-12)
    # Nothing favours any model: the null is likely, and more so with more subjects.
    assert result.bor > 0.75
    assert bms(np.full((200, n_models), -35.0)).bor > result.bor
    atol = 1e-12 if n_models == 2 else 0.01  # exact for two models, Monte Carlo otherwise
    np.testing.assert_allclose(table["protected_exceedance_prob"], 1 / n_models, atol=atol)
    np.testing.assert_allclose(result.responsibilities.to_numpy(), 1 / n_models, atol=1e-12)


def test_one_model_overwhelmingly_better():
    n_subjects = 20
    L = np.full((n_subjects, 3), -500.0)
    L[:, 1] = -100.0
    table = bms(L).table
    np.testing.assert_allclose(table["alpha"], [1, 1 + n_subjects, 1], atol=1e-9)
    assert table["exceedance_prob"].iloc[1] > 0.999
    assert table["protected_exceedance_prob"].iloc[1] > 0.999
    assert bms(L).bor < 1e-3


def test_fifteen_for_a_five_for_b():
    L = np.zeros((20, 2))
    L[:15, 1] = -50.0
    L[15:, 0] = -50.0
    result = bms(pd.DataFrame(L, columns=["A", "B"]))
    np.testing.assert_allclose(result.table["alpha"], [16.0, 6.0], atol=1e-6)
    assert result.table.loc["A", "expected_frequency"] == pytest.approx(16 / 22, abs=1e-6)
    assert result.table.loc["B", "expected_frequency"] == pytest.approx(6 / 22, abs=1e-6)
    assert result.table.loc["A", "exceedance_prob"] > 0.98


@pytest.mark.parametrize("alpha", [[16.0, 6.0], [3.2, 2.9], [1.0, 1.0], [40.0, 41.5]])
def test_exact_exceedance_matches_monte_carlo(alpha):
    exact = exceedance_probabilities(np.array(alpha), method="exact")
    mc = exceedance_probabilities(np.array(alpha), method="monte_carlo", n_samples=200_000)
    np.testing.assert_allclose(exact, mc, atol=0.01)
    assert exact.sum() == pytest.approx(1.0, abs=1e-12)


def test_three_models_with_a_hopeless_one_match_the_exact_two_model_answer():
    # A third model that never wins leaves P(r_A > r_B) for the first two almost unchanged.
    L = np.zeros((10, 3))
    L[:6, 1] = -3.0
    L[6:, 0] = -3.0
    L[:, 2] = -1000.0
    three = bms(L, n_samples=200_000).table
    exact = exceedance_probabilities(three["alpha"].to_numpy()[:2], method="exact")
    np.testing.assert_allclose(three["exceedance_prob"].to_numpy()[:2], exact, atol=0.01)


@pytest.mark.parametrize("n_models", [2, 3, 6])
def test_probabilities_sum_to_one(rng, n_models):
    L = rng.normal(-60.0, 4.0, size=(15, n_models))
    result = bms(L, alpha0=0.5)
    for col in ["expected_frequency", "exceedance_prob", "protected_exceedance_prob"]:
        assert result.table[col].sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.responsibilities.sum(axis=1), 1.0, atol=1e-12)
    assert result.table["alpha"].sum() == pytest.approx(0.5 * n_models + 15, abs=1e-6)
    assert 0.0 <= result.bor <= 1.0


def test_reproducible_from_seed(rng):
    L = rng.normal(-60.0, 2.0, size=(8, 4))
    first, again = bms(L, seed=3), bms(L, seed=3)
    pd.testing.assert_frame_equal(first.table, again.table)
    other = bms(L, seed=4)
    assert not np.array_equal(first.table["exceedance_prob"], other.table["exceedance_prob"])
    from_generator = bms(L, seed=np.random.default_rng(3))
    pd.testing.assert_frame_equal(first.table, from_generator.table)


def test_adding_a_constant_per_subject_changes_nothing(rng):
    L = rng.normal(0.0, 2.0, size=(10, 3))
    shifted = L + rng.normal(0.0, 1e4, size=(10, 1))
    a, b = bms(L), bms(shifted)
    pd.testing.assert_frame_equal(a.table, b.table, atol=1e-7)
    assert a.bor == pytest.approx(b.bor, abs=1e-7)


def test_huge_evidence_stays_finite():
    L = np.array([[-1e6, 0.0], [0.0, -1e6], [-2e6, -1e6]])
    result = bms(L)
    assert np.all(np.isfinite(result.table.to_numpy()))
    assert np.isfinite(result.free_energy) and np.isfinite(result.bor)


def test_names_come_from_the_frame():
    frame = pd.DataFrame(
        {"rw": [-10.0, -12.0], "wsls": [-11.0, -9.0]}, index=pd.Index(["s1", "s2"], name="subj")
    )
    result = bms(frame)
    assert isinstance(result, BMSResult)
    assert list(result.table.index) == ["rw", "wsls"]
    assert result.table.index.name == "model"
    assert list(result.table.columns) == [
        "alpha",
        "expected_frequency",
        "exceedance_prob",
        "protected_exceedance_prob",
    ]
    assert list(result.responsibilities.index) == ["s1", "s2"]
    assert result.responsibilities.index.name == "subj"
    assert list(bms(frame.to_numpy()).table.index) == ["model_0", "model_1"]


def test_not_converging_warns():
    L = np.array([[0.0, -1.0], [-1.0, 0.0], [0.0, -2.0]])
    with pytest.warns(RuntimeWarning, match=r"bms did not converge in 1 iterations"):
        result = bms(L, max_iter=1)
    assert not result.converged and result.n_iter == 1


def test_non_finite_evidence_names_subject_and_model():
    frame = pd.DataFrame({"rw": [-1.0, np.nan], "wsls": [-2.0, -3.0]}, index=["s1", "s2"])
    msg = r"log_evidence is not finite for subject 's2', model 'rw': nan; drop that subject"
    with pytest.raises(ValueError, match=msg):
        bms(frame)
    frame.loc["s1", "wsls"] = -np.inf
    with pytest.raises(ValueError, match=r"subject 's1', model 'wsls': -inf \(and 1 more\)"):
        bms(frame)


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        (np.zeros((5, 1)), r"bms needs at least 2 models \(columns\), got 1; pass log_evidence"),
        (np.zeros((0, 3)), r"bms needs at least 1 subject \(row\), got 0"),
        (np.zeros(5), r"log_evidence must be 2-D \(n_subjects, n_models\), got shape \(5,\)"),
        (
            pd.DataFrame(np.zeros((2, 2)), columns=["rw", "rw"]),
            r"log_evidence has duplicate model names: \['rw'\]",
        ),
    ],
)
def test_bad_shapes_raise(evidence, message):
    with pytest.raises(ValueError, match=message):
        bms(evidence)


def test_other_bad_arguments_raise():
    with pytest.raises(TypeError, match=r"log_evidence must be numeric; column\(s\) \['b'\]"):
        bms(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    with pytest.raises(ValueError, match=r"alpha0 must be positive and finite, got 0"):
        bms(np.zeros((3, 2)), alpha0=0)
    with pytest.raises(ValueError, match=r"alpha0 must be a scalar or have shape \(2,\)"):
        bms(np.zeros((3, 2)), alpha0=[1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"method='exact' needs exactly 2 models, got 3"):
        exceedance_probabilities(np.ones(3), method="exact")
    with pytest.raises(ValueError, match=r"max_iter must be >= 1, got 0"):
        bms(np.zeros((3, 2)), max_iter=0)
