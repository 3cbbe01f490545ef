"""Checks of the class-conditional recipe training/fmnist_cond.py on a tiny configuration (seconds, one thread; no real training):

  - label dropout replaces about 10% of the labels by the null class (a binomial count within 5 standard
    deviations) and keeps the others;
  - the class embedding reaches the output (different classes, different predictions), the null class is an index;
  - the conditional loss is zero for a network that returns the true target of the labels it was given, trains a
    few steps, and the network is called with the dropped labels;
  - the preview's guidance is the unconditional network at w = 0 and the conditional one at w = 1;
  - the export (from a 3-step run's checkpoint) has the inputs sample, timestep and class (int64), its graph
    (training/onnx_numpy.py) matches the torch module, tweedie.json declares the condition, the model card states the
    run's own record and the per-class preview grid, and `tweedie sample --class K --guidance-scale W` runs it.

    /usr/bin/python3 training/test_fmnist_cond.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_cond import PREVIEW_SCALE, conditional_loss, drop_labels, export  # noqa: E402
from onnx_numpy import run_onnx  # noqa: E402
from tweedie_train.loop import TrainConfig, train  # noqa: E402
from tweedie_train.objectives import DDPMObjective  # noqa: E402
from tweedie_train.preview import class_guided  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)
K = 3
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def tiny() -> UNet:
    torch.manual_seed(0)
    net = UNet(image_size=8, channels=(8, 16), attn_resolutions=(), temb_dim=16, num_classes=K)
    with torch.no_grad():  # the zero-initialised output convolution would hide the class embedding
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def check_dropout() -> None:
    n = 20000
    labels = torch.randint(0, K, (n,), generator=torch.Generator().manual_seed(1))
    y = drop_labels(labels, torch.Generator().manual_seed(2), K)
    dropped = int((y == K).sum())
    sd = (n * 0.1 * 0.9) ** 0.5
    assert abs(dropped - 0.1 * n) < 5 * sd, dropped
    assert torch.equal(y[y != K], labels[y != K])
    print(f"label dropout: {dropped / n:.4f} of the labels to the null class (0.1 asked)")


def check_embedding() -> None:
    net = tiny()
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([300.0])
    with torch.no_grad():
        outs = [net(x, t, torch.tensor([c])) for c in range(K + 1)]
    for i in range(K + 1):
        for j in range(i):
            assert (outs[i] - outs[j]).abs().max() > 1e-4, (i, j)
    try:
        net(x, t, torch.tensor([K + 1]))
        raise AssertionError("a label past the null class was accepted")
    except IndexError:
        pass
    print("class embedding: the K classes and the null class give different predictions")


class Oracle(torch.nn.Module):
    """Returns the DDPM v target it is given, and records the labels it was called with."""

    def __init__(self):
        super().__init__()
        self.target = None
        self.labels = None
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y):
        self.labels = y
        return self.target + 0 * self.w


def check_loss_and_training() -> None:
    x0 = torch.rand(64, 1, 8, 8) * 2 - 1
    labels = torch.randint(0, K, (64,), generator=torch.Generator().manual_seed(3))
    obj = DDPMObjective("v")
    loss = conditional_loss(obj, K)
    # The draws the loss makes: the dropout mask, then t and eps; rebuild the target independently.
    gen = torch.Generator().manual_seed(7)
    y = drop_labels(labels, gen, K)
    t = torch.randint(0, 1000, (64,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    abar = torch.from_numpy(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))[t].float()[:, None, None, None]
    oracle = Oracle()
    oracle.target = abar.sqrt() * eps - (1 - abar).sqrt() * x0
    assert float(loss(oracle, (x0, labels), torch.Generator().manual_seed(7))) < 1e-10
    assert torch.equal(oracle.labels, y) and int((y == K).sum()) > 0
    with tempfile.TemporaryDirectory() as d:
        def sample_batch(gen, b):
            idx = torch.randint(0, 64, (b,), generator=gen)
            return x0[idx], labels[idx]
        state = train(tiny().train(), sample_batch, TrainConfig(steps=4, batch_size=8, lr=1e-3, warmup=1, log_every=1),
                      loss, os.path.join(d, "c.pt"), os.path.join(d, "c.csv"))
        assert state["step"] == 4
    print("conditional loss: zero at the true target, the network sees the dropped labels; 4 training steps ran")


def check_guided_preview() -> None:
    net, y = tiny(), torch.tensor([0, 2, 1])
    x, t = torch.randn(3, 1, 8, 8), torch.tensor([50.0, 400.0, 900.0])
    with torch.no_grad():
        cond, uncond = net(x, t, y), net(x, t, torch.full_like(y, K))
        # The guided output at w = 0 is the unconditional network, at w = 1 the conditional one, affine in w between.
        assert torch.equal(class_guided(net, y, K, 0.0)(x, t), uncond)
        assert torch.equal(class_guided(net, y, K, 1.0)(x, t), cond)
        err = float((class_guided(net, y, K, 2.5)(x, t) - (2.5 * cond - 1.5 * uncond)).abs().max())
        assert err < 1e-5, err
    print("classifier-free guidance of the preview: the unconditional network at w = 0, the conditional at w = 1")


def check_export() -> None:
    per_class, obj = 2, DDPMObjective("v")
    with tempfile.TemporaryDirectory() as d:
        ckpt, log, out = os.path.join(d, "c.pt"), os.path.join(d, "c.csv"), os.path.join(d, "model")
        x0 = torch.rand(64, 1, 8, 8) * 2 - 1
        labels = torch.randint(0, K, (64,), generator=torch.Generator().manual_seed(3))

        def sample_batch(gen, b):
            idx = torch.randint(0, 64, (b,), generator=gen)
            return x0[idx], labels[idx]
        train(tiny().train(), sample_batch, TrainConfig(steps=3, batch_size=8, lr=1e-3, warmup=1, log_every=1),
              conditional_loss(obj, K), ckpt, log, run_info={"data": "64 random 8x8 images"})
        net = tiny()
        export(net, ckpt, log, out, obj, shape=(1, 8, 8), per_class=per_class)
        inputs = {v.name: v.type.tensor_type.elem_type for v in onnx.load(os.path.join(out, "model.onnx")).graph.input}
        assert inputs == {"sample": 1, "timestep": 1, "class": 7}, inputs  # float, float, int64
        card = json.load(open(os.path.join(out, "tweedie.json")))
        assert card["conditioning"] == {"class": {"kind": "class", "classes": K, "unconditional": K}}, card
        x, t, y = torch.randn(4, 1, 8, 8), torch.tensor([0.0, 10.5, 400.0, 999.0]), torch.tensor([0, 1, 2, K])
        with torch.no_grad():  # export loaded the checkpoint's EMA weights into net
            ref = net(x, t, y).numpy()
        got = run_onnx(os.path.join(out, "model.onnx"), {"sample": x.numpy(), "timestep": t.numpy(), "class": y.numpy()})["out"]
        err = float(np.abs(got - ref).max())
        assert err < 1e-5, err
        check_card(out, per_class)
        npy = os.path.join(d, "x.npy")
        r = subprocess.run(["node", os.path.join(ROOT, "bin", "tweedie.js"), "sample", "--model", out, "--class", "0,1,2",
                            "--guidance-scale", "2", "-n", "3", "--steps", "3", "--threads", "1", "--out", npy],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert np.load(npy).shape == (3, 1, 8, 8)
    print(f"export: inputs sample, timestep, class (int64); ONNX vs torch {err:.1e}; model card; tweedie sample --class runs it")


def check_card(out: str, per_class: int) -> None:
    """MODEL_CARD.md from the run's own record (3 steps, batch 8) and a preview grid of one row per class, each row
    per_class samples unguided and the same noises guided."""
    from PIL import Image
    text = open(os.path.join(out, "MODEL_CARD.md")).read()
    for words in ["# fmnist-cond", "**3 steps**", "batch 8", "64 random 8x8 images",
                  f"`class` [N] (int64, the classes 0..{K - 1} or the null class {K}",
                  f"one row per class 0..{K - 1}: {per_class} samples of the conditional model (guidance 1), "
                  f"then the same noises at guidance {PREVIEW_SCALE:g}",
                  "null class with probability 0.1", "tweedie bench guidance"]:
        assert words in text, words
    # save_grid_png: pad 2, then x2 nearest: K rows and 2 per_class columns of 8x8 images.
    img = np.asarray(Image.open(os.path.join(out, "samples.png")))
    assert img.shape == (2 * (K * 10 + 2), 2 * (2 * per_class * 10 + 2)), img.shape
    tiles = [[img[2 * (2 + 10 * r):2 * (10 + 10 * r), 2 * (2 + 10 * c):2 * (10 + 10 * c)] for c in range(2 * per_class)]
             for r in range(K)]
    assert all(not np.array_equal(row[0], row[per_class]) for row in tiles), "guided and unguided halves are the same"
    print("model card: steps, batch, data, the class input, label dropout and the per-class preview grid")


if __name__ == "__main__":
    check_dropout()
    check_embedding()
    check_loss_and_training()
    check_guided_preview()
    check_export()
    print("ok")
