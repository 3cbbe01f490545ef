"""Checks of the tweedie_train package that need no trained weights (a few seconds, one thread):

  - a dynamic-H/W export declares symbolic H and W, and the graph (training/onnx_numpy.py,
    float64) matches the torch module at sizes other than the export size (48x40, 24x32);
    the torch module gives a 48x40 input the same output alone as inside a batch;
  - each objective's loss is zero for a network that returns the true target, and the DDPM
    objectives' (x0, eps) reading of the output inverts x_t = a x0 + s eps;
  - a run stopped and resumed from its checkpoint ends with the same weights, EMA and loss
    log as the same run done in one go;
  - a run continued from its exported folder (--from-export, the checkpoint gone) starts from
    exactly the exported EMA weights, at the exported step, with the loss log and sessions so far,
    and its fresh Adam warms up again from there;
  - a deeper model (more residual blocks per level) started from that folder computes exactly what the
    exported one does, and its run record says it was grown; a model of other widths is refused;
  - the learning rate warms up from the step Adam started at and cools down to 0 at the last step.

    /usr/bin/python3 training/test_tweedie_train.py
"""
from __future__ import annotations

import os
import sys
import tempfile

import numpy as np
import onnx
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_numpy import run_onnx  # noqa: E402
from tweedie_train.cards import reproduce_note, sessions_lines  # noqa: E402
from tweedie_train.export import export_folder, export_onnx, tweedie_json  # noqa: E402
from tweedie_train.loop import TrainConfig, learning_rate, read_loss_log, train  # noqa: E402
from tweedie_train.objectives import DDPMObjective, FlowObjective  # noqa: E402
from tweedie_train.unet import UNet, size_multiple  # noqa: E402
from tweedie_train.warm_start import load_onnx_weights, start_from_export  # noqa: E402

torch.set_num_threads(1)


def small_unet() -> UNet:
    torch.manual_seed(0)
    net = UNet(image_size=16, channels=(8, 16, 16), attn_resolutions=(), temb_dim=16)
    with torch.no_grad():  # the zero-initialised convolutions would hide every path through them
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return net.eval()


def check_dynamic_export() -> None:
    net = small_unet()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.onnx")
        export_onnx(net, path, (1, 16, 16), dynamic_hw=True)
        dims = [[x.dim_param or x.dim_value for x in v.type.tensor_type.shape.dim]
                for v in onnx.load(path).graph.input if v.name == "sample"][0]
        assert dims == ["N", 1, "H", "W"], dims
        for h, w in ((48, 40), (24, 32)):
            x = torch.randn(2, 1, h, w, dtype=torch.float64)
            t = torch.tensor([3.0, 700.5], dtype=torch.float64)
            with torch.no_grad():
                ref = net.double()(x, t).numpy()
            net.float()
            got = run_onnx(path, {"sample": x.numpy(), "timestep": t.numpy()})["out"]
            err = np.abs(got - ref).max() / np.abs(ref).max()
            assert got.shape == (2, 1, h, w) and err < 1e-6, (h, w, got.shape, err)
            print(f"dynamic export at {h}x{w}: onnx_numpy vs torch rel err {err:.1e}")
        fixed = os.path.join(d, "fixed.onnx")
        export_onnx(net, fixed, (1, 16, 16))
        dims = [x.dim_param or x.dim_value for x in onnx.load(fixed).graph.input[0].type.tensor_type.shape.dim]
        assert dims == ["N", 1, 16, 16], dims
    x = torch.randn(2, 1, 48, 40)
    t = torch.tensor([250.0, 250.0])
    with torch.no_grad():
        alone, batched = net(x[:1], t[:1]), net(x, t)[:1]
    assert torch.allclose(alone, batched, atol=1e-6), float((alone - batched).abs().max())
    assert tweedie_json((1, 16, 16), multiple=size_multiple(net))["multiple"] == 4
    assert "multiple" not in tweedie_json((1, 16, 16))
    with_attention = UNet(image_size=16, channels=(8, 16, 16), attn_resolutions=(16,), temb_dim=16)
    try:
        export_onnx(with_attention, os.devnull, (1, 16, 16), dynamic_hw=True)
        raise AssertionError("a UNet with attention above the coarsest level exported with dynamic H, W")
    except ValueError:
        pass


class Oracle(nn.Module):
    """Returns a fixed tensor: the objective's true target for the batch it was built for."""

    def __init__(self):
        super().__init__()
        self.out = None
        self.seen = None

    def forward(self, x, t):
        self.seen = (x, t)
        return self.out


def check_objectives() -> None:
    x0 = torch.rand(4, 1, 8, 8) * 2 - 1
    for obj in (DDPMObjective("eps"), DDPMObjective("v"), FlowObjective()):
        # draw (t, eps) as the loss will, then rebuild the target independently
        gen = torch.Generator().manual_seed(5)
        if isinstance(obj, FlowObjective):
            t = torch.rand((4,), generator=gen)
            eps = torch.randn(x0.shape, generator=gen)
            target = eps - x0  # tweedie's velocity a' x0 + s' eps with a = 1 - t, s = t
        else:
            t = torch.randint(0, 1000, (4,), generator=gen)
            eps = torch.randn(x0.shape, generator=gen)
            abar = torch.from_numpy(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000)))[t].float()
            a, s = abar.sqrt()[:, None, None, None], (1 - abar).sqrt()[:, None, None, None]
            target = eps if obj.name == "eps" else a * eps - s * x0
            x0_back, eps_back = obj.x0_eps(target.double(), (a * x0 + s * eps).double(), a.double(), s.double())
            assert torch.allclose(x0_back.float(), x0, atol=1e-4) and torch.allclose(eps_back.float(), eps, atol=1e-4)
        oracle = Oracle()
        oracle.out = target
        loss = obj.loss(oracle, x0, torch.Generator().manual_seed(5))
        assert float(loss) < 1e-10, (obj.name, float(loss))
        oracle.out = torch.zeros_like(target)
        assert float(obj.loss(oracle, x0, torch.Generator().manual_seed(5))) > 0.1
        print(f"objective {obj.name}: zero loss at the true target, prediction {obj.prediction!r}")


def check_resume() -> None:
    data = torch.rand(32, 1, 8, 8) * 2 - 1

    def sample_batch(gen, b):
        return data[torch.randint(0, len(data), (b,), generator=gen)]

    def net():
        torch.manual_seed(1)
        return UNet(image_size=8, channels=(8, 16), attn_resolutions=(), temb_dim=16, dropout=0.1)

    obj = DDPMObjective("v")
    with tempfile.TemporaryDirectory() as d:
        cfg = dict(batch_size=4, lr=1e-3, warmup=2, log_every=1)
        ck1, log1 = os.path.join(d, "a.pt"), os.path.join(d, "a.csv")
        one = train(net(), sample_batch, TrainConfig(steps=6, **cfg), obj.loss, ck1, log1)
        ck2, log2 = os.path.join(d, "b.pt"), os.path.join(d, "b.csv")
        train(net(), sample_batch, TrainConfig(steps=3, **cfg), obj.loss, ck2, log2)
        m = net()
        torch.manual_seed(456)  # dropout's draws must come from the checkpoint, not from here
        two = train(m, sample_batch, TrainConfig(steps=6, **cfg), obj.loss, ck2, log2, resume=True)
        a, b = torch.load(ck1), torch.load(ck2)
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k]), k
            assert torch.equal(a["ema"][k], b["ema"][k]), k
        assert np.array_equal(read_loss_log(log1)[:, :2], read_loss_log(log2)[:, :2])
        assert one["step"] == two["step"] == 6 and len(b["run"]["sessions"]) == 2
    print("resume: weights, EMA and loss log equal to the uninterrupted run")


def check_from_export() -> None:
    data = torch.rand(32, 1, 16, 16) * 2 - 1

    def sample_batch(gen, b):
        return data[torch.randint(0, len(data), (b,), generator=gen)]

    def net(seed):
        torch.manual_seed(seed)
        return UNet(image_size=16, channels=(8, 16, 16), attn_resolutions=(), temb_dim=16)

    obj = DDPMObjective("v")
    with tempfile.TemporaryDirectory() as d:
        cfg = dict(batch_size=4, lr=1e-3, warmup=2, log_every=1)
        ck, log, out = (os.path.join(d, f) for f in ("a.pt", "a.csv", "export"))
        train(net(1), sample_batch, TrainConfig(steps=5, **cfg), obj.loss, ck, log)
        exported = net(1)
        export_folder(exported, ck, log, out, obj, (1, 16, 16), n_samples=4, nrow=2, title="t", gradient=False)
        ema = torch.load(ck)["ema"]
        loaded = net(2)  # other initial weights: everything must come from the folder
        load_onnx_weights(loaded, out)
        for k, v in loaded.state_dict().items():
            assert torch.equal(v, ema[k]), k
        m = net(3)
        state = train(m, sample_batch, TrainConfig(steps=8, cooldown=2, **cfg), obj.loss, os.path.join(d, "b.pt"),
                      os.path.join(d, "b.csv"), from_export=out)
        b = torch.load(os.path.join(d, "b.pt"))
        assert state["step"] == 8 and len(b["run"]["sessions"]) == 2, (state["step"], b["run"]["sessions"])
        assert b["run"]["sessions"][1]["from_step"] == 5 and b["run"]["continued"]
        assert np.array_equal(read_loss_log(log)[:, :2], read_loss_log(os.path.join(d, "b.csv"))[:5, :2])
        assert b["adam_from"] == 5, b["adam_from"]
        first, second = sessions_lines(b["run"]).splitlines()
        assert "lr decayed" not in first and "lr decayed linearly to 0 over steps 6-8" in second, second
        stopped_early = {**b["run"]["sessions"][1], "to_step": 7}
        assert "(the session stopped before step 8)" in sessions_lines({"sessions": [stopped_early]})
        assert "they were continued from earlier exports" in reproduce_note(b["run"]) and reproduce_note({"sessions": []}) == ""
    print("from export: exported EMA weights loaded exactly; step, loss log and sessions (with their cool-down) continue")


def check_grow_from_export() -> None:
    data = torch.rand(32, 1, 16, 16) * 2 - 1
    obj = DDPMObjective("v")

    def net(res_blocks=1, channels=(8, 16, 16)):
        torch.manual_seed(1)
        return UNet(image_size=16, channels=channels, attn_resolutions=(), temb_dim=16, res_blocks=res_blocks)

    with tempfile.TemporaryDirectory() as d:
        ck, log, out = (os.path.join(d, f) for f in ("a.pt", "a.csv", "export"))
        cfg = TrainConfig(steps=5, batch_size=4, lr=1e-2, warmup=1, log_every=1)
        train(net(), lambda gen, b: data[torch.randint(0, 32, (b,), generator=gen)], cfg, obj.loss, ck, log)
        small = net()
        export_folder(small, ck, log, out, obj, (1, 16, 16), n_samples=4, nrow=2, title="t", gradient=False)
        deep = net(res_blocks=3)
        start = start_from_export(deep, out)
        x, t = torch.randn(3, 1, 16, 16), torch.tensor([5.0, 300.0, 900.0])
        with torch.no_grad():
            assert torch.equal(deep.eval()(x, t), small.eval()(x, t)), "the grown model computes something else"
        assert start["run"]["model_config"]["res_blocks"] == 3 and start["run"]["grown"] == [{"step": 5, "res_blocks": 3}]
        assert "grown from 1 to 3 residual blocks" in start["note"], start["note"]
        assert "continued and grown" in reproduce_note({**start["run"], "continued": [start["note"]]})
        try:
            start_from_export(net(res_blocks=2, channels=(8, 16, 32)), out)
        except SystemExit as e:
            assert "only res_blocks may differ" in str(e), e
        else:
            raise AssertionError("a model of other widths was grown from the export")
    print("grow from export: the deeper model computes what the exported one did; other widths refused")


def check_learning_rate() -> None:
    cfg = TrainConfig(steps=1000, lr=1.0, warmup=10, cooldown=100)
    assert learning_rate(cfg, 0, 0) == 0.1 and learning_rate(cfg, 9, 0) == 1.0
    assert learning_rate(cfg, 500, 500) == 0.1, "a fresh Adam at step 500 warms up again"
    assert learning_rate(cfg, 899, 0) == 1.0 and learning_rate(cfg, 950, 0) == 0.5
    assert learning_rate(cfg, 999, 0) == 0.01
    assert learning_rate(TrainConfig(steps=1000, lr=1.0, warmup=10), 999, 0) == 1.0
    print("learning rate: warm-up from Adam's start, linear cool-down to 0 at the last step")


if __name__ == "__main__":
    check_dynamic_export()
    check_objectives()
    check_resume()
    check_from_export()
    check_grow_from_export()
    check_learning_rate()
    print("ok")
