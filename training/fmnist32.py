"""Train and export weights/fmnist-32: unconditional eps-prediction DDPM on Fashion-MNIST.

Data: the 60k train images, scaled to [-1, 1] and padded with -1 (the background) from
28x28 to 32x32. Discrete VP, 1000 steps, linear betas 1e-4..0.02. UNet 32/64/64.

    /usr/bin/python3 training/fmnist32.py                  # train from scratch, then export
    /usr/bin/python3 training/fmnist32.py --resume         # continue from the checkpoint
    /usr/bin/python3 training/fmnist32.py --export-only    # re-export from the checkpoint

Run from the repository root. The checkpoint (training/checkpoints/fmnist32.pt) holds the
model, Adam state, EMA weights, RNG state, step and wall time; `--resume --steps N`
continues a finished run to N steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (DDPMSchedule, TrainConfig, UNet, ddpm_eps_loss, finish, parse_deadline,  # noqa: E402
                    read_idx_images, train)
from gradients import card_row  # noqa: E402

torch.set_num_threads(1)

DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TEST_DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
SHAPE = (1, 32, 32)


def make_model() -> UNet:
    return UNet(image_size=32, channels=(32, 64, 64), attn_resolutions=(), temb_dim=64)


def load_data(path: str = DATA) -> torch.Tensor:
    """uint8 [N, 1, 32, 32] (60000 for the train split), padded with 0 (-> -1 after scaling)."""
    imgs = read_idx_images(path)
    padded = np.zeros((imgs.shape[0], 1, 32, 32), np.uint8)
    padded[:, 0, 2:30, 2:30] = imgs
    return torch.from_numpy(padded)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1700)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--deadline", help="UTC HH:MM: stop training early (and export) at this time")
    p.add_argument("--ckpt", default="training/checkpoints/fmnist32.pt")
    p.add_argument("--log", default="training/logs/fmnist32_loss.csv")
    p.add_argument("--out", default="weights/fmnist-32")
    args = p.parse_args()

    sched = DDPMSchedule()
    model = make_model()
    if not args.export_only:
        data = load_data()

        def sample_batch(gen: torch.Generator, b: int) -> torch.Tensor:
            idx = torch.randint(0, data.shape[0], (b,), generator=gen)
            return data[idx].float() / 127.5 - 1.0

        os.makedirs(os.path.dirname(args.log), exist_ok=True)
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=2e-4, warmup=100,
                          ema_decay=0.999)
        t0 = time.time()
        state = train(model, sample_batch, cfg, ddpm_eps_loss(sched), args.ckpt, args.log,
                      resume=args.resume, stop_at=parse_deadline(args.deadline))
        print(f"trained to step {state['step']} in {time.time() - t0:.0f}s this session", flush=True)

    facts = finish(model, args.ckpt, args.log, args.out, sched, SHAPE, n_samples=64, nrow=8,
                   title="fmnist-32: DDPM loss (MSE on eps)")
    write_card(args.out, facts)
    print(facts, flush=True)


def write_card(out: str, f: dict) -> None:
    tc, mc = f["train_config"], f["model_config"]
    diff = (f"max |torch - onnx| = {f['onnx_max_abs_diff']:.2g} on a random batch of 4 "
            "(numpy reference evaluator training/onnx_numpy.py; onnxruntime is not installed "
            "for the training Python)" if f["onnx_max_abs_diff"] is not None
            else "not compared numerically (no ONNX runtime available)")
    card = f"""# fmnist-32

Unconditional epsilon-prediction DDPM for 32x32 Fashion-MNIST, 1 channel, values in [-1, 1].
A small, quick model for demos, tests and sampler benchmarks; it is not a state-of-the-art
generator (about {f['wall_s'] / 60:.0f} minutes of single-thread CPU training).

## Files

| file | content |
|---|---|
| model.onnx | float32 ONNX (opset 14), inputs `sample` [N,1,32,32] and `timestep` [N] (float, discrete index 0..999, fractional values allowed), output `out` [N,1,32,32] = predicted eps; {f['onnx_bytes'] / 1e6:.1f} MB |
| scheduler_config.json | diffusers DDPMScheduler: 1000 steps, linear betas 1e-4..0.02, epsilon prediction, no clipping |
{card_row(f['gradient_errors'])}
| tweedie.json | tweedie's model descriptor |
| samples.png | 64 samples, 50-step DDIM (eta 0, 'leading' spacing), PyTorch EMA weights, seed 0 |
| loss_curve.png, loss.csv | training loss (mean of each 10 steps), step, wall seconds |

## Data

Fashion-MNIST train split (all 60,000 images of `train-images-idx3-ubyte.gz`; the t10k split
is untouched and can serve as a test set). Pixels x/127.5 - 1 in [-1, 1], padded by 2 pixels
on each side with -1 (the background value) to 32x32: pixel (i, j) of the 28x28 image is at
(i + 2, j + 2). No augmentation, no labels (unconditional).

## Model

UNet, {f['params']:,} parameters: widths {mc['channels']} at 32/16/8 pixels, one GroupNorm+SiLU
residual block per level down and up, strided-conv downsampling, nearest upsampling,
single-head self-attention in the 8x8 middle block, sinusoidal embedding of the float
timestep (dim {mc['temb_dim']}) through a 2-layer MLP. Zero-initialised output and residual
convolutions. The code is `UNet` in training/common.py.

Forward process: discrete VP (DDPM), x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps,
betas linspace(1e-4, 0.02, 1000), abar_t = prod_(s<=t) (1 - beta_s), t = 0..999.

## Training

- loss: MSE between predicted and true eps, t uniform on 0..999
- Adam, lr {tc['lr']} with a {tc['warmup']}-step linear warm-up, batch {tc['batch_size']}, gradient-norm clip {tc['grad_clip']}
- EMA of the weights, decay min(0.999, (1 + step) / (10 + step)); the exported weights are the EMA weights
- **{f['steps']} steps** ({f['steps'] * tc['batch_size'] / 60000:.1f} epochs), **{f['wall_s'] / 60:.1f} minutes** wall time on 1 CPU thread (torch 1.13)
- final loss (mean over the last 100 steps): **{f['final_loss']:.4f}**
- export check: onnx.checker (full check) passes; {diff}

![loss](loss_curve.png)

## Samples

![samples](samples.png)

## Caveats

**Undertrained** (only {f['steps']} steps, about {f['steps'] * tc['batch_size'] / 60000:.1f} epochs, on one CPU thread): most samples
are recognisable, smooth garments (tops, trousers, shoes, bags), but roughly a quarter to a
third of the 50-step DDIM samples were speckled, noisy failures after the first 1700-step
run (19 of 64 in samples.png by a total-variation test). Fine for checking samplers
against each other (same model, different solvers) and for pipeline tests; do not quote its
FID as representative of DDPM. `--resume --steps N` continues the run from the checkpoint;
a few thousand more steps should remove most failures.

## Reproduce

From the repository root (about 50 minutes with one thread):

    /usr/bin/python3 training/fmnist32.py --steps {tc['steps']}

`--resume` continues from training/checkpoints/fmnist32.pt (e.g. `--resume --steps 4000` to
train longer); `--export-only` rewrites this folder from the checkpoint.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as fh:
        fh.write(card)


if __name__ == "__main__":
    main()
