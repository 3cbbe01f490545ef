"""What the network learns, with its loss weighting and how tweedie is told about it.

Each objective draws (t, eps) for a batch of clean images x0 in [-1, 1], builds x_t and
returns the MSE against its target; `prediction` is written to tweedie.json and to the
scheduler config, `time_entry` says how the network's time input is read.

    eps   DDPM path, target eps (Ho et al. 2020, L_simple). In x0 terms the weight is SNR(t):
          ||eps_hat - eps||^2 = SNR ||x0_hat - x0||^2, SNR = a^2 / s^2.
    v     DDPM path, target v = a eps - s x0 (Salimans & Ho 2022, Sec. 4 and App. D). Since
          x0_hat - x0 = -s (v_hat - v) and a^2 + s^2 = 1, the weight is 1 + SNR ("SNR+1").
    flow  rectified flow, x_t = (1 - t) x0 + t eps, t ~ U(0, 1), target eps - x0
          (Liu et al. 2022; Lipman et al. 2023). x0_hat - x0 = -t (v_hat - v): the weight
          is 1 / t^2 = (1 + sqrt(SNR))^2. The network is fed 1000 t (diffusers' FlowMatch).

Preconditioning: none beyond the choice of target. The v and flow targets have about unit
variance at every t for data of about unit scale, which is what EDM's c_out scaling
(Karras et al. 2022, Eq. 7) arranges for an x0 or eps network; the eps target is ill-suited
near t = 0 for x0 (it divides by a small s), which v avoids. So v (DDPM) and flow need no
c_in / c_out wrapper, and the exported graph stays the plain network tweedie expects.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .schedule import DDPMSchedule, FlowSchedule


def _col(v: torch.Tensor) -> torch.Tensor:
    return v[:, None, None, None]


class DDPMObjective:
    """eps or v prediction on the discrete VP path, t uniform on 0..T-1."""

    def __init__(self, target: str, sched: DDPMSchedule | None = None):
        if target not in ("eps", "v"):
            raise ValueError(f"DDPM target must be 'eps' or 'v', got {target!r}")
        self.name = target
        self.sched = sched or DDPMSchedule()
        self.prediction = {"eps": "epsilon", "v": "v_prediction"}[target]
        self.description = {
            "eps": "MSE between predicted and true eps, t uniform on 0..999 (weight SNR(t) on x0)",
            "v": "MSE between predicted and true v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0, "
                 "t uniform on 0..999 (weight 1 + SNR(t) on x0; Salimans & Ho 2022)",
        }[target]
        self.path = ("discrete VP (DDPM), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, "
                     "betas linspace(1e-4, 0.02, 1000), abar_t = prod_(s<=t) (1 - beta_s), t = 0..999")

    def loss(self, model: nn.Module, x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        t = torch.randint(0, self.sched.num_train_timesteps, (x0.shape[0],), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        a, s = (_col(c) for c in self.sched.coefficients(t))
        xt = a * x0 + s * eps
        target = eps if self.name == "eps" else a * eps - s * x0
        return F.mse_loss(model(xt, t.float()), target)

    def x0_eps(self, out: torch.Tensor, x: torch.Tensor, a: float, s: float):
        """(x0, eps) from the network output at x with coefficients a, s (a^2 + s^2 = 1)."""
        if self.name == "eps":
            return (x - s * out) / a, out
        return a * x - s * out, s * x + a * out

    def scheduler_config(self) -> dict:
        return self.sched.scheduler_config(self.prediction)

    def time_entry(self) -> dict:
        return {"time_input": "discrete"}


class FlowObjective:
    """Velocity prediction on rectified flow."""
    name = "flow"
    prediction = "flow_prediction"
    description = ("MSE between predicted and true velocity eps - x0, t uniform on [0, 1] "
                   "(weight 1 / t^2 on x0)")
    path = "rectified flow, x_t = (1 - t) x0 + t eps, t in [0, 1], network time input 1000 t"

    def __init__(self, sched: FlowSchedule | None = None):
        self.sched = sched or FlowSchedule()

    def loss(self, model: nn.Module, x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        t = torch.rand((x0.shape[0],), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        xt = (1.0 - _col(t)) * x0 + _col(t) * eps
        return F.mse_loss(model(xt, t * self.sched.num_train_timesteps), eps - x0)

    def scheduler_config(self) -> dict:
        return self.sched.scheduler_config(self.prediction)

    def time_entry(self) -> dict:
        return {"time_input": "continuous", "time_scale": self.sched.num_train_timesteps}


OBJECTIVES = ("eps", "v", "flow")


def make_objective(name: str):
    if name == "flow":
        return FlowObjective()
    return DDPMObjective(name)


@torch.no_grad()
def heldout_loss(objective, model: nn.Module, x0: torch.Tensor, seed: int = 0, batch: int = 256) -> float:
    """The objective's loss on fixed images with a fixed draw of (t, eps): comparable across runs."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    losses = [objective.loss(model, x0[i:i + batch], gen).item() * len(x0[i:i + batch])
              for i in range(0, len(x0), batch)]
    return sum(losses) / len(x0)


def objective_of(folder: str):
    """The objective a weights folder was trained with, from its tweedie.json "prediction"."""
    import json
    import os
    with open(os.path.join(folder, "tweedie.json")) as f:
        prediction = json.load(f)["prediction"]
    names = {"epsilon": "eps", "v_prediction": "v", "flow_prediction": "flow"}
    if prediction not in names:
        raise ValueError(f"{folder}/tweedie.json: no objective for prediction {prediction!r}")
    return make_objective(names[prediction])
