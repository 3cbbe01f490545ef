"""ONNX export with tweedie's contract, tweedie.json, scheduler_config.json, the weights folder.

Contract: inputs `sample` float32 [N, C, H, W] and `timestep` float32 [N], output `out`
float32 [N, C, H, W] = the objective's prediction (eps, v or velocity); opset 14, dynamic N
and, for a fully convolutional UNet exported with dynamic_hw, dynamic H and W (tweedie.json
then says `"multiple": m`: H and W must be multiples of m).
"""
from __future__ import annotations

import json
import os
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from .images import save_grid_png, save_loss_png
from .loop import load_checkpoint_ema, read_loss_log
from .preview import class_preview, preview_sample
from .unet import count_parameters, is_fully_convolutional, size_multiple

# the vector-Jacobian graph beside model.onnx (training/gradients.py writes it)
GRADIENT = {"file": "model.grad.onnx", "cotangent": "cotangent", "output": "out", "vjp": "vjp"}


def write_json(path: str, obj: dict) -> None:
    """Atomic: a reader never sees half a file."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def export_onnx(model: nn.Module, path: str, shape: Sequence[int], opset: int = 14,
                dynamic_hw: bool = False, num_classes: int = 0, image_condition: int = 0):
    """Export with the tweedie contract, run onnx.checker; returns the loaded ModelProto.

    dynamic_hw: H and W become graph dimensions "H", "W" (only for a fully convolutional UNet).
    num_classes: a class-conditional model gets a third input "class", int64 [N] (tweedie.json "conditioning").
    image_condition: an image-conditional model gets a third input "cond", float32 [N, image_condition, H, W].
    """
    import onnx
    if dynamic_hw and not is_fully_convolutional(model):
        raise ValueError("dynamic H, W needs attention only at the coarsest level (attn_resolutions=())")
    model.eval()
    sample = torch.randn(2, *shape)
    timestep = torch.tensor([10.0, 500.5])
    batch = {0: "N", 2: "H", 3: "W"} if dynamic_hw else {0: "N"}
    third = ({"class": (torch.tensor([0, num_classes]), {0: "N"})} if num_classes else
             {"cond": (torch.randn(2, image_condition, *shape[1:]), batch)} if image_condition else {})
    torch.onnx.export(model, (sample, timestep, *(v for v, _ in third.values())), path, opset_version=opset,
                      input_names=["sample", "timestep", *third], output_names=["out"],
                      dynamic_axes={"sample": batch, "timestep": {0: "N"}, "out": batch, **{k: d for k, (_, d) in third.items()}},
                      do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def tweedie_json(shape: Sequence[int], prediction: str = "epsilon", time_entry: dict | None = None,
                 gradient: bool = False, multiple: int | None = None, extra: dict | None = None) -> dict:
    """tweedie's descriptor; `multiple` only for an export with dynamic H, W."""
    d = {"prediction": prediction, **(time_entry or {"time_input": "discrete"}),
         "inputs": {"sample": "sample", "timestep": "timestep"}, "output": "out",
         "shape": list(shape), "value_range": [-1, 1]}
    if multiple:
        d["multiple"] = multiple
    if gradient:
        d["gradient"] = dict(GRADIENT)
    if extra:
        d.update(extra)
    return d


def class_conditioning(num_classes: int) -> dict:
    """tweedie.json "conditioning" of a class input with the classes 0..num_classes-1 and the null class num_classes."""
    return {"class": {"kind": "class", "classes": num_classes, "unconditional": num_classes}}


def onnx_vs_torch(model: nn.Module, path: str, shape: Sequence[int], num_classes: int = 0, image_condition: int = 0) -> float | None:
    """max |torch - onnx| on a random batch of 4 (with classes 0, 1, the null class and 0 for a class-conditional
    model; a random image condition of that many channels for an image-conditional one), with the numpy evaluator
    (no onnxruntime)."""
    try:
        from onnx_numpy import run_onnx
        gen = torch.Generator().manual_seed(1)
        x = torch.randn((4, *shape), generator=gen)
        t = torch.tensor([0.0, 17.25, 500.0, 999.0])
        third = ({"class": torch.tensor([0, 1 % num_classes, num_classes, 0])} if num_classes else
                 {"cond": torch.randn((4, image_condition, *shape[1:]), generator=gen)} if image_condition else {})
        with torch.no_grad():
            ref = model(x, t, *third.values()).numpy()
        got = run_onnx(path, {"sample": x.numpy(), "timestep": t.numpy(), **{k: v.numpy() for k, v in third.items()}})["out"]
        diff = float(np.abs(ref - got).max())
        print(f"onnx vs torch max abs diff: {diff:.3g}", flush=True)
        return diff
    except Exception as e:  # keep the export usable even if the checker cannot run
        print(f"numpy ONNX comparison skipped: {e!r}", flush=True)
        return None


class FilledCondition(nn.Module):
    """An image-conditional model (sample, timestep, cond) run on its unconditional fill: (sample, timestep)."""

    def __init__(self, model: nn.Module, channels: int, fill: float):
        super().__init__()
        self.model, self.channels, self.fill = model, channels, fill

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        cond = torch.full((sample.shape[0], self.channels, *sample.shape[2:]), self.fill)
        return self.model(sample, timestep, cond)


def export_folder(model: nn.Module, ckpt_path: str, log_path: str, out_dir: str, objective,
                  shape: Sequence[int], n_samples: int, nrow: int, title: str,
                  png_scale: int = 2, dynamic_hw: bool = False, gradient: bool = True,
                  num_classes: int = 0, preview_scale: float = 3.0, image_condition: dict | None = None) -> dict:
    """EMA weights -> model.onnx (+ check), model.grad.onnx (+ checks; only with `gradient`:
    the hand-written reverse pass has fixed H and W, so a dynamic-size model goes without it and
    tweedie takes its derivatives by differences), scheduler_config.json,
    tweedie.json, samples.png (50-step preview), loss_curve.png, loss.csv, run.json (the run record). Returns the facts
    for the card: the checkpoint's run record plus the export's own measurements.

    num_classes: a class-conditional model (the null class is index num_classes): model.onnx gets the "class" input,
    tweedie.json declares it, and samples.png has one row per class of nrow // 2 samples at guidance 1 and the
    same noises at `preview_scale` (n_samples must be num_classes * nrow).
    image_condition: tweedie.json's "conditioning" of a model taking one image condition (ONNX input "cond");
    the preview samples then run its unconditional fill."""
    if num_classes and (gradient or n_samples != num_classes * nrow or nrow % 2):
        raise ValueError("a class-conditional export has no gradient graph and a preview of num_classes rows of an even nrow")
    os.makedirs(out_dir, exist_ok=True)
    ck = load_checkpoint_ema(model, ckpt_path)
    model.eval()
    onnx_path = os.path.join(out_dir, "model.onnx")
    cond = next(iter(image_condition.values())) if image_condition else None
    channels = cond["shape"][0] if cond else 0
    export_onnx(model, onnx_path, shape, dynamic_hw=dynamic_hw, num_classes=num_classes, image_condition=channels)
    diff = onnx_vs_torch(model, onnx_path, shape, num_classes, image_condition=channels)
    write_json(os.path.join(out_dir, "scheduler_config.json"), objective.scheduler_config())
    grad_errs = None
    if gradient:
        from gradients import write_gradient  # gradients.py imports this package
        grad_errs = write_gradient(out_dir, model, shape)
    write_json(os.path.join(out_dir, "tweedie.json"),
               tweedie_json(shape, objective.prediction, objective.time_entry(), gradient=gradient,
                            multiple=size_multiple(model) if dynamic_hw else None,
                            extra={"conditioning": class_conditioning(num_classes) if num_classes else image_condition}
                            if num_classes or image_condition else None))
    t0 = time.time()
    preview = FilledCondition(model, channels, cond["unconditional"]) if cond else model
    samples = (class_preview(model, objective, shape, num_classes, nrow // 2, preview_scale) if num_classes
               else preview_sample(preview, objective, shape, n_samples, steps=50, seed=0))
    print(f"preview sampling: {time.time() - t0:.0f}s", flush=True)
    save_grid_png(samples.numpy(), os.path.join(out_dir, "samples.png"), nrow=nrow, scale=png_scale)
    log = read_loss_log(log_path)
    np.savetxt(os.path.join(out_dir, "loss.csv"), log, delimiter=",",
               header="step,loss,wall_s", comments="", fmt=["%d", "%.6f", "%.1f"])
    save_loss_png(log, os.path.join(out_dir, "loss_curve.png"), title)
    write_json(os.path.join(out_dir, "run.json"), {**ck.get("run", {}), "steps": int(ck["step"]), "wall_s": float(ck["wall"])})
    tail = log[log[:, 0] > log[-1, 0] - 100, 1]  # last ~100 steps
    return {"run": ck.get("run", {}), "params": count_parameters(model), "steps": int(ck["step"]),
            "wall_s": float(ck["wall"]), "final_loss": float(tail.mean()),
            "loss_ema": ck.get("loss_ema"),
            "onnx_bytes": os.path.getsize(onnx_path), "onnx_max_abs_diff": diff,
            "gradient_errors": grad_errs, "samples": samples,
            "train_config": ck["train_config"], "model_config": ck["config"],
            **({"num_classes": num_classes, "preview_scale": preview_scale} if num_classes else {})}
