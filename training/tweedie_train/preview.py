"""Deterministic samplers for the preview grids in PyTorch (independent of tweedie)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn

from .objectives import DDPMObjective, FlowObjective


Net = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def ddim_sample(model: Net, objective: DDPMObjective, shape: Sequence[int], n: int,
                steps: int = 50, seed: int = 0) -> torch.Tensor:
    """Deterministic DDIM (eta = 0), diffusers 'leading' spacing, final alpha = 1."""
    sched = objective.sched
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=gen)
    ratio = sched.num_train_timesteps // steps
    ts = (np.arange(steps) * ratio)[::-1]
    abar = sched.alphas_cumprod
    for i, t in enumerate(ts):
        a_t = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        out = model(x, torch.full((n,), float(t))).double()
        x0, eps = objective.x0_eps(out, x.double(), math.sqrt(a_t), math.sqrt(1 - a_t))
        x = (math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps).float()
    return x


@torch.no_grad()
def euler_flow_sample(model: Net, objective: FlowObjective, shape: Sequence[int], n: int,
                      steps: int = 50, seed: int = 0) -> torch.Tensor:
    """Euler steps of dx/dt = velocity from t = 1 (noise) to t = 0, uniform in t."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=gen).double()
    ts = np.linspace(1.0, 0.0, steps + 1)
    scale = objective.sched.num_train_timesteps
    for t, t_next in zip(ts[:-1], ts[1:]):
        v = model(x.float(), torch.full((n,), float(t) * scale)).double()
        x = x + (t_next - t) * v
    return x.float()


def class_guided(model: nn.Module, labels: torch.Tensor, null_class: int, scale: float) -> Net:
    """The class-conditional network for `labels`, classifier-free guided: u + scale (c - u) (Ho & Salimans 2022,
    eq. 6, their w = scale - 1; the prediction is affine in (x0, eps) at fixed x and t, so guiding it guides eps)."""
    def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        c = model(x, t, labels)
        if scale == 1:
            return c
        u = model(x, t, torch.full_like(labels, null_class))
        return u + scale * (c - u)
    return net


def preview_sample(model: nn.Module, objective, shape: Sequence[int], n: int,
                   steps: int = 50, seed: int = 0, labels: torch.Tensor | None = None,
                   null_class: int = 0, scale: float = 1.0) -> torch.Tensor:
    """n samples from seeded noise; with `labels` (one per sample), of a class-conditional network guided at `scale`."""
    model.eval()
    sampler = euler_flow_sample if isinstance(objective, FlowObjective) else ddim_sample
    net = model if labels is None else class_guided(model, labels, null_class, scale)
    return sampler(net, objective, shape, n, steps, seed)


def class_preview(model: nn.Module, objective, shape: Sequence[int], num_classes: int, per_class: int,
                  scale: float, steps: int = 50, seed: int = 0) -> torch.Tensor:
    """A grid's images, one row per class: per_class samples of the conditional network (guidance 1), then the same
    noises guided at `scale` (the null class is index num_classes). [num_classes * 2 * per_class, *shape]"""
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    plain, guided = (preview_sample(model, objective, shape, len(labels), steps, seed, labels, num_classes, w)
                     .view(num_classes, per_class, *shape) for w in (1.0, scale))
    return torch.cat([plain, guided], 1).flatten(0, 1)


def preview_name(objective) -> str:
    if isinstance(objective, FlowObjective):
        return "50-step Euler on the flow ODE (uniform in t)"
    return "50-step DDIM (eta 0, 'leading' spacing)"


def roughness(x: torch.Tensor) -> torch.Tensor:
    """Mean |5-point Laplacian| per image [N, C, H, W] -> [N]: speckled, noisy failures score high."""
    lap = (4 * x[..., 1:-1, 1:-1] - x[..., :-2, 1:-1] - x[..., 2:, 1:-1]
           - x[..., 1:-1, :-2] - x[..., 1:-1, 2:])
    return lap.abs().flatten(1).mean(1)


def rough_count(samples: torch.Tensor, real: torch.Tensor, quantile: float = 0.99) -> tuple[int, float]:
    """How many samples are rougher than the given quantile of real images, and that threshold."""
    threshold = float(torch.quantile(roughness(real.float()), quantile))
    return int((roughness(samples.float()) > threshold).sum()), threshold
