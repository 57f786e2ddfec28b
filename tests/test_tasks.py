"""Task specs (TOML) and environments: schedules match their specs, errors name the field."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

import choicernn as cr
from choicernn.tasks import Environment, task_from_dict

SHIPPED = [
    "drifting_two_armed",
    "restless_four_armed",
    "reversal",
    "reversal_criterion",
    "reversal_win_loss",
    "two_armed_fixed",
    "two_step",
]
SINGLE_STAGE = [name for name in SHIPPED if name != "two_step"]  # two_step: test_two_step.py


def play(env: Environment, policy) -> np.ndarray:
    """Run ``env`` to the end; ``policy(env)`` returns the choices of trial ``env.t``."""
    choices = np.empty((env.n_sequences, env.n_trials), dtype=np.int64)
    while env.t < env.n_trials:
        c = policy(env)
        choices[:, env.t] = c
        env.step(c)
    return choices


def best(env: Environment) -> np.ndarray:
    return env.latent[:, env.t].argmax(axis=1)


# ---------------------------------------------------------------------------- shipped tasks
def test_available_tasks():
    assert cr.available_tasks() == SHIPPED


@pytest.mark.parametrize("name", SINGLE_STAGE)
def test_every_shipped_task_loads_and_runs(name):
    task = cr.load_task(name)
    assert isinstance(task, cr.Task)
    assert task.name == name
    assert task.n_options >= 2 and task.n_trials >= 1 and task.n_sessions >= 1
    assert task.reward_kind == ("points" if task.kind == "restless" else "binary")
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.n_trials = 3
    env = task.environment(4, seed=0)
    assert env.n_trials == task.n_trials
    rng = np.random.default_rng(0)
    for _ in range(task.n_trials):
        rewards, outcomes = env.step(rng.integers(-1, task.n_options, size=4))
        assert rewards.shape == (4,) and outcomes.shape == (4, task.n_options)
    assert env.latent.shape == env.payoffs.shape == (4, task.n_trials, task.n_options)
    assert np.isfinite(env.payoffs).all()


def test_rewards_are_the_chosen_payoffs():
    env = cr.load_task("two_armed_fixed").environment(3, 5, seed=1)
    for t in range(5):
        choices = np.array([0, 1, -1])
        rewards, outcomes = env.step(choices)
        np.testing.assert_array_equal(outcomes, env.payoffs[:, t])
        np.testing.assert_array_equal(rewards, [outcomes[0, 0], outcomes[1, 1], 0.0])


# ---------------------------------------------------------------------------- schedules
def test_two_armed_fixed_probabilities_and_reward_rates():
    task = cr.load_task("two_armed_fixed")
    latents, payoffs = [], []
    for seed in range(20):
        env = task.environment(50, seed=seed)
        latents.append(env.latent)
        payoffs.append(env.payoffs)
    latent, payoff = np.concatenate(latents), np.concatenate(payoffs)
    # constant within a session, a permutation of the spec's probabilities
    assert (latent == latent[:, :1]).all()
    np.testing.assert_allclose(np.sort(latent[:, 0], axis=1), [[0.3, 0.7]] * len(latent))
    # shuffle_options: each option is the better one in about half of the sessions
    share = (latent[:, 0, 0] == 0.7).mean()
    assert 0.4 < share < 0.6
    for p in (0.7, 0.3):
        assert abs(payoff[latent == p].mean() - p) < 0.01
    assert set(np.unique(payoff)) == {0.0, 1.0}

    fixed = cr.load_task("two_armed_fixed", shuffle_options=False).environment(100, seed=3)
    assert (fixed.latent == [0.7, 0.3]).all()


def test_reversal_fixed_schedule_over_many_seeds():
    task = cr.load_task("reversal")
    every, jitter = task.settings["reversal_every"], task.settings["jitter"]
    assert (every, jitter) == (40, 5)
    intervals, rates = [], []
    for seed in range(40):
        env = task.environment(10, seed=seed)
        for i in range(env.n_sequences):
            points = np.flatnonzero(env.reversals[i])
            edges = np.concatenate([[0], points, [env.n_trials]])
            intervals.extend(np.diff(edges)[:-1])  # the last block is cut by the session's end
            assert np.diff(edges)[-1] <= every + jitter
            best_option = env.latent[i].argmax(axis=1)
            for start, stop in zip(edges[:-1], edges[1:], strict=True):
                assert (env.latent[i, start:stop] == env.latent[i, start]).all()
            for r in points:
                assert best_option[r] != best_option[r - 1]  # the best option swaps
                np.testing.assert_allclose(np.sort(env.latent[i, r]), [0.2, 0.8])
        rates.append(env.payoffs[env.latent == 0.8].mean())
    intervals = np.asarray(intervals)
    assert intervals.min() == every - jitter and intervals.max() == every + jitter
    assert set(np.unique(intervals)) == set(range(every - jitter, every + jitter + 1))
    assert abs(intervals.mean() - every) < 0.5
    assert abs(np.mean(rates) - 0.8) < 0.01


def test_reversal_without_jitter_is_exact():
    env = cr.load_task("reversal", jitter=0, reversal_every=30).environment(5, 100, seed=0)
    for i in range(5):
        assert np.flatnonzero(env.reversals[i]).tolist() == [30, 60, 90]


def _expected_criterion_reversals(choices, latent, criterion, min_block):
    """Independent re-derivation: reversal at t+1 when the streak and block length allow it."""
    out = np.zeros(choices.shape, dtype=bool)
    for i in range(choices.shape[0]):
        streak = since = 0
        for t in range(choices.shape[1]):
            streak = streak + 1 if choices[i, t] == latent[i, t].argmax() else 0
            since += 1
            if streak >= criterion and since >= min_block:
                if t + 1 < choices.shape[1]:
                    out[i, t + 1] = True
                streak = since = 0
    return out


@pytest.mark.parametrize("p_best", [0.6, 0.85])
def test_criterion_reversals(p_best):
    task = cr.load_task("reversal_criterion")
    criterion, min_block = task.settings["criterion"], task.settings["min_block"]
    rng = np.random.default_rng(7)

    def noisy_best(env):
        b = best(env)
        return np.where(rng.random(env.n_sequences) < p_best, b, 1 - b)

    n_reversals = 0
    for seed in range(10):
        env = task.environment(20, seed=seed)
        choices = play(env, noisy_best)
        expected = _expected_criterion_reversals(choices, env.latent, criterion, min_block)
        np.testing.assert_array_equal(env.reversals, expected)
        best_option = env.latent.argmax(axis=2)
        for i, r in zip(*np.nonzero(env.reversals), strict=True):
            window = slice(r - criterion, r)
            assert (choices[i, window] == best_option[i, window]).all()
            assert best_option[i, r] != best_option[i, r - 1]
            previous = np.flatnonzero(env.reversals[i, :r])
            assert r - (previous[-1] if previous.size else 0) >= min_block
        n_reversals += int(env.reversals.sum())
    assert n_reversals > 0


def test_criterion_with_perfect_and_worst_agents():
    task = cr.load_task("reversal_criterion")
    env = task.environment(5, 100, seed=0)
    play(env, best)
    step = max(task.settings["criterion"], task.settings["min_block"])
    for i in range(5):
        assert np.flatnonzero(env.reversals[i]).tolist() == list(range(step, 100, step))
    worst = task.environment(5, 100, seed=0)
    play(worst, lambda e: 1 - best(e))
    assert not worst.reversals.any()
    assert (worst.latent == [0.8, 0.2]).all()
    # the probabilities of trial t are known before its choice, and the payoffs follow them
    assert abs(env.payoffs[env.latent == 0.8].mean() - 0.8) < 0.1


def test_drifting_probabilities_stay_in_bounds_with_the_right_steps():
    task = cr.load_task("drifting_two_armed")
    sd = task.settings["step_sd"]
    latent = np.concatenate([task.environment(20, seed=s).latent for s in range(10)])
    assert latent.min() >= 0.0 and latent.max() <= 1.0
    start, step = latent[:, :-1], np.diff(latent, axis=1)
    middle = (start > 0.35) & (start < 0.65)  # no reflection within 3.5 SD
    assert abs(step[middle].std() / sd - 1) < 0.03
    assert abs(step[middle].mean()) < 0.005
    # starting values are uniform over the bounds
    assert 0.4 < latent[:, 0].mean() < 0.6
    clipped = cr.load_task("drifting_two_armed", bounds=[0.2, 0.8], boundary="clip")
    latent = clipped.environment(50, seed=1).latent
    assert latent.min() >= 0.2 and latent.max() <= 0.8
    assert (latent == 0.2).any() and (latent == 0.8).any()
    env = task.environment(200, seed=2)
    assert abs((env.payoffs - env.latent).mean()) < 0.01


def test_restless_means_decay_and_payoffs_are_bounded_integers():
    task = cr.load_task("restless_four_armed")
    s = task.settings
    envs = [task.environment(10, seed=seed) for seed in range(10)]
    mu = np.concatenate([e.latent for e in envs])
    payoffs = np.concatenate([e.payoffs for e in envs])
    x = (mu[:, :-1] - s["decay_center"]).ravel()
    y = (mu[:, 1:] - s["decay_center"]).ravel()
    slope = (x * y).sum() / (x * x).sum()
    assert abs(slope - s["decay"]) < 0.005
    assert abs((y - slope * x).std() / s["drift_sd"] - 1) < 0.03
    lo, hi = s["payoff_bounds"]
    assert payoffs.min() >= lo and payoffs.max() <= hi
    np.testing.assert_array_equal(payoffs, np.round(payoffs))
    inside = (mu > lo + 20) & (mu < hi - 20)
    assert abs((payoffs - mu)[inside].std() / s["noise_sd"] - 1) < 0.05
    unrounded = cr.load_task("restless_four_armed", round_payoffs=False).environment(3, seed=0)
    assert (unrounded.payoffs != np.round(unrounded.payoffs)).any()


@pytest.mark.parametrize("name", SINGLE_STAGE)
def test_same_seed_same_schedule(name):
    task = cr.load_task(name)

    def run(seed):
        env = task.environment(6, 80, seed=seed)
        play(env, lambda e: (np.arange(e.n_sequences) + e.t // 7) % task.n_options)
        return env

    a, b, c = run(11), run(11), run(12)
    np.testing.assert_array_equal(a.latent, b.latent)
    np.testing.assert_array_equal(a.payoffs, b.payoffs)
    assert not np.array_equal(a.payoffs, c.payoffs)
    if task.kind != "reversal":  # reversal probabilities take few values; payoffs differ above
        assert not np.array_equal(a.latent, c.latent)


def test_environment_argument_checks():
    task = cr.load_task("two_armed_fixed")
    with pytest.raises(ValueError, match="must be positive"):
        task.environment(0)
    with pytest.raises(ValueError, match="must be positive"):
        task.environment(2, 0)
    assert task.environment(2, 7).n_trials == 7


# ---------------------------------------------------------------------------- step validation
@pytest.mark.parametrize(
    ("choices", "error", "match"),
    [
        (np.array([0, 1, 0]), ValueError, r"shape \(2,\)"),
        (np.array([[0, 1]]), ValueError, r"shape \(2,\)"),
        (np.array([0, 2]), ValueError, r"in -1..1 .*got \[2\] at sequences \[1\]"),
        (np.array([-2, 0]), ValueError, r"in -1..1"),
        (np.array([0.5, 1.0]), ValueError, r"whole option codes, got \[0.5\]"),
        (np.array([np.nan, 1.0]), ValueError, r"whole option codes"),
        (np.array(["a", "b"]), TypeError, r"integer option codes"),
    ],
)
def test_step_validates_choices(choices, error, match):
    env = cr.load_task("two_armed_fixed").environment(2, 3, seed=0)
    with pytest.raises(error, match=match):
        env.step(choices)
    assert env.t == 0  # a rejected step plays nothing


def test_step_accepts_lists_and_whole_floats_and_stops_at_the_end():
    env = cr.load_task("two_armed_fixed").environment(2, 2, seed=0)
    env.step([0, 1])
    env.step(np.array([1.0, -1.0]))
    with pytest.raises(RuntimeError, match="run all its 2 trials"):
        env.step([0, 0])


# ---------------------------------------------------------------------------- user TOML files
VALID = """
name = "mine"
kind = "reversal"
n_options = 3
n_trials = 120

[reversal]
p_reward = [0.9, 0.5, 0.1]
reversal_every = 25
jitter = 3
"""


def write(tmp_path, text: str):
    path = tmp_path / "task.toml"
    path.write_text(text)
    return path


def test_user_toml_loads_with_defaults(tmp_path):
    task = cr.load_task(write(tmp_path, VALID))
    assert (task.name, task.kind, task.n_options, task.n_trials) == ("mine", "reversal", 3, 120)
    assert task.n_sessions == 1 and task.feedback == "partial"
    assert task.settings["schedule"] == "fixed" and task.settings["criterion"] == 8
    env = task.environment(30, seed=0)
    for i in range(30):
        points = np.flatnonzero(env.reversals[i])
        assert (np.diff(np.concatenate([[0], points])) >= 22).all()
        for r in points:  # the best option's probability moves to another option
            assert env.latent[i, r].argmax() != env.latent[i, r - 1].argmax()
    assert cr.load_task(str(write(tmp_path, VALID))).n_trials == 120


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # unknown fields
        ("n_trials = 120", 'n_trials = 120\ncolour = "red"', "colour"),
        ("jitter = 3", "jitter = 3\nspeed = 2", "speed"),
        ("jitter = 3", "jitter = 3\n[fixed]\np_reward = [0.5, 0.5, 0.5]", "fixed"),
        # wrong types
        ("n_trials = 120", 'n_trials = "many"', "n_trials"),
        ("n_trials = 120", "n_trials = 120.0", "n_trials"),
        ("reversal_every = 25", "reversal_every = 25.5", "reversal_every"),
        ("reversal_every = 25", "reversal_every = true", "reversal_every"),
        ("p_reward = [0.9, 0.5, 0.1]", "p_reward = 0.9", "p_reward"),
        ("p_reward = [0.9, 0.5, 0.1]", 'p_reward = [0.9, "high", 0.1]', "p_reward"),
        ('name = "mine"', "name = 7", "name"),
        ("[reversal]", "reversal = 3\n[other]", "reversal"),
        # missing required fields
        ('kind = "reversal"', "", "kind"),
        ("n_options = 3", "", "n_options"),
        ('name = "mine"', "", "name"),
        ("p_reward = [0.9, 0.5, 0.1]", "", "p_reward"),
        # invalid values
        ("p_reward = [0.9, 0.5, 0.1]", "p_reward = [0.9, 1.5, 0.1]", "p_reward"),
        ("p_reward = [0.9, 0.5, 0.1]", "p_reward = [0.9, 0.1]", "p_reward"),
        ("jitter = 3", "jitter = 25", "jitter"),
        ("jitter = 3", "jitter = -1", "jitter"),
        ("jitter = 3", "jitter = 3\ncriterion = 0", "criterion"),
        ("jitter = 3", "jitter = 3\nmin_block = -4", "min_block"),
        ("reversal_every = 25", "reversal_every = 0", "reversal_every"),
        ("jitter = 3", 'jitter = 3\nschedule = "sometimes"', "schedule"),
        ("n_options = 3", "n_options = 1", "n_options"),
        ("n_trials = 120", "n_trials = 0", "n_trials"),
        ('kind = "reversal"', 'kind = "bogus"', "kind"),
        ("n_trials = 120", 'n_trials = 120\nfeedback = "some"', "feedback"),
    ],
)
def test_bad_user_toml_names_the_field(tmp_path, old, new, field):
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(cr.TaskSpecError, match=rf"^{re.escape(str(path))}: field '{field}': "):
        cr.load_task(path)


@pytest.mark.parametrize(
    ("kind", "table", "field"),
    [
        ("drifting", "bounds = [0.6, 0.2]", "bounds"),
        ("drifting", 'bounds = ["low", "high"]', "bounds"),
        ("drifting", "initial = [0.5, 1.5]", "initial"),
        ("drifting", 'initial = "random"', "initial"),
        ("drifting", "step_sd = -0.1", "step_sd"),
        ("drifting", 'boundary = "wrap"', "boundary"),
        ("restless", "decay = 1.5", "decay"),
        ("restless", "payoff_bounds = [100, 1]", "payoff_bounds"),
        ("restless", "noise_sd = -1", "noise_sd"),
        ("restless", "round_payoffs = 1", "round_payoffs"),
        ("fixed", "shuffle_options = 1", "shuffle_options"),
        ("fixed", "p_reward = [true, false]", "p_reward"),
    ],
)
def test_bad_kind_settings_name_the_field(tmp_path, kind, table, field):
    extra = "p_reward = [0.5, 0.5]\n" if kind == "fixed" and "p_reward" not in table else ""
    text = f'name = "x"\nkind = "{kind}"\nn_options = 2\n[{kind}]\n{extra}{table}\n'
    with pytest.raises(cr.TaskSpecError, match=rf"field '{field}': "):
        cr.load_task(write(tmp_path, text))


def test_invalid_toml_and_missing_files(tmp_path):
    with pytest.raises(cr.TaskSpecError, match="not valid TOML"):
        cr.load_task(write(tmp_path, "name = \n"))
    with pytest.raises(FileNotFoundError, match="no task file"):
        cr.load_task(tmp_path / "absent.toml")
    with pytest.raises(KeyError, match="shipped tasks are"):
        cr.load_task("no_such_task")


def test_task_spec_error_is_a_value_error():
    assert issubclass(cr.TaskSpecError, ValueError)


# ---------------------------------------------------------------------------- overrides
def test_load_task_overrides():
    task = cr.load_task("reversal", n_trials=300, reversal_every=30)
    assert task.n_trials == 300 and task.settings["reversal_every"] == 30
    assert task.settings["jitter"] == 5  # untouched settings keep the file's values
    assert cr.load_task("reversal").settings["reversal_every"] == 40  # no leak between loads
    env = task.environment(50, seed=0)
    assert env.n_trials == 300
    gaps = np.diff(np.flatnonzero(env.reversals[0]))
    assert ((gaps >= 25) & (gaps <= 35)).all()
    crit = cr.load_task("reversal_criterion", criterion=3, min_block=3, n_sessions=2)
    assert (crit.settings["criterion"], crit.settings["min_block"], crit.n_sessions) == (3, 3, 2)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"colour": "red"}, "colour"),
        ({"step_sd": 0.1}, "step_sd"),  # a setting of another kind
        ({"jitter": 50}, "jitter"),
        ({"n_trials": -5}, "n_trials"),
        ({"reversal_every": 2.5}, "reversal_every"),
    ],
)
def test_bad_overrides_name_the_field(overrides, field):
    with pytest.raises(cr.TaskSpecError, match=rf"task 'reversal': field '{field}'"):
        cr.load_task("reversal", **overrides)


def test_task_from_dict_and_direct_construction():
    task = task_from_dict(
        {"name": "d", "kind": "fixed", "n_options": 2, "fixed": {"p_reward": [1, 0]}}
    )
    env = task.environment(3, 10, seed=0)
    assert (env.payoffs[..., 0] == 1).all() and (env.payoffs[..., 1] == 0).all()
    with pytest.raises(cr.TaskSpecError, match=r"^spec: field 'n_options'"):
        task_from_dict({"name": "d", "kind": "fixed"}, source="spec")
    with pytest.raises(cr.TaskSpecError, match=r"field 'feedback'"):
        cr.Task(
            name="t", kind="fixed", n_options=2, feedback="none", settings={"p_reward": [0.5, 0.5]}
        )
