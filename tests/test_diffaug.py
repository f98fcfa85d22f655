"""DiffAugment: identity policy, differentiability, translation shifts content, cutout zeroes a patch."""

import pytest
import torch

from primps.pipeline.errors import ConfigError
from primps.trainers.diffaug import DiffAugment, color, cutout, translation
from primps.trainers.presets import parse_policy


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(b=6, h=32, seed=0):
    return torch.rand(b, 3, h, h, generator=gen(seed)) * 2 - 1


def test_empty_policy_is_identity():
    x = images()
    assert DiffAugment("", gen())(x) is x
    assert parse_policy(" , ") == ()


def test_unknown_policy():
    with pytest.raises(ConfigError, match="blur"):
        DiffAugment("color,blur", gen())


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_differentiable(policy):
    x = images().requires_grad_(True)
    y = DiffAugment(policy, gen())(x)
    assert y.shape == x.shape
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_deterministic_given_generator():
    x = images()
    a = DiffAugment("color,translation,cutout", gen(3))(x)
    b = DiffAugment("color,translation,cutout", gen(3))(x)
    c = DiffAugment("color,translation,cutout", gen(4))(x)
    assert torch.equal(a, b) and not torch.equal(a, c)


def shifted(x, dy, dx):
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def test_translation_shifts_content():
    x = images(b=8)
    y = translation(x, gen(1))
    nonzero_shift = 0
    for b in range(8):
        matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if torch.equal(y[b], shifted(x[b], dy, dx))]
        assert len(matches) == 1, b   # each output is exactly the input shifted by at most 1/8 of the size
        nonzero_shift += matches[0] != (0, 0)
    assert nonzero_shift >= 4


def test_cutout_zeroes_a_patch():
    x = torch.ones(8, 3, 32, 32)
    y = cutout(x, gen(2))
    for b in range(8):
        zero = (y[b] == 0).all(dim=0)
        assert zero.any()
        rows, cols = zero.any(dim=1).nonzero(), zero.any(dim=0).nonzero()
        hh, ww = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert hh <= 16 and ww <= 16 and int(zero.sum()) == hh * ww   # one axis-aligned rectangle, <= half size
        assert (y[b][:, ~zero] == 1).all()


def test_color_changes_values_per_sample():
    x = images()
    y = color(x, gen(5))
    assert y.shape == x.shape and not torch.allclose(x, y)
