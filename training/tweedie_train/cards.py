"""Model-card (MODEL_CARD.md) sections written from a run's own record, not from constants.

`facts` is what export.export_folder returns: the checkpoint's run record (data, objective,
model and training configs, parameter count, sessions with their UTC times and how each
stopped), steps and wall time, the loss log's final mean, the exported files' checks.
"""
from __future__ import annotations

PREDICTION_WORDS = {"eps": "predicted eps", "v": "predicted v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0",
                    "flow": "predicted velocity eps - x0 (x_t = (1 - t) x0 + t eps)"}
TIME_WORDS = {"eps": "discrete index 0..999, fractional values allowed",
              "v": "discrete index 0..999, fractional values allowed",
              "flow": "continuous, 1000 t for t in [0, 1]"}
SCHEDULER_WORDS = {
    "eps": "diffusers DDPMScheduler: 1000 steps, linear betas 1e-4..0.02, epsilon prediction, no clipping",
    "v": "diffusers DDPMScheduler: 1000 steps, linear betas 1e-4..0.02, v_prediction, no clipping",
    "flow": "diffusers FlowMatchEulerDiscreteScheduler: rectified flow, shift 1, flow_prediction",
}
TITLE_WORDS = {"eps": "epsilon-prediction DDPM", "v": "v-prediction DDPM",
               "flow": "rectified-flow (velocity-prediction)"}


def objective_name(f: dict) -> str:
    """The objective the run trained (checkpoints from before the run record were eps)."""
    return f["run"].get("objective", "eps")


def onnx_check(f: dict) -> str:
    if f["onnx_max_abs_diff"] is None:
        return "not compared numerically (no ONNX runtime available)"
    return (f"max |torch - onnx| = {f['onnx_max_abs_diff']:.2g} on a random batch of 4 "
            "(numpy reference evaluator training/onnx_numpy.py; onnxruntime is not installed "
            "for the training Python)")


def files_rows(f: dict, size: str, preview: str, n_samples: int) -> str:
    """The rows for model.onnx, scheduler_config.json, model.grad.onnx, tweedie.json,
    samples.png and the loss log; size like "32,32". A class-conditional export (facts "num_classes")
    has the class input and a preview of one row per class, unguided then guided."""
    from gradients import card_row
    obj, k = objective_name(f), f.get("num_classes", 0)
    class_input = (f" and `class` [N] (int64, the classes 0..{k - 1} or the null class {k}: unconditional)"
                   if k else "")
    samples = (f"one row per class 0..{k - 1}: {n_samples // (2 * k)} samples of the conditional model "
               f"(guidance 1), then the same noises at guidance {f['preview_scale']:g}; {preview}"
               if k else f"{n_samples} samples, {preview}")
    return "\n".join([
        f"| model.onnx | float32 ONNX (opset 14), inputs `sample` [N,1,{size}]{', ' if k else ' and '}`timestep` [N] "
        f"(float, {TIME_WORDS[obj]}){class_input}, output `out` [N,1,{size}] = {PREDICTION_WORDS[obj]}; "
        f"{f['onnx_bytes'] / 1e6:.1f} MB |",
        f"| scheduler_config.json | {SCHEDULER_WORDS[obj]} |",
        *([card_row(f["gradient_errors"])] if f["gradient_errors"] else []),
        "| tweedie.json | tweedie's model descriptor" + (" (declares the class condition)" if k else "") + " |",
        f"| samples.png | {samples}, PyTorch EMA weights, seed 0 |",
        "| loss_curve.png, loss.csv | training loss (mean of each 10 steps), step, wall seconds |",
        "| run.json | the run record (steps, training seconds, sessions, configuration): what `--from-export` continues from |",
    ])


def cooldown_text(s: dict) -> str:
    """A session's planned lr decay, said as done only if the session reached its end."""
    if not s.get("cooldown"):
        return ""
    start, end = s["cooldown"]
    if s["to_step"] >= end:
        return f", lr decayed linearly to 0 over steps {start:,}-{end:,}"
    return f", lr to decay linearly to 0 over steps {start:,}-{end:,} (the session stopped before step {end:,})"


def sessions_lines(run: dict) -> str:
    out = []
    for s in run.get("sessions", []):
        # A session killed without a clean stop keeps the record of its last checkpoint, still marked running.
        how = "ended without a clean stop (as of its last checkpoint)" if s['stopped'] == 'running' else f"stopped by {s['stopped']}"
        threads = f", {s['threads']} threads" if s.get("threads", 1) > 1 else ""
        cool = cooldown_text(s)
        out.append(f"  - {s['started']} to {s.get('ended', '?')}: steps {s['from_step']}..{s['to_step']}{threads}{cool}, {how}")
    return "\n".join(out)


def reproduce_note(run: dict) -> str:
    """For a card's Reproduce section: where the weights were continued (or grown) across sessions, the one command
    shown trains the recipe's current model from scratch, which is not the run that made them."""
    if not run.get("continued"):
        return ""
    how = "continued and grown" if run.get("grown") else "continued"
    return (f"\nThese weights were not trained by that one command: they were {how} from earlier exports across the\n"
            "sessions under Training. The command trains this recipe's current model from scratch, which is not the\n"
            "same run.\n")


def training_section(f: dict, objective_text: str, heldout: str | None = None) -> str:
    """## Training, from the run record: objective, optimiser, EMA, steps, time, losses."""
    tc, run = f["train_config"], f["run"]
    planned = tc["steps"]
    steps_note = f" (stopped before the planned {planned})" if f["steps"] < planned else ""
    lines = [
        "## Training",
        "",
        f"- objective: {objective_text}",
        f"- Adam, lr {tc['lr']} with a {tc['warmup']}-step linear warm-up"
        + (", decayed linearly to 0 at the end of the sessions that say so below"
           if any(s.get("cooldown") for s in run.get("sessions", [])) else "")
        + f", batch {tc['batch_size']}, gradient-norm clip {tc['grad_clip']}",
        f"- EMA of the weights, decay min({tc['ema_decay']}, (1 + step) / (10 + step)); "
        "the exported weights are the EMA weights",
        f"- **{f['steps']} steps**{steps_note}, **{f['wall_s'] / 60:.1f} minutes** of training "
        + (f"on up to {most} CPU threads, per session below"
           if (most := max((s.get("threads", 1) for s in run.get("sessions", [])), default=1)) > 1
           else "on 1 CPU thread")
        + " (torch 1.13, cores shared with other work)",
        f"- final training loss (mean over the last 100 steps): **{f['final_loss']:.4f}**"
        + (f"; smoothed (EMA 0.99 of the per-step loss): {f['loss_ema']:.4f}" if f.get("loss_ema") else ""),
    ]
    if heldout:
        lines.append(f"- {heldout}")
    lines += [f"- {note}; Adam's moments started afresh there" for note in run.get("continued", [])]
    if run.get("sessions"):
        lines += ["- sessions (from the run record):", sessions_lines(run)]
    lines.append(f"- export check: onnx.checker (full check) passes; {onnx_check(f)}")
    return "\n".join(lines)


def model_section(f: dict, sizes: str, code: str) -> str:
    mc = f["model_config"]
    attn = ("no attention (fully convolutional)" if not mc.get("mid_attention", True) else
            "single-head self-attention in the middle (coarsest) block only"
            if not mc["attn_resolutions"] else
            f"single-head self-attention in the middle block and at {mc['attn_resolutions']} pixels")
    blocks = mc.get("res_blocks", 1)
    return (f"UNet, {f['params']:,} parameters: widths {mc['channels']} at {sizes} pixels, "
            f"{'one' if blocks == 1 else blocks} GroupNorm+SiLU residual block{'s' if blocks > 1 else ''} per level "
            "down and up, strided-conv downsampling, "
            f"nearest upsampling, {attn}, sinusoidal embedding of the float timestep "
            f"(dim {mc['temb_dim']}) through a 2-layer MLP. Zero-initialised output and residual "
            f"convolutions. The code is `UNet` in training/tweedie_train/unet.py, built by {code}.")
