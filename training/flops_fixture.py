"""Count the FLOPs of one forward pass of the shipped UNets in PyTorch, for test/onnx-flops.test.ts, and
write the two one-op ONNX models `tweedie bench speed` measures the machine's float32 ceiling with.

The count is the usual one: 2 FLOPs per multiply-add of every convolution, linear layer and matrix
product (the attention's two batched products included); bias additions, normalisations, activations and
the sinusoidal embedding are not counted. It is taken by forward hooks on nn.Conv2d / nn.Linear and by
wrapping torch.bmm while the recipe's own module (weights do not matter) runs one item, so it is
independent of ONNX Runtime's graph, which tweedie counts from its profiler (src/models/onnx-flops.ts).

    /usr/bin/python3 training/flops_fixture.py     # writes test/fixtures/flops/flops.json and bench/assets/{matmul,conv}.onnx
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import brain64  # noqa: E402
import fmnist32  # noqa: E402

OUT = "test/fixtures/flops/flops.json"
MATMUL = "bench/assets/matmul.onnx"
CONV = "bench/assets/conv.onnx"


def count_flops(model: nn.Module, shape: tuple[int, int, int]) -> int:
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += 2 * out.numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out):
        nonlocal total
        total += 2 * out.numel() * m.in_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    bmm = torch.bmm

    def counting_bmm(a, b):
        nonlocal total
        total += 2 * a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2]
        return bmm(a, b)

    torch.bmm = counting_bmm
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, *shape), torch.full((1,), 500.0))
    finally:
        torch.bmm = bmm
        for h in hooks:
            h.remove()
    return total


def main() -> None:
    rows = {
        "fmnist-32": {"shape": [1, 32, 32], "flops": count_flops(fmnist32.make_model(), (1, 32, 32))},
        "brain-64": {"shape": [1, 64, 64], "flops": count_flops(brain64.make_model(), (1, 64, 64))},
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT + ".tmp", "w") as f:
        json.dump(rows, f, indent=1)
    os.replace(OUT + ".tmp", OUT)
    print(json.dumps(rows))
    # Y = A B with A [M, K] and B [K, N] both inputs of any size: a bare float32 matrix product.
    save_graph(MATMUL, [helper.make_node("MatMul", ["A", "B"], ["Y"])], [],
               [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", "K"]),
                helper.make_tensor_value_info("B", TensorProto.FLOAT, ["K", "N"])], ["M", "N"])
    # A 3x3 convolution 128 -> 128 channels with constant weights, as the UNets' convolutions are. The weights
    # are an 8x8x3x3 block tiled 16x16 (2 KB on disk); ONNX Runtime folds the Tile into a constant at load.
    block = numpy_helper.from_array(((np.arange(8 * 8 * 9, dtype=np.float32) % 13) - 6).reshape(8, 8, 3, 3) / 100, "block")
    reps = numpy_helper.from_array(np.array([16, 16, 1, 1], dtype=np.int64), "reps")
    save_graph(CONV, [helper.make_node("Tile", ["block", "reps"], ["W"]),
                      helper.make_node("Conv", ["X", "W"], ["Y"], pads=[1, 1, 1, 1])], [block, reps],
               [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 128, "H", "W"])], ["N", 128, "H", "W"])


def save_graph(path: str, nodes: list, initializers: list, inputs: list, out_shape: list) -> None:
    graph = helper.make_graph(nodes, os.path.basename(path), inputs,
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, out_shape)], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="training/flops_fixture.py")
    model.ir_version = 7
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(model, path + ".tmp")
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    main()
