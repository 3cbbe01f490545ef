"""Train and export weights/brain-64: eps-prediction DDPM on 64x64 axial T1 slices.

Data: the ch2 T1 template (/usr/share/mricron/templates/ch2.nii.gz, 181x217x181, 1 mm,
not skull-stripped). Axial slice z is vol[:, :, z] shown with rows = y reversed (anterior
at the top) and columns = x. Every slice is cropped to the square around the head's
bounding box (padded with 0), area-averaged to 64x64, and normalised with one fixed
scale for the whole volume: v -> clip(2 v / p99.5 - 1, -1, 1), p99.5 = the 99.5th
percentile of all voxels. A slab of 16 slices around the slice with the largest head
cross-section is held out (with a 2-slice margin each side) and written to
weights/brain-64/heldout.npy; weights/brain-64/split.json records all of it.

    /usr/bin/python3 training/brain64.py                  # train from scratch, then export
    /usr/bin/python3 training/brain64.py --resume         # continue from the checkpoint
    /usr/bin/python3 training/brain64.py --export-only    # re-export from the checkpoint
    /usr/bin/python3 training/brain64.py --data-only      # only heldout.npy + split.json

Run from the repository root.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tweedie_train.cards import TITLE_WORDS, files_rows, model_section, objective_name, reproduce_note, training_section  # noqa: E402
from tweedie_train.data import read_nifti  # noqa: E402
from tweedie_train.export import export_folder, write_json  # noqa: E402
from tweedie_train.images import save_grid_png  # noqa: E402
from tweedie_train.loop import TrainConfig, load_checkpoint_ema, parse_deadline, train  # noqa: E402
from tweedie_train.objectives import OBJECTIVES, make_objective  # noqa: E402
from tweedie_train.preview import preview_name  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)

VOLUME = "/usr/share/mricron/templates/ch2.nii.gz"
SIZE = 64
SHAPE = (1, SIZE, SIZE)
PERCENTILE = 99.5
HEAD_THRESHOLD = 0.1    # head mask: voxel > 0.1 * p99.5
BRAIN_Z = (14, 152)     # axial slices that contain brain (inspected: below 14 only neck and
                        # skull base, above 152 only skull and scalp); inclusive
SLAB, MARGIN = 16, 2


def make_model() -> UNet:
    return UNet(image_size=SIZE, channels=(32, 64, 64, 128), attn_resolutions=(), temb_dim=64)


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """[n_out, n_in] exact area-averaging (box filter with fractional pixel overlaps)."""
    s = n_in / n_out
    R = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = i * s, (i + 1) * s
        for j in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
            R[i, j] = min(hi, j + 1) - max(lo, j)
    return R / s


def prepare() -> tuple[np.ndarray, np.ndarray, dict]:
    """-> (slices [Z, 1, 64, 64] float32 normalised, for every z; head area per z; split)."""
    vol, hdr = read_nifti(VOLUME)
    p = float(np.percentile(vol, PERCENTILE))
    head = vol > HEAD_THRESHOLD * p
    area = head.sum(axis=(0, 1))
    z_lo, z_hi = BRAIN_Z
    centre = int(z_lo + np.argmax(area[z_lo:z_hi + 1]))
    held = list(range(centre - SLAB // 2, centre + SLAB // 2))
    excluded = list(range(held[0] - MARGIN, held[-1] + MARGIN + 1))
    train_z = [z for z in range(z_lo, z_hi + 1) if z not in excluded]

    # square crop around the head's in-plane bounding box over the brain slices
    sub = head[:, :, z_lo:z_hi + 1].any(axis=2)            # [x, y]
    xs, ys = np.where(sub.any(axis=1))[0], np.where(sub.any(axis=0))[0]
    side = int(max(xs[-1] - xs[0] + 1, ys[-1] - ys[0] + 1))
    x0 = int((xs[0] + xs[-1] + 1 - side) // 2)
    y0 = int((ys[0] + ys[-1] + 1 - side) // 2)
    padded = np.zeros((side, side, vol.shape[2]), np.float32)  # zero outside the volume
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, vol.shape[0]), min(y0 + side, vol.shape[1])
    padded[sx0 - x0:sx1 - x0, sy0 - y0:sy1 - y0] = vol[sx0:sx1, sy0:sy1]
    R = area_matrix(side, SIZE)
    slices = np.empty((vol.shape[2], 1, SIZE, SIZE), np.float32)
    for z in range(vol.shape[2]):
        img = padded[:, :, z].T[::-1, :]                  # rows: y reversed, cols: x
        small = R @ img.astype(np.float64) @ R.T
        slices[z, 0] = np.clip(2.0 * small / p - 1.0, -1.0, 1.0)
    split = {
        "volume": VOLUME,
        "volume_shape": list(vol.shape), "voxel_mm": hdr["pixdim"],
        "slice": "axial slice z = vol[:, :, z] (vol indexed [x, y, z] as stored in the NIfTI); "
                 "image rows = y from high to low (anterior at the top), columns = x from low to high",
        "crop": {"x0": x0, "y0": y0, "side": side,
                 "note": "square vol[x0:x0+side, y0:y0+side] (zero outside the volume), the head's "
                         "bounding box (voxel > 0.1*p99.5 over the brain slices) made square about its centre"},
        "resize": f"exact area average {side}x{side} -> {SIZE}x{SIZE} (box filter with fractional overlaps)",
        "normalisation": {"percentile": PERCENTILE, "p": p,
                          "formula": "x = clip(2 * v / p - 1, -1, 1), v the (area-averaged) voxel value, "
                                     "so 0 -> -1 and p -> 1; inverse v = (x + 1) * p / 2"},
        "brain_z_range": [z_lo, z_hi],
        "slab_centre_z": centre,
        "slab_centre_rule": "slice with the largest head cross-section (mask voxel > 0.1*p99.5) within brain_z_range",
        "heldout_z": held,
        "excluded_margin_z": [z for z in excluded if z not in held],
        "train_z": train_z,
        "heldout_file": "heldout.npy: float32 [16, 1, 64, 64], row k = slice heldout_z[k], same normalisation",
    }
    return slices, area, split


def write_data(out: str, slices: np.ndarray, split: dict) -> None:
    os.makedirs(out, exist_ok=True)
    held = slices[split["heldout_z"]].astype(np.float32)
    np.save(os.path.join(out, "heldout.npy"), held)
    write_json(os.path.join(out, "split.json"), split)
    save_grid_png(held, os.path.join(out, "heldout.png"), nrow=8, scale=2)


def make_sampler(train: torch.Tensor):
    """Augmented batches: left-right flip (p = 0.5), integer shifts of up to +-3 pixels
    (padding with -1), intensity scaling x0.9..1.1 of v (i.e. of x + 1), clip to [-1, 1]."""
    shift = 3

    def sample_batch(gen: torch.Generator, b: int) -> torch.Tensor:
        idx = torch.randint(0, train.shape[0], (b,), generator=gen)
        x = train[idx]
        flip = torch.rand(b, generator=gen) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        xp = F.pad(x, (shift,) * 4, value=-1.0)
        d = torch.randint(0, 2 * shift + 1, (b, 2), generator=gen)
        x = torch.stack([xp[i, :, d[i, 0]:d[i, 0] + SIZE, d[i, 1]:d[i, 1] + SIZE] for i in range(b)])
        scale = 0.9 + 0.2 * torch.rand(b, 1, 1, 1, generator=gen)
        return ((x + 1.0) * scale - 1.0).clamp(-1.0, 1.0)

    return sample_batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2300)
    p.add_argument("--objective", choices=OBJECTIVES, default="eps")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--data-only", action="store_true")
    p.add_argument("--deadline", help="UTC HH:MM: stop training early (and export) at this time")
    p.add_argument("--ckpt", default="training/checkpoints/brain64.pt")
    p.add_argument("--log", default="training/logs/brain64_loss.csv")
    p.add_argument("--out", default="weights/brain-64")
    args = p.parse_args()

    slices, _, split = prepare()
    write_data(args.out, slices, split)
    print(f"held out z {split['heldout_z'][0]}..{split['heldout_z'][-1]}, "
          f"{len(split['train_z'])} training slices, p99.5 = {split['normalisation']['p']}", flush=True)
    if args.data_only:
        return
    model = make_model()
    if not args.export_only:
        objective = make_objective(args.objective)
        data = torch.from_numpy(slices[split["train_z"]])
        os.makedirs(os.path.dirname(args.log), exist_ok=True)
        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=2e-4, warmup=100,
                          ema_decay=0.999)
        t0 = time.time()
        info = {"recipe": "training/brain64.py", "objective": args.objective,
                "data": f"{len(split['train_z'])} axial slices of the ch2 T1 template, 64x64, held-out slab excluded"}
        state = train(model, make_sampler(data), cfg, objective.loss, args.ckpt, args.log,
                      resume=args.resume, stop_at=parse_deadline(args.deadline), run_info=info)
        print(f"trained to step {state['step']} in {time.time() - t0:.0f}s this session", flush=True)

    # the objective the checkpoint was trained with, not the command line's default
    objective = make_objective(load_checkpoint_ema(model, args.ckpt).get("run", {}).get("objective", "eps"))
    facts = export_folder(model, args.ckpt, args.log, args.out, objective, SHAPE, n_samples=16,
                          nrow=4, title=f"brain-64: loss ({objective.name} objective)")
    write_card(args.out, facts, split, objective)
    print({k: v for k, v in facts.items() if k != "samples"}, flush=True)


def write_card(out: str, f: dict, split: dict, objective) -> None:
    tc = f["train_config"]
    nrm = split["normalisation"]
    hz, mz = split["heldout_z"], split["excluded_margin_z"]
    card = f"""# brain-64

Unconditional {TITLE_WORDS[objective_name(f)]} model for 64x64 axial T1-weighted brain slices (1 channel,
values in [-1, 1]), trained on the slices of ONE brain (the ch2 template) except a held-out
slab. It is a prior for the MRI inverse-problem demos and benchmarks (compressed sensing,
super-resolution, inpainting): reconstruct the held-out slices, which the model never saw.

## Files

| file | content |
|---|---|
{files_rows(f, "64,64", preview_name(objective), 16)}
| heldout.npy | float32 [16, 1, 64, 64], the held-out slab, same normalisation (row k = slice z = {hz[0]} + k) |
| heldout.png | the held-out slab as a picture (8 per row) |
| split.json | slice indices, crop, resize and normalisation, machine-readable |

## Data and split

Source: `{split['volume']}` (Colin27 "ch2" T1 template, {split['volume_shape'][0]}x{split['volume_shape'][1]}x{split['volume_shape'][2]}
voxels of 1 mm, uint8, NIfTI-1; not skull-stripped, so slices show scalp and skull too).

- Axial slice z is `vol[:, :, z]` of the volume indexed [x, y, z] as stored; image rows run
  over y from high to low (anterior at the top), columns over x from low to high.
- Crop: the square x = {split['crop']['x0']}..{split['crop']['x0'] + split['crop']['side'] - 1}, y = {split['crop']['y0']}..{split['crop']['y0'] + split['crop']['side'] - 1} (inclusive voxel indices,
  side {split['crop']['side']}, zeros outside the volume): the bounding box of the head
  (voxel > 0.1 x p99.5) over the brain slices, made square about its centre.
- Resize: exact area average {split['crop']['side']} -> 64 (box filter with fractional overlaps), about {split['crop']['side'] / 64:.2f} mm per pixel.
- Normalisation (one fixed scale for the whole volume): p = 99.5th percentile of all voxels
  = **{nrm['p']:g}**; x = clip(2 v / p - 1, -1, 1), so 0 -> -1 and p -> 1; v = (x + 1) p / 2.
- Slices with brain: z = {split['brain_z_range'][0]}..{split['brain_z_range'][1]} (by inspection: below, only neck and skull base;
  above, only skull and scalp).
- **Held out**: z = **{hz[0]}..{hz[-1]}** (16 slices, z = {split['slab_centre_z']} - 8 .. {split['slab_centre_z']} + 7; z = {split['slab_centre_z']} has the largest head
  cross-section in the brain range; the slab runs from the midbrain to the basal ganglia).
  Also excluded, as a margin: z = {', '.join(str(z) for z in mz)}.
- **Training**: the other {len(split['train_z'])} slices, z = {split['brain_z_range'][0]}..{mz[0] - 1} and {mz[-1] + 1}..{split['brain_z_range'][1]}.
- Augmentation: left-right flip (p = 0.5), integer shifts of up to +-3 pixels in each
  direction (padding with -1), intensity scaling of v by 0.9..1.1, clip to [-1, 1].

To rebuild exactly the same slices (e.g. at another size), follow split.json or run
`/usr/bin/python3 training/brain64.py --data-only`.

## Model

{model_section(f, "64/32/16/8", "`make_model` in training/brain64.py")}
Forward process: {objective.path}.

{training_section(f, objective.description)}

![loss](loss_curve.png)

## Samples

![samples](samples.png)

Held-out slab (not used in training):

![heldout](heldout.png)

## Caveats

- One subject: the model is a prior for *this* head, not for brains in general. Its
  nearest training slices (z = {mz[0] - 1} and {mz[-1] + 1}) are 3 mm from the slab's edges, so it
  can reconstruct them well from few measurements; that is the intended (and easy)
  setting of the demos, not a test of generalisation across subjects.
- **Undertrained** (short CPU training on one thread, shared with other jobs): many
  unconditional samples are plausible, soft axial slices at various levels, but in the first
  2300-step run 6 of the 16 DDIM samples in samples.png were speckled, noisy failures and
  1 was blank. Measurement-conditioned reconstruction (the intended use) constrains the
  trajectory far more, but check results against the held-out truth; `--resume --steps N`
  continues training from the checkpoint.
- Values above p99.5 (bright fat in the scalp) are clipped to 1.

## Reproduce

From the repository root (about an hour with one thread):

    /usr/bin/python3 training/brain64.py --steps {tc['steps']}
{reproduce_note(f['run'])}
`--resume` continues from training/checkpoints/brain64.pt; `--export-only` rewrites this
folder from the checkpoint.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as fh:
        fh.write(card)


if __name__ == "__main__":
    main()
