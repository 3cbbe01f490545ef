"""Train and export weights/fmnist-cond: a class-conditional diffusion model of Fashion-MNIST for
classifier-free guidance (issue 20).

Same data, path and UNet as fmnist-32 (training/fmnist32.py), plus a learned class embedding (the
10 classes and the null class 10) added to the time embedding. Label dropout (Ho & Salimans 2022):
each training label is replaced by the null class with probability 0.1, so one network is both the
conditional and the unconditional model that guidance combines. Export (fmnist-32's export_folder): model.onnx
with the inputs sample, timestep and class (int64 [N]), a tweedie.json that declares
"conditioning": {"class": {"kind": "class", "classes": 10, "unconditional": 10}}, samples.png (one row per
class, unguided then guided) and MODEL_CARD.md written from the run's own record.

    /usr/bin/python3 training/fmnist_cond.py --deadline 05:35   # train (stop at 05:35 UTC), export
    /usr/bin/python3 training/fmnist_cond.py --export-only      # re-export from the checkpoint
    tweedie sample --model weights/fmnist-cond --class 3 --guidance-scale 3 -n 16 --out dresses.png

Run from the repository root. Checked on a tiny configuration by training/test_fmnist_cond.py.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_classifier import CLASSES as CLASS_NAMES  # noqa: E402
from fmnist32 import add_fmnist_arguments, load_data as load_images, make_model as fmnist32_model, write_fmnist_card  # noqa: E402
from tweedie_train.cards import TITLE_WORDS, objective_name  # noqa: E402
from tweedie_train.data import read_idx_labels  # noqa: E402
from tweedie_train.export import export_folder  # noqa: E402
from tweedie_train.loop import TrainConfig, add_run_arguments, load_checkpoint_ema, parse_deadline, train  # noqa: E402
from tweedie_train.objectives import make_objective  # noqa: E402
from tweedie_train.unet import UNet  # noqa: E402

torch.set_num_threads(1)

DATA = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
SHAPE = (1, 32, 32)
CLASSES = 10
P_UNCONDITIONAL = 0.1
NAME = "fmnist-cond"
# The guidance scale of the preview's right half.
PREVIEW_SCALE = 3.0
DATA_NOTE = ("Fashion-MNIST train split (all 60,000 images and their labels), x/127.5 - 1 padded by 2 "
             "pixels with -1 to 32x32, no augmentation; labels dropped to the null class 10 with p = 0.1")


def make_model() -> UNet:
    return fmnist32_model(num_classes=CLASSES, res_blocks=1)


def drop_labels(labels: torch.Tensor, gen: torch.Generator, num_classes: int, p: float = P_UNCONDITIONAL) -> torch.Tensor:
    """Each label replaced by the null class (index num_classes) with probability p."""
    return torch.where(torch.rand(labels.shape, generator=gen) < p, torch.full_like(labels, num_classes), labels)


def conditional_loss(objective, num_classes: int, p: float = P_UNCONDITIONAL):
    """The objective's loss on (x0, labels) batches, the network seeing each label or, with probability p, the null class."""
    def loss(model, batch, gen):
        x0, labels = batch
        y = drop_labels(labels, gen, num_classes, p)
        return objective.loss(lambda xt, t: model(xt, t, y), x0, gen)
    return loss


def load_data(images: str = DATA, labels: str = LABELS) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N, 1, 32, 32] padded as fmnist-32's, and int64 labels [N]."""
    return load_images(images), torch.from_numpy(read_idx_labels(labels).astype(np.int64))


def export(model: UNet, ckpt: str, log: str, out: str, objective, shape=SHAPE, per_class: int = 6) -> dict:
    """The weights folder from the checkpoint's EMA weights (model.onnx with the class input, tweedie.json declaring
    the class condition, a preview of one row per class unguided and guided) and its MODEL_CARD.md."""
    classes = model.config["num_classes"]
    facts = export_folder(model, ckpt, log, out, objective, shape, n_samples=classes * 2 * per_class,
                          nrow=2 * per_class, title=f"{NAME}: loss ({objective.name} objective)",
                          gradient=False, num_classes=classes, preview_scale=PREVIEW_SCALE)
    write_card(out, facts, objective)
    return facts


def write_card(out: str, f: dict, objective) -> None:
    k, tc = f["num_classes"], f["train_config"]
    names = ", ".join(f"{c} {n}" for c, n in enumerate(CLASS_NAMES)) if k == len(CLASS_NAMES) else f"0..{k - 1}"
    intro = f"""Class-conditional {TITLE_WORDS[objective_name(f)]} model for 32x32 Fashion-MNIST, 1 channel, values in [-1, 1],
for classifier-free guidance: one network is the conditional model (classes
{names}) and the unconditional one (the null class {k}), trained with label dropout (about {f['wall_s'] / 60:.0f} minutes of
single-thread CPU training, {f['steps'] * tc['batch_size'] / 60000:.1f} epochs).

    tweedie sample --model weights/{NAME} --class 3 --guidance-scale 3 -n 16 --out dresses.png"""
    caveats = """Short CPU training, not a state-of-the-art generator: look at samples.png before quoting it.
Accuracy on the requested class and sample quality per guidance scale are measured by
`tweedie bench guidance` (README, Benchmarks), not here."""
    write_fmnist_card(out, f, objective, NAME, intro, caveats, recipe="fmnist_cond",
                      n_samples=len(f["samples"]),
                      model_note=(f" A learned embedding of the class ({k} classes and the null class {k}) is "
                                  "added to the time embedding."),
                      objective_note=(f"; each label replaced by the null class with probability "
                                      f"{P_UNCONDITIONAL} (label dropout, Ho & Salimans 2022)"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fmnist_arguments(p)
    add_run_arguments(p, "training/checkpoints/fmnist_cond.pt", "training/logs/fmnist_cond_loss.csv", "weights/fmnist-cond")
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    model = make_model()
    if not args.export_only:
        images, labels = load_data()

        def sample_batch(gen: torch.Generator, b: int):
            idx = torch.randint(0, images.shape[0], (b,), generator=gen)
            return images[idx].float() / 127.5 - 1.0, labels[idx]

        cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup=200,
                          cooldown=args.cooldown, ema_decay=0.999, checkpoint_every_s=args.checkpoint_every)
        info = {"recipe": "training/fmnist_cond.py", "data": DATA_NOTE, "objective": args.objective}
        t0 = time.time()
        state = train(model, sample_batch, cfg, conditional_loss(make_objective(args.objective), CLASSES),
                      args.ckpt, args.log, resume=args.resume, stop_at=parse_deadline(args.deadline), run_info=info,
                      from_export=args.from_export)
        print(f"trained to step {state['step']} in {time.time() - t0:.0f}s this session", flush=True)
    if args.train_only:
        return
    objective = make_objective(load_checkpoint_ema(model, args.ckpt).get("run", {}).get("objective", "v"))
    facts = export(model, args.ckpt, args.log, args.out, objective)
    print({k: v for k, v in facts.items() if k != "samples"}, flush=True)


if __name__ == "__main__":
    main()
