"""Train and export weights/brain-cond-mri: a native-resolution brain model conditioned on the zero-filled
image of its undersampled k-space (issue 20, conditional MRI with data consistency).

The network is brain_native.py's fully convolutional UNet with a second input channel: x_t concatenated with
the zero-filled image A^T y of a random Cartesian undersampling of the clean crop. Data, split and augmentation
are brain_native.py's (imported): random 80x80 crops of the ch2 template's native 1 mm axial slices, the
held-out slab excluded.

The condition is computed exactly as tweedie's MRI operator (src/inverse/operators/mri.ts) computes A^T y for a
real image [1, H, W]: y = M fft2c(x), A^T y = Re(ifft2c(M y)), fft2c(x) = fftshift(fft2(ifftshift(x))) / sqrt(H W)
(src/core/fft.ts), the mask M a set of k-space COLUMNS (the last image axis) repeated over the rows, in the
centered layout (DC at index W // 2). The brain images are real, so the operator's images are real and its
adjoint is the real part: the network sees that one channel. It loses nothing: for a real x, A^T y =
F^H D F x with D = (M + M mirrored) / 2 > 0 on every measured line or its mirror, so y is recovered from it.

Masks (src/inverse/operators/mri-masks.ts, fastMRI's subsample.py): equispaced (adjusted spacing, random
offset) or random (Bernoulli columns), each with p = 0.5, a fully sampled centre of round(W cf) columns
(cf = 0.08 below 8x, 0.04 from 8x); accelerations 4x (p = 0.4), 8x (p = 0.4), else log-uniform in [2, 12].
Condition dropout: with p = 0.1 the condition is replaced by the fill 0 (the zero-filled image of no data),
so the same network also runs unconditionally (tweedie.json "unconditional": 0; classifier-free guidance).

Objective: rectified-flow velocity by default (the best of the native priors), --objective eps | v | flow.
Export: model.onnx with inputs sample, timestep and cond [N, 1, H, W] (H, W dynamic, multiples of 8), and
tweedie.json declaring
    "conditioning": {"zf": {"kind": "image", "shape": [1, 80, 80], "value_range": [-1, 1], "input": "cond",
                            "unconditional": 0, "from": "zero-filled"}}
so that the cond-dc solver builds the condition from a measurement (`tweedie solve|reconstruct --solver cond-dc`).

    /usr/bin/python3 training/brain_cond_mri.py --deadline HH:MM --train-only \\
        --ckpt /work/ckpt/brain-cond-mri/flow.pt --log /work/ckpt/brain-cond-mri/flow.csv
    /usr/bin/python3 training/brain_cond_mri.py --export-only --ckpt ... --log ...

Run from the repository root; one thread. Checked on a tiny configuration by training/test_brain_cond_mri.py.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brain_native import CROP, SHAPE, crops_note, make_model, native_slices, train_and_export, write_data  # noqa: E402
from tweedie_train.cards import model_section, reproduce_note, training_section  # noqa: E402
from tweedie_train.loop import add_run_arguments  # noqa: E402
from tweedie_train.objectives import OBJECTIVES  # noqa: E402

torch.set_num_threads(1)

P_UNCONDITIONAL = 0.1
FILL = 0.0
ACCELERATIONS = {4.0: 0.4, 8.0: 0.4}     # the rest: log-uniform in OTHER_RANGE
OTHER_RANGE = (2.0, 12.0)
CONDITIONING = {"zf": {"kind": "image", "shape": list(SHAPE), "value_range": [-1, 1], "input": "cond",
                       "unconditional": FILL, "from": "zero-filled"}}


# --------------------------------------------------------------------------- masks (mri-masks.ts)


def default_center_fraction(accel: float) -> float:
    return 0.08 if accel < 8 else 0.04


def line_mask(width: int, accel: float, kind: str, gen: torch.Generator, offset: int | None = None) -> np.ndarray:
    """fastMRI's equispaced or random column mask [W] (uint8), the centre block fully sampled; an equispaced
    mask's first line `offset` is drawn in [0, round(adjusted spacing)) unless given."""
    num_low = round(width * default_center_fraction(accel))   # Python rounds half to even, as roundHalfEven
    if width / accel < max(1, num_low):
        raise ValueError(f"accel {accel} leaves fewer lines than the centre block on {width} columns")
    cols = np.zeros(width, np.uint8)
    pad = (width - num_low + 1) // 2
    cols[pad:pad + num_low] = 1
    if kind == "equispaced":
        denom = num_low * accel - width
        if denom == 0:
            return cols
        adjusted = accel * (num_low - width) / denom
        if offset is None:
            offset = int(torch.randint(0, round(adjusted), (1,), generator=gen))
        for k in range(max(0, math.ceil((width - 1 - offset) / adjusted))):
            cols[round(offset + k * adjusted)] = 1
    elif kind == "random":
        if width > num_low:
            prob = (width / accel - num_low) / (width - num_low)
            cols[(torch.rand(width, generator=gen) < prob).numpy()] = 1
    else:
        raise ValueError(f"mask kind {kind!r}: equispaced or random")
    return cols


def draw_acceleration(gen: torch.Generator) -> float:
    u = float(torch.rand((), generator=gen))
    for accel, p in ACCELERATIONS.items():
        if u < p:
            return accel
        u -= p
    lo, hi = OTHER_RANGE
    return math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * float(torch.rand((), generator=gen)))


def draw_masks(b: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """[b, W] column masks: kind and acceleration drawn per image."""
    masks = []
    for _ in range(b):
        kind = "equispaced" if float(torch.rand((), generator=gen)) < 0.5 else "random"
        masks.append(line_mask(width, draw_acceleration(gen), kind, gen))
    return torch.from_numpy(np.stack(masks)).float()


# --------------------------------------------------------------------------- the operator (mri.ts)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=dims), norm="ortho"), dim=dims)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    dims = (-2, -1)
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=dims), norm="ortho"), dim=dims)


def zero_filled(x: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """A^T A x of tweedie's real-image MRI operator, for images [B, C, H, W] and column masks [B, W]."""
    m = masks[:, None, None, :]
    return ifft2c(m * fft2c(x.to(torch.float64))).real.to(x.dtype)


# --------------------------------------------------------------------------- model and loss


class ZeroFilledUNet(nn.Module):
    """brain_native's UNet on [x_t, zero-filled] -> one channel; ONNX inputs sample, timestep, cond."""

    def __init__(self, net: nn.Module | None = None):
        super().__init__()
        self.net = net if net is not None else make_model(in_channels=2)
        self.config = dict(self.net.config)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sample, cond], dim=1), timestep)


def conditions(x0: torch.Tensor, gen: torch.Generator, p: float = P_UNCONDITIONAL) -> torch.Tensor:
    """The zero-filled image of a random undersampling of each clean image, or with probability p the fill."""
    zf = zero_filled(x0, draw_masks(x0.shape[0], x0.shape[-1], gen))
    drop = torch.rand(x0.shape[0], generator=gen) < p
    return torch.where(drop[:, None, None, None], torch.full_like(zf, FILL), zf)


def conditional_loss(objective, p: float = P_UNCONDITIONAL):
    """The objective's loss on clean crops, the network seeing each crop's zero-filled condition."""
    def loss(model, x0, gen):
        cond = conditions(x0, gen, p)
        return objective.loss(lambda xt, t: model(xt, t, cond), x0, gen)
    return loss


def init_from_native(model: ZeroFilledUNet, ckpt_path: str, objective: str) -> str:
    """Load an unconditional native prior's EMA weights; the condition's input channel starts at zero, so the
    initial network is that prior. Returns the sentence the run record keeps."""
    ck = torch.load(ckpt_path)
    if ck.get("run", {}).get("objective") != objective:
        raise SystemExit(f"--init-from {ckpt_path}: its objective is {ck.get('run', {}).get('objective')}, not {objective}")
    weights = dict(ck["ema"])
    w = weights["conv_in.weight"]
    weights["conv_in.weight"] = torch.cat([w, torch.zeros_like(w)], dim=1)
    model.net.load_state_dict(weights)
    return f"initialised from the EMA weights of {os.path.basename(ckpt_path)} ({objective}, step {ck['step']}; condition channel at zero)"


# --------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objective", choices=OBJECTIVES, default="flow")
    p.add_argument("--steps", type=int, default=20000, help="stop after this many steps (or at --deadline)")
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--init-from", help="a brain_native.py checkpoint of the same objective: start from its EMA weights "
                                       "(the condition's input channel at zero) instead of random ones; ignored on --resume")
    add_run_arguments(p, None, None, None)
    args = p.parse_args()
    name = "brain-cond-mri"
    ckpt = args.ckpt or f"training/checkpoints/{name}-{args.objective}.pt"
    log = args.log or f"training/logs/{name}-{args.objective}_loss.csv"
    out = args.out or f"weights/{name}"

    slices, split = native_slices()
    if not args.train_only:
        write_data(out, slices, split)
    note = (f"{crops_note(split)} as brain_native.py; each with the zero-filled image of a random Cartesian "
            "undersampling (recipe docstring), dropped to 0 with p = 0.1")
    model = ZeroFilledUNet()
    if args.init_from and not (args.resume or args.from_export):
        note += "; " + init_from_native(model, args.init_from, args.objective)
    done = train_and_export(args, model, conditional_loss, name, (ckpt, log, out), slices, split, note,
                            "training/brain_cond_mri.py", image_condition=CONDITIONING)
    if done is None:
        return
    objective, facts, model = done
    held = torch.from_numpy(slices[split["heldout_z"]])[:, :, :216, :176]
    loss = conditional_loss(objective)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        facts["heldout_loss"] = float(loss(model.eval(), held, gen))
    write_card(out, name, facts, split, objective)
    print({k: v for k, v in facts.items() if k != "samples"}, flush=True)


def write_card(out: str, name: str, f: dict, split: dict, objective) -> None:
    hz = split["heldout_z"]
    # init_from_native's sentence, kept at the end of the run record's data note
    init = f.get("run", {}).get("data", "").partition("; initialised from ")[2]
    start = (f"Fine-tuned, not trained from scratch: **initialised from {init}**, so the steps below come on top of "
             "that prior's.\n\n") if init else ""
    init_arg = " --init-from NATIVE_PRIOR_CHECKPOINT.pt" if init else ""
    heldout = (f"held-out loss of the exported EMA weights (same objective and condition draws, the {len(hz)} "
               f"held-out slices cropped to 216x176, one fixed draw of masks, t and noise): **{f['heldout_loss']:.4f}**")
    card = f"""# {name}

A {objective.name} model of axial T1-weighted brain slices at their native resolution (1 channel, values in
[-1, 1]) **conditioned on the zero-filled image** A^T y of an undersampled Cartesian k-space (input `cond`,
[N, 1, H, W]), fully convolutional (H and W multiples of 8). For `tweedie solve|reconstruct --solver cond-dc`,
which builds the condition from the measurement and enforces the measured lines in every step. Condition
dropout (p = 0.1, fill 0) makes it an unconditional prior as well.

## Files

| file | content |
|---|---|
| model.onnx | float32 ONNX (opset 14), inputs `sample` [N,1,H,W], `timestep` [N], `cond` [N,1,H,W] (the zero-filled image), output `out` [N,1,H,W]; {f['onnx_bytes'] / 1e6:.1f} MB |
| tweedie.json | tweedie's descriptor, with `"conditioning": {{"zf": {{"kind": "image", "from": "zero-filled", "unconditional": 0, ...}}}}` |
| samples.png | 16 samples of the unconditional branch (condition 0), PyTorch EMA weights, seed 0 |
| loss_curve.png, loss.csv | training loss (mean of each 10 steps), step, wall seconds |
| run.json | the run record (steps, training seconds, sessions, configuration): what `--from-export` continues from |
| heldout.npy, heldout.png, split.json | the held-out slab and the split, as brain-native-* |

## Data, masks and condition

brain_native.py's data, split and augmentation (see weights/brain-native-flow/MODEL_CARD.md): random {CROP}x{CROP}
crops of the ch2 template's native 1 mm slices, held out z = {hz[0]}..{hz[-1]}. Each crop's condition is
Re(ifft2c(M fft2c(x))), exactly tweedie's real-image MRI adjoint (training/brain_cond_mri.py docstring), M a
column mask of src/inverse/operators/mri-masks.ts (equispaced or random, p = 0.5 each; centre fraction 0.08
below 8x, 0.04 from 8x), at 4x (p = 0.4), 8x (p = 0.4) or log-uniform in [2, 12]; replaced by 0 with p = 0.1.

## Model

{model_section(f, f"{CROP}/{CROP // 2}/{CROP // 4}/{CROP // 8} (training crops)", "`make_model(in_channels=2)` in training/brain_native.py, wrapped by `ZeroFilledUNet` in training/brain_cond_mri.py (x_t and the condition as two input channels)")}
Forward process: {objective.path}.

{start}{training_section(f, objective.description, heldout)}

![loss](loss_curve.png)

## Caveats

- **One subject** (ch2), as the native priors; single-coil, real-valued images, Cartesian column masks only.
- Short CPU training: check the conditional MRI rows of `tweedie bench inverse` (bench/lib/cond-mri.ts) before
  relying on it.

## Reproduce

From the repository root (one thread; stops at the step count or the deadline, then exports):

    /usr/bin/python3 training/brain_cond_mri.py --objective {objective.name} --steps {f['train_config']['steps']} --deadline HH:MM{init_arg}
{reproduce_note(f['run'])}
`--resume` continues from the checkpoint (`--ckpt`); `--export-only` rewrites this folder.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as fh:
        fh.write(card)


if __name__ == "__main__":
    main()
