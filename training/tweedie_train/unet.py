"""The UNet of the recipes: GroupNorm + SiLU residual blocks, sinusoidal embedding of the
(possibly fractional) timestep, single-head self-attention in the middle (coarsest) block and,
optionally, at listed resolutions.

With attn_resolutions = () the network is fully convolutional apart from the coarsest-level
attention, which attends over however many positions there are: it runs on any H, W that
are multiples of `size_multiple(model)` (2 ** (levels - 1)), e.g. native-resolution slices
padded to that multiple after training on random crops.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


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
    """Small DDPM UNet: res_blocks residual blocks per level (default one) on the way down and on the way up.

    Down: res block (+ attention) -> strided 3x3 conv. Middle: res block + attention.
    Up: nearest x2 -> concat skip -> res block (+ attention). Output conv zero-initialised.

    channels[i] is the width at resolution image_size / 2**i; attention is applied at
    the resolutions listed in attn_resolutions and in the middle block unless mid_attention
    is False (then the network is fully convolutional: every output pixel sees a bounded
    neighbourhood, so crops and whole slices look alike to it).
    """

    def __init__(self, image_size: int, channels: Sequence[int] = (32, 64, 64),
                 attn_resolutions: Sequence[int] = (8,), in_channels: int = 1,
                 temb_dim: int = 128, dropout: float = 0.0, out_channels: int | None = None,
                 mid_attention: bool = True, num_classes: int = 0, res_blocks: int = 1):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        self.config = dict(image_size=image_size, channels=list(channels),
                           attn_resolutions=list(attn_resolutions),
                           in_channels=in_channels, temb_dim=temb_dim, dropout=dropout,
                           out_channels=out_channels, mid_attention=mid_attention,
                           **({"num_classes": num_classes} if num_classes else {}),
                           **({"res_blocks": res_blocks} if res_blocks > 1 else {}))
        self.temb_dim = temb_dim
        # Class conditioning: a learned embedding added to the time embedding; index num_classes is the
        # null class of label dropout (classifier-free guidance, Ho & Salimans 2022).
        self.class_emb = nn.Embedding(num_classes + 1, temb_dim) if num_classes else None
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
        self.mid_attn = SelfAttention(prev) if mid_attention else nn.Identity()
        self.up, self.up_attn = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(channels))):
            ch = channels[i]
            self.up.append(ResBlock(prev + ch, ch, temb_dim, dropout))
            self.up_attn.append(attn(ch, res[i]))
            prev = ch
        # Blocks 2..res_blocks of each level, after the first (width-keeping, so the zero-initialised conv2 makes
        # each an identity at init: grow_from can deepen a trained model without changing what it computes).
        if res_blocks > 1:
            def extra(ch):
                return nn.ModuleList(ResBlock(ch, ch, temb_dim, dropout) for _ in range(res_blocks - 1))
            self.down_extra = nn.ModuleList(extra(ch) for ch in channels)
            self.up_extra = nn.ModuleList(extra(ch) for ch in reversed(channels))
        self.norm_out = _norm(prev)
        self.conv_out = nn.Conv2d(prev, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        temb = self.time_mlp(timestep_embedding(timestep, self.temb_dim))
        if self.class_emb is not None:
            temb = temb + self.class_emb(class_labels)
        h = self.conv_in(sample)
        skips = []
        for i, (block, attn, down) in enumerate(zip(self.down, self.down_attn, self.downsample)):
            h = block(h, temb)
            for extra in self.extra_blocks("down_extra", i):
                h = extra(h, temb)
            h = attn(h)
            skips.append(h)
            h = down(h)
        h = self.mid_attn(self.mid(h, temb))
        for i, (block, attn) in enumerate(zip(self.up, self.up_attn)):
            if i > 0:  # nearest upsampling; the next block's 3x3 conv does the smoothing
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
            for extra in self.extra_blocks("up_extra", i):
                h = extra(h, temb)
            h = attn(h)
        return self.conv_out(F.silu(self.norm_out(h)))

    def extra_blocks(self, where: str, level: int) -> Sequence[ResBlock]:
        """The level's residual blocks after its first ("down_extra" or "up_extra"; none when res_blocks is 1)."""
        return getattr(self, where)[level] if hasattr(self, where) else ()


def grow_from(model: UNet, small: UNet) -> None:
    """Copy `small`'s weights into `model`, the same UNet with more residual blocks per level (Net2DeeperNet,
    Chen et al. 2016): the extra blocks keep their identity initialisation, so `model` computes what `small` does
    and training goes on from there."""
    if {**small.config, "res_blocks": 0} != {**model.config, "res_blocks": 0}:
        raise SystemExit(f"cannot grow {small.config} into {model.config}: only res_blocks may differ")
    missing, unexpected = model.load_state_dict(small.state_dict(), strict=False)
    if unexpected or any(not k.startswith(("down_extra.", "up_extra.")) for k in missing):
        raise SystemExit(f"cannot grow {small.config} into {model.config}: unmatched weights {unexpected or missing}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def size_multiple(model: UNet) -> int:
    """H and W must be multiples of this (one factor 2 per strided downsampling)."""
    return 2 ** (len(model.config["channels"]) - 1)


def is_fully_convolutional(model: UNet) -> bool:
    """No attention above the coarsest (middle) block: the cost stays linear in H W above it."""
    return not model.config["attn_resolutions"]
