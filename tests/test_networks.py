"""StyleGAN2 networks: shapes, ranges, gradient flow, truncation, style mixing, presets."""

import pytest
import torch

from primps.pipeline.errors import ConfigError
from primps.trainers.networks import Discriminator, Generator, count_params, downsample2x, style_mix, upsample2x
from primps.trainers.presets import TrainConfig, get_preset

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def build(cfg: TrainConfig, seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(cfg.z_dim, cfg.w_dim, cfg.mapping_layers, cfg.resolution, cfg.channel_base, cfg.channel_max)
        D = Discriminator(cfg.resolution, cfg.channel_base, cfg.channel_max, cfg.mbstd_group)
    return G, D


@pytest.mark.parametrize("name", ["cpu-smoke", "small64"])
def test_forward_shapes_and_range(name):
    cfg = get_preset(name)
    G, D = build(cfg)
    z = torch.randn(4, cfg.z_dim, generator=torch.Generator().manual_seed(1))
    img = G(z, generator=torch.Generator().manual_seed(2))
    assert img.shape == (4, 3, cfg.resolution, cfg.resolution)
    assert torch.isfinite(img).all()
    assert 0.05 < img.std() < 10  # neither collapsed nor exploding at init
    assert D(img).shape == (4, 1)


def test_lowshot256_sizes():
    cfg = get_preset("lowshot256")
    assert (cfg.resolution, cfg.batch, cfg.mbstd_group, cfg.channel_base, cfg.channel_max, cfg.mapping_layers) == \
        (256, 16, 4, 32768, 512, 2)
    assert (cfg.g_lr, cfg.betas, cfg.r1_gamma, cfg.ema_halflife_kimg) == (0.002, (0.0, 0.99), 10.0, 10.0)
    G, D = build(cfg)
    assert G.num_ws == 14
    # Full-width StyleGAN2 at 256^2 with a 2-layer mapping network: ~28.5M (G) and ~28.9M (D) parameters.
    assert 27e6 < count_params(G) < 30e6
    assert 27e6 < count_params(D) < 30e6
    # channels = min(channel_base / res, channel_max): 512 at 4..64, 256 at 128, 128 at 256.
    assert G.synthesis.blocks[0].const.shape == (512, 4, 4)
    assert G.synthesis.blocks[-1].torgb.conv.weight.shape == (3, 128, 1, 1)
    assert D.blocks[0].fromrgb.weight.shape == (128, 3, 1, 1)

def test_gradients_reach_every_parameter():
    cfg = get_preset("cpu-smoke")
    G, D = build(cfg)
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, cfg.z_dim, generator=gen)
    ws = style_mix(G, G.map(z), 0.9, gen)
    loss = D(G.synthesis(ws, "random", gen)).square().mean()
    loss.backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_truncation_and_w_avg():
    cfg = get_preset("cpu-smoke")
    G, _ = build(cfg)
    z = torch.randn(3, cfg.z_dim, generator=torch.Generator().manual_seed(0))
    G.mapping(z, update_w_avg=True)
    assert G.mapping.w_avg.abs().sum() > 0
    ws = G.map(z, truncation_psi=0.0)
    assert torch.allclose(ws, G.mapping.w_avg.expand_as(ws))
    assert not torch.allclose(G.map(z, 1.0), ws)


def test_style_mixing_switches_after_cutoff():
    cfg = get_preset("cpu-smoke")
    G, _ = build(cfg)
    gen = torch.Generator().manual_seed(0)
    ws = G.map(torch.randn(8, cfg.z_dim, generator=gen))
    mixed = style_mix(G, ws, 1.0, gen)
    for b in range(8):
        same = (mixed[b] == ws[b]).all(dim=1)
        k = int(same.sum())
        assert 1 <= k < G.num_ws and same[:k].all() and not same[k:].any()
    assert torch.equal(style_mix(G, ws, 0.0, gen), ws)


def test_fir_resampling():
    x = torch.ones(1, 2, 8, 8)
    assert upsample2x(x).shape == (1, 2, 16, 16)
    assert torch.allclose(upsample2x(x)[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))
    assert downsample2x(x).shape == (1, 2, 4, 4)
    assert torch.allclose(downsample2x(x)[..., 1:-1, 1:-1], torch.ones(1, 2, 2, 2))


def test_presets_validate():
    with pytest.raises(ConfigError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ConfigError, match="bogus"):
        get_preset("cpu-smoke", bogus=1)
    with pytest.raises(ConfigError, match="resolution"):
        get_preset("cpu-smoke", resolution=48)
    with pytest.raises(ConfigError, match="diffaug"):
        get_preset("cpu-smoke", diffaug_policy="color,flip")
    cfg = get_preset("small128", batch=8)
    assert cfg.batch == 8 and TrainConfig.from_dict(cfg.to_dict()) == cfg
