"""A tiny numpy evaluator for the ONNX graphs the recipes export.

onnxruntime is not installed for the training Python, and onnx 1.12 has no reference
evaluator, so this covers exactly the operators torch.onnx.export emits for the UNet in
tweedie_train/unet.py (Conv, InstanceNormalization, Gemm, Resize-nearest, Softmax, shape plumbing...),
the ops of gaussian_exact.py's graph and the reverse pass of training/gradients.py (ConvTranspose,
ReduceMean, ReduceSum).
It is a check of the exported graph, not a runtime: it computes in float64.

    /usr/bin/python3 training/onnx_numpy.py weights/fmnist-32/model.onnx
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import numpy_helper


def _attrs(node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _conv(x, w, b, strides, pads, group):
    if group != 1:
        raise NotImplementedError("grouped Conv")
    n, c, h, wd = x.shape
    co, ci, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))
    win = win[:, :, ::strides[0], ::strides[1]]  # [n, c, oh, ow, kh, kw]
    y = np.einsum("nchwij,ocij->nohw", win, w, optimize=True)
    return y + b[None, :, None, None] if b is not None else y


def _conv_transpose(x, w, b, strides, pads, output_padding, group):
    """y[n, o, i*s + a - p] += x[n, c, i] w[c, o, a] (ONNX ConvTranspose, no dilation)."""
    if group != 1:
        raise NotImplementedError("grouped ConvTranspose")
    n, c, h, wd = x.shape
    ci, co, kh, kw = w.shape
    sh, sw = strides
    full = np.zeros((n, co, (h - 1) * sh + kh + output_padding[0], (wd - 1) * sw + kw + output_padding[1]))
    for i in range(kh):
        for j in range(kw):
            full[:, :, i:i + (h - 1) * sh + 1:sh, j:j + (wd - 1) * sw + 1:sw] += \
                np.einsum("nchw,co->nohw", x, w[:, :, i, j], optimize=True)
    y = full[:, :, pads[0]:full.shape[2] - pads[2], pads[1]:full.shape[3] - pads[3]]
    return y + b[None, :, None, None] if b is not None else y


def _resize_nearest(x, scales, sizes, a):
    if a.get("mode", b"nearest") != b"nearest" or a.get("coordinate_transformation_mode") != b"asymmetric":
        raise NotImplementedError(f"Resize {a}")
    if sizes is not None and len(sizes):
        out = [int(s) for s in sizes]
    else:
        out = [int(np.floor(d * s)) for d, s in zip(x.shape, scales)]
    for ax, (din, dout) in enumerate(zip(x.shape, out)):
        if din != dout:
            idx = np.floor(np.arange(dout) * din / dout).astype(int)  # nearest_mode=floor
            x = np.take(x, idx, axis=ax)
    return x


def run_onnx(path: str, feeds: dict) -> dict:
    model = onnx.load(path)
    g = model.graph
    env = {t.name: numpy_helper.to_array(t).astype(np.float64)
           if numpy_helper.to_array(t).dtype.kind == "f" else numpy_helper.to_array(t)
           for t in g.initializer}
    for k, v in feeds.items():
        env[k] = np.asarray(v, dtype=np.float64)
    for node in g.node:
        a = _attrs(node)
        ins = [env[i] if i else None for i in node.input]
        op = node.op_type
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            out = [v.astype(np.float64) if v.dtype.kind == "f" else v]
        elif op in ("Add", "Sub", "Mul", "Div", "Pow"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
                 "Div": np.divide, "Pow": np.power}[op]
            x, y = ins
            r = f(x, y)
            if op == "Div" and x.dtype.kind == "i" and y.dtype.kind == "i":
                r = x // y
            out = [r]
        elif op in ("Sin", "Cos", "Exp", "Sqrt", "Sigmoid", "Neg", "Identity", "Floor", "Reciprocal"):
            f = {"Sin": np.sin, "Cos": np.cos, "Exp": np.exp, "Sqrt": np.sqrt, "Neg": np.negative,
                 "Sigmoid": lambda v: 1 / (1 + np.exp(-v)), "Identity": lambda v: v,
                 "Floor": np.floor, "Reciprocal": lambda v: 1 / v}[op]
            out = [f(ins[0])]
        elif op == "Clip":
            lo = ins[1] if len(ins) > 1 and ins[1] is not None else -np.inf
            hi = ins[2] if len(ins) > 2 and ins[2] is not None else np.inf
            out = [np.clip(ins[0], lo, hi)]
        elif op in ("ReduceMean", "ReduceSum"):
            # opset 13+: ReduceSum takes axes as an input, ReduceMean (until 18) as an attribute
            axes = ins[1] if op == "ReduceSum" and len(ins) > 1 else a.get("axes")
            axes = tuple(int(v) for v in axes) if axes is not None else None
            f = np.mean if op == "ReduceMean" else np.sum
            out = [f(ins[0], axis=axes, keepdims=bool(a.get("keepdims", 1)))]
        elif op == "Cast":
            to = a["to"]
            out = [ins[0].astype(np.float64 if to in (1, 11) else np.int64)]
        elif op == "Shape":
            out = [np.array(ins[0].shape, dtype=np.int64)]
        elif op == "Gather":
            out = [np.take(ins[0], ins[1].astype(int), axis=a.get("axis", 0))]
        elif op == "Unsqueeze":
            axes = ins[1] if len(ins) > 1 else a["axes"]
            x = ins[0]
            for ax in sorted(int(v) % (x.ndim + len(axes)) for v in axes):
                x = np.expand_dims(x, ax)
            out = [x]
        elif op == "Squeeze":
            axes = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("axes")
            out = [np.squeeze(ins[0], axis=tuple(int(v) for v in axes) if axes is not None else None)]
        elif op == "Concat":
            out = [np.concatenate(ins, axis=a["axis"])]
        elif op == "Reshape":
            x, shp = ins[0], [int(v) for v in ins[1]]
            shp = [x.shape[i] if (s == 0 and not a.get("allowzero", 0)) else s for i, s in enumerate(shp)]
            out = [x.reshape(shp)]
        elif op == "Transpose":
            out = [np.transpose(ins[0], a.get("perm"))]
        elif op == "Split":
            axis = a.get("axis", 0)
            split = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("split")
            if split is None:
                out = np.split(ins[0], len(node.output), axis=axis)
            else:
                out = np.split(ins[0], np.cumsum([int(s) for s in split])[:-1], axis=axis)
        elif op == "Slice":
            x, starts, ends = ins[0], ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
            sl = [slice(None)] * x.ndim
            for s, e, ax, st in zip(starts, ends, axes, steps):
                sl[int(ax)] = slice(int(s), int(min(e, 2 ** 62)), int(st))
            out = [x[tuple(sl)]]
        elif op == "MatMul":
            out = [np.matmul(ins[0], ins[1])]
        elif op == "Gemm":
            x, w = ins[0], ins[1]
            if a.get("transA", 0):
                x = x.T
            if a.get("transB", 0):
                w = w.T
            y = a.get("alpha", 1.0) * x @ w
            if len(ins) > 2 and ins[2] is not None:
                y = y + a.get("beta", 1.0) * ins[2]
            out = [y]
        elif op == "Softmax":
            x = ins[0]
            e = np.exp(x - x.max(axis=a.get("axis", -1), keepdims=True))
            out = [e / e.sum(axis=a.get("axis", -1), keepdims=True)]
        elif op == "Conv":
            k = len(ins[1].shape) - 2
            out = [_conv(ins[0], ins[1], ins[2] if len(ins) > 2 else None,
                         a.get("strides", [1] * k), a.get("pads", [0] * 2 * k), a.get("group", 1))]
            if a.get("dilations", [1] * k) != [1] * k:
                raise NotImplementedError("dilated Conv")
        elif op == "ConvTranspose":
            if a.get("dilations", [1, 1]) != [1, 1] or "output_shape" in a:
                raise NotImplementedError(f"ConvTranspose {a}")
            out = [_conv_transpose(ins[0], ins[1], ins[2] if len(ins) > 2 else None, a.get("strides", [1, 1]),
                                   a.get("pads", [0, 0, 0, 0]), a.get("output_padding", [0, 0]), a.get("group", 1))]
        elif op == "InstanceNormalization":
            x, sc, bi = ins
            axes = tuple(range(2, x.ndim))
            mu = x.mean(axis=axes, keepdims=True)
            var = x.var(axis=axes, keepdims=True)
            shp = (1, -1) + (1,) * (x.ndim - 2)
            out = [(x - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * sc.reshape(shp) + bi.reshape(shp)]
        elif op == "Resize":
            scales = ins[2] if len(ins) > 2 else None
            sizes = ins[3] if len(ins) > 3 else None
            out = [_resize_nearest(ins[0], scales, sizes, a)]
        else:
            raise NotImplementedError(f"ONNX op {op}")
        for name, val in zip(node.output, out):
            env[name] = val
    return {o.name: env[o.name].astype(np.float32) for o in g.output}


if __name__ == "__main__":
    m = run_onnx(sys.argv[1], {"sample": np.random.default_rng(0).standard_normal((3, 1, 32, 32)),
                               "timestep": np.array([0.0, 1.5, 999.0])})
    for k, v in m.items():
        print(k, v.shape, float(np.abs(v).mean()))
