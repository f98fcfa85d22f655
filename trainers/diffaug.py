"""DiffAugment (Zhao et al. 2020): differentiable color, translation and cutout, applied to real and fake images.

All randomness comes from an explicit ``torch.Generator`` (its state is part of the trainer checkpoint).
Images are float tensors in [-1, 1], shape [B, C, H, W].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from primps.trainers.presets import DIFFAUG_NAMES, parse_policy


def _rand(b: int, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype, generator=gen)


def color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    b = x.shape[0]
    x = x + (_rand(b, x, gen) - 0.5)                                   # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(b, x, gen) * 2) + mean                     # saturation
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    x = (x - mean) * (_rand(b, x, gen) + 0.5) + mean                   # contrast
    return x


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio*size pixels in each direction, filling with zeros."""
    b, c, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device, generator=gen)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device, generator=gen)
    gy = (torch.arange(h, device=x.device)[None, :, None] - ty + 1).clamp(0, h + 1).expand(b, h, w)
    gx = (torch.arange(w, device=x.device)[None, None, :] - tx + 1).clamp(0, w + 1).expand(b, h, w)
    xp = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)                    # [B, H+2, W+2, C], zero border
    bi = torch.arange(b, device=x.device)[:, None, None].expand(b, h, w)
    return xp[bi, gy, gx].permute(0, 3, 1, 2).contiguous()


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of side ratio*size (may be clipped at the border) in each image."""
    b, c, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=gen)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=gen)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    inside = (ys >= cy - ch // 2) & (ys < cy - ch // 2 + ch) & (xs >= cx - cw // 2) & (xs < cx - cw // 2 + cw)
    return x * (~inside).to(x.dtype)[:, None]


_FUNCS = {"color": color, "translation": translation, "cutout": cutout}
assert tuple(_FUNCS) == DIFFAUG_NAMES  # the names presets.parse_policy accepts are the ones implemented here


class DiffAugment:
    """Callable augmenter: ``DiffAugment('color,translation,cutout', gen)(x)``; policy '' is the identity."""

    def __init__(self, policy: str, generator: torch.Generator):
        self.policy = policy
        self.names = parse_policy(policy)
        self.generator = generator

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for n in self.names:
            x = _FUNCS[n](x, self.generator)
        return x
