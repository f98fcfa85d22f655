"""Forward FLOPs of G and D per generated image, counted with ``torch.utils.flop_counter.FlopCounterMode``."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from primps.trainers.networks import Discriminator, Generator
from primps.trainers.presets import TrainConfig


def flops_per_image(cfg: TrainConfig, batch: int = 2) -> float:
    """FLOPs (2 per multiply-add) of one G forward plus one D forward per image, float32 on the CPU."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.resolution, cfg.channel_base, cfg.channel_max)
        D = Discriminator(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.mbstd_group, cfg.mbstd_channels)
        G.requires_grad_(False)
        D.requires_grad_(False)
        with FlopCounterMode(display=False) as fc:
            D(G(torch.randn(batch, cfg.z_dim)))
    return fc.get_total_flops() / batch
