"""Train and export weights/fmnist-32/noise-level: the noise-level classifier that Denoising MCMC
(Kim & Ye, ICML 2023, arXiv 2209.14593; the `dmcmc` sampler) needs on fmnist-32's path.

It reads a noisy image x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps of fmnist-32's DDPM path (1000
steps, linear betas 1e-4..0.02) and returns logits over LEVELS path times; trained by cross-entropy
with t drawn uniformly from the levels, its softmax estimates the posterior p(t | x_t) under a uniform
prior on the levels (the Gibbs step over t of the paper's Denoising Langevin Gibbs).

Data: the 60k train images preprocessed as fmnist-32 sees them (training/fmnist32.py load_data).

    nice /usr/bin/python3 training/fmnist_noise_level.py --minutes 9    # train, test, export
    /usr/bin/python3 training/fmnist_noise_level.py --export-only       # re-export from the checkpoint

Export: model.onnx (input `image` float32 [N,1,32,32], outputs `logits` [N,LEVELS] and `features`
[N,128], dynamic batch: the classifier folder layout of weights/fmnist-classifier), classifier.json
with the levels (path times) as "levels", MODEL_CARD.md. The graph is checked against PyTorch with
training/onnx_numpy.py.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tweedie_train.export import write_json  # noqa: E402
from fmnist32 import TEST_DATA, load_data  # noqa: E402
from fmnist_classifier import add_recipe_arguments, export_onnx, to_model_range, trained_facts  # noqa: E402

torch.set_num_threads(1)

LEVELS = 40
FEATURES = 128
# fmnist-32's path: discrete DDPM, 1000 steps, linear betas (weights/fmnist-32/scheduler_config.json).
ABAR = np.cumprod(1.0 - np.linspace(1e-4, 0.02, 1000, dtype=np.float64))
# Path times of the levels: every 25th timestep, 24 .. 999 (uniform in t, as the DDPM grids are).
TIMES = [int(round(999 - 25 * (LEVELS - 1 - k))) for k in range(LEVELS)]


class NoiseLevelNet(nn.Module):
    """Four 3x3 convolutions (32, 64, 64, 64 channels; stride 2 at the last three: 32 -> 4), SiLU,
    1024 -> 128 (features) -> LEVELS logits."""

    def __init__(self):
        super().__init__()
        chans = [(1, 32, 1), (32, 64, 2), (64, 64, 2), (64, 64, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(ci, co, 3, stride=s, padding=1) for ci, co, s in chans)
        self.fc = nn.Linear(64 * 4 * 4, FEATURES)
        self.head = nn.Linear(FEATURES, LEVELS)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = image
        for conv in self.convs:
            h = F.silu(conv(h))
        features = F.silu(self.fc(h.reshape(h.shape[0], -1)))
        return self.head(features), features


def noisy(x0: torch.Tensor, k: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    abar = torch.from_numpy(ABAR[np.array(TIMES)][k.numpy()]).float()[:, None, None, None]
    return abar.sqrt() * x0 + (1 - abar).sqrt() * torch.randn(x0.shape, generator=gen)


def train(model: NoiseLevelNet, minutes: float, batch: int, log_path: str) -> tuple[float, int]:
    images = load_data()
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    t0 = time.time()
    step = 0
    model.train()
    with open(log_path, "w") as log:
        log.write("step,loss,seconds\n")
        while time.time() - t0 < 60 * minutes:
            step += 1
            idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
            k = torch.randint(0, LEVELS, (batch,), generator=gen)
            logits, _ = model(noisy(to_model_range(images[idx]), k, gen))
            loss = F.cross_entropy(logits, k)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % 50 == 0:
                log.write(f"{step},{loss.item():.5f},{time.time() - t0:.1f}\n")
                log.flush()
                print(f"step {step} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    return time.time() - t0, step


@torch.no_grad()
def test_scores(model: NoiseLevelNet) -> dict:
    """On the 10k test images, one noise draw each at a uniform level: mean |argmax level - true level|
    in levels and the held-out cross-entropy."""
    model.eval()
    images = load_data(TEST_DATA)
    gen = torch.Generator().manual_seed(1)
    err, ce = 0.0, 0.0
    for s in range(0, images.shape[0], 500):
        x0 = to_model_range(images[s:s + 500])
        k = torch.randint(0, LEVELS, (x0.shape[0],), generator=gen)
        logits, _ = model(noisy(x0, k, gen))
        err += float((logits.argmax(1) - k).abs().float().sum())
        ce += float(F.cross_entropy(logits, k, reduction="sum"))
    return {"test_mean_level_error": err / images.shape[0], "test_cross_entropy": ce / images.shape[0]}


def export(model: NoiseLevelNet, out_dir: str) -> float:
    """Export to ONNX; the largest |ONNX (float64 numpy) - PyTorch| on 64 noisy test images."""
    x = noisy(torch.from_numpy(np.load("examples/fmnist-t10k-64.npy")), torch.arange(64) % LEVELS,
              torch.Generator().manual_seed(2))
    return export_onnx(model, out_dir, x)[0]


def write_card(out_dir: str, facts: dict) -> None:
    write_json(os.path.join(out_dir, "classifier.json"), {
        "model": "model.onnx",
        "inputs": {"image": {"shape": ["N", 1, 32, 32], "dtype": "float32"}},
        "outputs": {"logits": {"shape": ["N", LEVELS]}, "features": {"shape": ["N", FEATURES]}},
        "preprocessing": "a noisy image of fmnist-32's path at its own scale (x_t = sqrt(abar) x0 + sqrt(1 - abar) eps)",
        "classes": [f"t={t}" for t in TIMES],
        "levels": TIMES,
        "prior": "uniform over the levels"})
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(f"""# fmnist-32/noise-level

The noise-level estimator of the `dmcmc` sampler (Denoising MCMC, Kim & Ye, ICML 2023) for fmnist-32:
a small CNN that reads a noisy image of fmnist-32's path and returns the posterior over {LEVELS} noise
levels, the path times {TIMES[0]}, {TIMES[1]}, ..., {TIMES[-1]} (every 25th DDPM step; `levels` in
classifier.json), under a uniform prior on them. The sampler's Gibbs step over t draws from it (or
takes its argmax, as the paper's code does).

- **Architecture**: four 3x3 convolutions with SiLU (32, 64, 64, 64 channels; stride 2 at the last
  three: 32 -> 4), 1024 -> {FEATURES} (SiLU, `features`) -> {LEVELS} (`logits`); {facts['parameters']:,} parameters.
- **Data**: the 60,000 Fashion-MNIST training images as fmnist-32 sees them (levels / 127.5 - 1, padded
  with -1 to 32x32), each noised to a level drawn uniformly from the {LEVELS}: x_t = sqrt(abar_t) x0 +
  sqrt(1 - abar_t) eps, with fmnist-32's schedule (linear betas 1e-4..0.02, 1000 steps).
- **Training**: cross-entropy, {facts['steps']} steps of batch {facts['batch']}, AdamW (lr 2e-3, weight decay
  1e-4), seed 0; {facts['seconds']:.0f} s on one CPU thread of a busy 2-core machine.
- **Held out** (10,000 test images, one noise draw each): mean |argmax level - true level| =
  **{facts['test_mean_level_error']:.3f} levels**, cross-entropy {facts['test_cross_entropy']:.3f} nats (uniform guess: {np.log(LEVELS):.3f}).
- **Export**: `model.onnx`, input `image` float32 [N,1,32,32]; outputs `logits` [N,{LEVELS}] and
  `features` [N,{FEATURES}]; dynamic batch; opset 14; matches PyTorch to {facts['onnx_max_abs_diff']:.1e} (max abs,
  64 noisy test images, evaluated in float64 by `training/onnx_numpy.py`).

Recipe: `nice /usr/bin/python3 training/fmnist_noise_level.py --minutes 9` (from the repository root).
""")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=9.0, help="training wall time")
    add_recipe_arguments(p, "fmnist_noise_level", "weights/fmnist-32/noise-level")
    args = p.parse_args()
    torch.manual_seed(0)
    model = NoiseLevelNet()

    def fit() -> dict:
        seconds, steps = train(model, args.minutes, args.batch_size, args.log)
        return {"steps": steps, "batch": args.batch_size, "seconds": seconds,
                "parameters": sum(q.numel() for q in model.parameters()), **test_scores(model)}

    facts = trained_facts(model, args, fit)
    os.makedirs(args.out, exist_ok=True)
    facts["onnx_max_abs_diff"] = export(model, args.out)
    write_card(args.out, facts)
    print(json.dumps(facts), flush=True)


if __name__ == "__main__":
    main()
