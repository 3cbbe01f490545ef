"""Shared pieces of the tweedie training recipes (PyTorch -> ONNX).

Contents
    data        read_idx_images (Fashion-MNIST IDX), read_nifti (NIfTI-1, gzip or not)
    schedule    DDPM linear-beta schedule (diffusers defaults)
    model       UNet: GroupNorm + SiLU res blocks, sinusoidal time embedding of the
                (possibly fractional) discrete timestep, optional self-attention
    training    EMA, checkpoint save/resume, loss log, the training loop
    export      ONNX export (contract: sample [N,1,H,W], timestep [N] -> out [N,1,H,W]),
                diffusers scheduler_config.json, tweedie.json (+ the gradient graph's entry)
    preview     50-step DDIM sampler, PNG grid and loss-curve writers (Pillow)

Every recipe calls torch.set_num_threads(1): the machines these run on are shared.
"""
from __future__ import annotations

import gzip
import json
import math
import os
import struct
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

# ----------------------------------------------------------------------------- data


def read_idx_images(path: str) -> np.ndarray:
    """Read an IDX3 image file (e.g. Fashion-MNIST) -> uint8 array [N, rows, cols]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 2051:
        raise ValueError(f"{path}: not an IDX3 ubyte file (magic {magic})")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)


_NIFTI_DTYPES = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64,
                 256: np.int8, 512: np.uint16, 768: np.uint32}


def read_nifti(path: str) -> tuple[np.ndarray, dict]:
    """Read a NIfTI-1 volume -> (float32 array indexed [x, y, z], header dict).

    Only the fields needed here are parsed from the 348-byte header: dim, datatype,
    pixdim, vox_offset, scl_slope/scl_inter. Data are stored x-fastest (Fortran order).
    """
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    endian = "<" if struct.unpack("<i", raw[:4])[0] == 348 else ">"
    if struct.unpack(endian + "i", raw[:4])[0] != 348:
        raise ValueError(f"{path}: not a NIfTI-1 file")
    dim = struct.unpack(endian + "8h", raw[40:56])
    datatype, bitpix = struct.unpack(endian + "hh", raw[70:74])
    pixdim = struct.unpack(endian + "8f", raw[76:108])
    vox_offset, scl_slope, scl_inter = struct.unpack(endian + "fff", raw[108:120])
    shape = tuple(int(d) for d in dim[1:1 + dim[0]])
    dtype = np.dtype(_NIFTI_DTYPES[datatype]).newbyteorder(endian)
    count = int(np.prod(shape))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=int(vox_offset))
    vol = data.reshape(shape, order="F").astype(np.float32)
    if scl_slope != 0.0 and not math.isnan(scl_slope):  # 0 means "no scaling"
        vol = vol * np.float32(scl_slope) + np.float32(scl_inter)
    header = {"dim": shape, "datatype": int(datatype), "bitpix": int(bitpix),
              "pixdim": [float(p) for p in pixdim[1:1 + dim[0]]],
              "vox_offset": float(vox_offset), "scl_slope": float(scl_slope),
              "scl_inter": float(scl_inter)}
    return vol, header


# ------------------------------------------------------------------------- schedule


@dataclass
class DDPMSchedule:
    """Discrete VP schedule, diffusers DDPMScheduler with beta_schedule='linear'."""
    num_train_timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self):
        betas = np.linspace(self.beta_start, self.beta_end, self.num_train_timesteps,
                            dtype=np.float64)
        self.alphas_cumprod = np.cumprod(1.0 - betas)  # float64, like tweedie's paths

    def coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(abar_t), sqrt(1 - abar_t) for integer timesteps t, as float32 tensors."""
        abar = torch.from_numpy(self.alphas_cumprod)[t.long()]
        return abar.sqrt().float(), (1.0 - abar).sqrt().float()

    def scheduler_config(self) -> dict:
        return {
            "_class_name": "DDPMScheduler",
            "_diffusers_version": "0.21.0",
            "num_train_timesteps": self.num_train_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
            "beta_schedule": "linear",
            "trained_betas": None,
            "variance_type": "fixed_small",
            "prediction_type": "epsilon",
            "clip_sample": False,
            "clip_sample_range": 1.0,
            "thresholding": False,
            "timestep_spacing": "leading",
            "steps_offset": 0,
        }


# ---------------------------------------------------------------------------- model


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of a float timestep [N] -> [N, dim]; fractional t is fine."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) *
                      torch.arange(half, dtype=torch.float32, device=t.device) / half)
    # float64 t (exact references, training/gradients.py) keeps the exported float32 freqs
    dtype = torch.float64 if t.dtype == torch.float64 else torch.float32
    args = t.to(dtype)[:, None] * freqs.to(dtype)[None, :]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = _norm(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, cout)
        self.norm2 = _norm(cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb(temb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over the spatial positions."""

    def __init__(self, ch: int):
        super().__init__()
        self.norm = _norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)
        attn = torch.softmax(torch.bmm(q.transpose(1, 2), k) / math.sqrt(c), dim=-1)
        out = torch.bmm(v, attn.transpose(1, 2)).reshape(n, c, h, w)
        return x + self.proj(out)


class UNet(nn.Module):
    """Small DDPM UNet: one res block per level on the way down and on the way up.

    Down: res block (+ attention) -> strided 3x3 conv. Middle: res block + attention.
    Up: nearest x2 -> concat skip -> res block (+ attention). Output conv zero-initialised.

    channels[i] is the width at resolution image_size / 2**i; attention is applied at
    the resolutions listed in attn_resolutions and always in the middle block.
    """

    def __init__(self, image_size: int, channels: Sequence[int] = (32, 64, 64),
                 attn_resolutions: Sequence[int] = (8,), in_channels: int = 1,
                 temb_dim: int = 128, dropout: float = 0.0, out_channels: int | None = None):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.config = dict(image_size=image_size, channels=list(channels),
                           attn_resolutions=list(attn_resolutions),
                           in_channels=in_channels, temb_dim=temb_dim, dropout=dropout,
                           out_channels=out_channels)
        self.temb_dim = temb_dim
        self.time_mlp = nn.Sequential(nn.Linear(temb_dim, temb_dim), nn.SiLU(),
                                      nn.Linear(temb_dim, temb_dim))
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        res = [image_size // 2 ** i for i in range(len(channels))]

        def attn(ch, r):
            return SelfAttention(ch) if r in attn_resolutions else nn.Identity()

        self.down, self.down_attn, self.downsample = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        prev = channels[0]
        for i, ch in enumerate(channels):
            self.down.append(ResBlock(prev, ch, temb_dim, dropout))
            self.down_attn.append(attn(ch, res[i]))
            last = i == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            prev = ch
        self.mid = ResBlock(prev, prev, temb_dim, dropout)
        self.mid_attn = SelfAttention(prev)
        self.up, self.up_attn = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(channels))):
            ch = channels[i]
            self.up.append(ResBlock(prev + ch, ch, temb_dim, dropout))
            self.up_attn.append(attn(ch, res[i]))
            prev = ch
        self.norm_out = _norm(prev)
        self.conv_out = nn.Conv2d(prev, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(timestep, self.temb_dim))
        h = self.conv_in(sample)
        skips = []
        for block, attn, down in zip(self.down, self.down_attn, self.downsample):
            h = attn(block(h, temb))
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid(h, temb))
        for i, (block, attn) in enumerate(zip(self.up, self.up_attn)):
            if i > 0:  # nearest upsampling; the next block's 3x3 conv does the smoothing
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = attn(block(torch.cat([h, skips.pop()], dim=1), temb))
        return self.conv_out(F.silu(self.norm_out(h)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------- training


class EMA:
    """Exponential moving average of the weights.

    decay_t = min(decay, (1 + t) / (10 + t)) (the usual warm-up, as in diffusers'
    EMAModel), so that short runs are not dominated by the random initialisation.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach(), alpha=1.0 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> None:
        model.load_state_dict(self.shadow)


@dataclass
class TrainConfig:
    steps: int
    batch_size: int = 128
    lr: float = 2e-4
    warmup: int = 200
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    checkpoint_every_s: float = 240.0
    log_every: int = 10
    seed: int = 0


def ddpm_eps_loss(sched: DDPMSchedule) -> Callable:
    """The DDPM objective: MSE between predicted and true eps, t uniform on 0..T-1."""
    def loss(model: nn.Module, x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        t = torch.randint(0, sched.num_train_timesteps, (x0.shape[0],), generator=gen)
        eps = torch.randn(x0.shape, generator=gen)
        a, s = sched.coefficients(t)
        xt = a[:, None, None, None] * x0 + s[:, None, None, None] * eps
        return F.mse_loss(model(xt, t.float()), eps)
    return loss


def train(model: nn.Module, sample_batch: Callable[[torch.Generator, int], object],
          cfg: TrainConfig, loss_fn: Callable, ckpt_path: str, log_path: str,
          resume: bool = False, stop_at: float | None = None) -> dict:
    """Training loop with Adam, linear warm-up, EMA and checkpoints.

    sample_batch(generator, batch_size) returns a batch (e.g. a [B, C, H, W] float32 tensor
    in [-1, 1]); loss_fn(model, batch, generator) returns the scalar loss (ddpm_eps_loss).
    The loss log (step, loss, wall seconds) is appended to log_path as CSV.
    stop_at: a Unix time; training stops early (with a checkpoint) once it is passed.
    Returns the training state: step, wall seconds, ema.
    """
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = EMA(model, cfg.ema_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, wall = 0, 0.0
    if resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.shadow = ck["ema"]
        gen.set_state(ck["gen"])
        step, wall = ck["step"], ck["wall"]
        print(f"resumed from {ckpt_path} at step {step} ({wall:.0f} s of training)", flush=True)
    elif not resume and os.path.exists(log_path):
        os.remove(log_path)

    def save():
        os.makedirs(os.path.dirname(ckpt_path), exist_ok=True)
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow,
                    "gen": gen.get_state(), "step": step, "wall": wall,
                    "config": getattr(model, "config", None), "train_config": cfg.__dict__}, tmp)
        os.replace(tmp, ckpt_path)

    model.train()
    last_ckpt = time.time()
    t0, wall0 = time.time(), wall
    running = []
    with open(log_path, "a") as log:
        if os.path.getsize(log_path) == 0:
            log.write("step,loss,wall_s\n")
        while step < cfg.steps:
            loss = loss_fn(model, sample_batch(gen, cfg.batch_size), gen)
            for g in opt.param_groups:
                g["lr"] = cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            ema.update(model, step)
            wall = wall0 + time.time() - t0
            running.append(loss.item())
            if step % cfg.log_every == 0 or step == cfg.steps:
                log.write(f"{step},{np.mean(running):.6f},{wall:.1f}\n")
                log.flush()
                print(f"step {step}/{cfg.steps} loss {np.mean(running):.4f} "
                      f"{wall:.0f}s ({wall / step if step else 0:.2f}s/step since start)", flush=True)
                running = []
            if time.time() - last_ckpt > cfg.checkpoint_every_s:
                save()
                last_ckpt = time.time()
            if stop_at is not None and time.time() > stop_at:
                print(f"stop_at reached: stopping early at step {step}", flush=True)
                break
    save()
    return {"step": step, "wall": wall, "ema": ema}


def load_checkpoint_ema(model: nn.Module, ckpt_path: str) -> dict:
    """Load the EMA weights of a checkpoint into model; returns the checkpoint."""
    ck = torch.load(ckpt_path)
    model.load_state_dict(ck["ema"])
    return ck


def read_loss_log(log_path: str) -> np.ndarray:
    """CSV loss log -> array [K, 3] of (step, loss, wall_s)."""
    return np.loadtxt(log_path, delimiter=",", skiprows=1, ndmin=2)


# ---------------------------------------------------------------------------- export


def export_onnx(model: nn.Module, path: str, shape: Sequence[int], opset: int = 14):
    """Export with the tweedie contract, run onnx.checker; returns the loaded ModelProto.

    inputs: sample float32 [N, C, H, W], timestep float32 [N] (discrete index 0..999,
    fractional allowed); output: out float32 [N, C, H, W] = predicted epsilon.
    """
    import onnx
    model.eval()
    sample = torch.randn(2, *shape)
    timestep = torch.tensor([10.0, 500.5])
    torch.onnx.export(model, (sample, timestep), path, opset_version=opset,
                      input_names=["sample", "timestep"], output_names=["out"],
                      dynamic_axes={"sample": {0: "N"}, "timestep": {0: "N"}, "out": {0: "N"}},
                      do_constant_folding=True)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    return m


def write_json(path: str, obj: dict) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# the vector-Jacobian graph beside model.onnx (training/gradients.py writes it)
GRADIENT = {"file": "model.grad.onnx", "cotangent": "cotangent", "output": "out", "vjp": "vjp"}


def tweedie_json(shape: Sequence[int], extra: dict | None = None, gradient: bool = False) -> dict:
    d = {"prediction": "epsilon", "time_input": "discrete",
         "inputs": {"sample": "sample", "timestep": "timestep"}, "output": "out",
         "shape": list(shape), "value_range": [-1, 1]}
    if gradient:
        d["gradient"] = dict(GRADIENT)
    if extra:
        d.update(extra)
    return d


# --------------------------------------------------------------------------- preview


@torch.no_grad()
def ddim_sample(model: nn.Module, sched: DDPMSchedule, shape: Sequence[int], n: int,
                steps: int = 50, seed: int = 0) -> torch.Tensor:
    """Deterministic DDIM (eta = 0), diffusers 'leading' spacing, final alpha = 1."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((n, *shape), generator=gen)
    ratio = sched.num_train_timesteps // steps
    ts = (np.arange(steps) * ratio)[::-1]
    abar = sched.alphas_cumprod
    for i, t in enumerate(ts):
        a_t = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        eps = model(x, torch.full((n,), float(t))).double()
        xd = x.double()
        x0 = (xd - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        x = (math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps).float()
    return x


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


# ---------------------------------------------------------------------------- finish


def parse_deadline(hhmm: str | None) -> float | None:
    """'HH:MM' (UTC, today, or tomorrow if already past) -> Unix time; None passes."""
    if not hhmm:
        return None
    import datetime as dt
    now = dt.datetime.now(dt.timezone.utc)
    h, m = (int(v) for v in hhmm.split(":"))
    t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if t < now - dt.timedelta(hours=12):
        t += dt.timedelta(days=1)
    return t.timestamp()


def finish(model: nn.Module, ckpt_path: str, log_path: str, out_dir: str,
           sched: DDPMSchedule, shape: Sequence[int], n_samples: int, nrow: int,
           title: str, png_scale: int = 2) -> dict:
    """EMA weights -> model.onnx (+ check), model.grad.onnx (+ checks), scheduler_config.json,
    tweedie.json, samples.png (50-step DDIM), loss_curve.png, loss.csv. Returns facts for the card."""
    os.makedirs(out_dir, exist_ok=True)
    ck = load_checkpoint_ema(model, ckpt_path)
    model.eval()
    onnx_path = os.path.join(out_dir, "model.onnx")
    export_onnx(model, onnx_path, shape)
    diff = None
    try:  # numerical check with the small numpy ONNX evaluator (no onnxruntime here)
        from onnx_numpy import run_onnx
        gen = torch.Generator().manual_seed(1)
        x = torch.randn((4, *shape), generator=gen)
        t = torch.tensor([0.0, 17.25, 500.0, 999.0])
        with torch.no_grad():
            ref = model(x, t).numpy()
        got = run_onnx(onnx_path, {"sample": x.numpy(), "timestep": t.numpy()})["out"]
        diff = float(np.abs(ref - got).max())
        print(f"onnx vs torch max abs diff: {diff:.3g}", flush=True)
    except Exception as e:  # keep the export usable even if the checker cannot run
        print(f"numpy ONNX comparison skipped: {e!r}", flush=True)
    write_json(os.path.join(out_dir, "scheduler_config.json"), sched.scheduler_config())
    from gradients import write_gradient  # gradients.py imports this module
    grad_errs = write_gradient(out_dir, model, shape)
    write_json(os.path.join(out_dir, "tweedie.json"), tweedie_json(shape, gradient=True))
    t0 = time.time()
    samples = ddim_sample(model, sched, shape, n_samples, steps=50, seed=0)
    print(f"DDIM preview: {time.time() - t0:.0f}s", flush=True)
    save_grid_png(samples.numpy(), os.path.join(out_dir, "samples.png"), nrow=nrow, scale=png_scale)
    log = read_loss_log(log_path)
    np.savetxt(os.path.join(out_dir, "loss.csv"), log, delimiter=",",
               header="step,loss,wall_s", comments="", fmt=["%d", "%.6f", "%.1f"])
    save_loss_png(log, os.path.join(out_dir, "loss_curve.png"), title)
    tail = log[log[:, 0] > log[-1, 0] - 100, 1]  # last ~100 steps
    return {"params": count_parameters(model), "steps": int(ck["step"]),
            "wall_s": float(ck["wall"]), "final_loss": float(tail.mean()),
            "onnx_bytes": os.path.getsize(onnx_path), "onnx_max_abs_diff": diff,
            "gradient_errors": grad_errs,
            "train_config": ck["train_config"], "model_config": ck["config"]}
