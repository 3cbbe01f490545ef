"""Continue a run from a shipped model folder when its training checkpoint is gone.

The machines these recipes run on are not kept between sessions, so a checkpoint outside the repository can be
lost; the exported folder (model.onnx, loss.csv, run.json) is what survives. `start_from_export` loads the folder's
weights into the model (the EMA weights the folder was exported from, which then start both the model and its EMA;
Adam starts afresh, its warm-up included) and returns where the run stood: step, training seconds, loss rows and
the run record, from run.json when the export wrote one, else from loss.csv's last row.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn as nn

from .unet import UNet, count_parameters, grow_from


def _consumers(graph) -> dict[str, list]:
    out: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def _group_norm_affines(graph, initializers: dict) -> list[tuple[str, str]]:
    """(scale, bias) initializer names of every GroupNorm, in graph order. torch.onnx exports GroupNorm as
    Reshape -> InstanceNormalization -> Reshape -> Mul(scale) -> Add(bias) with the affine parameters as
    anonymous constants, so they are found by following that chain rather than by name."""
    consumers, pairs = _consumers(graph), []
    for node in graph.node:
        if node.op_type != "InstanceNormalization":
            continue
        reshape = consumers[node.output[0]][0]
        mul = consumers[reshape.output[0]][0]
        add = consumers[mul.output[0]][0]
        if (reshape.op_type, mul.op_type, add.op_type) != ("Reshape", "Mul", "Add"):
            raise SystemExit(f"unexpected GroupNorm export after {node.name}: {reshape.op_type}, {mul.op_type}, {add.op_type}")
        scale = next(n for n in mul.input if n in initializers)
        bias = next(n for n in add.input if n in initializers)
        pairs.append((scale, bias))
    return pairs


def _group_norms_in_call_order(model: nn.Module, call) -> list[str]:
    """Names of the model's GroupNorm modules in the order one forward call runs them."""
    order: list[str] = []
    hooks = [m.register_forward_hook(lambda _m, _i, _o, name=name: order.append(name))
             for name, m in model.named_modules() if isinstance(m, nn.GroupNorm)]
    try:
        with torch.no_grad():
            call()
    finally:
        for h in hooks:
            h.remove()
    return order


def load_onnx_weights(model: nn.Module, folder: str) -> None:
    """Copy `folder`/model.onnx's weights into `model` (the recipe's own network, the one the folder was exported
    from): named initializers by name, GroupNorm affines by call order; then check that the model computes what the
    ONNX graph computes (export.onnx_vs_torch), so a wrong match cannot pass silently."""
    import onnx
    from onnx import numpy_helper
    from .export import onnx_vs_torch

    path = os.path.join(folder, "model.onnx")
    graph = onnx.load(path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    spec = json.load(open(os.path.join(folder, "tweedie.json")))
    shape = spec["shape"]
    cond = next(iter(spec.get("conditioning", {}).values()), None)
    classes = cond["classes"] if cond and cond["kind"] == "class" else 0
    channels = cond["shape"][0] if cond and cond["kind"] == "image" else 0
    x = torch.zeros(1, *shape)
    extra = ([torch.zeros(1, dtype=torch.long)] if classes else [torch.zeros(1, channels, *shape[1:])] if channels else [])
    model.eval()
    norms = _group_norms_in_call_order(model, lambda: model(x, torch.zeros(1), *extra))
    affines = _group_norm_affines(graph, inits)
    if len(norms) != len(affines):
        raise SystemExit(f"{path}: {len(affines)} GroupNorms in the graph, {len(norms)} in the recipe's model: not its export")
    source = {k: k for k in inits}
    for name, (scale, bias) in zip(norms, affines):
        source[f"{name}.weight"], source[f"{name}.bias"] = scale, bias
    state = model.state_dict()
    missing = [k for k in state if k not in source]
    if missing:
        raise SystemExit(f"{path} has no weights for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: not this recipe's export")
    model.load_state_dict({k: torch.from_numpy(np.array(inits[source[k]])).reshape(v.shape).to(v.dtype) for k, v in state.items()})
    diff = onnx_vs_torch(model, path, shape, classes, image_condition=channels)
    if diff is None or diff > 1e-3:
        raise SystemExit(f"{path}: the loaded model differs from the graph (max |difference| {diff}); not warm-starting from it")


def start_from_export(model: nn.Module, folder: str) -> dict:
    """Load the folder's weights (load_onnx_weights) and return the run's state: step, wall, rows, run, note. A
    model with more residual blocks per level than the export's (its run.json model_config) is grown from it
    (unet.grow_from), and the run record says so."""
    record = os.path.join(folder, "run.json")
    exported = json.load(open(record)).get("model_config") if os.path.exists(record) else None
    blocks = getattr(model, "config", {}).get("res_blocks", 1)
    grown = exported is not None and exported.get("res_blocks", 1) != blocks
    if grown:
        small = UNet(**exported)
        load_onnx_weights(small, folder)
        grow_from(model, small)
    else:
        load_onnx_weights(model, folder)
    log = np.loadtxt(os.path.join(folder, "loss.csv"), delimiter=",", skiprows=1, ndmin=2)
    rows = [(int(s), float(v), float(w)) for s, v, w in log]
    if os.path.exists(record):
        run = json.load(open(record))
        step, wall = int(run["steps"]), float(run["wall_s"])
        rows = [r for r in rows if r[0] <= step]
        note = f"continued from the export in {folder} at step {step} (its run.json)"
    else:
        run = None
        step, wall = rows[-1][0], rows[-1][2]
        note = (f"continued from the export in {folder} at step {step} (its loss.csv's last row; that export "
                "had no run.json, so earlier sessions are in its card)")
    if grown:
        note += (f", grown from {exported.get('res_blocks', 1)} to {blocks} residual blocks per level "
                 "(the new blocks identity at the start)")
        run = {**run, "model_config": model.config, "params": count_parameters(model),
               "grown": run.get("grown", []) + [{"step": step, "res_blocks": blocks}]}
    return {"step": step, "wall": wall, "rows": rows, "run": run, "note": note}
