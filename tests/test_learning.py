"""The GAN must learn: on disks over a flat background (16x16, tiny nets), a Frechet distance between generated
and real images, on 4x4 average-pooled pixels, must fall by a large factor within a fixed number of steps. A broken
trainer (G's learning rate 0) must fail the same check."""

import pytest
import torch
import torch.nn.functional as F

from primps.trainers.loop import Trainer
from primps.trainers.presets import get_preset

pytestmark = [pytest.mark.usefixtures("torch_one_thread"), pytest.mark.slow]

RES, STEPS, BATCH = 16, 250, 16


def disks(n: int, gen: torch.Generator) -> torch.Tensor:
    """uint8 [n,3,RES,RES]: one bright disk of random centre/radius/colour on a dark background."""
    yy, xx = torch.meshgrid(torch.arange(RES) + 0.5, torch.arange(RES) + 0.5, indexing="ij")
    c = torch.rand(n, 2, generator=gen) * RES * 0.5 + RES * 0.25
    r = torch.rand(n, 1, 1, generator=gen) * RES * 0.15 + RES * 0.15
    col = torch.rand(n, 3, 1, 1, generator=gen) * 0.5 + 0.5
    inside = ((yy - c[:, 0, None, None]) ** 2 + (xx - c[:, 1, None, None]) ** 2 < r ** 2).float()
    img = 0.1 + inside[:, None] * (col - 0.1)
    return (img * 255).round().to(torch.uint8)


def frechet(a: torch.Tensor, b: torch.Tensor) -> float:
    from primps.trainers.metrics import fid_from_features

    def feats(x):
        return F.avg_pool2d(x.float() / 127.5 - 1, 4).flatten(1).double().numpy()
    return fid_from_features(feats(a), feats(b), method="eigh")


def train_and_measure(**over) -> tuple[float, float]:
    cfg = get_preset("cpu-smoke", resolution=RES, batch=BATCH, mbstd_group=4, channel_base=128, channel_max=32,
                     ema_halflife_kimg=0.5, style_mixing_prob=0.0, **over)
    tr = Trainer(cfg, "cpu", 0, precision="fp32")
    gen = torch.Generator().manual_seed(1)
    real = disks(512, gen)
    z = torch.randn(512, cfg.z_dim, generator=torch.Generator().manual_seed(2))

    def dist() -> float:
        with torch.no_grad():
            fake = torch.cat([tr.sample(z[i:i + 128]) for i in range(0, 512, 128)])
        return frechet(real, fake)

    before = dist()
    for _ in range(STEPS):
        tr.step(disks(BATCH, gen))
    return before, dist()


def test_gan_learns_disks():
    before, after = train_and_measure()
    assert after < before / 5, (before, after)


def test_broken_trainer_fails_the_learning_check():
    before, after = train_and_measure(g_lr=1e-12)   # g_lr must be > 0 in a config; 1e-12 is "zero"
    assert not after < before / 5, (before, after)
