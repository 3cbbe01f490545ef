"""Bits/dim of fmnist-32 through the probability-flow ODE in PyTorch: an independent check of `tweedie likelihood`.

The same quantity as tweedie computes, by a separate route on the same weights (rebuilt from
weights/fmnist-32/model.onnx by training/gradients.py's loader, the load asserted):
  - data: 8-bit levels k, dequantized as Score-SDE does, x = 2 (k + U) / 256 - 1, U ~ U[0, 1);
  - the ODE in the variance-exploding form x~ = z / a against u = log sigma, sigma = s / a:
    dx~/du = sigma eps(a x~, t(sigma)), from t = 0 to t = 999 of the DDPM path (betas linspace(1e-4, 0.02, 1000);
    t(sigma) interpolates log sigma linearly between the integer timesteps, diffusers' _sigma_to_t), solved by
    scipy solve_ivp RK45 on the flattened batch with the log-density change appended (Score-SDE likelihood.py);
  - the divergence by Hutchinson with autograd: one Rademacher probe per image fixed along the trajectory;
  - prior N(0, I) for z at t = 999; log p_z(z0) = log p_x~(x~0) - D log a0, log p_x~(x~1) = log N(z1; 0, I) + D log a1;
  - bits/dim = -log p / (D ln 2) + 7 (the 8-bit offset for data in [-1, 1]).

    /usr/bin/python3 training/likelihood.py --data fmnist-t10k-1000.npy -n 200 --rtol 1e-3 --atol 1e-3 \
        --out pytorch.json [--compare tweedie.json]

--compare reads `tweedie likelihood --json` output on the same file and states whether the two means agree
within their standard errors (on the images both computed); --load FILE compares an earlier --out instead of computing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from scipy import integrate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradients import rebuild  # noqa: E402
from tweedie_train.objectives import objective_of  # noqa: E402

BETAS = np.linspace(1e-4, 0.02, 1000, dtype=np.float64)
LOG_SIGMAS = 0.5 * np.log((1 - np.cumprod(1 - BETAS)) / np.cumprod(1 - BETAS))


def timestep_of(log_sigma: float) -> float:
    return float(np.interp(log_sigma, LOG_SIGMAS, np.arange(1000, dtype=np.float64)))


def bits_per_dim(net: torch.nn.Module, objective, levels: np.ndarray, rtol: float, atol: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Bits/dim of a batch of 8-bit images [B, 1, 32, 32], and the ODE evaluations of the solve."""
    B, D = levels.shape[0], int(np.prod(levels.shape[1:]))
    x = 2 * (levels.astype(np.float64) + rng.random(levels.shape)) / 256 - 1
    probe = torch.from_numpy(rng.integers(0, 2, size=levels.shape).astype(np.float32) * 2 - 1)
    u0, u1 = LOG_SIGMAS[0], LOG_SIGMAS[-1]
    a_of = lambda u: 1 / math.sqrt(1 + math.exp(2 * u))  # noqa: E731

    def rhs(u: float, state: np.ndarray) -> np.ndarray:
        sigma, a = math.exp(u), a_of(u)
        xt = torch.from_numpy(state[:-B].reshape(levels.shape).astype(np.float32)).requires_grad_(True)
        t = torch.full((B,), timestep_of(u), dtype=torch.float32)
        with torch.enable_grad():
            z = a * xt  # the network's input; eps from its prediction (eps or v) at a, s = sigma a
            drift = sigma * objective.x0_eps(net(z, t), z, a, sigma * a)[1]
            grad = torch.autograd.grad((drift * probe).sum(), xt)[0]
        div = (grad * probe).sum(dim=(1, 2, 3))
        return np.concatenate([drift.detach().numpy().reshape(-1), div.numpy()]).astype(np.float64)

    a0, a1 = a_of(u0), a_of(u1)
    init = np.concatenate([(x / a0).reshape(-1), np.zeros(B)])
    sol = integrate.solve_ivp(rhs, (u0, u1), init, rtol=rtol, atol=atol, method="RK45")
    end = sol.y[:, -1]
    z1 = a1 * end[:-B].reshape(B, D)
    prior = -0.5 * (z1 ** 2).sum(1) - 0.5 * D * math.log(2 * math.pi) + D * math.log(a1)
    logp = prior + end[-B:] - D * math.log(a0)
    return -logp / (D * math.log(2)) + 7, sol.nfev


def mean_se(v) -> tuple[float, float]:
    v = np.asarray(v, np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "..", "weights", "fmnist-32"))
    p.add_argument("--data", required=True, help="uint8 images [N, 1, 32, 32]")
    p.add_argument("-n", type=int, default=None, help="the first N images (default all)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rtol", type=float, default=1e-5)
    p.add_argument("--atol", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", help="write the per-image bits/dim as JSON")
    p.add_argument("--compare", help="tweedie likelihood --json output on the same data")
    p.add_argument("--load", help="compare the results of an earlier run (its --out file) instead of computing")
    args = p.parse_args()
    if args.load:
        with open(args.load) as f:
            compare([it["bits_per_dim"] for it in json.load(f)["items"]], args.compare)
        return
    torch.set_num_threads(args.threads)
    levels = np.load(args.data)
    if levels.dtype != np.uint8 or levels.shape[1:] != (1, 32, 32):
        raise SystemExit(f"--data {args.data}: need uint8 [N, 1, 32, 32], got {levels.dtype} {levels.shape}")
    levels = levels[: args.n] if args.n else levels
    net, _ = rebuild(args.model)
    objective = objective_of(args.model)
    net.float().eval()
    for q in net.parameters():
        q.requires_grad_(False)
    rng = np.random.default_rng(args.seed)
    bpd, nfe, start = [], [], time.time()
    for b0 in range(0, len(levels), args.batch):
        r, n = bits_per_dim(net, objective, levels[b0: b0 + args.batch], args.rtol, args.atol, rng)
        bpd.extend(r.tolist())
        nfe.append(n)
        m, se = mean_se(bpd) if len(bpd) > 1 else (bpd[0], float("nan"))
        print(f"{len(bpd)}/{len(levels)} images: mean bits/dim {m:.4f} +- {se:.4f}, ODE evaluations {n}, "
              f"{(time.time() - start) / len(bpd):.2f} s/image", file=sys.stderr, flush=True)
    m, se = mean_se(bpd)
    result = {"n": len(bpd), "bits_per_dim": m, "standard_error": se, "rtol": args.rtol, "atol": args.atol,
              "ode_evaluations_per_batch": float(np.mean(nfe)), "seconds_per_image": (time.time() - start) / len(bpd),
              "items": [{"bits_per_dim": v} for v in bpd]}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f)
    print(f"PyTorch: {len(bpd)} images, mean bits/dim {m:.4f} +- {se:.4f} (standard error over images), "
          f"rtol {args.rtol}, atol {args.atol}")
    if args.compare:
        compare(bpd, args.compare)


def compare(bpd: list, tweedie_json: str) -> None:
    """Both means on the images both computed, and the paired difference with its standard error."""
    with open(tweedie_json) as f:
        ts = json.load(f)
    n = min(len(bpd), len(ts["items"]))
    ours, theirs = bpd[:n], [it["bits_per_dim"] for it in ts["items"]][:n]
    m, se = mean_se(ours)
    tm, tse = mean_se(theirs)
    dm, dse = mean_se(np.asarray(ours) - np.asarray(theirs))
    print(f"on the first {n} images: PyTorch {m:.4f} +- {se:.4f}, tweedie {tm:.4f} +- {tse:.4f} bits/dim "
          f"(tweedie on all {ts['n']}: {ts['bits_per_dim']:.4f} +- {ts['standard_error']:.4f})")
    verdict = "agree" if abs(dm) <= 2 * dse else "DISAGREE"
    print(f"paired difference PyTorch - tweedie: {dm:.4f} +- {dse:.4f} bits/dim; the two {verdict} "
          f"within 2 standard errors of the difference")


if __name__ == "__main__":
    main()
