"""Forward processes and their diffusers scheduler configs (what tweedie reads).

DDPMSchedule: discrete VP, x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t = 0..T-1.
FlowSchedule: rectified flow, x_t = (1 - t) x0 + t eps, t in [0, 1]; the network is fed
t * num_train_timesteps, as diffusers' FlowMatchEulerDiscreteScheduler does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class DDPMSchedule:
    """Discrete VP schedule, diffusers DDPMScheduler with beta_schedule='linear'."""
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        betas = np.linspace(self.beta_start, self.beta_end, self.num_train_timesteps,
                            dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - betas)  # float64, like tweedie's paths

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(abar_t), sqrt(1 - abar_t) for integer timesteps t, as float32 tensors."""
        abar = torch.from_numpy(self.alphas_cumprod)[t.long()]
        return abar.sqrt().float(), (1.0 - abar).sqrt().float()

    def scheduler_config(self, prediction_type: str = "epsilon") -> dict:
        return {
            "_class_name": "DDPMScheduler",
            "_diffusers_version": "0.21.0",
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": "linear",
            "trained_betas": None,
            "variance_type": "fixed_small",
            "prediction_type": prediction_type,
            "clip_sample": False,
            "clip_sample_range": 1.0,
            "thresholding": False,
            "timestep_spacing": "leading",
            "steps_offset": 0,
        }


@dataclass
class FlowSchedule:
    """Rectified flow (diffusers FlowMatchEulerDiscreteScheduler, shift 1)."""
    num_train_timesteps: int = 1000

    def scheduler_config(self, prediction_type: str = "flow_prediction") -> dict:
        return {
            "_class_name": "FlowMatchEulerDiscreteScheduler",
            "_diffusers_version": "0.30.0",
            "num_train_timesteps": self.num_train_timesteps,
            "shift": 1.0,
            "use_dynamic_shifting": False,
            "prediction_type": prediction_type,
        }
