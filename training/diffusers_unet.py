"""Export a small UNet2DModel-shaped network the way optimum does, in diffusers' ONNX folder layout, and the
reference samples diffusers' own scheduler loops give with it (the fixture of tweedie's test/diffusers-unet.test.ts).

diffusers is not installed here, so the network is written out with UNet2DModel's interface: forward(sample
[N, C, H, W], timestep) -> sample of the same shape, the timestep a scalar or one per item, broadcast to the batch
(UNet2DModel.forward), embedded with diffusers' sinusoidal Timesteps (flip_sin_to_cos True, downscale_freq_shift 0)
and a two-layer TimestepEmbedding feeding a ResNet block; random weights (seed 0). One network, two exports:

  scalar-timestep/  timestep a rank-0 float32 scalar (current optimum exports); scheduler/scheduler_config.json a
                    DDIMScheduler with trailing spacing and clip_sample, the two settings where diffusers' DDIM
                    takes steps tweedie calls quirks;
  int64-timestep/   timestep int64 [batch] (older exports); scheduler/scheduler_config.json the
                    DPMSolverMultistepScheduler config as diffusers' save_pretrained writes it (json.dumps, so
                    "lambda_min_clipped": -Infinity).

Each folder holds model_index.json, unet/model.onnx (input "sample", "timestep"; output "out_sample"),
unet/config.json and scheduler/scheduler_config.json. Beside them:

  init.npy              the starting noise, float32 [2, 3, 8, 8] (tweedie sample --init)
  ddim-diffusers.npy    DDIMScheduler.step as diffusers v0.30-0.40 takes it, STEPS_DDIM steps from init.npy:
                        prev_timestep = t - num_train_timesteps // steps, and the clipped x0 paired with the
                        model's own eps (use_clipped_model_output False)
  ddim-fixed.npy        the same loop stepping to the next listed timestep, eps recomputed from the clipped x0
  dpm-solver-2m.npy     DPMSolverMultistepScheduler (dpmsolver++, order 2, midpoint, final sigma 0), STEPS_DPM
                        steps from init.npy
  edm-euler.npy         EDMEulerScheduler (karras sigmas, s_churn 0) with its preconditioning of the network
                        (c_in, c_noise = log(sigma) / 4, c_skip, c_out), STEPS_EDM steps from init.npy, on the
                        scalar-timestep export; its config is edm-euler-config.json

The scheduler loops re-derive diffusers' step formulas (scheduling_ddim.py, scheduling_dpmsolver_multistep.py)
(and scheduling_edm_euler.py) in torch float32, as diffusers computes them, on the PyTorch network (not the ONNX file).

Reproduce: /usr/bin/python3 training/diffusers_unet.py
"""
import json
import math
import os

import numpy as np
import torch
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'diffusers-unet')
C, H, W, N = 3, 8, 8, 2
T = 1000
STEPS_DDIM = 7  # 1000 // 7 = 142 is not the spacing of trailing's timesteps: the stride quirk is active
STEPS_DPM = 8
STEPS_EDM = 6
CLIP = 1.0

DDIM_CONFIG = {
    '_class_name': 'DDIMScheduler', '_diffusers_version': '0.30.0', 'num_train_timesteps': T, 'beta_start': 0.0001,
    'beta_end': 0.02, 'beta_schedule': 'linear', 'trained_betas': None, 'clip_sample': True,
    'clip_sample_range': CLIP, 'set_alpha_to_one': True, 'steps_offset': 0, 'prediction_type': 'epsilon',
    'thresholding': False, 'dynamic_thresholding_ratio': 0.995, 'sample_max_value': 1.0,
    'timestep_spacing': 'trailing', 'rescale_betas_zero_snr': False,
}
# DPMSolverMultistepScheduler.__init__'s arguments with their defaults, as save_pretrained writes them.
DPM_CONFIG = {
    '_class_name': 'DPMSolverMultistepScheduler', '_diffusers_version': '0.30.0', 'num_train_timesteps': T,
    'beta_start': 0.0001, 'beta_end': 0.02, 'beta_schedule': 'linear', 'trained_betas': None, 'solver_order': 2,
    'prediction_type': 'epsilon', 'thresholding': False, 'dynamic_thresholding_ratio': 0.995,
    'sample_max_value': 1.0, 'algorithm_type': 'dpmsolver++', 'solver_type': 'midpoint', 'lower_order_final': True,
    'euler_at_final': False, 'use_karras_sigmas': False, 'use_exponential_sigmas': False, 'use_beta_sigmas': False,
    'use_lu_lambdas': False, 'use_flow_sigmas': False, 'flow_shift': 1.0, 'final_sigmas_type': 'zero',
    'lambda_min_clipped': -float('inf'), 'variance_type': None, 'timestep_spacing': 'linspace', 'steps_offset': 0,
    'rescale_betas_zero_snr': False,
}
# EDMEulerScheduler.__init__'s arguments with their defaults.
EDM_CONFIG = {
    '_class_name': 'EDMEulerScheduler', '_diffusers_version': '0.30.0', 'sigma_min': 0.002, 'sigma_max': 80.0,
    'sigma_data': 0.5, 'sigma_schedule': 'karras', 'num_train_timesteps': T, 'prediction_type': 'epsilon', 'rho': 7.0,
    'final_sigmas_type': 'zero',
}
UNET_CONFIG = {
    '_class_name': 'UNet2DModel', '_diffusers_version': '0.30.0', 'sample_size': H, 'in_channels': C,
    'out_channels': C, 'block_out_channels': [16], 'layers_per_block': 1, 'down_block_types': ['DownBlock2D'],
    'up_block_types': ['UpBlock2D'], 'flip_sin_to_cos': True, 'freq_shift': 0, 'norm_num_groups': 4,
}


def timestep_embedding(timesteps, dim):
    """diffusers' get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0, max_period=10000)."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32) / half
    emb = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)


class TinyUNet2DModel(nn.Module):
    """UNet2DModel's interface and block order (conv_in, time embedding, a down and an up ResNet level, norm, conv_out)."""

    def __init__(self, ch=16, temb=32):
        super().__init__()
        self.ch = ch
        self.conv_in = nn.Conv2d(C, ch, 3, padding=1)
        self.time_embedding = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.norm1, self.conv1, self.temb_proj = nn.GroupNorm(4, ch), nn.Conv2d(ch, ch, 3, padding=1), nn.Linear(temb, ch)
        self.down = nn.Conv2d(ch, ch, 3, stride=2, padding=1)
        self.up = nn.Conv2d(ch, ch, 3, padding=1)
        self.norm_out, self.conv_out = nn.GroupNorm(4, 2 * ch), nn.Conv2d(2 * ch, C, 3, padding=1)

    def forward(self, sample, timestep):
        # UNet2DModel.forward: a rank-0 timestep gets a batch axis (timesteps[None], fixed into the graph when traced
        # with a scalar), then is broadcast to the batch.
        t = timestep[None] if timestep.dim() == 0 else timestep
        t = t * torch.ones(sample.shape[0], dtype=t.dtype)
        emb = self.time_embedding(timestep_embedding(t, self.ch))
        h0 = self.conv_in(sample)
        h = self.conv1(nn.functional.silu(self.norm1(h0))) + self.temb_proj(nn.functional.silu(emb))[:, :, None, None]
        h = h0 + h
        d = nn.functional.silu(self.down(h))
        u = self.up(nn.functional.interpolate(d, scale_factor=2.0, mode='nearest'))
        return self.conv_out(nn.functional.silu(self.norm_out(torch.cat([h, u], dim=1))))


def alphas_cumprod():
    betas = torch.linspace(0.0001, 0.02, T, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def ddim_loop(net, x, diffusers_quirks):
    """DDIMScheduler.set_timesteps(STEPS_DDIM) with trailing spacing, then step(eta 0) per timestep."""
    ac = alphas_cumprod()
    ts = (np.round(np.arange(T, 0, -T / STEPS_DDIM)).astype(np.int64) - 1).tolist()
    for i, t in enumerate(ts):
        eps = net(x, torch.tensor(float(t)))
        prev = t - T // STEPS_DDIM if diffusers_quirks else (ts[i + 1] if i + 1 < len(ts) else -1)
        a_t = ac[t]
        a_prev = ac[prev] if prev >= 0 else torch.tensor(1.0)
        x0 = ((x - (1 - a_t) ** 0.5 * eps) / a_t ** 0.5).clamp(-CLIP, CLIP)
        if not diffusers_quirks:
            eps = (x - a_t ** 0.5 * x0) / (1 - a_t) ** 0.5
        x = a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps
    return x


def dpm_loop(net, x):
    """DPMSolverMultistepScheduler.set_timesteps(STEPS_DPM) (linspace, final sigma 0), then step per timestep."""
    ac = alphas_cumprod()
    ts = np.linspace(0, T - 1, STEPS_DPM + 1).round()[::-1][:-1].copy().astype(np.int64)
    sig_train = np.array(((1 - ac) / ac) ** 0.5)
    sig = np.interp(ts, np.arange(0, len(sig_train)), sig_train)
    sig = torch.from_numpy(np.concatenate([sig, [0.0]]).astype(np.float32))

    def alpha_sigma(s):
        a = 1 / (s ** 2 + 1) ** 0.5
        return a, s * a

    def lam(s):
        a, sg = alpha_sigma(s)
        return torch.log(a) - torch.log(sg)

    x0s = []
    for i, t in enumerate(ts.tolist()):
        eps = net(x, torch.tensor(float(t)))
        a_s, s_s = alpha_sigma(sig[i])
        x0s.append((x - s_s * eps) / a_s)
        a_t, s_t = alpha_sigma(sig[i + 1])
        h = lam(sig[i + 1]) - lam(sig[i])
        # First order on the first step and on the final one (final_sigmas_type zero), else 2M midpoint.
        if i == 0 or i == len(ts) - 1:
            x = (s_t / s_s) * x - a_t * (torch.exp(-h) - 1.0) * x0s[-1]
        else:
            r0 = (lam(sig[i]) - lam(sig[i - 1])) / h
            d0, d1 = x0s[-1], (1.0 / r0) * (x0s[-1] - x0s[-2])
            x = (s_t / s_s) * x - a_t * (torch.exp(-h) - 1.0) * d0 - 0.5 * a_t * (torch.exp(-h) - 1.0) * d1
    return x


def edm_loop(net, x):
    """EDMEulerScheduler.set_timesteps(STEPS_EDM): karras sigmas on a float64 ramp, cast to float32, then 0; latents
    = noise * init_noise_sigma = sqrt(sigma_max^2 + 1); per step the network sees precondition_inputs (x c_in) at
    timestep precondition_noise (log(sigma) / 4), and step (s_churn 0) takes an Euler step to the next sigma from
    denoised = c_skip x + c_out F."""
    c = EDM_CONFIG
    ramp = torch.linspace(0, 1, STEPS_EDM, dtype=torch.float64)
    lo, hi = c['sigma_min'] ** (1 / c['rho']), c['sigma_max'] ** (1 / c['rho'])
    sig = torch.cat([((hi + ramp * (lo - hi)) ** c['rho']).to(torch.float32), torch.zeros(1)])
    sd = c['sigma_data']
    x = x * (c['sigma_max'] ** 2 + 1) ** 0.5
    for i in range(STEPS_EDM):
        s = sig[i]
        f = net(x / (s ** 2 + sd ** 2) ** 0.5, 0.25 * torch.log(s))
        denoised = sd ** 2 / (s ** 2 + sd ** 2) * x + s * sd / (s ** 2 + sd ** 2) ** 0.5 * f
        x = x + (x - denoised) / s * (sig[i + 1] - s)
    return x


def write_json(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f, indent=2)  # allow_nan: -Infinity as Python writes it
        f.write('\n')


def export(net, folder, scalar):
    onnx_file = os.path.join(OUT, folder, 'unet', 'model.onnx')
    os.makedirs(os.path.dirname(onnx_file), exist_ok=True)
    sample = torch.zeros(N, C, H, W)
    timestep = torch.tensor(999.0) if scalar else torch.full((N,), 999, dtype=torch.int64)
    axes = {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'out_sample': {0: 'batch', 2: 'height', 3: 'width'}}
    if not scalar:
        axes['timestep'] = {0: 'batch'}
    torch.onnx.export(net, (sample, timestep), onnx_file, input_names=['sample', 'timestep'], output_names=['out_sample'],
                      dynamic_axes=axes, opset_version=14)
    write_json(os.path.join(OUT, folder, 'unet', 'config.json'), UNET_CONFIG)
    write_json(os.path.join(OUT, folder, 'scheduler', 'scheduler_config.json'), DDIM_CONFIG if scalar else DPM_CONFIG)
    scheduler = DDIM_CONFIG['_class_name'] if scalar else DPM_CONFIG['_class_name']
    write_json(os.path.join(OUT, folder, 'model_index.json'), {
        '_class_name': 'OnnxDDPMPipeline', '_diffusers_version': '0.30.0',
        'unet': ['diffusers', 'OnnxRuntimeModel'], 'scheduler': ['diffusers', scheduler],
    })


def main():
    torch.manual_seed(0)
    net = TinyUNet2DModel().eval()
    init = torch.from_numpy(np.random.default_rng(0).standard_normal((N, C, H, W)).astype(np.float32))
    os.makedirs(OUT, exist_ok=True)
    with torch.no_grad():
        np.save(os.path.join(OUT, 'init.npy'), init.numpy())
        np.save(os.path.join(OUT, 'ddim-diffusers.npy'), ddim_loop(net, init, True).numpy())
        np.save(os.path.join(OUT, 'ddim-fixed.npy'), ddim_loop(net, init, False).numpy())
        np.save(os.path.join(OUT, 'dpm-solver-2m.npy'), dpm_loop(net, init).numpy())
        np.save(os.path.join(OUT, 'edm-euler.npy'), edm_loop(net, init).numpy())
        write_json(os.path.join(OUT, 'edm-euler-config.json'), EDM_CONFIG)
        export(net, 'scalar-timestep', scalar=True)
        export(net, 'int64-timestep', scalar=False)
    print(f'wrote {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
