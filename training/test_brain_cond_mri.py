"""Checks of training/brain_cond_mri.py on a tiny configuration (seconds, one thread; no real training):

  - the masks are tweedie's: equispaced masks equal src/inverse/operators/mri-masks.ts's for every offset (run in
    node from dist/), random masks sample 1/accel of the columns on average;
  - the condition equals an independent numpy FFT of the operator's definition, Re(ifft2c(M fft2c(x))), and
    tweedie's own MRIOperator adjoint (node), on an odd-sized image (the shift conventions differ there);
  - condition dropout replaces about 10% of the conditions by the fill 0 (binomial, 5 sd) and keeps the others;
  - the loss is zero for a network that returns the true velocity and sees the conditions drawn; 3 training steps run;
  - the export has the inputs sample, timestep, cond; its graph (training/onnx_numpy.py) matches torch on another
    H x W; tweedie.json declares the zero-filled condition; `tweedie solve --solver cond-dc` runs it.

    npx tsc -p tsconfig.json && /usr/bin/python3 training/test_brain_cond_mri.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brain_cond_mri import (CONDITIONING, FILL, ZeroFilledUNet, conditional_loss, conditions,  # noqa: E402
                            draw_masks, line_mask, zero_filled)
from onnx_numpy import run_onnx  # noqa: E402
from tweedie_train.export import export_folder  # noqa: E402
from tweedie_train.loop import TrainConfig, train  # noqa: E402
from tweedie_train.objectives import FlowObjective  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DIST = os.path.join(ROOT, "dist", "src", "inverse", "operators")


def node(script: str) -> object:
    r = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def check_masks() -> None:
    cases = [(w, a) for w in (80, 181, 216) for a in (4.0, 8.0, 3.0, 11.5)]
    script = f"""
import {{ equispacedLineMask }} from '{DIST}/mri-masks.js';
const out = [];
for (const [w, a] of {json.dumps(cases)}) {{
  const first = equispacedLineMask(w, a, {{ offset: 0 }});
  const span = Math.round(first.adjustedAcceleration ?? 1);
  for (let o = 0; o < span; o++) out.push([w, a, o, Array.from(equispacedLineMask(w, a, {{ offset: o }}).columns)]);
}}
console.log(JSON.stringify(out));"""
    for w, a, o, cols in node(script):
        got = line_mask(w, a, "equispaced", torch.Generator(), offset=o)
        assert np.array_equal(got, np.array(cols, np.uint8)), (w, a, o)
    gen = torch.Generator().manual_seed(3)
    for a in (4.0, 8.0):
        frac = np.mean([line_mask(80, a, "random", gen).mean() for _ in range(400)])
        assert abs(frac - 1 / a) < 0.01, (a, frac)
    print(f"masks: equispaced equal to mri-masks.ts on {len(cases)} sizes x accelerations, every offset; random ones sample 1/accel")


def numpy_zero_filled(x: np.ndarray, cols: np.ndarray) -> np.ndarray:
    n = x.shape[-2] * x.shape[-1]
    k = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1))), axes=(-2, -1)) / np.sqrt(n)
    return np.real(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(cols[None, :] * k, axes=(-2, -1))), axes=(-2, -1)) * np.sqrt(n))


def check_condition() -> None:
    h, w = 12, 9
    gen = torch.Generator().manual_seed(4)
    x = torch.rand((2, 1, h, w), generator=gen, dtype=torch.float64) * 2 - 1
    masks = torch.stack([torch.from_numpy(line_mask(w, 3.0, kind, gen)).double() for kind in ("equispaced", "random")])
    masks[1, 0] = 1  # a column without its mirror: the real part then differs from the complex zero-filled image
    got = zero_filled(x, masks).numpy()
    for b in range(2):
        ref = numpy_zero_filled(x[b, 0].numpy(), masks[b].numpy())
        assert np.abs(got[b, 0] - ref).max() < 1e-12, b
    script = f"""
import {{ MRIOperator }} from '{DIST}/mri.js';
import {{ lineMask2D }} from '{DIST}/mri-masks.js';
import {{ Tensor }} from '{os.path.join(ROOT, "dist", "src", "core", "tensor.js")}';
const xs = {json.dumps(x[:, 0].reshape(2, -1).tolist())}, ms = {json.dumps(masks.tolist())};
console.log(JSON.stringify(xs.map((x, b) => {{
  const op = new MRIOperator([1, {h}, {w}], {{ mask: lineMask2D(ms[b], {h}) }});
  return Array.from(op.adjoint(op.forward(new Tensor([1, 1, {h}, {w}], Float64Array.from(x)))).data);
}})));"""
    tw = np.array(node(script)).reshape(2, 1, h, w)
    assert np.abs(got - tw).max() < 1e-12, np.abs(got - tw).max()
    print(f"condition: equals numpy's FFT of the definition and tweedie's MRIOperator A^T A x on {h}x{w} (max diff {np.abs(got - tw).max():.1e})")


def check_dropout() -> None:
    n = 4000
    x0 = torch.rand((n, 1, 8, 16), generator=torch.Generator().manual_seed(5)) * 2 - 1
    cond = conditions(x0, torch.Generator().manual_seed(6))
    gen = torch.Generator().manual_seed(6)
    zf = zero_filled(x0, draw_masks(n, 16, gen))
    drop = torch.rand(n, generator=gen) < 0.1
    assert torch.equal(cond[drop], torch.full_like(cond[drop], FILL)) and torch.equal(cond[~drop], zf[~drop])
    sd = (n * 0.1 * 0.9) ** 0.5
    assert abs(int(drop.sum()) - 0.1 * n) < 5 * sd, int(drop.sum())
    print(f"condition dropout: {float(drop.float().mean()):.4f} of the conditions to the fill {FILL} (0.1 asked)")


class Oracle(torch.nn.Module):
    """Returns the velocity target it is given, and records the condition it was called with."""

    def __init__(self):
        super().__init__()
        self.target, self.cond = None, None
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, cond):
        self.cond = cond
        return self.target + 0 * self.w


def tiny() -> ZeroFilledUNet:
    torch.manual_seed(0)
    net = ZeroFilledUNet(UNet(image_size=16, channels=(8, 16), attn_resolutions=(), temb_dim=16, mid_attention=False,
                              in_channels=2, out_channels=1))
    with torch.no_grad():  # the zero-initialised output convolution would hide the condition
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net


def check_loss_train_export() -> None:
    x0 = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(8)) * 2 - 1
    obj = FlowObjective()
    loss = conditional_loss(obj)
    gen = torch.Generator().manual_seed(9)
    cond = conditions(x0, gen)
    t = torch.rand((32,), generator=gen)
    eps = torch.randn(x0.shape, generator=gen)
    oracle = Oracle()
    oracle.target = eps - x0
    assert float(loss(oracle, x0, torch.Generator().manual_seed(9))) < 1e-12
    assert torch.equal(oracle.cond, cond)
    with tempfile.TemporaryDirectory() as d:
        net = tiny()
        ckpt, log, out = os.path.join(d, "c.pt"), os.path.join(d, "c.csv"), os.path.join(d, "model")
        state = train(net.train(), lambda g, b: x0[torch.randint(0, 32, (b,), generator=g)],
                      TrainConfig(steps=3, batch_size=4, lr=1e-3, warmup=1, log_every=1), loss, ckpt, log,
                      run_info={"objective": "flow"})
        assert state["step"] == 3
        cond_spec = {"zf": {**CONDITIONING["zf"], "shape": [1, 16, 16]}}
        facts = export_folder(net, ckpt, log, out, obj, (1, 16, 16), n_samples=2, nrow=2, title="tiny",
                              dynamic_hw=True, gradient=False, image_condition=cond_spec)
        card = json.load(open(os.path.join(out, "tweedie.json")))
        assert card["conditioning"] == cond_spec and card["multiple"] == 2, card
        g = torch.Generator().manual_seed(10)
        x, tt, c = torch.randn(3, 1, 24, 32, generator=g), torch.tensor([0.0, 400.5, 999.0]), torch.randn(3, 1, 24, 32, generator=g)
        with torch.no_grad():
            ref = net.eval()(x, tt, c).numpy()
        got = run_onnx(os.path.join(out, "model.onnx"), {"sample": x.numpy(), "timestep": tt.numpy(), "cond": c.numpy()})["out"]
        err = float(np.abs(got - ref).max())
        assert err < 1e-5 and facts["onnx_max_abs_diff"] < 1e-5, (err, facts["onnx_max_abs_diff"])
        truth, res = os.path.join(d, "x.npy"), os.path.join(d, "r.npy")
        np.save(truth, x0[0].numpy())
        r = subprocess.run(["node", os.path.join(ROOT, "bin", "tweedie.js"), "solve", "--model", out, "--operator", "mri:accel=4",
                            "--truth", truth, "--solver", "cond-dc", "--steps", "3", "--threads", "1", "--out", res],
                           capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 0, r.stderr
        assert np.load(res).shape[-2:] == (16, 16)
    print(f"loss: zero at the true velocity, the network sees the drawn conditions; 3 steps trained; "
          f"export: sample, timestep, cond; ONNX vs torch on 24x32 {err:.1e}; tweedie solve --solver cond-dc runs it")


if __name__ == "__main__":
    check_masks()
    check_condition()
    check_dropout()
    check_loss_train_export()
    print("ok")
