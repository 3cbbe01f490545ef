"""The shared pieces of the tweedie training recipes (PyTorch 1.13 on CPU -> ONNX).

    data        IDX (Fashion-MNIST) and NIfTI-1 readers
    schedule    the DDPM linear-beta schedule and the rectified-flow path, with their
                diffusers scheduler configs
    unet        the UNet (fully convolutional when asked: attention only at the coarsest level)
    objectives  what the network learns: eps or v on the DDPM path, velocity on rectified flow
    loop        EMA, checkpoints, resume, deadline, loss log and run record, the training loop
    preview     deterministic samplers for the preview grids (DDIM, Euler on the flow)
    export      ONNX export, tweedie.json, scheduler_config.json, the weights folder
    cards       model-card sections written from the run record
    images      PNG writers (sample grids, loss curves)

Every recipe runs with one thread: the machines these run on are shared.
"""
import torch

torch.set_num_threads(1)
