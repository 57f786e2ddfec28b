"""Simulated two-step study (Daw et al. 2011): hybrid agents, the hybrid family and a GRU.

Run from the repository root::

    python fits/two_step_simulated.py                  # 60 agents x 200 trials, about 5 min
    python fits/two_step_simulated.py --n-subjects 20  # quicker

It simulates hybrid model-based / model-free agents (parameters drawn as in
``tests/test_two_step.py``) in the shipped ``two_step`` task, writes their data in hBayesDM's
two-step layout to ``fits/two_step_simulated/data.txt`` (which ``fits/two_step_simulated.toml``
reads), cross-validates the two-step presets, a GRU reading both stages (16 units) and a
single-stage Q-learner on held-out trial blocks with :func:`choicernn.cross_validate`, and writes to ``fits/two_step_simulated/script/``:

``summary.csv``        held-out first-stage NLL per choice (cross_validate's own scoring)
``both_stages.csv``    held-out NLL of both stages per trial, per two-step model and the GRU
``recovery.csv``       generating vs in-sample (MAP) parameters of the hybrid model, with r
``stay.csv``, ``stay.png``  the 2 x 2 stay figure: data beside the fitted models' simulations
``report.md``          the numbers above

Data simulated by a recipe itself need a data source that simulates (``[data] simulate =
{...}``), which recipes do not have yet; this script is the interim.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import choicernn as cr
from choicernn.comparison.folds import fold_labels
from choicernn.models.two_step import TwoStepModel
from choicernn.plots.two_step import plot_two_step_stay
from choicernn.report import markdown_table

HERE = Path(__file__).resolve().parent
OUT = HERE / "two_step_simulated"
PRESETS = ["hybrid", "model_free", "model_based", "ts_par4", "ts_par6", "ts_par7"]


def generating_parameters(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "alpha1": rng.uniform(0.2, 0.8, n),
            "alpha2": rng.uniform(0.2, 0.8, n),
            "lambda": rng.uniform(0.2, 0.8, n),
            "beta1": np.exp(rng.uniform(np.log(3), np.log(10), n)),
            "beta2": np.exp(rng.uniform(np.log(3), np.log(10), n)),
            "w": rng.uniform(0, 1, n),
            "p": rng.normal(0, 0.15, n),
        }
    )


def write_hbayesdm_layout(data: cr.ChoiceData, path: Path) -> None:
    """subjID, trial, level1_choice (1-2), level2_choice (1-4), reward, tab-separated."""
    t = data.to_frame()
    frame = pd.DataFrame(
        {
            "subjID": t["subject"] + 1,
            "trial": t["trial"] + 1,
            "level1_choice": t["choice"] + 1,
            "level2_choice": 2 * t["state"] + t["choice2"] + 1,
            "reward": t["reward"].astype(int),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", index=False)


def both_stage_scores(cv, data, models, folds, seed) -> pd.DataFrame:
    """Held-out NLL of both stages (in context, as cross_validate scores the first stage)."""
    labels = fold_labels(data, folds, "block", seed)
    rows = []
    for model in models:
        if not (isinstance(model, TwoStepModel) or isinstance(model, cr.GRUModel)):
            continue
        nll, n_trials = 0.0, 0
        for fold in range(folds):
            ll = cv.fitted[(model.name, fold)].trial_log_likelihood(data)
            observed = data.to_frame()["choice"].notna().to_numpy()
            held_out = labels[observed] == fold
            nll -= ll.loc[held_out, "log_lik"].sum()
            n_trials += int(held_out.sum())
        rows.append({"model": model.name, "nll": nll, "n_trials": n_trials})
    out = pd.DataFrame(rows)
    out["nll_per_trial"] = out["nll"] / out["n_trials"]
    return out.sort_values("nll_per_trial").reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-subjects", type=int, default=60)
    parser.add_argument("--n-trials", type=int, default=200)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start = time.perf_counter()
    if "two_step" not in cr.available_models():
        cr.register_model("two_step", TwoStepModel)
    out = OUT / "script"
    out.mkdir(parents=True, exist_ok=True)
    truth = generating_parameters(args.n_subjects, np.random.default_rng(args.seed))
    data = cr.simulate(
        TwoStepModel("hybrid"),
        "two_step",
        args.n_subjects,
        args.n_trials,
        seed=args.seed,
        params=truth,
    )
    write_hbayesdm_layout(data, OUT / "data.txt")
    gru = cr.GRUModel(16, training=cr.TrainingConfig(max_epochs=400, patience=20, n_seeds=2))
    models = [TwoStepModel(p) for p in PRESETS] + [gru, cr.QLearning("rw_persev")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cr.FitWarning)
        cv = cr.cross_validate(
            models, data, folds=args.folds, by="block", seed=args.seed, cache_dir=out / "units"
        )
    summary = cv.summary()
    summary.reset_index().to_csv(out / "summary.csv", index=False)
    both = both_stage_scores(cv, data, models, args.folds, args.seed)
    both.to_csv(out / "both_stages.csv", index=False)

    hybrid = cv.fitted[("two_step_hybrid", "all")]
    names = list(truth.columns)
    recovery = pd.DataFrame(
        {
            "parameter": names,
            "r": [np.corrcoef(truth[n], hybrid.params_[n])[0, 1] for n in names],
            "true_mean": truth[names].mean().to_numpy(),
            "fitted_mean": hybrid.params_[names].mean().to_numpy(),
        }
    )
    recovery.to_csv(out / "recovery.csv", index=False)

    stay = {"data": cr.signatures.two_step_stay(data)}
    for preset in ("hybrid", "model_free", "model_based"):
        fitted = cv.fitted[(f"two_step_{preset}", "all")]
        sim = cr.simulate(fitted, "two_step", args.n_subjects, args.n_trials, seed=args.seed + 1)
        stay[preset] = cr.signatures.two_step_stay(sim)
    pd.concat([t.assign(source=k) for k, t in stay.items()]).to_csv(out / "stay.csv", index=False)
    import matplotlib

    matplotlib.use("Agg")
    ax = plot_two_step_stay(stay)
    ax.figure.savefig(out / "stay.png", dpi=120)
    regression = cr.signatures.two_step_regression(data, "pooled")

    elapsed = time.perf_counter() - start
    report = [
        f"# Simulated two-step study ({args.n_subjects} hybrid agents x {args.n_trials} trials, "
        f"seed {args.seed})",
        "",
        f"Run time {elapsed:.0f} s. Held-out trial blocks, {args.folds} folds, scored in context.",
        "",
        "## Held-out first-stage NLL (cross_validate)",
        "",
        markdown_table(summary, 4),
        "",
        "## Held-out NLL of both stages, per trial (two-step models)",
        "",
        markdown_table(both, 4),
        "",
        "## Recovery of the hybrid model's parameters (in-sample MAP)",
        "",
        markdown_table(recovery),
        "",
        "## Pooled stay regression of the data (effect coding)",
        "",
        markdown_table(regression),
        "",
    ]
    (out / "report.md").write_text("\n".join(report))
    print("\n".join(report))


if __name__ == "__main__":
    main()
