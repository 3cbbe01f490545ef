"""Train and export weights/fmnist-classifier: a small CNN that places 32x32 Fashion-MNIST images in
their 10 classes. It exists to measure the sample quality of the fmnist models (`tweedie bench
quality`: Frechet distance, precision/recall in its feature space, the share of unplaceable samples).

Data: the 60k train images, preprocessed exactly as fmnist-32 sees them (levels / 127.5 - 1, padded
with -1 from 28x28 to 32x32: training/fmnist32.py load_data); augmentation: random horizontal flip
and a random shift of up to 2 pixels (the padding is background). Test accuracy on the 10k test images.

    nice /usr/bin/python3 training/fmnist_classifier.py                # train, test, export (23 min on one thread of a busy 2-core machine)
    /usr/bin/python3 training/fmnist_classifier.py --export-only       # re-export from the checkpoint

Export: weights/fmnist-classifier/model.onnx, input `image` float32 [N,1,32,32] in [-1,1], outputs
`logits` [N,10] and `features` [N,128] (the penultimate layer), dynamic batch; the graph is checked
against the PyTorch module with training/onnx_numpy.py. Also writes classifier.json, MODEL_CARD.md and
test/fixtures/fmnist-classifier/reference.json (PyTorch outputs on the first 8 images of
examples/fmnist-t10k-64.npy, the oracle of tweedie's loader test).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tweedie_train.export import write_json  # noqa: E402
from fmnist32 import TEST_DATA, load_data  # noqa: E402
from onnx_numpy import run_onnx  # noqa: E402

torch.set_num_threads(1)

TRAIN_LABELS = "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"
TEST_LABELS = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
           "Ankle boot"]
FEATURES = 128


def read_idx_labels(path: str) -> np.ndarray:
    """Read an IDX1 label file -> uint8 array [N]."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic != 2049:
        raise ValueError(f"{path}: not an IDX1 ubyte file (magic {magic})")
    return np.frombuffer(raw, dtype=np.uint8, offset=8)[:n]


def to_model_range(levels: torch.Tensor) -> torch.Tensor:
    """uint8 levels [N,1,32,32] padded with 0 -> float32 in [-1, 1] (fmnist-32's input)."""
    return levels.float() / 127.5 - 1.0


class Classifier(nn.Module):
    """Five 3x3 convolutions (32, 64, 64, 128, 128 channels; three with stride 2: 32 -> 16 -> 8 -> 4),
    SiLU, then 2048 -> 128 (the features, after SiLU) -> 10 logits."""

    def __init__(self):
        super().__init__()
        chans = [(1, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(ci, co, 3, stride=s, padding=1) for ci, co, s in chans)
        self.fc = nn.Linear(128 * 4 * 4, FEATURES)
        self.head = nn.Linear(FEATURES, 10)
        self.drop = nn.Dropout(0.3)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = image
        for conv in self.convs:
            h = F.silu(conv(h))
        features = F.silu(self.fc(h.reshape(h.shape[0], -1)))
        return self.head(self.drop(features)), features


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flip and a random shift of up to 2 pixels, filling with the background -1."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (2, 2, 2, 2), value=-1.0)
    dy, dx = torch.randint(0, 5, (2, n), generator=gen)
    return torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])


@torch.no_grad()
def accuracy(model: Classifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    correct = 0
    for s in range(0, images.shape[0], 500):
        logits, _ = model(to_model_range(images[s:s + 500]))
        correct += int((logits.argmax(1) == labels[s:s + 500]).sum())
    return correct / images.shape[0]


def train(model: Classifier, steps: int, batch: int, log_path: str) -> float:
    images = load_data()
    labels = torch.from_numpy(read_idx_labels(TRAIN_LABELS).astype(np.int64))
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.15)
    t0 = time.time()
    model.train()
    with open(log_path, "w") as log:
        log.write("step,loss,seconds\n")
        for step in range(1, steps + 1):
            idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
            x = augment(to_model_range(images[idx]), gen)
            logits, _ = model(x)
            loss = F.cross_entropy(logits, labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if step % 50 == 0 or step == steps:
                log.write(f"{step},{loss.item():.5f},{time.time() - t0:.1f}\n")
                log.flush()
                print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    return time.time() - t0


def export_onnx(model: nn.Module, out_dir: str, x: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Export a (logits, features) image network to out_dir/model.onnx (input `image`, dynamic batch) and
    check it on x: the largest |ONNX (float64 numpy) - PyTorch| over both outputs, and PyTorch's outputs."""
    import onnx
    model.eval()
    path = os.path.join(out_dir, "model.onnx")
    torch.onnx.export(model, (torch.zeros(2, *x.shape[1:]),), path, opset_version=14, input_names=["image"],
                      output_names=["logits", "features"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}, "features": {0: "N"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path), full_check=True)
    with torch.no_grad():
        logits, features = model(x)
    got = run_onnx(path, {"image": x.numpy()})
    diff = max(float(np.abs(got["logits"] - logits.numpy()).max()),
               float(np.abs(got["features"] - features.numpy()).max()))
    assert diff < 1e-4, f"ONNX export differs from PyTorch by {diff}"
    return diff, logits, features


def export(model: Classifier, out_dir: str) -> float:
    """Export to ONNX and return the largest |ONNX (float64 numpy) - PyTorch| over logits and features."""
    diff, logits, features = export_onnx(model, out_dir, torch.from_numpy(np.load("examples/fmnist-t10k-64.npy")))
    fixture = "test/fixtures/fmnist-classifier"
    os.makedirs(fixture, exist_ok=True)
    write_json(os.path.join(fixture, "reference.json"), {
        "about": "PyTorch outputs of weights/fmnist-classifier on examples/fmnist-t10k-64.npy[0:8] "
                 "(training/fmnist_classifier.py)",
        "images": "examples/fmnist-t10k-64.npy", "count": 8,
        "logits": [[round(float(v), 6) for v in row] for row in logits[:8]],
        "features": [[round(float(v), 6) for v in row] for row in features[:8]]})
    return diff


def write_card(out_dir: str, facts: dict) -> None:
    write_json(os.path.join(out_dir, "classifier.json"), {
        "model": "model.onnx",
        "inputs": {"image": {"shape": ["N", 1, 32, 32], "dtype": "float32"}},
        "outputs": {"logits": {"shape": ["N", 10]}, "features": {"shape": ["N", FEATURES]}},
        "preprocessing": "8-bit levels / 127.5 - 1, 28x28 padded by 2 pixels of -1 to 32x32 (fmnist-32's input)",
        "value_range": [-1, 1],
        "classes": CLASSES,
        "test_accuracy": facts["test_accuracy"]})
    with open(os.path.join(out_dir, "MODEL_CARD.md"), "w") as f:
        f.write(f"""# fmnist-classifier

A small CNN that places 32x32 Fashion-MNIST images in their 10 classes. It exists to **measure the
sample quality** of the fmnist diffusion models (`tweedie bench quality`): its penultimate layer is the
feature space of the Frechet distance and of precision/recall, and its softmax tells which samples
it cannot place in any class. It is not meant as a good classifier of its own.

- **Architecture**: five 3x3 convolutions with SiLU (32, 64, 64, 128, 128 channels; stride 2 at the
  2nd, 4th and 5th: 32 -> 16 -> 8 -> 4), 2048 -> {FEATURES} (SiLU: the `features` output) -> 10 (`logits`),
  dropout 0.3 before the last layer in training; {facts['parameters']:,} parameters.
- **Data**: the 60,000 Fashion-MNIST training images (Debian `dataset-fashion-mnist`), preprocessed
  exactly as fmnist-32 sees them: levels / 127.5 - 1, padded with -1 from 28x28 to 32x32. Augmentation:
  random horizontal flip, random shift of up to 2 pixels.
- **Training**: {facts['steps']} steps of batch {facts['batch']} (about {facts['epochs']:.1f} epochs), AdamW (weight
  decay 1e-4), one-cycle learning rate peaking at 2e-3, seed 0; {facts['seconds']:.0f} s on one CPU thread of a
  2-core machine shared with two other jobs.
- **Test accuracy** on the 10,000 test images, measured by the recipe: **{100 * facts['test_accuracy']:.2f}%**.
- **Export**: `model.onnx`, input `image` float32 [N,1,32,32] in [-1, 1]; outputs `logits` [N,10] and
  `features` [N,{FEATURES}]; dynamic batch; opset 14. The graph, evaluated in float64 by
  `training/onnx_numpy.py`, matches the PyTorch module to {facts['onnx_max_abs_diff']:.1e} (max abs, 64 test images).
  `classifier.json` describes the inputs, outputs, preprocessing and classes.

Recipe: `nice /usr/bin/python3 training/fmnist_classifier.py` (from the repository root).
""")


def add_recipe_arguments(p: argparse.ArgumentParser, name: str, out: str) -> None:
    """The options trained_facts and the export read: batch size, --export-only, checkpoint, log, output folder."""
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--ckpt", default=f"training/checkpoints/{name}.pt")
    p.add_argument("--log", default=f"training/logs/{name}_loss.csv")
    p.add_argument("--out", default=out)


def trained_facts(model: nn.Module, args: argparse.Namespace, fit) -> dict:
    """--export-only: the weights and facts of the checkpoint; otherwise fit() trains and returns the facts,
    saved with the weights to args.ckpt."""
    if args.export_only:
        state = torch.load(args.ckpt)
        model.load_state_dict(state["model"])
        return state["facts"]
    for d in (os.path.dirname(args.log), os.path.dirname(args.ckpt)):
        os.makedirs(d, exist_ok=True)
    facts = fit()
    torch.save({"model": model.state_dict(), "facts": facts}, args.ckpt)
    return facts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=2000)
    add_recipe_arguments(p, "fmnist_classifier", "weights/fmnist-classifier")
    args = p.parse_args()
    torch.manual_seed(0)
    model = Classifier()

    def fit() -> dict:
        seconds = train(model, args.steps, args.batch_size, args.log)
        test_images = load_data(TEST_DATA)
        test_labels = torch.from_numpy(read_idx_labels(TEST_LABELS).astype(np.int64))
        return {"steps": args.steps, "batch": args.batch_size, "epochs": args.steps * args.batch_size / 60000,
                "seconds": seconds, "parameters": sum(q.numel() for q in model.parameters()),
                "test_accuracy": accuracy(model, test_images, test_labels)}

    facts = trained_facts(model, args, fit)
    os.makedirs(args.out, exist_ok=True)
    facts["onnx_max_abs_diff"] = export(model, args.out)
    write_card(args.out, facts)
    print(json.dumps(facts), flush=True)


if __name__ == "__main__":
    main()
