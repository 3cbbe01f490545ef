"""Export `gaussian-field`: the exact eps-denoiser of an iid per-pixel Gaussian prior, at any image size.

Every pixel of x0 is independently N(m, v) (scalars m = MEAN, v = VAR). On the discrete VP path (DDPM linear
betas, 1000 steps) E[x0 | x_t] = m + a v / (a^2 v + s^2) (x_t - a m) pixel by pixel, with a = 1/sqrt(1+sigma^2),
s = sigma a, and the graph returns eps = (x_t - a E[x0|x_t]) / s (the GaussianEps graph of gaussian_exact.py with
scalar moments). The graph has dynamic batch, H and W; tweedie.json declares "multiple": 8, the layout contract of
fully convolutional priors, so tweedie runs it on a user's own grid (padded to the multiple and cropped back).
Its posterior under any linear Gaussian measurement is known in closed form at any size: the oracle of tweedie's
any-size tests. No training, no gradient graph.

Reproduce: /usr/bin/python3 training/gaussian_field.py
"""
import json
import os

import numpy as np
import onnx
import torch

from gaussian_exact import GaussianEps, ddpm_log_sigmas

OUT = os.path.join(os.path.dirname(__file__), '..', 'weights', 'gaussian-field')
MEAN, VAR = -0.2, 0.16
MULTIPLE = 8
DEFAULT_SHAPE = [1, 32, 32]

CARD = """# gaussian-field

The exact eps-denoiser of an iid per-pixel Gaussian prior x0 ~ N({m}, {v}) (every pixel independent, same mean
and variance) on the DDPM linear path (1000 steps), exported as an ONNX graph with dynamic batch, H and W
(`training/gaussian_field.py`; no training). `tweedie.json` declares `"multiple": {k}`: the model takes any
H x W that are multiples of {k}; its default shape {shape} is what `tweedie sample` draws.

What it is for: a test model for the layout contract. Its x0 estimate, and its posterior under any linear
Gaussian measurement, are known in closed form at every size (pixelwise Wiener filter for denoising; the prior
on unobserved pixels for inpainting), so tweedie's tests check solve, restore-style padding and reconstruct on
a user's own grid against exact values. It is not an image prior: samples are white noise.

`prior.json` holds m and v.
"""


def main():
    os.makedirs(OUT, exist_ok=True)
    model = GaussianEps(np.float64(MEAN), np.float64(VAR), ddpm_log_sigmas()).eval()
    x = torch.randn(2, 1, 16, 24)
    t = torch.tensor([999.0, 420.5])
    path = os.path.join(OUT, 'model.onnx')
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    torch.onnx.export(model, (x, t), path, input_names=['sample', 'timestep'], output_names=['out'],
                      dynamic_axes={'sample': axes, 'timestep': {0: 'batch'}, 'out': axes}, opset_version=14)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with open(os.path.join(OUT, 'prior.json'), 'w') as fh:
        json.dump({'mean': MEAN, 'var': VAR}, fh, indent=2)
        fh.write('\n')
    with open(os.path.join(OUT, 'scheduler_config.json'), 'w') as fh:
        json.dump({'_class_name': 'DDPMScheduler', 'num_train_timesteps': 1000, 'beta_start': 0.0001, 'beta_end': 0.02,
                   'beta_schedule': 'linear', 'prediction_type': 'epsilon', 'clip_sample': False}, fh, indent=2)
        fh.write('\n')
    spec = {'prediction': 'epsilon', 'time_input': 'discrete', 'inputs': {'sample': 'sample', 'timestep': 'timestep'},
            'output': 'out', 'shape': DEFAULT_SHAPE, 'multiple': MULTIPLE, 'value_range': [-1, 1]}
    with open(os.path.join(OUT, 'tweedie.json'), 'w') as fh:
        json.dump(spec, fh, indent=2)
        fh.write('\n')
    with open(os.path.join(OUT, 'MODEL_CARD.md'), 'w') as fh:
        fh.write(CARD.format(m=MEAN, v=VAR, k=MULTIPLE, shape=DEFAULT_SHAPE))
    print('wrote', OUT)


if __name__ == '__main__':
    main()
