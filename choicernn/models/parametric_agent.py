"""A parametric model playing a task: its own step declaration, one trial at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

if TYPE_CHECKING:
    from .parametric import ParametricModel


class StepAgent:
    """Steps a model's ``initial_state`` / ``update`` / ``readout`` for ``n_agents`` subjects.

    The same functions define the batched likelihood, so the agent's probabilities equal the
    model's logits when it replays the same choices and rewards.
    """

    def __init__(
        self, model: ParametricModel, theta: dict[str, torch.Tensor], n_options: int
    ) -> None:
        self.model = model
        self.theta = {k: v.to(torch.float64) for k, v in theta.items()}
        self.n_agents = int(next(iter(theta.values())).shape[0]) if theta else 0
        self.n_options = n_options
        self.start_session()

    def start_session(self) -> None:
        self.state = self.model.initial_state(self.theta, self.n_options)

    def logits(self) -> torch.Tensor:
        return self.model.readout(self.state, self.theta)

    def probabilities(self) -> np.ndarray:
        return torch.softmax(self.logits(), -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        choices = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        mask = (choices >= 0).to(torch.float64).unsqueeze(-1)
        onehot = (
            torch.nn.functional.one_hot(choices.clamp(min=0), self.n_options).to(torch.float64)
            * mask
        )
        reward = torch.as_tensor(np.asarray(rewards, dtype=float)).unsqueeze(-1) * mask
        trial = {"onehot": onehot, "mask": mask, "reward": reward}
        if outcomes is not None:
            out = torch.as_tensor(np.asarray(outcomes, dtype=float))
            trial["outcomes"] = torch.nan_to_num(out) * mask
        self.state = self.model.step(self.state, self.theta, trial)


def agent_parameters(
    model: ParametricModel, n_agents: int, seed: Any, params: Any, n_options: int | None
) -> tuple[pd.DataFrame, int]:
    """The per-agent parameter table for :meth:`ParametricModel.agent` and the number of options."""
    fitted_k = getattr(model, "n_options_", None)
    if fitted_k is not None and n_options is not None and n_options != fitted_k and params is None:
        raise ValueError(
            f"{model.name} was fitted with n_options={fitted_k} but the task has {n_options} "
            f"options; simulate it in a task with {fitted_k} options, or pass params=."
        )
    k = n_options or fitted_k
    if k is None:
        raise ValueError("n_options is needed for an unfitted model")
    names = [p.name for p in model.parameters(k)]
    if isinstance(params, dict):
        unknown = set(params) - set(names)
        missing = set(names) - set(params)
        if unknown or missing:
            raise ValueError(
                f"params for {model.name} must give exactly {names}; unknown "
                f"{sorted(unknown)}, missing {sorted(missing)}"
            )
        table = pd.DataFrame({n: np.full(n_agents, float(params[n])) for n in names})
    elif isinstance(params, pd.DataFrame):
        missing = set(names) - set(params.columns)
        if missing:
            raise ValueError(f"params table lacks columns {sorted(missing)}")
        rows = np.arange(n_agents) % len(params)
        table = params.iloc[rows][names].reset_index(drop=True)
        if "subject" in params.columns:
            table.insert(0, "source_subject", params["subject"].to_numpy()[rows])
    elif model.is_fitted():
        rows = np.arange(n_agents) % len(model.params_)
        table = model.params_.iloc[rows][names].reset_index(drop=True)
        table.insert(0, "source_subject", model.params_["subject"].to_numpy()[rows])
    else:
        rng = np.random.default_rng(seed)
        table = pd.DataFrame({p.name: p.draw(n_agents, rng) for p in model.parameters(k)})
    return table, k
