"""The synthesizer: determinism, each variant's defining property measured on the pixels, and the knobs."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from primps.pipeline import raster
from primps.pipeline.config import VARIANTS, SynthConfig, resolve_synth_config
from primps.pipeline.pinknoise import _MAG, _PHASOR, PinkNoise, radial_power_spectrum
from primps.pipeline.synth import (
    STRIP_DENSITY,
    _shape_params,
    particle_count,
    render_batch,
    render_one,
    render_with_mask,
    sample_rng,
    size_bounds,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = SynthConfig(height=64, width=64)


def _digest(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def _flat_fraction(img: np.ndarray) -> float:
    """Fraction of pixels whose right and lower neighbours have exactly the same colour."""
    a = img[:-1, :-1]
    same = np.all(a == img[1:, :-1], axis=-1) & np.all(a == img[:-1, 1:], axis=-1)
    return float(same.mean())


# -- determinism ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", VARIANTS)
def test_same_inputs_same_bytes_and_batch_equals_singles(variant):
    cfg = SMALL.replace(variant=variant)
    idx = [5, 0, 3, 11]
    batch = render_batch(cfg, 7, idx)
    assert batch.shape == (4, 64, 64, 3) and batch.dtype == np.uint8
    for k, i in enumerate(idx):
        one = render_one(cfg, 7, i)
        assert np.array_equal(one, batch[k])
        assert np.array_equal(one, render_one(cfg, 7, i))
    assert np.array_equal(render_batch(cfg, 7, idx[::-1])[::-1], batch)  # order does not matter
    assert not np.array_equal(batch[0], batch[1])  # different indices differ
    assert not np.array_equal(render_one(cfg, 8, 5), batch[0])  # different seeds differ


def test_same_bytes_in_a_separate_process():
    code = (
        "import hashlib, numpy as np\n"
        "from primps.pipeline.config import SynthConfig, VARIANTS\n"
        "from primps.pipeline.synth import render_batch\n"
        "for v in VARIANTS:\n"
        "    b = render_batch(SynthConfig(height=48, width=40, variant=v), 3, [2, 9])\n"
        "    print(hashlib.sha256(b.tobytes()).hexdigest())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    here = [_digest(render_batch(SynthConfig(height=48, width=40, variant=v), 3, [2, 9])) for v in VARIANTS]
    assert proc.stdout.split() == here


def test_no_global_rng_used():
    state = np.random.get_state()
    np.random.seed(123)
    a = render_one(SMALL, 0, 1)
    np.random.seed(456)
    b = render_one(SMALL, 0, 1)
    np.random.set_state(state)
    assert np.array_equal(a, b)


def test_sample_rng_is_seedsequence_of_seed_and_index():
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence([4, 9]))).random(3)
    assert np.array_equal(sample_rng(4, 9).random(3), expected)


# -- pink noise ---------------------------------------------------------------------------------------------------
def _slope(field: np.ndarray) -> float:
    f, p = radial_power_spectrum(field, n_bins=24)
    return float(np.polyfit(np.log(f), np.log(p), 1)[0])


def test_pink_noise_spectrum_exponent_follows_alpha():
    # with a = b = alpha the amplitude falls like f^-alpha, the power like f^-(2 alpha)
    for alpha in (1.0, 2.0):
        slopes = [_slope(PinkNoise(sample_rng(1, i), 1, 128, 128, alpha, alpha).field(0)) for i in range(6)]
        assert abs(np.mean(slopes) + 2 * alpha) < 0.4, (alpha, slopes)


def test_pinknoise_variant_power_falls_with_frequency():
    for side in (256, 128):
        imgs = render_batch(SynthConfig(variant="pinknoise", height=side, width=side), 0, range(6))
        for img in imgs:
            c = int(np.argmax(img.reshape(-1, 3).std(axis=0)))  # the dominant channel carries the texture
            assert -9.0 < _slope(img[:, :, c].astype(np.float64)) < -0.8
            if side == 256:  # normalised jointly over the three channels: one 0 and one 255 somewhere
                assert img.min() == 0 and img.max() == 255
            else:  # below 256: the area mean of the 256^2 image, whose single 255 is averaged with lower values
                assert img.max() < 255


def test_pinknoise_joint_normalisation_switch():
    """SPEC 2: joint min-max gives one dominant channel over a tint; per-channel min-max gives colourful noise."""
    cfg = SynthConfig(variant="pinknoise", height=256, width=256)
    joint = render_batch(cfg, 0, range(8))
    own = render_batch(cfg.replace(joint_normalisation=False), 0, range(8))
    for img in own:
        assert img.reshape(-1, 3).min(axis=0).tolist() == [0, 0, 0]
        assert img.reshape(-1, 3).max(axis=0).tolist() == [255, 255, 255]
    ratio = [np.sort(im.reshape(-1, 3).std(axis=0))[[0, 2]] for im in joint]
    assert np.median([hi / max(lo, 1e-3) for lo, hi in ratio]) > 5  # channel amplitudes differ a lot
    assert np.mean([im.std(axis=(0, 1)).mean() for im in own]) > 1.5 * np.mean([im.std(axis=(0, 1)).mean()
                                                                              for im in joint])


def test_spectral_coefficients_are_complex_gaussian():
    assert abs(float(np.mean(_MAG.astype(np.float64) ** 2)) - 2.0) < 1e-3  # E|z|^2 = 2: unit variance per part
    assert np.allclose(np.abs(_PHASOR), 1.0, atol=1e-6) and abs(_PHASOR.mean()) < 1e-6
    f = PinkNoise(sample_rng(0, 0), 1, 64, 64, 0.0, 0.0).field(0)  # weights 1/2 except DC: white noise
    z = (f - f.mean()) / f.std()
    assert abs(float(np.mean(z**4)) - 3.0) < 0.3  # Gaussian kurtosis


def test_pink_noise_channels_are_independent_and_keep_their_dc():
    n = PinkNoise(sample_rng(0, 3), 6, 64, 96, 0.5, 3.5)
    fields = n.fields()
    assert fields.shape == (6, 64, 96) and fields.dtype == np.float32
    assert np.array_equal(n.field(4), fields[4])
    assert len({_digest(f) for f in fields}) == 6
    # SPEC 1: the zero frequency is kept (weight 1 / (f0^a + f0^b + 2e-6)), so fields carry random offsets
    means = np.array([PinkNoise(sample_rng(1, i), 1, 64, 64, 2.0, 2.0).field(0).mean() for i in range(40)])
    stds = np.array([PinkNoise(sample_rng(1, i), 1, 64, 64, 2.0, 2.0).field(0).std() for i in range(40)])
    assert np.sqrt(np.mean(means ** 2)) > 0.5 * np.mean(stds)


def test_frequency_unit_follows_the_spec():
    from primps.pipeline.pinknoise import freq_vectors

    fy, fx = freq_vectors(256, 256)
    assert np.isclose(fy[1], 5 / 256) and np.isclose(fx[128], 2.5) and np.isclose(fy[0], 0.5 / 256)
    fy, fx = freq_vectors(64, 128)  # image unit: cycles per S = 64 pixels, 5 / 256 each
    assert np.isclose(fy[1], 5 / 256) and np.isclose(fx[2], 5 / 256) and np.isclose(fx[0], 0.5 / 256)
    fy, fx = freq_vectors(64, 64, "pixel")  # the official per-pixel unit
    assert np.isclose(fy[1], 5 / 64) and np.isclose(fx[0], 0.5 / 64)


# -- variants ---------------------------------------------------------------------------------------------------
def test_primitives_has_large_flat_regions():
    for side, flat in ((256, 0.75), (128, 0.6)):  # below 256 edges are antialiased: fewer equal neighbours
        imgs = render_batch(SynthConfig(variant="primitives", height=side, width=side), 0, range(4))
        for img in imgs:
            assert _flat_fraction(img) > flat
            assert len(np.unique(img.reshape(-1, 3), axis=0)) > 20  # many coloured shapes


def test_primitives_with_no_shapes_is_one_flat_colour():
    img = render_one(SynthConfig(variant="primitives", n_shapes=0, height=32, width=32), 0, 0)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) == 1


def _centre_box(h: int, w: int, d: int | None = None) -> tuple[slice, slice]:
    d = d or max(1, min(h, w) // 20)  # jitter <= S/10 and radius >= S/4: this box is always inside
    return slice(h // 2 - d, h // 2 + d), slice(w // 2 - d, w // 2 + d)


@pytest.mark.parametrize("hw, preset", [((128, 128), "paper"), ((128, 128), "clean"), ((64, 64), "clean"),
                                        ((64, 128), "clean"), ((128, 48), "clean")])
def test_salient_shape_covers_the_centre(hw, preset):
    """Square: a box around the centre is always covered (paper: only the 2x2 centre, since the salient rectangle
    is placed by its corner). Non-square: the shape's centre lies within L/10 of the middle of each axis."""
    h, w = hw
    for variant in ("primitives-s", "primitives-ps"):
        cfg = resolve_synth_config(preset=preset, variant=variant, resolution=f"{h}x{w}")
        for i in range(6):
            img, mask = render_with_mask(cfg, 0, i)
            if h == w:
                ys, xs = _centre_box(h, w, 1 if preset == "paper" else None)
                assert mask[ys, xs].all()
            else:
                yy, xx = np.nonzero(mask)
                assert abs((yy.min() + yy.max()) / 2 - h / 2) <= h / 10 + 1
                assert abs((xx.min() + xx.max()) / 2 - w / 2) <= w / 10 + 1
            assert mask.sum() > 0.12 * min(h, w) ** 2  # radius >= S/4, sides >= 3S/8
            assert np.array_equal(img, render_one(cfg, 0, i))
            if variant == "primitives-s":  # a solid shape: one colour inside (edge pixels below 256 are blends)
                m = mask.astype(bool)
                inner = m.copy()
                inner[1:-1, 1:-1] &= m[:-2, 1:-1] & m[2:, 1:-1] & m[1:-1, :-2] & m[1:-1, 2:]
                assert len(np.unique(img[inner], axis=0)) == 1
    assert not render_with_mask(SynthConfig(variant="primitives", height=h, width=w), 0, 0)[1].any()


def test_ps_salient_region_is_textured():
    cfg = SynthConfig(variant="primitives-ps", height=128, width=128)
    for i in range(4):
        img, mask = render_with_mask(cfg, 0, i)
        inside = img[mask == 1].astype(np.float64)
        assert len(np.unique(inside, axis=0)) > 30  # a smooth texture over a tint, not a solid colour
        assert inside.std(axis=0).max() > 5


def test_pink_noise_plus_salient_only():
    """N = 0: the paper's 'PinkNoise + PS': no flat shapes at all."""
    img, mask = render_with_mask(SynthConfig(variant="primitives-ps", n_shapes=0, height=96, width=96), 0, 0)
    assert mask.any() and (~mask.astype(bool)).any()
    assert _flat_fraction(img) < 0.5


# -- knobs ------------------------------------------------------------------------------------------------------
def test_more_shapes_more_colours():
    def colours(n):
        cfg = SynthConfig(variant="primitives", n_shapes=n, height=128, width=128)
        return np.mean([len(np.unique(im.reshape(-1, 3), axis=0)) for im in render_batch(cfg, 0, range(3))])
    assert colours(5) < colours(50) < colours(300)


def test_size_policies():
    assert size_bounds(SynthConfig()).tolist()[::50] == [53, 28]  # SPEC 3: 53 at n = 0, 28 at n = 50, 3 at 99
    assert size_bounds(SynthConfig())[-1] == 3
    cfg = SynthConfig(n_shapes=400, height=256, width=256, weight_line=0, weight_rectangle=0)  # S = 256
    circ = lambda k, p: p[k == raster.CIRCLE, 2]  # noqa: E731 - a circle's radius is its size
    k, p, _ = _shape_params(cfg, sample_rng(0, 0))
    m = size_bounds(cfg)
    assert np.all(p[k == raster.CIRCLE, 2] <= m[k == raster.CIRCLE] - 1) and circ(k, p).min() >= 1
    assert m.max() == 53 and p[:, 2].max() <= 52 + cfg.ellipse_growth
    assert np.array_equal(m, size_bounds(cfg.replace(height=100, width=100)))  # in reference pixels at every S
    wide = cfg.replace(height=100, width=200)  # a strip of squares: more particles, the same bounds stretched
    assert particle_count(wide) == round(STRIP_DENSITY * 400 * (512 + 255) / 256) and size_bounds(wide).max() == 53
    assert p[:100, 2].mean() > 2.5 * p[-100:, 2].mean()  # later shapes are smaller
    k, p, _ = _shape_params(cfg.replace(size_policy="rand"), sample_rng(0, 0))
    assert circ(k, p).max() <= 52
    assert abs(p[:200, 2].mean() - p[200:, 2].mean()) < 0.2 * p[:, 2].mean()  # no trend
    for frac in (0.1, 0.2, 0.5):
        k, p, _ = _shape_params(cfg.replace(size_policy="fix", fix_fraction=frac), sample_rng(0, 0))
        assert np.allclose(circ(k, p), round(frac * 256))


def test_fix_size_grows_coverage_on_pixels():
    def coverage(frac):
        cfg = SynthConfig(variant="primitives", n_shapes=10, size_policy="fix", fix_fraction=frac,
                          height=96, width=96)
        out = []
        for im in render_batch(cfg, 0, range(4)):
            colours, counts = np.unique(im.reshape(-1, 3), axis=0, return_counts=True)
            out.append(1.0 - counts.max() / counts.sum())  # not the (most common) background colour
        return np.mean(out)
    assert coverage(0.05) < coverage(0.1) < coverage(0.3)


@pytest.mark.parametrize("hw", [(32, 32), (64, 64), (256, 256), (512, 512), (16, 16), (40, 100), (100, 40)])
def test_resolutions(hw):
    h, w = hw
    for variant in VARIANTS:
        img = render_one(SynthConfig(variant=variant, height=h, width=w), 1, 2)
        assert img.shape == (h, w, 3) and img.dtype == np.uint8
        assert len(np.unique(img.reshape(-1, 3), axis=0)) > 3


def test_layout_scales_with_resolution():
    """With sizes and positions from the image (clean), the same sample at 64 and 256 has the same layout: the
    salient shape lands in the same place, and downsampled the big image resembles the small one far more than
    another sample does."""
    cfg = resolve_synth_config(preset="clean", variant="primitives-s")
    for i in range(4, 8):
        small, ms = render_with_mask(cfg.replace(height=64, width=64), 0, i)
        big, mb = render_with_mask(cfg.replace(height=256, width=256), 0, i)
        mb = mb[2::4, 2::4].astype(bool)
        assert (mb & ms.astype(bool)).sum() > 0.8 * (mb | ms.astype(bool)).sum()
        other = render_one(cfg.replace(height=64, width=64), 0, i + 10)
        d_same = np.abs(big[2::4, 2::4].astype(int) - small).mean()
        d_other = np.abs(big[2::4, 2::4].astype(int) - other).mean()
        assert d_same < 0.6 * d_other


def test_largest_frequency_is_one_pixel_scale_pinknoise_nonsquare():
    img = render_one(SynthConfig(variant="pinknoise", height=48, width=160), 0, 0)
    assert img.shape == (48, 160, 3) and img.std() > 10


# -- rasterizer ---------------------------------------------------------------------------------------------------
def test_scanline_rasterizer_matches_point_test():
    rng = np.random.default_rng(1)
    h, w = 48, 70
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    for t in range(200):
        kind = t % 4
        p = np.array([rng.uniform(-10, w + 10), rng.uniform(-10, h + 10), rng.uniform(0.5, 30),
                      rng.uniform(0.5, 30), rng.uniform(0, np.pi), rng.uniform(1, 8)])
        mask = np.zeros((h, w), np.uint8)
        n = raster.draw_mask(mask, kind, p)
        assert n == int(mask.sum())
        assert np.array_equal(mask.astype(bool), raster.inside_reference(kind, p, xx, yy)), (kind, p)


def test_draw_shapes_paints_in_order_with_colours():
    canvas = np.zeros((20, 20, 3), np.uint8)
    params = np.array([[10, 10, 8, 8, 0, 1], [10, 10, 3, 3, 0, 1]], dtype=np.float64)
    kinds = np.array([raster.RECTANGLE, raster.CIRCLE], dtype=np.int64)
    colors = np.array([[255, 0, 0], [0, 0, 255]], dtype=np.uint8)
    raster.draw_shapes(canvas, kinds, params, colors)
    assert canvas[10, 10].tolist() == [0, 0, 255]  # the later circle is on top
    assert canvas[3, 3].tolist() == [255, 0, 0]
    assert canvas[0, 0].tolist() == [0, 0, 0]


def test_line_has_thickness():
    mask = np.zeros((50, 50), np.uint8)
    raster.draw_mask(mask, raster.LINE, np.array([25, 25.5, 15, 0, 0, 5], dtype=np.float64))  # horizontal
    cols = mask.sum(axis=0)
    assert cols[25] == 5 and cols[5] == 0 and mask[25, 10:41].all()


def test_render_into_rejects_a_wrong_canvas():
    from primps.pipeline.synth import render_into

    with pytest.raises(ValueError, match="canvas"):
        render_into(SMALL, 0, 0, np.empty((32, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="canvas"):
        render_into(SMALL, 0, 0, np.empty((64, 64, 3), np.float32))
