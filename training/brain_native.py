"""Train and export the native-resolution brain priors weights/brain-native-{eps,v,flow}.

One fully convolutional UNet (no attention: every output pixel sees a bounded neighbourhood,
so a crop and a whole slice look alike to it), trained on random 80x80 crops of the ch2 T1
template's axial slices at their native 1 mm grid, and exported with dynamic H and W
(tweedie.json "multiple": 8): the same model reconstructs or restores a whole slice of any
size. The three objectives (--objective eps | v | flow) share architecture, data,
augmentation and step budget, so that `tweedie bench priors` compares the objectives alone.

Split: the held-out slab of weights/brain-64 (16 axial slices around the largest head
cross-section, with a 2-slice margin each side, training/brain64.py), at native resolution.
Normalisation: x = clip(2 v / p - 1, -1, 1), p = the volume's 99.5th percentile (what
`tweedie reconstruct` applies to a user's volume).

Augmentation, for what varies between scanners and subjects (every draw independent):
- pixel size 0.8..1.5 mm (log-uniform), rotation -15..15 degrees, left-right flip (p = 0.5),
  translation: the crop centre uniform over the central 70% of the slice's field of view
  (so crops of background and of the head's edge occur as in a whole slice); sampled by bilinear
  interpolation at twice the crop's resolution, then 2x2 averaged (partial-volume blur);
- intensity of u = (x + 1) / 2 in [0, 1]: gain 0.85..1.15, gamma exp(-0.3..0.3), a
  bias-field-like smooth gain exp(quadratic polynomial over the field of view, coefficients
  within +-0.15), and with p = 0.5 a background level b in 0..0.04 (u -> b + (1 - b) u).

    /usr/bin/python3 training/brain_native.py --objective flow --deadline 08:30 --train-only \\
        --ckpt /work/ckpt/brain-native-flow.pt --log /work/ckpt/brain-native-flow.csv
    /usr/bin/python3 training/brain_native.py --objective flow --export-only --ckpt ... --log ...
    /usr/bin/python3 training/brain_native.py --data-only --objective v   # heldout + split only

Run from the repository root; one thread per run.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from brain64 import BRAIN_Z, HEAD_THRESHOLD, MARGIN, PERCENTILE, SLAB  # noqa: E402
from tweedie_train.data import read_nifti  # noqa: E402
from tweedie_train.export import export_folder, write_json  # noqa: E402
from tweedie_train.images import save_grid_png  # noqa: E402
from tweedie_train.loop import TrainConfig, add_run_arguments, load_checkpoint_ema, parse_deadline, train  # noqa: E402
from tweedie_train.objectives import OBJECTIVES, heldout_loss, make_objective  # noqa: E402
from tweedie_train.cards import TITLE_WORDS, files_rows, model_section, objective_name, reproduce_note, training_section  # noqa: E402
from tweedie_train.preview import preview_name  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)

VOLUME = "/usr/share/mricron/templates/ch2.nii.gz"
CROP = 80                  # training crop side (pixels)
SHAPE = (1, CROP, CROP)    # the export's example shape; H and W are dynamic
MM_RANGE = (0.8, 1.5)      # pixel sizes drawn for the crops
MAX_ROTATION_DEG = 15.0


def make_model(in_channels: int = 1) -> UNet:
    """The native priors' UNet; in_channels > 1 takes conditioning images as extra channels (brain_cond_mri.py)."""
    return UNet(image_size=CROP, channels=(32, 64, 64, 128), attn_resolutions=(), temb_dim=64,
                mid_attention=False, in_channels=in_channels, out_channels=1)


def native_slices() -> tuple[np.ndarray, dict]:
    """-> (every axial slice [Z, 1, 217, 181] normalised, the split). Slice z is vol[:, :, z]
    with rows = y reversed (anterior at the top) and columns = x, as in brain-64."""
    vol, hdr = read_nifti(VOLUME)
    p = float(np.percentile(vol, PERCENTILE))
    area = (vol > HEAD_THRESHOLD * p).sum(axis=(0, 1))
    z_lo, z_hi = BRAIN_Z
    centre = int(z_lo + np.argmax(area[z_lo:z_hi + 1]))
    held = list(range(centre - SLAB // 2, centre + SLAB // 2))
    excluded = list(range(held[0] - MARGIN, held[-1] + MARGIN + 1))
    train_z = [z for z in range(z_lo, z_hi + 1) if z not in excluded]
    slices = np.stack([vol[:, :, z].T[::-1, :] for z in range(vol.shape[2])])[:, None]
    slices = np.clip(2.0 * slices / p - 1.0, -1.0, 1.0).astype(np.float32)
    split = {
        "volume": VOLUME, "volume_shape": list(vol.shape), "voxel_mm": hdr["pixdim"],
        "slice": "axial slice z = vol[:, :, z] (vol indexed [x, y, z] as stored in the NIfTI); "
                 "image rows = y from high to low (anterior at the top), columns = x from low to high; "
                 "native 1 mm grid, no crop, no resampling",
        "normalisation": {"percentile": PERCENTILE, "p": p,
                          "formula": "x = clip(2 v / p - 1, -1, 1); inverse v = (x + 1) * p / 2"},
        "brain_z_range": [z_lo, z_hi], "slab_centre_z": centre,
        "slab_centre_rule": "slice with the largest head cross-section (voxel > 0.1*p99.5) within brain_z_range "
                            "(the slab of weights/brain-64)",
        "heldout_z": held, "excluded_margin_z": [z for z in excluded if z not in held], "train_z": train_z,
        "heldout_file": f"heldout.npy: float32 [{len(held)}, 1, {slices.shape[2]}, {slices.shape[3]}], "
                        "row k = slice heldout_z[k], same normalisation",
        "crop": CROP, "pixel_mm_range": list(MM_RANGE), "max_rotation_deg": MAX_ROTATION_DEG,
    }
    return slices, split


def write_data(out: str, slices: np.ndarray, split: dict) -> None:
    os.makedirs(out, exist_ok=True)
    held = slices[split["heldout_z"]]
    np.save(os.path.join(out, "heldout.npy"), held)
    write_json(os.path.join(out, "split.json"), split)
    save_grid_png(held, os.path.join(out, "heldout.png"), nrow=8, scale=1)


def uniform(gen: torch.Generator, b: int, lo: float, hi: float) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=gen)


def make_sampler(train_slices: torch.Tensor):
    """Augmented crops [b, 1, CROP, CROP] of the training slices (module docstring)."""
    n, _, height, width = train_slices.shape
    u_slices = (train_slices + 1.0) / 2.0            # zero padding of grid_sample = background
    fine = torch.linspace(-1 + 0.5 / CROP, 1 - 0.5 / CROP, 2 * CROP)   # 2x supersampled crop grid
    gy, gx = torch.meshgrid(fine, fine, indexing="ij")
    coarse = torch.linspace(-1, 1, CROP)
    cy, cx = torch.meshgrid(coarse, coarse, indexing="ij")

    def sample_batch(gen: torch.Generator, b: int) -> torch.Tensor:
        idx = torch.randint(0, n, (b,), generator=gen)
        mm = torch.exp(uniform(gen, b, math.log(MM_RANGE[0]), math.log(MM_RANGE[1])))
        angle = uniform(gen, b, -MAX_ROTATION_DEG, MAX_ROTATION_DEG) * math.pi / 180
        flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
        centre_x = uniform(gen, b, 0.15 * width, 0.85 * width)                        # in mm = source pixels
        centre_y = uniform(gen, b, 0.15 * height, 0.85 * height)
        half = CROP * mm / 2                                                          # crop half-side in mm
        # crop coordinates (gx, gy) in [-1, 1] -> source mm -> grid_sample's [-1, 1] (align_corners=False)
        cos, sin = torch.cos(angle), torch.sin(angle)
        px = half[:, None, None] * flip[:, None, None] * gx
        py = half[:, None, None] * gy
        sx = cos[:, None, None] * px - sin[:, None, None] * py + centre_x[:, None, None]
        sy = sin[:, None, None] * px + cos[:, None, None] * py + centre_y[:, None, None]
        grid = torch.stack([2 * sx / width - 1, 2 * sy / height - 1], dim=-1)
        u = F.grid_sample(u_slices[idx], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        u = F.avg_pool2d(u, 2)
        # smooth gain over the field of view: exp(quadratic in the crop's position within +-100 mm)
        fx = (half[:, None, None] * cx + centre_x[:, None, None] - width / 2) / 100
        fy = (half[:, None, None] * cy + centre_y[:, None, None] - height / 2) / 100
        c = (torch.rand(b, 5, generator=gen) * 2 - 1) * 0.15
        log_gain = (c[:, 0, None, None] * fx + c[:, 1, None, None] * fy + c[:, 2, None, None] * fx * fy
                    + c[:, 3, None, None] * fx ** 2 + c[:, 4, None, None] * fy ** 2)
        gain = uniform(gen, b, 0.85, 1.15)[:, None, None] * torch.exp(log_gain)
        gamma = torch.exp(uniform(gen, b, -0.3, 0.3))[:, None, None, None]
        u = u.clamp(0, 1) ** gamma * gain[:, None]
        level = torch.where(torch.rand(b, generator=gen) < 0.5, uniform(gen, b, 0, 0.04), torch.zeros(b))
        u = level[:, None, None, None] + (1 - level[:, None, None, None]) * u
        return (2 * u - 1).clamp(-1.0, 1.0)

    return sample_batch


def crops_note(split: dict) -> str:
    return (f"random {CROP}x{CROP} crops of {len(split['train_z'])} native 1 mm axial slices of the ch2 "
            "T1 template (held-out slab excluded), augmented")


def train_and_export(args, model: torch.nn.Module, loss_of, name: str, paths: tuple[str, str, str], slices: np.ndarray,
                     split: dict, data_note: str, recipe: str, image_condition: dict | None = None):
    """Train `model` (unless --export-only) on augmented crops of the training slices with the loss loss_of(objective),
    then (unless --train-only: None) export the weights folder from the checkpoint's EMA weights (export_folder's
    image_condition for a conditional model). Returns (objective, the export's facts, the model)."""
    ckpt, log, out = paths
    if not args.export_only:
        for f in (ckpt, log):
            os.makedirs(os.path.dirname(os.path.abspath(f)), exist_ok=True)
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=200,
                          ema_decay=0.999, checkpoint_every_s=args.checkpoint_every)
        info = {"recipe": recipe, "objective": args.objective, "data": data_note}
        t0 = time.time()
        state = train(model, make_sampler(torch.from_numpy(slices[split["train_z"]])), cfg,
                      loss_of(make_objective(args.objective)), ckpt, log,
                      resume=args.resume, stop_at=parse_deadline(args.deadline), run_info=info,
                      from_export=args.from_export)
        print(f"trained to step {state['step']} in {time.time() - t0:.0f}s this session", flush=True)
    if args.train_only:
        return None
    objective = make_objective(load_checkpoint_ema(model, ckpt).get("run", {}).get("objective", args.objective))
    facts = export_folder(model, ckpt, log, out, objective, SHAPE, n_samples=16, nrow=4,
                          title=f"{name}: loss ({objective.name} objective)", dynamic_hw=True, gradient=False,
                          image_condition=image_condition)
    return objective, facts, model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--objective", choices=OBJECTIVES, required=True)
    p.add_argument("--steps", type=int, default=20000, help="stop after this many steps (or at --deadline)")
    p.add_argument("--batch-size", type=int, default=24)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--data-only", action="store_true", help="write heldout.npy, heldout.png and split.json only")
    p.add_argument("--preview", help="write a PNG of 16 augmented training crops here and stop")
    add_run_arguments(p, None, None, None)  # defaults by objective: checkpoints/, logs/, weights/brain-native-<objective>
    args = p.parse_args()
    name = f"brain-native-{args.objective}"
    ckpt = args.ckpt or f"training/checkpoints/{name}.pt"
    log = args.log or f"training/logs/{name}_loss.csv"
    out = args.out or f"weights/{name}"

    slices, split = native_slices()
    train_slices = torch.from_numpy(slices[split["train_z"]])
    if args.preview:
        crops = make_sampler(train_slices)(torch.Generator().manual_seed(0), 16)
        save_grid_png(crops.numpy(), args.preview, nrow=8, scale=2)
        return
    if not args.train_only:
        write_data(out, slices, split)
    if args.data_only:
        return
    done = train_and_export(args, make_model(), lambda objective: objective.loss, name, (ckpt, log, out), slices, split,
                            f"{crops_note(split)} (recipe docstring)", "training/brain_native.py")
    if done is None:
        return
    objective, facts, model = done
    held = torch.from_numpy(slices[split["heldout_z"]])
    facts["heldout_loss"] = heldout_loss(objective, model, held[:, :, :216, :176])
    write_card(out, name, facts, split, objective)
    print({k: v for k, v in facts.items() if k != "samples"}, flush=True)


def write_card(out: str, name: str, f: dict, split: dict, objective) -> None:
    hz, mz = split["heldout_z"], split["excluded_margin_z"]
    nrm = split["normalisation"]
    h, w = split["volume_shape"][1], split["volume_shape"][0]
    heldout = (f"held-out loss of the exported EMA weights (same objective, the {len(hz)} held-out slices "
               f"cropped to 216x176, one fixed draw of t and noise): **{f['heldout_loss']:.4f}**")
    card = f"""# {name}

Unconditional {TITLE_WORDS[objective_name(f)]} prior for axial T1-weighted brain slices at their
native resolution (1 channel, values in [-1, 1]), **fully convolutional**: it takes any H and W
that are multiples of 8 (tweedie.json `"multiple": 8`; tweedie pads other sizes), so
`tweedie reconstruct` and `tweedie restore` run it on the input's own grid. Trained on random
{CROP}x{CROP} crops of the slices of ONE brain (the ch2 template) except a held-out slab, with
augmentation for pixel size, rotation, flips, position, intensity, gamma, bias field and
background. One of three priors with the same architecture, data and step budget
(brain-native-eps, -v, -flow); `tweedie bench priors` compares them.

## Files

| file | content |
|---|---|
{files_rows(f, "H,W", preview_name(objective) + f", {CROP}x{CROP}", 16)}
| heldout.npy | float32 [{len(hz)}, 1, {h}, {w}], the held-out slab at native resolution, same normalisation (row k = slice z = {hz[0]} + k) |
| heldout.png | the held-out slab (8 per row) |
| split.json | slice indices, augmentation ranges and normalisation, machine-readable |

No model.grad.onnx: the hand-written reverse pass of training/gradients.py has fixed H and W;
tweedie takes this model's derivatives (DPS, PiGDM, likelihood) by differences.

## Data and split

Source: `{split['volume']}` (Colin27 "ch2" T1 template, {'x'.join(str(v) for v in split['volume_shape'])} voxels
of 1 mm; not skull-stripped). Axial slice z is `vol[:, :, z]`, rows over y from high to low
(anterior at the top), columns over x: {h}x{w} pixels of 1 mm, no crop, no resampling.

- Normalisation (one scale for the volume): p = 99.5th percentile of all voxels = **{nrm['p']:g}**;
  x = clip(2 v / p - 1, -1, 1). `tweedie reconstruct` applies the same rule to a user's volume.
- **Held out**: z = **{hz[0]}..{hz[-1]}** ({len(hz)} slices, the slab of brain-64), margin z = {', '.join(str(z) for z in mz)}.
- **Training**: the other {len(split['train_z'])} slices of z = {split['brain_z_range'][0]}..{split['brain_z_range'][1]}.
- Augmentation (every draw independent; the recipe's docstring has the details): pixel size
  {MM_RANGE[0]}..{MM_RANGE[1]} mm (log-uniform), rotation +-{MAX_ROTATION_DEG:g} degrees, left-right flip, crop
  centre uniform over the central 70% of the field of view, 2x supersampled bilinear
  resampling; gain 0.85..1.15, gamma exp(+-0.3), smooth quadratic log-gain within +-0.15,
  background level 0..0.04 on half the crops.

## Model

{model_section(f, f"{CROP}/{CROP // 2}/{CROP // 4}/{CROP // 8} (training crops)", "`make_model` in training/brain_native.py")}
Forward process: {objective.path}.

{training_section(f, objective.description, heldout)}

![loss](loss_curve.png)

## Samples

{CROP}x{CROP} samples (the training crop size):

![samples](samples.png)

## Caveats

- **One subject.** All human data on this machine is one head (ch2); the augmentation
  imitates other scanners and subjects but cannot replace them. Figures on the held-out slab
  and on the shifted sets of `tweedie bench priors` are figures for this head.
- Short CPU training (one thread shared with two sibling runs): look at the samples and at
  `tweedie bench priors` before relying on it; `--resume --steps N` continues the run.

## Reproduce

From the repository root (one thread; stops at the step count or the deadline):

    /usr/bin/python3 training/brain_native.py --objective {objective_name(f)} --steps {f['train_config']['steps']} --deadline HH:MM
{reproduce_note(f['run'])}
`--resume` continues from the checkpoint (`--ckpt`); `--export-only` rewrites this folder.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as fh:
        fh.write(card)


if __name__ == "__main__":
    main()
