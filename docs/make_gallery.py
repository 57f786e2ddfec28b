"""Render one PNG of every figure kind of ``choicernn.plots`` into ``docs/gallery/``.

Everything comes from small simulated studies made with the library itself, so the script runs
on a laptop CPU in about a minute::

    python docs/make_gallery.py            # writes docs/gallery/*.png
    python docs/make_gallery.py --out DIR  # elsewhere

The figures are the ones a study produces; see ``choicernn/plots/CHECKLIST.md`` for what each
is checked against.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import choicernn as cr  # noqa: E402
from choicernn import plots  # noqa: E402
from choicernn import signatures as sg  # noqa: E402

DPI = 80
TASK = "reversal"


def save(fig_or_ax, out: Path, name: str) -> Path:
    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    (path,) = plots.save_figure(fig, out / name, formats=("png",), dpi=DPI)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def main(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    cpu = {"device": "cpu", "progress": False}
    true = pd.DataFrame(
        {
            "subject": range(24),
            "alpha": np.linspace(0.15, 0.7, 24),
            "beta": np.geomspace(2.0, 10.0, 24),
            "persev": np.linspace(-0.5, 1.5, 24),
        }
    )
    data = cr.simulate(
        cr.QLearning("rw_persev"), TASK, n_subjects=24, n_trials=160, seed=0, params=true
    )
    files = []

    # model comparison: cross-validated held-out likelihood of five models
    models = [
        cr.Bias(),
        cr.WSLS(),
        cr.QLearning("rw"),
        cr.QLearning("rw_persev"),
        cr.QLearning("dual_alpha"),
    ]
    cv = cr.cross_validate(models, data, folds=3, by="block", seed=0, device="cpu", progress=False)
    table = cv.subject_table()
    files.append(save(plots.plot_model_comparison(table), out, "model_comparison"))
    files.append(save(plots.plot_difference_to_best(table), out, "difference_to_best"))

    # two panels with letters
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4), layout="constrained")
    plots.plot_model_comparison(table, ax=a)
    plots.plot_difference_to_best(table, ax=b)
    plots.panel_label(a, "A")
    plots.panel_label(b, "B")
    files.append(save(fig, out, "panels"))

    # fitted parameters, with bounds
    fitted = {
        m.name: m.clone().fit(data, n_restarts=3, seed=0, **cpu)
        for m in [cr.QLearning("rw"), cr.QLearning("rw_persev"), cr.WSLS()]
    }
    results = pd.concat([m.results_ for m in fitted.values()], ignore_index=True)
    bounds = pd.concat([m.parameter_table() for m in fitted.values()], ignore_index=True)
    files.append(
        save(
            plots.plot_parameter_distributions(results, bounds=bounds.drop_duplicates("name")),
            out,
            "parameter_distributions",
        )
    )

    # behavioural signatures: data beside simulations of the fitted models
    schedule = sg.task_schedule(data, TASK, 0)
    stay, reversal, learning = {"data": sg.stay_probabilities(data)}, {}, {}
    reversal["data"] = sg.reversal_curves(data, sg.reversal_onsets(schedule))
    learning["data"] = sg.learning_curve(data, schedule, n_bins=8)
    for i, (name, model) in enumerate(fitted.items()):
        sim = cr.simulate(model, TASK, n_subjects=24, n_trials=160, seed=10 + i)
        sim_schedule = sg.task_schedule(sim, TASK, 10 + i)
        stay[name] = sg.stay_probabilities(sim)
        reversal[name] = sg.reversal_curves(sim, sg.reversal_onsets(sim_schedule))
        learning[name] = sg.learning_curve(sim, sim_schedule, n_bins=8)
    files.append(save(plots.plot_stay_probabilities(stay), out, "stay_probabilities"))
    files.append(save(plots.plot_reversal_curves(reversal), out, "reversal_curves"))
    files.append(save(plots.plot_learning_curves(learning), out, "learning_curves"))

    # one subject's session
    best = fitted["rw_persev"]
    one = data.subject(data.subjects[0])
    ax = plots.plot_choice_trace(
        best.choice_probabilities(one), one, data.subjects[0], model=best.name
    )
    files.append(save(ax, out, "choice_trace"))

    # posterior predictive check
    ppc = cr.posterior_predictive(best, data, TASK, n_simulations=3, seed=0)
    files.append(save(plots.plot_ppc(ppc, model=best.name), out, "posterior_predictive"))

    # parameter and model recovery
    recovery = cr.parameter_recovery(
        cr.QLearning("rw"), TASK, n_subjects=40, n_trials=150, n_restarts=3, device="cpu"
    )
    files.append(
        save(
            plots.plot_parameter_recovery(recovery, bounds=cr.QLearning("rw").parameter_table()),
            out,
            "parameter_recovery",
        )
    )
    confusion = cr.model_recovery(
        [cr.WSLS(), cr.QLearning("rw"), cr.QLearning("rw_persev")],
        TASK,
        n_subjects=12,
        n_trials=120,
        folds=2,
        seed=0,
        device="cpu",
    )
    files.append(save(plots.plot_confusion(confusion), out, "model_recovery"))

    # a small network: logit portrait, agreement by value, membership audit
    training = cr.TrainingConfig(lr=0.05, max_epochs=200, patience=20)
    gru = cr.GRUModel(hidden_size=2, training=training, device="cpu").fit(data, seed=0)
    portrait = cr.logit_portrait(gru, n_steps=20, n_sequences=40, seed=0)
    files.append(save(plots.plot_logit_portrait(portrait, model=gru.name), out, "logit_portrait"))
    oblivious = cr.GRUModel(
        hidden_size=2, inputs="choice_only", training=training, device="cpu", name="oblivious"
    ).fit(data, seed=0)
    agreement = cr.agreement_by_value(gru, fitted["rw"], oblivious, data, n_bins=5)
    files.append(save(plots.plot_agreement(agreement), out, "agreement_by_value"))
    half = data.n_subjects // 2
    train, test = data.subset(data.subjects[:half]), data.subset(data.subjects[half:])
    network = cr.GRUModel(hidden_size=4, training=training, device="cpu").fit(train, seed=0)
    audit = cr.membership_audit(network, train, test, n_bootstrap=500, seed=0)
    files.append(save(plots.plot_membership_roc(audit, model=network.name), out, "membership_roc"))
    return files


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "gallery")
    main(parser.parse_args().out)
