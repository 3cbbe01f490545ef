"""Write test/fixtures/autograd/<model>/: Jacobian products of the shipped networks by autograd.

For fmnist-32 and brain-64, with J = d out / d sample of the network output (what its
tweedie.json "prediction" says: v for fmnist-32, eps for brain-64) rebuilt from its
model.onnx (training/gradients.py, the load asserted) and run in float64:

    x.npy [K,1,H,W]   x = a_t x0 + s_t eps, x0 a real image, eps ~ N(0, I) (seeded)
    t.npy [K]         discrete timesteps 100, 500, 900 (a_t, s_t from the DDPM schedule)
    u.npy [K,1,H,W]   a direction ~ N(0, I) (seeded)
    out.npy           the network output out(x, t)
    out_jvp.npy       J u   (torch.autograd.functional.jvp)
    out_vjp.npy       J^T u (torch.autograd.functional.vjp)

The raw output, not the eps it implies: for a v network eps = s_t x + a_t v, whose Jacobian
s_t I + a_t J_v is nearly the (symmetric) identity at t = 900, where a test could no longer
tell a VJP from a JVP.

x0: the first K Fashion-MNIST test images (t10k, padded 28 -> 32 as in fmnist32.py) for
fmnist-32; held-out slices 4, 8, 12 of weights/brain-64/heldout.npy for brain-64.
All float64, written with numpy.save.

    /usr/bin/python3 training/autograd_fixture.py [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist32  # noqa: E402
from tweedie_train.schedule import DDPMSchedule  # noqa: E402
from gradients import rebuild  # noqa: E402

torch.set_num_threads(1)

OUT = "test/fixtures/autograd"
TIMESTEPS = (100, 500, 900)


def clean_images(name: str) -> np.ndarray:
    """K real images in [-1, 1], float64 [K, 1, H, W]."""
    k = len(TIMESTEPS)
    if name == "fmnist-32":
        return fmnist32.load_data(fmnist32.TEST_DATA)[:k].numpy() / 127.5 - 1.0
    return np.load("weights/brain-64/heldout.npy")[[4, 8, 12]].astype(np.float64)


def write_fixture(name: str, seed: int, out: str) -> None:
    net, shape = rebuild(os.path.join("weights", name))
    net.double()
    x0 = torch.from_numpy(clean_images(name))
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    u = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    t = torch.tensor(TIMESTEPS, dtype=torch.float64)
    abar = torch.from_numpy(DDPMSchedule().alphas_cumprod)[list(TIMESTEPS)][:, None, None, None]
    x = abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def network(sample):
        return net(sample, t)

    value, jvp = torch.autograd.functional.jvp(network, x, u)
    _, vjp = torch.autograd.functional.vjp(network, x, u)
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    arrays = {"x": x, "t": t, "u": u, "out": value, "out_jvp": jvp, "out_vjp": vjp}
    for key, value in arrays.items():
        np.save(os.path.join(folder, key + ".npy"), value.detach().numpy().astype(np.float64))
    print(f"{folder}: {', '.join(arrays)}; |J u| / |u| = {float(jvp.norm() / u.norm()):.3f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=OUT, help=f"folder for <model>/*.npy (default {OUT})")
    out = p.parse_args().out
    for seed, name in enumerate(("fmnist-32", "brain-64")):
        write_fixture(name, seed, out)


if __name__ == "__main__":
    main()
