"""Write model.grad.onnx beside a shipped model.onnx: the network and its vector-Jacobian product.

ONNX Runtime runs forward only, and torch.onnx.export (1.13) cannot trace torch.autograd.grad,
so the reverse pass is written out here with ordinary ops and exported as one graph:

    inputs  sample [N,C,H,W], timestep [N], cotangent [N,C,H,W]   (float32, dynamic N)
    outputs out = the network output (as model.onnx), vjp = cotangent^T d out / d sample

Each layer's forward returns (output, back) with back(g) = g^T d output / d input, so the
reverse pass is the forward read backwards. For the UNet of tweedie_train/unet.py: a convolution's back is
the transposed convolution with the same weight; GroupNorm's is
dx = (1/sigma)(g - mean(g) - xhat mean(g xhat)) per group with g = dy gamma; SiLU's is
s(1 + x(1 - s)), s = sigmoid(x); nearest x2 upsampling's is the 2x2 sum; a concat's is a split;
the time embedding does not depend on the sample. The middle block's attention (always present)
is differentiated through the softmax: dS = P (dP - rowsum(dP P)).

For a weights folder this recipe rebuilds the PyTorch network from model.onnx itself (the
checkpoints are not committed) and asserts every step:
  1. the weights load: torch (float64) vs training/onnx_numpy.py's evaluation of model.onnx;
  2. the hand-written VJP vs torch.autograd.grad in float64 at several timesteps;
  3. the exported graph (onnx.checker) vs the torch module, evaluated by onnx_numpy.py.
Then it adds the "gradient" entry (tweedie_train.export.GRADIENT) to tweedie.json.

    /usr/bin/python3 training/gradients.py weights/fmnist-32 weights/brain-64 weights/gaussian-exact
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tweedie_train.export import GRADIENT, write_json  # noqa: E402
from tweedie_train.unet import ResBlock, SelfAttention, UNet, timestep_embedding  # noqa: E402
from onnx_numpy import run_onnx  # noqa: E402

torch.set_num_threads(1)

Back = Callable[[torch.Tensor], torch.Tensor]
LOAD_TOL, VJP_TOL, EXPORT_TOL = 1e-6, 1e-5, 1e-5


def rel_err(got, ref) -> float:
    """max |got - ref| / max |ref| (numpy or torch)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(got - ref).max() / np.abs(ref).max())


# ------------------------------------------------------------- load weights from model.onnx


def load_unet_from_onnx(model: UNet, path: str) -> UNet:
    """Copy model.onnx's initializers into model. Named initializers are state_dict keys; the
    GroupNorm affine parameters were exported as anonymous onnx::Mul_*/onnx::Add_* [C,1,1],
    which are matched to the GroupNorm modules in the order the forward pass calls them."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    inits = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    state = {k: inits[k] for k in model.state_dict() if k in inits}
    anon = []  # (gamma, beta, scope of the consuming Mul node) in graph order
    for node in graph.node:
        if node.op_type == "Mul" and node.input[1].startswith("onnx::Mul_"):
            add = next(n for n in graph.node if n.input and n.input[0] == node.output[0])
            anon.append((node.input[1], add.input[1], node.output[0].rsplit("/", 1)[0]))
    calls = []
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: calls.append(name))
             for name, m in model.named_modules() if isinstance(m, nn.GroupNorm)]
    with torch.no_grad():
        model(torch.zeros(1, model.config["in_channels"], model.config["image_size"],
                          model.config["image_size"]), torch.zeros(1))
    for h in hooks:
        h.remove()
    if len(calls) != len(anon):
        raise ValueError(f"{path}: {len(anon)} anonymous GroupNorm affines, {len(calls)} GroupNorm calls")
    for name, (gamma, beta, scope) in zip(calls, anon):
        assert scope.lstrip("/").replace("/", ".") == name, f"{gamma} is used in {scope}, not {name}"
        state[name + ".weight"] = inits[gamma].reshape(-1)
        state[name + ".bias"] = inits[beta].reshape(-1)
    model.load_state_dict(state)  # strict: every parameter must have been found
    return model.eval()


def assert_matches_onnx(net: nn.Module, path: str, shape, tol: float = LOAD_TOL) -> float:
    """Relative error of the float64 torch network against onnx_numpy's float64 model.onnx."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((3, *shape), generator=gen, dtype=torch.float64)
    t = torch.tensor([3.0, 420.5, 999.0], dtype=torch.float64)
    with torch.no_grad():
        ref = net.double()(x, t).numpy()
    net.float()
    got = run_onnx(path, {"sample": x.numpy(), "timestep": t.numpy()})["out"]
    err = rel_err(got, ref)
    print(f"{path}: torch float64 vs onnx_numpy rel err {err:.2e}", flush=True)
    assert err < tol, f"{path}: weights did not load (rel err {err:.2e})"
    return err


# ----------------------------------------------------------------- layers with their back


def identity(x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    return x, lambda g: g


def dims(x: torch.Tensor) -> tuple[int, ...]:
    """x.shape[1:] as Python ints: the traced graph keeps them as constants (only N is dynamic)."""
    return tuple(int(d) for d in x.shape[1:])


def conv(mod: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    if isinstance(mod, nn.Identity):
        return identity(x)
    y = mod(x)
    if mod.stride == (1, 1):  # the transposed conv is a conv with the flipped, transposed kernel
        flipped = mod.weight.transpose(0, 1).flip(2, 3)
        pad = tuple(k - 1 - p for k, p in zip(mod.kernel_size, mod.padding))
        return y, lambda g: F.conv2d(g, flipped, padding=pad)
    # output_padding recovers the input size that the strided conv rounded down
    extra = [int(x.shape[d]) - ((int(y.shape[d]) - 1) * s - 2 * p + k)
             for d, s, p, k in zip((2, 3), mod.stride, mod.padding, mod.kernel_size)]
    return y, lambda g: F.conv_transpose2d(g, mod.weight, stride=mod.stride, padding=mod.padding,
                                           output_padding=tuple(extra))


def group_norm(mod: nn.GroupNorm, x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    shape = (-1,) + dims(x)
    xr = x.reshape(-1, mod.num_groups, math.prod(shape[1:]) // mod.num_groups)
    centred = xr - xr.mean(-1, keepdim=True)
    rstd = torch.rsqrt((centred * centred).mean(-1, keepdim=True) + mod.eps)
    xhat = centred * rstd
    gamma = mod.weight[:, None, None]
    y = xhat.reshape(shape) * gamma + mod.bias[:, None, None]

    def back(dy):
        g = (dy * gamma).reshape(xr.shape)
        dx = rstd * (g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True))
        return dx.reshape(shape)
    return y, back


def silu(x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    s = torch.sigmoid(x)
    return x * s, lambda g: g * (s * (1.0 + x * (1.0 - s)))


def upsample2(x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    c, h, w = dims(x)
    return (F.interpolate(x, scale_factor=2.0, mode="nearest"),
            lambda g: g.reshape(-1, c, h, 2, w, 2).sum((3, 5)))


def chain(*backs: Back) -> Back:
    """back of f_k(...f_1(x)) given back_1..back_k in forward order."""
    def back(g):
        for b in reversed(backs):
            g = b(g)
        return g
    return back


def res_block(blk: ResBlock, x: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, Back]:
    h, b_n1 = group_norm(blk.norm1, x)
    h, b_s1 = silu(h)
    h, b_c1 = conv(blk.conv1, h)
    h = h + blk.temb(temb)[:, :, None, None]  # constant in the sample
    h, b_n2 = group_norm(blk.norm2, h)
    h, b_s2 = silu(h)
    h, b_c2 = conv(blk.conv2, h)  # dropout is the identity in eval mode
    skip, b_skip = conv(blk.skip, x)
    branch = chain(b_n1, b_s1, b_c1, b_n2, b_s2, b_c2)
    return skip + h, lambda g: b_skip(g) + branch(g)


def level_blocks(net: UNet, where: str, level: int, blk: ResBlock, x: torch.Tensor, temb: torch.Tensor) -> tuple[torch.Tensor, Back]:
    """A level's first residual block and, with res_blocks > 1, the ones after it (UNet.extra_blocks)."""
    h, back = res_block(blk, x, temb)
    backs = [back]
    for extra in net.extra_blocks(where, level):
        h, back = res_block(extra, h, temb)
        backs.append(back)
    return h, chain(*backs)


def attention(mod: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, Back]:
    if isinstance(mod, nn.Identity):
        return identity(x)
    c, hh, ww = dims(x)
    h, b_norm = group_norm(mod.norm, x)
    qkv, b_qkv = conv(mod.qkv, h)
    q, k, v = qkv.reshape(-1, 3, c, hh * ww).unbind(1)
    scale = 1.0 / math.sqrt(c)
    p = torch.softmax(torch.bmm(q.transpose(1, 2), k) * scale, dim=-1)  # [n, L, L]
    o = torch.bmm(v, p.transpose(1, 2)).reshape(-1, c, hh, ww)
    out, b_proj = conv(mod.proj, o)

    def back(g):
        do = b_proj(g).reshape(-1, c, hh * ww)
        dv = torch.bmm(do, p)
        dp = torch.bmm(do.transpose(1, 2), v)
        ds = p * (dp - (dp * p).sum(-1, keepdim=True)) * scale  # softmax back (rows)
        dq, dk = torch.bmm(k, ds.transpose(1, 2)), torch.bmm(q, ds)
        dqkv = torch.cat([dq, dk, dv], dim=1).reshape(-1, 3 * c, hh, ww)
        return g + b_norm(b_qkv(dqkv))
    return x + out, back


class UNetVJP(nn.Module):
    """forward(sample, timestep, cotangent) -> (out, cotangent^T d out / d sample) for UNet."""

    def __init__(self, net: UNet):
        super().__init__()
        self.net = net
        for m in list(net.down_attn) + list(net.up_attn) + [net.mid_attn]:
            if not isinstance(m, (SelfAttention, nn.Identity)):
                raise TypeError(f"no back for {type(m).__name__}")

    def forward(self, sample, timestep, cotangent):
        net = self.net
        temb = net.time_mlp(timestep_embedding(timestep, net.temb_dim))
        h, b_in = conv(net.conv_in, sample)
        skips, down_backs = [], []
        for i, (block, attn, down) in enumerate(zip(net.down, net.down_attn, net.downsample)):
            h, b_block = level_blocks(net, "down_extra", i, block, h, temb)
            h, b_attn = attention(attn, h)
            skips.append(h)
            h, b_down = conv(down, h)
            down_backs.append((chain(b_block, b_attn), b_down))
        h, b_mid = res_block(net.mid, h, temb)
        h, b_mid_attn = attention(net.mid_attn, h)
        up_backs = []
        for i, (block, attn) in enumerate(zip(net.up, net.up_attn)):
            h, b_up = upsample2(h) if i > 0 else identity(h)
            width = dims(h)[0]
            h, b_block = level_blocks(net, "up_extra", i, block, torch.cat([h, skips.pop()], dim=1), temb)
            h, b_attn = attention(attn, h)
            up_backs.append((b_up, width, chain(b_block, b_attn)))
        h, b_norm = group_norm(net.norm_out, h)
        h, b_silu = silu(h)
        out, b_out = conv(net.conv_out, h)

        g = chain(b_norm, b_silu, b_out)(cotangent)
        skip_grads = []
        for b_up, width, b_level in reversed(up_backs):
            g = b_level(g)
            g, g_skip = g.split([width, dims(g)[0] - width], dim=1)
            skip_grads.append(g_skip)
            g = b_up(g)
        g = chain(b_mid, b_mid_attn)(g)
        for b_level, b_down in reversed(down_backs):
            g = b_level(b_down(g) + skip_grads.pop())
        return out, b_in(g)


class GaussianVJP(nn.Module):
    """The exact Gaussian denoiser is elementwise affine in the sample:
    d eps / d x_t = (1 - a^2 v / (a^2 v + s^2)) / s = s / (a^2 v + s^2)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, sample, timestep, cotangent):
        a, s = self.net.coefficients(timestep)
        return self.net(sample, timestep), cotangent * s / (a * a * self.net.var + s * s)


def vjp_module(net: nn.Module) -> nn.Module:
    return UNetVJP(net) if isinstance(net, UNet) else GaussianVJP(net)


# ------------------------------------------------------------------------------- checks


def assert_vjp_matches_autograd(vjp: nn.Module, shape, tol: float = VJP_TOL) -> float:
    """Hand-written VJP vs torch.autograd.grad, float64, random sample/cotangent, 4 timesteps."""
    vjp.double()
    gen = torch.Generator().manual_seed(2)
    x = torch.randn((4, *shape), generator=gen, dtype=torch.float64)
    u = torch.randn((4, *shape), generator=gen, dtype=torch.float64)
    t = torch.tensor([0.0, 100.0, 517.25, 999.0], dtype=torch.float64)
    xg = x.clone().requires_grad_(True)
    ref_out = vjp.net(xg, t)
    (ref,) = torch.autograd.grad(ref_out, xg, grad_outputs=u)
    with torch.no_grad():
        out, got = vjp(x, t, u)
    vjp.float()
    err = max(rel_err(got, ref), rel_err(out, ref_out.detach()))
    print(f"hand VJP vs autograd (float64) rel err {err:.2e}", flush=True)
    assert err < tol, f"hand-written VJP disagrees with autograd (rel err {err:.2e})"
    return err


def export_gradient(vjp: nn.Module, path: str, shape, opset: int = 14) -> float:
    """Export the VJP module, run onnx.checker, compare the graph (onnx_numpy, float64) with
    the module in float64. No constant folding: the transposed-conv kernels stay as Transpose
    and Slice nodes on the shared weights (ONNX Runtime folds them when it loads the graph)."""
    import onnx
    vjp.float().eval()
    gen = torch.Generator().manual_seed(3)
    x, u = torch.randn((2, *shape), generator=gen), torch.randn((2, *shape), generator=gen)
    names = ("sample", "timestep", "cotangent", "out", "vjp")
    with warnings.catch_warnings():  # dims() makes C, H, W constants on purpose
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(vjp, (x, torch.tensor([10.0, 500.5]), u), path, opset_version=opset,
                          input_names=list(names[:3]), output_names=list(names[3:]),
                          dynamic_axes={k: {0: "N"} for k in names}, do_constant_folding=False)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    x, u = (torch.randn((3, *shape), generator=gen, dtype=torch.float64) for _ in range(2))
    t = torch.tensor([0.0, 250.75, 999.0], dtype=torch.float64)
    with torch.no_grad():
        out, g = vjp.double()(x, t, u)
    vjp.float()
    got = run_onnx(path, {"sample": x.numpy(), "timestep": t.numpy(), "cotangent": u.numpy()})
    err = max(rel_err(got["out"], out), rel_err(got["vjp"], g))
    print(f"{path}: onnx_numpy vs torch (float64) rel err {err:.2e} "
          f"({os.path.getsize(path) / 1e6:.1f} MB)", flush=True)
    assert err < EXPORT_TOL, f"{path}: exported graph disagrees with the torch module ({err:.2e})"
    return err


def write_gradient(folder: str, net: nn.Module, shape) -> dict:
    """Check the VJP of net against autograd, export and check model.grad.onnx in folder."""
    vjp = vjp_module(net)
    return {"vjp_vs_autograd": assert_vjp_matches_autograd(vjp, shape),
            "export_vs_torch": export_gradient(vjp, os.path.join(folder, GRADIENT["file"]), shape)}


def card_row(errs: dict) -> str:
    """The MODEL_CARD.md files-table row for model.grad.onnx."""
    return ("| model.grad.onnx | the network and its vector-Jacobian product for gradient-based "
            "guidance: inputs `sample`, `timestep` (as model.onnx) and `cotangent` (shaped like "
            "`sample`); outputs `out` (as model.onnx) and `vjp` = cotangent^T d out / d sample. "
            "A hand-written reverse pass (training/gradients.py, rebuilt from model.onnx), checked "
            f"against torch.autograd in float64 (max rel err {errs['vjp_vs_autograd']:.0e}) and, "
            "exported, against the torch module with training/onnx_numpy.py (max rel err "
            f"{errs['export_vs_torch']:.0e}) |")


# ---------------------------------------------------------------------------------- main


def rebuild(folder: str) -> tuple[nn.Module, tuple]:
    """(network with the weights of folder/model.onnx, sample shape), the load asserted."""
    name = os.path.basename(os.path.normpath(folder))
    path = os.path.join(folder, "model.onnx")
    if name == "gaussian-exact":
        import gaussian_exact
        net, shape = gaussian_exact.make_model(), (gaussian_exact.C, gaussian_exact.H, gaussian_exact.W)
    else:
        recipes = {"fmnist-32": "fmnist32", "brain-64": "brain64"}
        if name not in recipes:
            raise SystemExit(f"{folder}: no gradient recipe for '{name}'; use one of "
                             f"{', '.join(list(recipes) + ['gaussian-exact'])}")
        recipe = __import__(recipes[name])
        net, shape = load_unet_from_onnx(recipe.make_model(), path), recipe.SHAPE
    assert_matches_onnx(net, path, shape)
    return net, shape


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="weights folders holding model.onnx")
    for folder in p.parse_args().folders:
        net, shape = rebuild(folder)
        errs = write_gradient(folder, net, shape)
        meta_path = os.path.join(folder, "tweedie.json")
        with open(meta_path) as f:
            meta = json.load(f)
        write_json(meta_path, {**meta, "gradient": dict(GRADIENT)})
        print(folder, errs, card_row(errs), sep="\n", flush=True)


if __name__ == "__main__":
    main()
