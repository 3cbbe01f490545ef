"""Train and export weights/fmnist-32: an unconditional diffusion model of Fashion-MNIST.

Data: the 60k train images, scaled to [-1, 1] and padded with -1 (the background) from
28x28 to 32x32. Objective (--objective): v prediction on the DDPM path (default; discrete
VP, 1000 steps, linear betas 1e-4..0.02), eps on the same path, or velocity on rectified
flow. UNet 32/64/64, attention only in the 8x8 middle block.

    /usr/bin/python3 training/fmnist32.py --deadline 05:35   # train (stop at 05:35 UTC), export
    /usr/bin/python3 training/fmnist32.py --resume           # continue from the checkpoint
    /usr/bin/python3 training/fmnist32.py --export-only      # re-export from the checkpoint

Run from the repository root. The checkpoint (--ckpt) holds the model, Adam state, EMA
weights, RNG states, step, wall time, loss log and run record; `--resume --steps N`
continues a run to N steps. The model card is written from the run record.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tweedie_train.data import read_idx_images  # noqa: E402
from tweedie_train.loop import TrainConfig, add_run_arguments, parse_deadline, train  # noqa: E402
from tweedie_train.cards import TITLE_WORDS, files_rows, model_section, objective_name, reproduce_note, training_section  # noqa: E402
from tweedie_train.export import export_folder  # noqa: E402
from tweedie_train.loop import load_checkpoint_ema  # noqa: E402
from tweedie_train.objectives import OBJECTIVES, heldout_loss, make_objective  # noqa: E402
from tweedie_train.preview import preview_name, rough_count  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)  # also for the recipes that import this one

DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TEST_DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
SHAPE = (1, 32, 32)
DATA_NOTE = ("Fashion-MNIST train split (all 60,000 images of train-images-idx3-ubyte.gz), "
             "x/127.5 - 1 padded by 2 pixels with -1 to 32x32, no augmentation, no labels")


def make_model(num_classes: int = 0, res_blocks: int = 2) -> UNet:
    """fmnist-32's UNet (two residual blocks per level since it was grown from one at step 14,800); with num_classes,
    a class embedding (training/fmnist_cond.py, which keeps one block)."""
    return UNet(image_size=32, channels=(32, 64, 64), attn_resolutions=(), temb_dim=64, num_classes=num_classes,
                res_blocks=res_blocks)


def load_data(path: str = DATA) -> torch.Tensor:
    """uint8 [N, 1, 32, 32] (60000 for the train split), padded with 0 (-> -1 after scaling)."""
    imgs = read_idx_images(path)
    padded = np.zeros((imgs.shape[0], 1, 32, 32), np.uint8)
    padded[:, 0, 2:30, 2:30] = imgs
    return torch.from_numpy(padded)


def add_fmnist_arguments(p: argparse.ArgumentParser) -> None:
    """The training options of both Fashion-MNIST recipes (this one and training/fmnist_cond.py)."""
    p.add_argument("--steps", type=int, default=20000, help="stop after this many steps (or at --deadline)")
    p.add_argument("--objective", choices=OBJECTIVES, default="v")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--cooldown", type=count(0), default=0, help="decay lr linearly to 0 over the last N of --steps")
    p.add_argument("--threads", type=count(1), default=1, help="torch threads")


def count(least: int):
    """argparse type: an integer >= least, else one line naming the rule."""
    def parse(text: str) -> int:
        if not text.lstrip("-").isdigit() or int(text) < least:
            raise argparse.ArgumentTypeError(f"{text!r}: give an integer >= {least}")
        return int(text)
    return parse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fmnist_arguments(p)
    add_run_arguments(p, "training/checkpoints/fmnist32.pt", "training/logs/fmnist32_loss.csv", "weights/fmnist-32")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = make_model()
    if not args.export_only:
        objective = make_objective(args.objective)
        data = load_data()

        def sample_batch(gen: torch.Generator, b: int) -> torch.Tensor:
            idx = torch.randint(0, data.shape[0], (b,), generator=gen)
            return data[idx].float() / 127.5 - 1.0

        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=200,
                          cooldown=args.cooldown, ema_decay=0.999, checkpoint_every_s=args.checkpoint_every)
        info = {"recipe": "training/fmnist32.py", "data": DATA_NOTE, "objective": args.objective}
        t0 = time.time()
        state = train(model, sample_batch, cfg, objective.loss, args.ckpt, args.log,
                      resume=args.resume, stop_at=parse_deadline(args.deadline), run_info=info,
                      from_export=args.from_export)
        print(f"trained to step {state['step']} in {time.time() - t0:.0f}s this session", flush=True)
    if args.train_only:
        return
    # the objective the checkpoint was trained with, not the command line's default
    objective = make_objective(load_checkpoint_ema(model, args.ckpt).get("run", {}).get("objective", "eps"))
    facts = export_folder(model, args.ckpt, args.log, args.out, objective, SHAPE, n_samples=64,
                          nrow=8, title=f"fmnist-32: loss ({objective.name} objective)")
    test = load_data(TEST_DATA)[:HELDOUT].float() / 127.5 - 1.0
    facts["heldout_loss"] = heldout_loss(objective, model, test)
    facts["rough"] = rough_count(facts["samples"], load_data(TEST_DATA).float() / 127.5 - 1.0)
    write_card(args.out, facts, objective)
    print({k: v for k, v in facts.items() if k != "samples"}, flush=True)


HELDOUT = 1024  # t10k images for the held-out loss of the exported (EMA) weights


def write_card(out: str, f: dict, objective) -> None:
    tc = f["train_config"]
    epochs = f["steps"] * tc["batch_size"] / 60000
    heldout = (f"held-out loss of the exported EMA weights (same objective, the first {HELDOUT:,} "
               f"t10k test images, one fixed draw of t and noise): **{f['heldout_loss']:.4f}**")
    intro = f"""Unconditional {TITLE_WORDS[objective_name(f)]} model for 32x32 Fashion-MNIST, 1 channel, values in [-1, 1].
A small, quick model for demos, tests and sampler benchmarks; it is not a state-of-the-art
generator (about {f['wall_s'] / 60:.0f} minutes of CPU training, {epochs:.1f} epochs)."""
    caveats = f"""Short CPU training: {f['rough'][0]} of the 64 preview samples are rougher (mean |Laplacian|
above {f['rough'][1]:.3f}) than 99% of the 10,000 t10k test images, a rough count of speckled,
noisy failures; look at samples.png before quoting it. Fine for checking samplers against
each other (same model, different solvers) and for pipeline tests; do not quote its FID as
representative of what the objective can do."""
    write_fmnist_card(out, f, objective, "fmnist-32", intro, caveats, recipe="fmnist32", n_samples=64,
                      heldout=heldout)


def write_fmnist_card(out: str, f: dict, objective, name: str, intro: str, caveats: str, recipe: str,
                      n_samples: int, heldout: str | None = None, model_note: str = "",
                      objective_note: str = "") -> None:
    """MODEL_CARD.md of a 32x32 Fashion-MNIST model trained by training/{recipe}.py, from the run's facts
    (export_folder's); `intro` and `caveats` are the model's own paragraphs."""
    obj = objective_name(f)
    tc = f["train_config"]
    card = f"""# {name}

{intro}

## Files

| file | content |
|---|---|
{files_rows(f, "32,32", preview_name(objective), n_samples)}

## Data

{f['run'].get('data', 'Fashion-MNIST train split')}. The t10k split is not trained on and can
serve as a test set. Pixel (i, j) of the 28x28 image is at (i + 2, j + 2) of the 32x32 one.

## Model

{model_section(f, "32/16/8", f"`make_model` in training/{recipe}.py")}{model_note}

Forward process: {objective.path}.

{training_section(f, objective.description + objective_note, heldout)}

![loss](loss_curve.png)

## Samples

![samples](samples.png)

## Caveats

{caveats}

## Reproduce

From the repository root (one thread unless `--threads N`; the run stops at the step count or
the deadline, whichever comes first, and checkpoints every {tc['checkpoint_every_s'] / 60:.0f} minutes):

    /usr/bin/python3 training/{recipe}.py --objective {obj} --steps {tc['steps']} --deadline HH:MM
{reproduce_note(f['run'])}
`--resume` continues from the checkpoint (`--ckpt`, default training/checkpoints/{recipe}.pt;
e.g. `--resume --steps 8000` to train longer), `--from-export weights/{name}` from this folder
when the checkpoint is gone; `--cooldown N` decays lr to 0 over the last N steps; `--export-only`
rewrites this folder from the checkpoint.
"""
    with open(os.path.join(out, "MODEL_CARD.md"), "w") as fh:
        fh.write(card)


if __name__ == "__main__":
    main()
