"""Disentangled RNN (Miller, Eckstein, Botvinick & Kurth-Nelson 2023, "Cognitive model discovery
via disentangled RNNs", NeurIPS; reference code: google-deepmind/disentangled_rnns).

The network keeps ``latent_size`` scalar latents ``z``. On trial ``t`` (input ``x_t`` describes
trial ``t-1``, as for every network here: :func:`~choicernn.models.rnn_network.sequence_inputs`):

1. every latent ``i`` has its own update MLP. It reads every input feature, the subject
   embedding (if any) and every latent, each through its own noisy bottleneck:
   ``v_{j,i} = m_{j,i} * u_j + sigma_{j,i} * eps`` (a learned multiplier ``m`` and noise scale
   ``sigma = 2 sigmoid(s)``), and returns an update ``a`` and a gate ``w = sigmoid(.)``:
   ``z_i <- (1 - w) z_i + w a``;
2. each new latent passes its own bottleneck ``z_i + sigma_i * eps`` (this noisy latent is the
   state carried to the next trial, as in the reference code), and the choice MLP maps the
   latents to the logits of trial ``t``.

Every bottleneck pays the KL divergence of ``N(mean, sigma^2)`` to ``N(0, 1)``; the loss per
counted choice is ``NLL + beta * KL`` (``beta`` ramps up linearly from 0 over the first tenth
of the epochs). Noise is drawn in training only; :meth:`DisRNNModel.logits`, the agent and every
table use the noise-free network. A bottleneck whose noise stays near 1 carries no information
("closed"); :data:`OPEN_SIGMA` is the threshold below which it counts as open.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data import ChoiceData
from .base import Capabilities, ChoiceModel, check_datasets, resolve_device
from .disrnn_training import Part, train_together
from .network_files import read_network, write_network
from .rnn_network import n_features, sequence_inputs, trial_features
from .rnn_training import Prepared, TrainingConfig, split_validation

#: A bottleneck is open when its noise scale sigma is below this (closed ones drift to 1; the
#: reference code uses 0.5 for the latents' own bottlenecks).
OPEN_SIGMA = 0.5
#: Automatic training settings (``None`` fields of :class:`TrainingConfig`), after the
#: reference configuration (Adam at lr 5e-3, no weight decay); epochs and patience are ours.
DISRNN_DEFAULTS = {
    "lr": 5e-3,
    "weight_decay": 0.0,
    "max_epochs": 600,
    "patience": 60,
    "n_seeds": 1,
    "l1": 0.0,
}


def _act(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (slope 0.01 below 0), as in the current reference code: with plain ReLU the
    two-unit choice MLP can start dead (constant output, no gradient) for some seeds."""
    return torch.nn.functional.leaky_relu(x, 0.01)


def _kl(mean: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, sigma^2) || N(0, 1)) elementwise (>= 0, 0 only at mean 0, sigma 1)."""
    return 0.5 * (sigma.square() + mean.square() - 1.0) - torch.log(sigma)


class DisRNNCore(nn.Module):
    """``n_replicas`` independent disentangled RNNs (one per seed), with a leading replica axis.

    Parameters (leading axis R): ``update_sigma`` and ``update_mult`` (R, n_update, L) for the
    update bottlenecks (rows: features, embedding, latents); ``latent_sigma`` (R, L); ``z0``
    (R, L), the initial latents; update MLPs ``u_w{k}`` (R, L, fan_in, fan_out), ``u_b{k}``
    (R, L, 1, fan_out), their head ``u_out_w`` (R, L, width, 2) (update, gate); choice MLP
    ``c_w{k}`` (R, fan_in, fan_out), ``c_b{k}`` (R, fan_out), head ``c_out_w`` (R, width, K);
    optionally ``embedding`` (R, n_subjects, E). Sigmas are stored unsquashed
    (``sigma = 2 sigmoid(.)``).
    """

    def __init__(
        self,
        n_replicas: int,
        n_inputs: int,
        n_options: int,
        latent_size: int,
        update_mlp: tuple[int, ...],
        choice_mlp: tuple[int, ...],
        n_subjects: int = 0,
        embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        r, n_lat = n_replicas, latent_size
        self.n_inputs, self.embedding_dim, self.latent_size = n_inputs, embedding_dim, latent_size
        self.n_static = n_inputs + embedding_dim
        n_up = self.n_static + n_lat
        self.update_sigma = nn.Parameter(torch.zeros(r, n_up, n_lat))
        self.update_mult = nn.Parameter(torch.ones(r, n_up, n_lat))
        self.latent_sigma = nn.Parameter(torch.zeros(r, n_lat))
        self.z0 = nn.Parameter(torch.zeros(r, n_lat))
        widths = [n_up, *update_mlp]
        self.n_update_layers = len(update_mlp)
        for k in range(len(update_mlp)):
            shape = (r, n_lat, widths[k], widths[k + 1])
            self.register_parameter(f"u_w{k}", nn.Parameter(torch.zeros(shape)))
            self.register_parameter(
                f"u_b{k}", nn.Parameter(torch.zeros(r, n_lat, 1, widths[k + 1]))
            )
        self.u_out_w = nn.Parameter(torch.zeros(r, n_lat, widths[-1], 2))
        self.u_out_b = nn.Parameter(torch.zeros(r, n_lat, 1, 2))
        widths = [n_lat, *choice_mlp]
        self.n_choice_layers = len(choice_mlp)
        for k in range(len(choice_mlp)):
            self.register_parameter(
                f"c_w{k}", nn.Parameter(torch.zeros(r, widths[k], widths[k + 1]))
            )
            self.register_parameter(f"c_b{k}", nn.Parameter(torch.zeros(r, widths[k + 1])))
        self.c_out_w = nn.Parameter(torch.zeros(r, widths[-1], n_options))
        self.c_out_b = nn.Parameter(torch.zeros(r, n_options))
        if embedding_dim > 0:
            self.embedding = nn.Parameter(torch.zeros(r, max(n_subjects, 1), embedding_dim))

    @property
    def n_replicas(self) -> int:
        return int(self.z0.shape[0])

    def reset_parameters(self, seeds: list[int], embedding_rows: list[int] | None = None) -> None:
        """Replica ``r`` from a generator seeded by ``seeds[r]`` alone, as in the reference code:
        bottlenecks open (sigma ~ U(-3, -2) unsquashed, i.e. 0.10 .. 0.24; multipliers 1),
        initial latents U(-1, 1), MLP weights N(0, 1/fan_in) truncated at 2 sd, biases 0,
        embeddings N(0, 0.01^2). ``embedding_rows`` (one per replica) draws only that many
        embedding rows, as a network with that many subjects would, and zeroes the rest."""
        if len(seeds) != self.n_replicas:
            raise ValueError(f"need {self.n_replicas} seeds, got {len(seeds)}")
        with torch.no_grad():
            for r, seed in enumerate(seeds):
                gen = torch.Generator().manual_seed(int(seed))
                for name, p in self.named_parameters():
                    shape = p.shape[1:]
                    if name in ("update_sigma", "latent_sigma"):
                        value = torch.rand(shape, generator=gen) - 3.0
                    elif name == "update_mult":
                        value = torch.ones(shape)
                    elif name == "z0":
                        value = torch.rand(shape, generator=gen) * 2 - 1
                    elif name == "embedding":
                        n_rows = shape[0] if embedding_rows is None else int(embedding_rows[r])
                        value = torch.zeros(shape)
                        value[:n_rows] = torch.randn((n_rows, *shape[1:]), generator=gen) * 0.01
                    elif "_w" in name:
                        fan_in = shape[-2]
                        value = torch.randn(shape, generator=gen).clamp(-2, 2) / math.sqrt(fan_in)
                    else:
                        value = torch.zeros(shape)
                    p[r] = value.to(p.device, p.dtype)

    def sigmas(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise scales of the update bottlenecks (R, n_update, L) and of the latents (R, L)."""
        return 2 * torch.sigmoid(self.update_sigma), 2 * torch.sigmoid(self.latent_sigma)

    def noise_shapes(self, n_r: int, n_s: int, n_t: int) -> list[tuple[tuple[int, ...], int]]:
        """Shapes of the standard normal noise of :meth:`draw_noise` for ``n_r`` replicas,
        ``n_s`` sequences and ``n_t`` trials, each with its replica axis: the static inputs'
        (R, S, T, n_static, L), the latent inputs' (T, R, L, S, L) and the latents' (T, R, S, L).
        """
        n_lat = self.latent_size
        return [
            ((n_r, n_s, n_t, self.n_static, n_lat), 0),
            ((n_t, n_r, n_lat, n_s, n_lat), 1),
            ((n_t, n_r, n_s, n_lat), 1),
        ]

    def draw_noise(
        self, gen: torch.Generator, n_r: int, n_s: int, n_t: int, dtype=torch.float32
    ) -> tuple[torch.Tensor, ...]:
        """Standard normal noise for one noisy :meth:`run` (shapes :meth:`noise_shapes`), drawn
        from ``gen`` in that order (on ``gen``'s device)."""
        return tuple(
            torch.randn(shape, generator=gen, device=gen.device, dtype=dtype)
            for shape, _ in self.noise_shapes(n_r, n_s, n_t)
        )

    def run(
        self,
        x: torch.Tensor,
        emb: torch.Tensor | None = None,
        noise: torch.Generator | tuple[torch.Tensor, ...] | None = None,
        state: torch.Tensor | None = None,
        with_kl: bool = False,
    ):
        """Run the recurrence on inputs ``x`` (R or 1, S, T, F).

        ``emb`` (R, S, E) is the subject embedding of every sequence; ``noise`` a generator for
        the bottleneck noise, or that noise already drawn (:meth:`draw_noise`; None: the
        noise-free network); ``state`` (R, S, L) continues from an earlier call. Returns
        ``(logits (R, S, T, K), latents (R, S, T, L), kl)``: the latents are the states the
        logits are read from (noisy in training) and ``kl`` (R, S, T) the summed KL of every
        bottleneck on each step (None without ``with_kl``).
        """
        n_r, n_lat, n_x = self.n_replicas, self.latent_size, self.n_static
        x = x.expand(n_r, *x.shape[1:]) if x.shape[0] == 1 and n_r > 1 else x
        n_s, n_t = x.shape[1], x.shape[2]
        if isinstance(noise, torch.Generator):
            noise = self.draw_noise(noise, n_r, n_s, n_t, x.dtype)
        if self.embedding_dim > 0:
            x = torch.cat([x, emb.unsqueeze(2).expand(n_r, n_s, n_t, -1).to(x.dtype)], -1)
        sig_up, sig_lat = self.sigmas()
        mult = self.update_mult
        # Static inputs through their bottlenecks, first layer for every step at once.
        mu_x = x.unsqueeze(-1) * mult[:, None, None, :n_x]  # (R, S, T, n_x, L)
        v_x = mu_x
        if noise is not None:
            v_x = mu_x + sig_up[:, None, None, :n_x] * noise[0]
        w0 = self.u_w0
        a_x = torch.einsum("rstil,rlih->trlsh", v_x, w0[:, :, :n_x]) + self.u_b0.unsqueeze(0)
        a_x = a_x.reshape(n_t, n_r * n_lat, n_s, -1).unbind(0)
        w0_z = w0[:, :, n_x:].reshape(n_r * n_lat, n_lat, -1)  # (R*L, L_in, H1)
        mult_z = mult[:, n_x:].transpose(1, 2).unsqueeze(2)  # (R, L, 1, L_in)
        sig_z = sig_up[:, n_x:].transpose(1, 2).unsqueeze(2)
        hidden = [
            (
                getattr(self, f"u_w{k}").reshape(n_r * n_lat, *getattr(self, f"u_w{k}").shape[2:]),
                getattr(self, f"u_b{k}").reshape(n_r * n_lat, 1, -1),
            )
            for k in range(1, self.n_update_layers)
        ]
        out_w = self.u_out_w.reshape(n_r * n_lat, *self.u_out_w.shape[2:])
        out_b = self.u_out_b.reshape(n_r * n_lat, 1, 2)
        z = self.z0.unsqueeze(1).expand(n_r, n_s, n_lat) if state is None else state
        if noise is not None:
            eps_in = (noise[1] * sig_z).unbind(0)
            eps_lat = (noise[2] * sig_lat.unsqueeze(1)).unbind(0)
        starts, means, latents = [], [], []
        for t in range(n_t):
            starts.append(z)
            v = z.unsqueeze(1) * mult_z  # (R, L, S, L_in)
            if noise is not None:
                v = v + eps_in[t]
            h = _act(torch.baddbmm(a_x[t], v.reshape(n_r * n_lat, n_s, n_lat), w0_z))
            for w, b in hidden:
                h = _act(torch.baddbmm(b, h, w))
            out = torch.baddbmm(out_b, h, out_w).view(n_r, n_lat, n_s, 2).permute(0, 2, 1, 3)
            update, gate = out[..., 0], torch.sigmoid(out[..., 1])
            mean = z + gate * (update - z)
            means.append(mean)
            z = mean + eps_lat[t] if noise is not None else mean
            latents.append(z)
        lat = torch.stack(latents, 2)  # (R, S, T, L)
        logits = self.readout(lat)
        kl = None
        if with_kl:
            prev = torch.stack(starts, 2)
            mu_z = prev.unsqueeze(-1) * mult[:, None, None, n_x:]
            kl = _kl(mu_x, sig_up[:, None, None, :n_x]).sum((-1, -2))
            kl = kl + _kl(mu_z, sig_up[:, None, None, n_x:]).sum((-1, -2))
            kl = kl + _kl(torch.stack(means, 2), sig_lat[:, None, None]).sum(-1)
        return logits, lat, kl

    def readout(self, latents: torch.Tensor) -> torch.Tensor:
        """The choice MLP: logits (R, S, T, K) from latents (R, S, T, L)."""
        h = latents
        for k in range(self.n_choice_layers):
            w, b = getattr(self, f"c_w{k}"), getattr(self, f"c_b{k}")
            h = _act(torch.einsum("rstl,rlh->rsth", h, w) + b[:, None, None])
        return torch.einsum("rstl,rlk->rstk", h, self.c_out_w) + self.c_out_b[:, None, None]

    def embed(self, subject_index: torch.Tensor) -> torch.Tensor | None:
        """Embeddings (R, S, E) of sequences' subject rows, (S,) for every replica or (R, S)
        per replica; unknown subjects (-1) get the mean."""
        if self.embedding_dim == 0:
            return None
        weight = self.embedding  # (R, n_subjects, E)
        index = subject_index.expand(self.n_replicas, -1)
        replicas = torch.arange(self.n_replicas, device=index.device).unsqueeze(1)
        known = weight[replicas, index.clamp(min=0)]
        mean = weight.mean(1, keepdim=True).expand_as(known)
        return torch.where((index >= 0).unsqueeze(-1), known, mean)


class DisRNNAgent:
    """A fitted (noise-free) disentangled RNN playing a task for ``n_agents`` subjects at once."""

    def __init__(self, core, n_options, uses_outcomes, reward_scale, subject_index, n_agents):
        self.core, self.n_options, self.n_agents = core, int(n_options), int(n_agents)
        self.uses_outcomes, self.reward_scale = uses_outcomes, reward_scale
        self.subject_index = subject_index
        self.start_session()

    def _step(self, x: torch.Tensor) -> None:
        emb = None if self.subject_index is None else self.core.embed(self.subject_index)
        with torch.no_grad():
            logits, lat, _ = self.core.run(x[None, :, None], emb, None, self._state)
        self._state = lat[:, :, -1]
        self._logits = logits[0, :, 0].to(torch.float64)

    def start_session(self) -> None:
        """Reset to the learned initial latents and compute the first trial's logits."""
        self._state = None
        self._step(
            torch.zeros(self.n_agents, n_features(self.n_options, "reward", self.uses_outcomes))
        )

    def probabilities(self) -> np.ndarray:
        """Choice probabilities of the coming trial, shape (n_agents, n_options)."""
        return torch.softmax(self._logits, -1).numpy()

    def update(self, choices, rewards, outcomes=None) -> None:
        """Feed one trial (shapes (n_agents,), (n_agents,), (n_agents, n_options))."""
        choices = torch.as_tensor(np.asarray(choices), dtype=torch.long)
        rewards = torch.as_tensor(np.asarray(rewards, dtype=np.float32))
        if choices.shape != (self.n_agents,) or rewards.shape != (self.n_agents,):
            raise ValueError(
                f"choices and rewards must have shape ({self.n_agents},), got "
                f"{tuple(choices.shape)} and {tuple(rewards.shape)}"
            )
        out = None
        if self.uses_outcomes:
            if outcomes is None:
                raise ValueError(
                    "this network was fitted with full-feedback outcomes; pass outcomes"
                )
            out = torch.as_tensor(np.asarray(outcomes, dtype=np.float32))
        x = trial_features(choices, rewards, out, self.n_options, "reward", self.reward_scale)
        self._step(x)


def feature_names(n_options: int, outcomes: bool) -> list[str]:
    """Names of the per-trial input features, in the order of
    :func:`~choicernn.models.rnn_network.trial_features` (options numbered from 0)."""
    names = [f"choice {k}" for k in range(n_options)] + ["missed", "reward"]
    names += [f"reward x choice {k}" for k in range(n_options)]
    if outcomes:
        names += [f"outcome {k}" for k in range(n_options)]
    return names


def _positive_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool) and value >= 1


class DisRNNModel(ChoiceModel):
    """Disentangled RNN of trial-by-trial choices (Miller et al. 2023); see the module docstring.

    Parameters
    ----------
    latent_size : int
        Number of scalar latents (each with its own update MLP and bottleneck).
    update_mlp : tuple of int
        Hidden layer widths of every latent's update MLP (at least one layer; leaky ReLU).
    choice_mlp : tuple of int
        Hidden layer widths of the choice MLP (may be empty: a linear readout).
    beta : float
        Weight of the summed KL divergence of the bottlenecks, per choice, in the loss
        ``NLL + beta * KL`` (>= 0; 0 trains an ordinary gated network with noise).
    subject_embedding : int
        Size of a learned per-subject vector read by every update MLP, each dimension through
        its own bottleneck (0: one pooled network). Unknown subjects get the mean vector.
    training : TrainingConfig or None
        Optimisation settings; ``None`` fields take :data:`DISRNN_DEFAULTS` (AdamW at lr 5e-3
        without weight decay, 600 epochs, patience 60, one seed). ``l1`` and
        ``augment_permutations`` are not supported (the KL is the penalty).
    device : {"auto", "cpu", "cuda"} or torch.device
    name : str, optional
        Label in result tables (default ``"disrnn<latent_size>"``).

    Attributes
    ----------
    network_ : DisRNNCore
        The kept network (one replica).
    n_options_, subjects_, reward_scale_, uses_outcomes_, training_
        As for :class:`~choicernn.GRUModel`.
    open_latents_ : list of int
        Latents whose own bottleneck is open (sigma < :data:`OPEN_SIGMA`), by increasing sigma.
    history_ : pandas.DataFrame
        ``seed, epoch, beta, train_nll, train_kl, val_nll, val_kl``: per choice, after every
        epoch (training values are the noisy epoch averages; validation is noise-free).
    seeds_ : pandas.DataFrame
        ``seed, best_epoch, objective, val_nll, kept``.
    validation_nll_ : float or None
        Validation NLL per choice of the kept network (None with ``split="none"``).

    Notes
    -----
    Early stopping and the choice among seeds use the validation *objective*
    ``NLL + beta * KL`` (noise-free), from the end of the warm-up on: stopping on the NLL alone
    would keep the least disentangled epoch.
    """

    def __init__(
        self,
        latent_size: int = 5,
        update_mlp: tuple[int, ...] = (5, 5, 5),
        choice_mlp: tuple[int, ...] = (2, 2),
        beta: float = 1e-2,
        subject_embedding: int = 0,
        training: TrainingConfig | None = None,
        device: str | torch.device = "auto",
        name: str | None = None,
    ) -> None:
        self.latent_size = latent_size
        self.update_mlp = update_mlp
        self.choice_mlp = choice_mlp
        self.beta = beta
        self.subject_embedding = subject_embedding
        self.training = training
        self.device = device
        self.name = f"disrnn{latent_size}" if name is None else name
        self._check_settings()

    def _check_settings(self) -> None:
        if not _positive_int(self.latent_size):
            raise ValueError(f"latent_size must be a positive integer, got {self.latent_size!r}")
        for arg, least in (("update_mlp", 1), ("choice_mlp", 0)):
            value = getattr(self, arg)
            if (
                not isinstance(value, tuple | list)
                or len(value) < least
                or not all(_positive_int(v) for v in value)
            ):
                raise ValueError(
                    f"{arg} must be a tuple of positive layer widths"
                    f"{' (at least one)' if least else ''}, got {value!r}; e.g. (5, 5, 5)"
                )
        beta = self.beta
        if (
            isinstance(beta, bool)
            or not isinstance(beta, int | float)
            or not beta >= 0
            or not (math.isfinite(beta))
        ):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}; try 1e-2")
        emb = self.subject_embedding
        if not isinstance(emb, int) or isinstance(emb, bool) or emb < 0:
            raise ValueError(f"subject_embedding must be an integer >= 0 (0: none), got {emb!r}")
        cfg = self.training
        if cfg is not None and not isinstance(cfg, TrainingConfig):
            raise TypeError(f"training must be a TrainingConfig or None, got {type(cfg).__name__}")
        if cfg is not None and (cfg.l1 or cfg.augment_permutations):
            raise ValueError(
                "DisRNNModel does not use TrainingConfig.l1 or augment_permutations (the KL of "
                "its bottlenecks is its penalty); leave them at None / False"
            )

    @property
    def config(self) -> TrainingConfig:
        """The training settings in use, automatic values from :data:`DISRNN_DEFAULTS`."""
        from dataclasses import replace

        base = self.training if self.training is not None else TrainingConfig()
        values = {
            k: v if getattr(base, k) is None else getattr(base, k)
            for k, v in DISRNN_DEFAULTS.items()
        }
        return replace(base, **values)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            network=True,
            subject_specific=self.subject_embedding > 0,
            fixed_agent=True,
            batched_fits=True,
        )

    # ------------------------------------------------------------------ tensors
    def _new_core(self, n_replicas: int, n_subjects: int) -> DisRNNCore:
        return DisRNNCore(
            n_replicas,
            n_features(self.n_options_, "reward", self.uses_outcomes_),
            self.n_options_,
            self.latent_size,
            tuple(self.update_mlp),
            tuple(self.choice_mlp),
            n_subjects,
            self.subject_embedding,
        )

    def _prepare(self, data: ChoiceData, dev: torch.device) -> Prepared:
        if self.uses_outcomes_ and not data.has_outcomes:
            raise ValueError(
                f"{self.name} was fitted on full-feedback data (every option's outcome is an "
                f"input); these data have no outcome columns"
            )
        batch = data.tensors(dev, torch.float32)
        x = sequence_inputs(batch, "reward", self.uses_outcomes_, self.reward_scale_)
        rows = {s: i for i, s in enumerate(self.subjects_)}
        subject = torch.tensor([rows.get(s, -1) for s in data.sequences["subject"]], device=dev)
        return Prepared(x, batch.choices, subject.long(), batch.lengths.clone())

    # ------------------------------------------------------------------ fitting
    def fit(
        self, data: ChoiceData, *, seed: int | None = None, validation: ChoiceData | None = None
    ) -> DisRNNModel:
        """Train on ``data`` (early stopping on ``validation`` or on the config's split);
        returns ``self``. ``seed`` seeds the initial weights, the mini-batch order and the
        bottleneck noise (private generators); training on the CPU is reproducible."""
        if not isinstance(data, ChoiceData):
            raise TypeError(f"fit expects a ChoiceData, got {type(data).__name__}")
        if validation is not None and not isinstance(validation, ChoiceData):
            raise TypeError(f"validation must be a ChoiceData, got {type(validation).__name__}")
        if validation is not None and validation.n_options != data.n_options:
            raise ValueError(
                f"validation data have n_options={validation.n_options}, training data "
                f"{data.n_options}"
            )
        cfg, dev = self.config, resolve_device(self.device)
        self._start(data)
        try:
            train_together([self], [self._part(data, validation, cfg, dev)], cfg, seed, dev)
        except BaseException:
            del self.n_options_  # not fitted after a failed fit
            raise
        return self

    def fit_many(
        self, datasets: Sequence[ChoiceData], *, seed: int | None = None
    ) -> list[DisRNNModel]:
        """Fit one clone of this model to each data set, all as replicas of one network.

        Every seed of every fit is a replica of one :class:`DisRNNCore`
        (:mod:`choicernn.models.disrnn_training`) with its own initial weights, mini-batch
        order, bottleneck noise and early stopping, so each fit equals
        ``self.clone().fit(data, seed=seed)`` (to floating-point summation order).
        :func:`choicernn.cross_validate` uses it to train every fold at once.

        Parameters
        ----------
        datasets : sequence of ChoiceData
            With the same number of options, all with outcome columns or none.
        seed : int or None

        Returns
        -------
        list of DisRNNModel
            The fitted clones, in the order of ``datasets``; ``self`` stays unfitted.
        """
        datasets = check_datasets(datasets)
        if not datasets:
            return []
        cfg, dev = self.config, resolve_device(self.device)
        models = [self.clone() for _ in datasets]
        for model, data in zip(models, datasets, strict=True):
            model._start(data)
        parts = [m._part(d, None, cfg, dev) for m, d in zip(models, datasets, strict=True)]
        train_together(models, parts, cfg, seed, dev)
        return models

    def _start(self, data: ChoiceData) -> None:
        """The data-dependent attributes set before training (options, subjects, scales)."""
        batch = data.tensors()
        scale = float(batch.rewards[batch.mask].abs().max()) if data.n_choices else 0.0
        self.n_options_ = data.n_options
        self.subjects_ = list(data.subjects)
        self.reward_scale_ = scale if scale > 0 else 1.0
        self.uses_outcomes_ = bool(data.has_outcomes)
        self.training_ = self.config

    def _part(self, data: ChoiceData, validation: ChoiceData | None, cfg, dev) -> Part:
        """Training and validation tensors (``validation`` or the config's split)."""
        full = self._prepare(data, dev)
        if validation is not None:
            return full, self._prepare(validation, dev)
        return split_validation(full, data.sequences, cfg)

    # ------------------------------------------------------------------ bottlenecks
    def _open_latents(self) -> list[int]:
        _, sig = self.network_.sigmas()
        sig = sig[0].detach().cpu().numpy()
        return [int(i) for i in np.argsort(sig, kind="stable") if sig[i] < OPEN_SIGMA]

    def input_names(self) -> list[str]:
        """Names of the update MLPs' inputs: features, embedding dimensions, latents."""
        self.check_fitted()
        names = feature_names(self.n_options_, self.uses_outcomes_)
        names += [f"embedding {e}" for e in range(self.subject_embedding)]
        return names + [f"latent {i}" for i in range(self.latent_size)]

    def bottleneck_table(self) -> pd.DataFrame:
        """Every bottleneck of the fitted network.

        Returns
        -------
        pandas.DataFrame
            ``latent, input, kind, sigma, multiplier, open``: per latent (0-based) one row of
            kind ``"latent"`` (its own bottleneck before the choice MLP; ``input`` and
            ``multiplier`` missing) and one row of kind ``"update_input"`` per input of its
            update MLP (``input`` as :meth:`input_names`). ``open``: ``sigma < OPEN_SIGMA``.
        """
        self.check_fitted()
        sig_up, sig_lat = (s[0].detach().cpu().double().numpy() for s in self.network_.sigmas())
        mult = self.network_.update_mult[0].detach().cpu().double().numpy()
        names, rows = self.input_names(), []
        for i in range(self.latent_size):
            rows.append((i, None, "latent", sig_lat[i], np.nan))
            rows += [(i, n, "update_input", sig_up[j, i], mult[j, i]) for j, n in enumerate(names)]
        out = pd.DataFrame(rows, columns=["latent", "input", "kind", "sigma", "multiplier"])
        out["open"] = out["sigma"] < OPEN_SIGMA
        return out

    def update_rule_table(
        self,
        data: ChoiceData | None = None,
        *,
        latents: list[int] | None = None,
        n_points: int = 41,
        reward_values: tuple[float, float] | None = None,
    ) -> pd.DataFrame:
        """The update rule of each open latent, per input; see
        :func:`choicernn.models.rnn_dynamics.disrnn_update_rules` (columns ``latent, input,
        prev_choice, rewarded, other_latent, other_value, value, next_value``)."""
        from .rnn_dynamics import disrnn_update_rules

        return disrnn_update_rules(
            self, data, latents=latents, n_points=n_points, reward_values=reward_values
        )

    # ------------------------------------------------------------------ prediction
    def _run(self, data: ChoiceData) -> tuple[torch.Tensor, torch.Tensor]:
        """Noise-free logits (S, T, K) and latents (S, T, L) of every sequence, on the CPU."""
        self.check_fitted()
        self._check_options(data)
        core = self.network_.eval()
        dev = next(core.parameters()).device
        prep = self._prepare(data, dev)
        logits, latents = [], []
        with torch.no_grad():
            for rows in torch.arange(prep.x.shape[0], device=dev).split(256):
                out, lat, _ = core.run(prep.x[rows][None], core.embed(prep.subject[rows]))
                logits.append(out[0].cpu())
                latents.append(lat[0].cpu())
        return torch.cat(logits), torch.cat(latents)

    def logits(self, data: ChoiceData) -> torch.Tensor:
        """Choice logits (n_sequences, n_trials, n_options), float32, detached, on the CPU;
        trial ``t`` from trials ``< t`` of its sequence only (noise-free network)."""
        return self._run(data)[0]

    def hidden_states(self, data: ChoiceData) -> pd.DataFrame:
        """The latents on every trial, tidy, in the columns of :meth:`GRUModel.hidden_states`.

        Returns
        -------
        pandas.DataFrame
            ``subject, session, trial, layer, unit, state, value``: one row per trial and latent
            (``layer`` 0, ``state`` ``"h"``, ``unit`` the latent); the latents the logits of
            that trial are read from (after reading trials ``< t``).
        """
        values = data.trial_values(self._run(data)[1]).astype(np.float64)  # (n_rows, L)
        frame = data.to_frame()[["subject", "session", "trial"]]
        n_lat = self.latent_size
        out = frame.loc[frame.index.repeat(n_lat)].reset_index(drop=True)
        out["layer"] = 0
        out["unit"] = np.tile(np.arange(n_lat), len(frame))
        out["state"] = "h"
        out["value"] = values.reshape(-1)
        return out

    def agent(
        self, n_agents: int, *, seed: Any = None, params: Any = None, n_options: int | None = None
    ) -> tuple[DisRNNAgent, pd.DataFrame | None]:
        """The fitted noise-free network as an agent (``seed`` ignored: it is deterministic).

        With subject embeddings, ``params`` gives the fitted subject each agent stands for (a
        sequence of labels, or a table with ``source_subject``; unknown labels get the mean
        embedding); default: agent ``i`` is fitted subject ``i % n_subjects``. Returns the agent
        and, with embeddings, the table of ``source_subject`` (else None).
        """
        self.check_fitted()
        if n_options is not None and n_options != self.n_options_:
            raise ValueError(
                f"{self.name} was fitted with n_options={self.n_options_}, got {n_options}"
            )
        if not _positive_int(n_agents):
            raise ValueError(f"n_agents must be a positive integer, got {n_agents!r}")
        index, table = None, None
        if self.subject_embedding > 0:
            if params is None:
                labels = list(self.subjects_)
            elif isinstance(params, pd.DataFrame):
                labels = list(params["source_subject"])
            else:
                labels = list(params)
            if not labels:
                raise ValueError("params gives no source subject")
            sources = [labels[i % len(labels)] for i in range(n_agents)]
            rows = {s: i for i, s in enumerate(self.subjects_)}
            index = torch.tensor([rows.get(s, -1) for s in sources], dtype=torch.long)
            table = pd.DataFrame({"source_subject": sources})
        elif params is not None:
            raise ValueError(f"{self.name} has no subject embedding; params must be None")
        core = self._new_core(1, len(self.subjects_))
        core.load_state_dict({k: v.cpu() for k, v in self.network_.state_dict().items()})
        agent = DisRNNAgent(
            core.eval(), self.n_options_, self.uses_outcomes_, self.reward_scale_, index, n_agents
        )
        return agent, table

    # ------------------------------------------------------------------ save / load
    def write_fitted(self, folder: Path) -> dict[str, Any]:
        """Write ``weights.pt`` (a plain state dict of CPU tensors) and return the fitted state
        (see :mod:`choicernn.models.network_files`)."""
        return write_network(self, folder)

    def read_fitted(self, folder: Path, fitted: dict[str, Any]) -> None:
        """Restore the state written by :meth:`write_fitted`, validating every entry."""
        read_network(self, folder, fitted, lambda n_subjects: self._new_core(1, n_subjects))
        self.open_latents_ = self._open_latents()


def disrnn(training: Any = None, **settings: Any) -> DisRNNModel:
    """Registry factory (``type = "disrnn"``): ``training`` may be a table of
    :class:`TrainingConfig` fields, ``update_mlp`` / ``choice_mlp`` lists."""
    if isinstance(training, dict):
        training = TrainingConfig(**training)
    return DisRNNModel(training=training, **settings)
