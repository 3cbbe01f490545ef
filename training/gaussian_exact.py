"""Export `gaussian-exact`: the exact denoiser of a diagonal Gaussian prior as an ONNX graph.

For x0 ~ N(m, diag(v)) on the discrete VP path (DDPM linear betas, 1000 steps),
E[x0 | x_t] = m + a v / (a^2 v + s^2) (x_t - a m) with a = 1/sqrt(1+sigma^2), s = sigma a, and the
graph returns eps = (x_t - a E[x0|x_t]) / s. sigma(t) interpolates log sigma linearly between integer
timesteps (the convention tweedie and diffusers use), so fractional timesteps are exact too.
No training: the graph is the formula. tweedie's tests compare it with the analytic denoiser.
model.grad.onnx (training/gradients.py) adds the vector-Jacobian product, s / (a^2 v + s^2) elementwise.

Reproduce: /usr/bin/python3 training/gaussian_exact.py
"""
import json
import os

import numpy as np
import torch

from tweedie_train.export import tweedie_json, write_json
from gradients import write_gradient

OUT = os.path.join(os.path.dirname(__file__), '..', 'weights', 'gaussian-exact')
C, H, W = 1, 8, 8


def prior():
    i, j = np.meshgrid(np.arange(H), np.arange(W), indexing='ij')
    mean = 0.6 * np.cos(i / 2.0) * np.sin(j / 3.0)
    var = 0.05 + 0.25 * (1 + np.sin(i + 2 * j)) / 2
    return mean.reshape(C, H, W).astype(np.float64), var.reshape(C, H, W).astype(np.float64)


class GaussianEps(torch.nn.Module):
    def __init__(self, mean, var, log_sigmas):
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32))
        self.register_buffer('var', torch.tensor(var, dtype=torch.float32))
        self.register_buffer('log_sigmas', torch.tensor(log_sigmas, dtype=torch.float32))

    def coefficients(self, timestep):
        """a, s as [N,1,1,1] for the (possibly fractional) discrete timestep."""
        n = self.log_sigmas.shape[0]
        t = torch.clamp(timestep, 0.0, float(n - 1))
        k = torch.clamp(torch.floor(t), 0.0, float(n - 2))
        f = t - k
        lo = self.log_sigmas[k.long()]
        hi = self.log_sigmas[k.long() + 1]
        sigma = torch.exp(lo + f * (hi - lo)).reshape(-1, 1, 1, 1)
        a = 1.0 / torch.sqrt(1.0 + sigma * sigma)
        return a, sigma * a

    def forward(self, sample, timestep):
        a, s = self.coefficients(timestep)
        x0 = self.mean + a * self.var / (a * a * self.var + s * s) * (sample - a * self.mean)
        return (sample - a * x0) / s


def ddpm_log_sigmas():
    """log sigma_k = log sqrt((1 - abar_k) / abar_k) of the DDPM linear path (betas 1e-4 .. 0.02, 1000 steps)."""
    betas = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
    abar = np.cumprod(1 - betas)
    return 0.5 * np.log((1 - abar) / abar)


def make_model():
    mean, var = prior()
    return GaussianEps(mean, var, ddpm_log_sigmas()).eval()


def main():
    os.makedirs(OUT, exist_ok=True)
    model = make_model()
    mean, var = prior()
    x = torch.randn(3, C, H, W)
    t = torch.tensor([999.0, 420.5, 3.0])
    torch.onnx.export(model, (x, t), os.path.join(OUT, 'model.onnx'), input_names=['sample', 'timestep'],
                      output_names=['out'], dynamic_axes={'sample': {0: 'batch'}, 'timestep': {0: 'batch'}, 'out': {0: 'batch'}},
                      opset_version=14)
    with open(os.path.join(OUT, 'prior.json'), 'w') as fh:
        d = C * H * W
        cov = np.diag(var.reshape(-1))
        json.dump({'weights': [1.0], 'means': [mean.reshape(-1).tolist()], 'covs': [cov.tolist()], 'shape': [C, H, W]}, fh)
    with open(os.path.join(OUT, 'scheduler_config.json'), 'w') as fh:
        json.dump({'_class_name': 'DDPMScheduler', 'num_train_timesteps': 1000, 'beta_start': 0.0001, 'beta_end': 0.02,
                   'beta_schedule': 'linear', 'prediction_type': 'epsilon', 'clip_sample': False}, fh, indent=2)
    print('model.grad.onnx checks:', write_gradient(OUT, model, (C, H, W)))
    write_json(os.path.join(OUT, 'tweedie.json'), tweedie_json((C, H, W), gradient=True))
    print('wrote', OUT)


if __name__ == '__main__':
    main()
