"""The training loop: Adam with warm-up, EMA of the weights, checkpoints, resume, deadline.

A checkpoint (written atomically: temporary file, then rename) holds everything a resumed
run needs to continue as if never stopped: model, EMA, optimiser, step, wall time, the
data/noise generator and torch's global RNG, the loss log rows and the run record. The run
record (also written beside the loss log as <log>.run.json) is what the model card is made
from: what was trained on what, for how long, and with what result.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from .unet import count_parameters
from .warm_start import start_from_export


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
    cooldown: int = 0  # the last `cooldown` steps before `steps` decay lr linearly to 0
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    checkpoint_every_s: float = 240.0
    log_every: int = 10
    seed: int = 0


LOSS_EMA = 0.99  # smoothing of the running training loss reported in the run record


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def add_run_arguments(p, ckpt: str | None, log: str | None, out: str | None) -> None:
    """The options every resumable recipe shares: resume, export/train only, deadline, checkpoints, files."""
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export-only", action="store_true")
    p.add_argument("--train-only", action="store_true", help="stop after training; export later with --export-only")
    p.add_argument("--deadline", help="UTC HH:MM: stop training (with a checkpoint) at this time")
    p.add_argument("--checkpoint-every", type=float, default=300.0, help="seconds between checkpoints")
    p.add_argument("--ckpt", default=ckpt)
    p.add_argument("--log", default=log)
    p.add_argument("--out", default=out)
    p.add_argument("--from-export", metavar="DIR",
                   help="no checkpoint at --ckpt (the machine that had it is gone): start from the model folder DIR "
                        "this recipe exported (its weights, loss log and run record), counting on from its step")


def parse_deadline(hhmm: str | None) -> float | None:
    """'HH:MM' (UTC, today, or tomorrow if already past) -> Unix time; None passes."""
    if not hhmm:
        return None
    now = dt.datetime.now(dt.timezone.utc)
    h, m = (int(v) for v in hhmm.split(":"))
    t = now.replace(hour=h, minute=m, second=0, microsecond=0)
    if t < now - dt.timedelta(hours=12):
        t += dt.timedelta(days=1)
    return t.timestamp()


def learning_rate(cfg: TrainConfig, step: int, adam_from: int) -> float:
    """lr of the step after `step`: a linear warm-up counted from adam_from (the step a fresh Adam started at:
    0, or where a run continued from an export), then constant, then (cfg.cooldown) a linear decay to 0 at
    cfg.steps, which lets a constant-lr run end in a flatter place than its EMA alone reaches."""
    warm = min(1.0, (step - adam_from + 1) / max(1, cfg.warmup))
    cool = min(1.0, (cfg.steps - step) / cfg.cooldown) if cfg.cooldown else 1.0
    return cfg.lr * warm * cool


def run_record_path(log_path: str) -> str:
    return os.path.splitext(log_path)[0] + ".run.json"


def write_log(log_path: str, rows: list) -> None:
    tmp = log_path + ".tmp"
    with open(tmp, "w") as f:
        f.write("step,loss,wall_s\n")
        f.writelines(f"{s},{v:.6f},{w:.1f}\n" for s, v, w in rows)
    os.replace(tmp, log_path)


def train(model: nn.Module, sample_batch: Callable[[torch.Generator, int], object],
          cfg: TrainConfig, loss_fn: Callable, ckpt_path: str, log_path: str,
          resume: bool = False, stop_at: float | None = None, run_info: dict | None = None,
          from_export: str | None = None) -> dict:
    """Train with Adam, linear warm-up, gradient clipping and EMA; checkpoint every
    cfg.checkpoint_every_s seconds, at the end, at the deadline and on SIGTERM/SIGINT.

    sample_batch(generator, batch_size) returns a batch (e.g. a [B, C, H, W] float32 tensor
    in [-1, 1]); loss_fn(model, batch, generator) returns the scalar loss (an objective's
    .loss). The loss log (step, loss = mean over log_every steps, wall seconds) is written to
    log_path as CSV. stop_at: a Unix time; training stops (with a checkpoint) before a step
    would end after it. run_info (data, objective, ...) goes into the run record. from_export: without resume, a
    model folder this recipe exported to start from (warm_start.start_from_export).
    Returns the training state: step, wall seconds, ema, run record.
    """
    if resume and from_export:
        raise SystemExit("--resume and --from-export: give one (--resume continues the checkpoint at --ckpt)")
    start = start_from_export(model, from_export) if from_export else None  # before the EMA copies the weights
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    ema = EMA(model, cfg.ema_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, wall, rows, loss_ema, adam_from = 0, 0.0, [], None, 0
    run = {**(run_info or {}), "model_config": getattr(model, "config", None),
           "params": count_parameters(model), "train_config": asdict(cfg), "sessions": []}
    if resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        ema.shadow = ck["ema"]
        gen.set_state(ck["gen"])
        if "torch_rng" in ck:
            torch.set_rng_state(ck["torch_rng"])
        step, wall, adam_from = ck["step"], ck["wall"], ck.get("adam_from", 0)
        rows, loss_ema = ck.get("log", []), ck.get("loss_ema")
        # earlier sessions and the original run facts; this session's config may raise steps
        run = {**ck.get("run", run), "train_config": asdict(cfg)}
        print(f"resumed from {ckpt_path} at step {step} ({wall:.0f} s of training)", flush=True)
    elif resume:
        raise SystemExit(f"--resume: no checkpoint at {ckpt_path}; run without --resume to start")
    elif start:
        step, wall, rows = start["step"], start["wall"], start["rows"]
        adam_from = step
        run = {**(start["run"] or run), "train_config": asdict(cfg)}
        run["continued"] = run.get("continued", []) + [f"{start['note']}, lr warmed up again over {cfg.warmup} steps"]
        print(start["note"], flush=True)
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    write_log(log_path, rows)  # on resume: exactly the rows up to the checkpoint's step
    session = {"started": utc_now(), "from_step": step, "to_step": step, "threads": torch.get_num_threads(),
               "stopped": "running"}
    if cfg.cooldown:  # each session's own lr decay: a later session with more steps raises lr again
        session["cooldown"] = [cfg.steps - cfg.cooldown, cfg.steps]
    run["sessions"].append(session)

    def save():
        run.update(steps=step, wall_s=round(wall, 1), loss_ema=loss_ema)
        session["to_step"], session["ended"] = step, utc_now()
        os.makedirs(os.path.dirname(ckpt_path) or ".", exist_ok=True)
        tmp = ckpt_path + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "ema": ema.shadow,
                    "gen": gen.get_state(), "torch_rng": torch.get_rng_state(), "step": step,
                    "wall": wall, "adam_from": adam_from, "log": rows, "loss_ema": loss_ema, "run": run,
                    "config": getattr(model, "config", None), "train_config": asdict(cfg)}, tmp)
        os.replace(tmp, ckpt_path)
        write_log(log_path, rows)
        tmp = run_record_path(log_path) + ".tmp"
        with open(tmp, "w") as f:
            json.dump(run, f, indent=2)
        os.replace(tmp, run_record_path(log_path))

    stop = {"signal": None}

    def on_signal(signum, _frame):
        stop["signal"] = signal.Signals(signum).name

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    model.train()
    last_ckpt = time.time()
    t0, wall0, step0 = time.time(), wall, step
    running = []
    try:
        while step < cfg.steps:
            loss = loss_fn(model, sample_batch(gen, cfg.batch_size), gen)
            for g in opt.param_groups:
                g["lr"] = learning_rate(cfg, step, adam_from)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            ema.update(model, step)
            wall = wall0 + time.time() - t0
            value = loss.item()
            running.append(value)
            loss_ema = value if loss_ema is None else LOSS_EMA * loss_ema + (1 - LOSS_EMA) * value
            if step % cfg.log_every == 0 or step == cfg.steps:
                rows.append((step, float(np.mean(running)), wall))
                with open(log_path, "a") as log:
                    log.write(f"{step},{np.mean(running):.6f},{wall:.1f}\n")
                print(f"step {step}/{cfg.steps} loss {np.mean(running):.4f} "
                      f"{wall:.0f}s ({wall / step if step else 0:.2f}s/step since start)", flush=True)
                running = []
            if time.time() - last_ckpt > cfg.checkpoint_every_s:
                save()
                last_ckpt = time.time()
            per_step = (time.time() - t0) / (step - step0)
            if stop_at is not None and time.time() + per_step > stop_at:
                session["stopped"] = "deadline"
                print(f"deadline: stopping at step {step}", flush=True)
                break
            if stop["signal"]:
                session["stopped"] = stop["signal"]
                print(f"{stop['signal']}: stopping at step {step}", flush=True)
                break
        else:
            session["stopped"] = "steps"
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        save()
    return {"step": step, "wall": wall, "ema": ema, "run": run}


def load_checkpoint_ema(model: nn.Module, ckpt_path: str) -> dict:
    """Load the EMA weights of a checkpoint into model; returns the checkpoint."""
    ck = torch.load(ckpt_path)
    model.load_state_dict(ck["ema"])
    return ck


def read_loss_log(log_path: str) -> np.ndarray:
    """CSV loss log -> array [K, 3] of (step, loss, wall_s)."""
    return np.loadtxt(log_path, delimiter=",", skiprows=1, ndmin=2)
