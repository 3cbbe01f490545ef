"""PNG writers (Pillow): sample grids and loss curves."""
from __future__ import annotations

import math

import numpy as np
import torch


def save_grid_png(images: torch.Tensor | np.ndarray, path: str, nrow: int,
                  scale: int = 2, pad: int = 2) -> None:
    """[N, 1, H, W] in [-1, 1] -> grayscale PNG grid (nearest upscaling by `scale`)."""
    from PIL import Image
    x = np.asarray(images, dtype=np.float32)[:, 0]
    n, h, w = x.shape
    ncol = int(math.ceil(n / nrow))
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad), 255, np.uint8)
    u8 = np.clip((x + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    for i in range(n):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = u8[i]
    img = Image.fromarray(grid, mode="L")
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    img.save(path)


def save_loss_png(log: np.ndarray, path: str, title: str, width: int = 480, height: int = 300) -> None:
    """Small loss-curve plot (log-scale loss vs step, raw + smoothed) drawn with Pillow."""
    from PIL import Image, ImageDraw
    steps, loss = log[:, 0], log[:, 1]
    k = max(1, len(loss) // 25)
    smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
    sm_steps = steps[k - 1:]
    img = Image.new("RGB", (width, height), "white")
    d = ImageDraw.Draw(img)
    l, r, t, b = 60, width - 15, 25, height - 35
    lo, hi = np.log10(max(loss.min(), 1e-6)), np.log10(loss.max())
    if hi - lo < 1e-6:
        hi = lo + 1
    smax = max(steps.max(), 1)

    def xy(s, v):
        return (l + (r - l) * s / smax, b - (b - t) * (np.log10(v) - lo) / (hi - lo))

    d.rectangle([l, t, r, b], outline="black")
    for frac in (0.0, 0.5, 1.0):
        v = 10 ** (lo + frac * (hi - lo))
        y = b - (b - t) * frac
        d.line([l - 4, y, l, y], fill="black")
        d.text((4, y - 6), f"{v:.3f}", fill="black")
    for frac in (0.0, 0.5, 1.0):
        x = l + (r - l) * frac
        d.line([x, b, x, b + 4], fill="black")
        d.text((x - 12, b + 8), f"{int(frac * smax)}", fill="black")
    d.line([xy(s, v) for s, v in zip(steps, loss)], fill=(170, 190, 230), width=1)
    if len(smooth) > 1:
        d.line([xy(s, v) for s, v in zip(sm_steps, smooth)], fill=(20, 60, 160), width=2)
    d.text((l, 6), title, fill="black")
    d.text((r - 120, height - 14), "training step", fill="black")
    img.save(path)
