"""Each quirk of the published generator is a SynthConfig field that does what SPEC.md section 8 says, and the
`paper` / `clean` presets switch them as documented."""

from __future__ import annotations

import numpy as np
import pytest

from primps.pipeline import raster
from primps.pipeline.config import SynthConfig, resolve_synth_config
from primps.pipeline.synth import _salient_params, _shape_params, render_batch, render_one, sample_rng, size_bounds

LINES_ONLY = dict(weight_line=1.0, weight_circle=0.0, weight_ellipse=0.0, weight_rectangle=0.0)


def _line_directions(cfg: SynthConfig, n_samples: int = 4) -> np.ndarray:
    """sign(dx * dy) of every particle line (thin: from its endpoints; banded: from its angle)."""
    out = []
    for i in range(n_samples):
        kinds, p, _ = _shape_params(cfg, sample_rng(0, i))
        thin = kinds == raster.THIN_LINE
        out.append(np.sign((p[thin, 2] - p[thin, 0]) * (p[thin, 3] - p[thin, 1])))
        band = kinds == raster.LINE
        out.append(np.sign(np.sin(2 * p[band, 4])))
    return np.concatenate(out)


def test_paper_lines_all_run_top_left_to_bottom_right_clean_in_every_direction():
    d = _line_directions(SynthConfig(variant="primitives", **LINES_ONLY))
    assert d.size > 300 and np.all(d >= 0)  # "\" (or axis-aligned) only: y grows with x
    d = _line_directions(resolve_synth_config(preset="clean").replace(variant="primitives", **LINES_ONLY))
    assert (d < 0).mean() > 0.35 and (d > 0).mean() > 0.35


def test_paper_lines_on_pixels():
    """A single thin paper line: its painted pixels have rows increasing with columns."""
    cfg = SynthConfig(variant="primitives", n_shapes=1, height=256, width=256, **LINES_ONLY, size_policy="fix",
                      fix_fraction=1 / 256)  # thickness 1
    checked = 0
    for i in range(10):
        img = render_one(cfg, 3, i)
        ys, xs = np.nonzero(np.any(img != img[0, 0], axis=-1))
        if xs.size > 20 and np.ptp(xs) > 5 and np.ptp(ys) > 5:
            assert np.corrcoef(xs, ys)[0, 1] > 0.99
            checked += 1
    assert checked >= 5


def test_paper_flat_background_is_grey_clean_is_rgb():
    paper = render_batch(SynthConfig(variant="primitives", n_shapes=0, height=16, width=16), 0, range(20))
    assert np.all(paper[..., 0] == paper[..., 1]) and np.all(paper[..., 1] == paper[..., 2])
    clean = render_batch(resolve_synth_config(preset="clean", variant="primitives", resolution=16)
                         .replace(n_shapes=0), 0, range(20))
    assert np.mean([len(set(im[0, 0].tolist())) > 1 for im in clean]) > 0.9


def test_colours_never_reach_255_with_the_paper_colour_range():
    imgs = render_batch(SynthConfig(variant="primitives-s", height=64, width=64), 0, range(20))
    assert imgs.max() <= 254
    full = render_batch(SynthConfig(variant="primitives-s", height=64, width=64, color_max=255), 0, range(40))
    assert full.max() == 255


def test_paper_salient_rectangle_is_off_centre_clean_is_centred():
    def mean_centre(cfg):
        cs = []
        for i in range(300):
            _, p, _ = _salient_params(cfg, sample_rng(0, i))
            cs.append((min(p[0] + p[2], 256) + max(p[0] - p[2], 0)) / 2)  # visible centre, x (clipped)
        return np.mean(cs)

    paper = SynthConfig(variant="primitives-s", salient_kinds=["rectangle"])
    assert 143 < mean_centre(paper) < 155  # SPEC 4: about 149 instead of 127.5
    clean = resolve_synth_config(preset="clean").replace(variant="primitives-s", salient_kinds=["rectangle"])
    assert 124 < mean_centre(clean) < 131


def test_salient_ellipse_rotation_switch():
    cfg = SynthConfig(variant="primitives-s", salient_kinds=["ellipse"])
    assert all(_salient_params(cfg, sample_rng(0, i))[1][4] == 0 for i in range(20))
    rot = cfg.replace(salient_ellipse_rotation=True)
    assert len({_salient_params(rot, sample_rng(0, i))[1][4] for i in range(20)}) > 10


@pytest.mark.parametrize("bounds", ["official", "scaled", "image"])
def test_particle_bounds(bounds):
    """SPEC 6: at S = 32 with the official 0..254 bounds only a few rectangles touch the canvas; scaled (paper) and
    image (clean) bounds keep them all on it. At 256 scaled equals official: corners never beyond 254 - m_n."""
    cfg = SynthConfig(variant="primitives", height=32, width=32, particle_bounds=bounds)
    inside, total = 0, 0
    for i in range(20):
        kinds, p, _ = _shape_params(cfg, sample_rng(0, i))
        rect = kinds == raster.RECTANGLE
        total += rect.sum()
        inside += ((p[rect, 0] - p[rect, 2] < 32) & (p[rect, 1] - p[rect, 3] < 32)).sum()
    frac = inside / total
    assert (frac < 0.1) if bounds == "official" else (frac == 1.0)
    big = SynthConfig(variant="primitives", particle_bounds=bounds)
    m = size_bounds(big)
    corner_max = {"official": 254, "scaled": 254, "image": 255}[bounds]
    seen = -np.inf
    for i in range(20):
        kinds, p, _ = _shape_params(big, sample_rng(0, i))
        rect = kinds == raster.RECTANGLE
        corner = p[rect, 0] - p[rect, 2] - 0.5
        assert np.all(corner <= corner_max - m[rect])
        seen = max(seen, (corner - (corner_max - m[rect])).max())
    assert seen > -3  # the bound is reached


def test_line_length_decay_bounds_line_length():
    cfg = SynthConfig(variant="primitives", **LINES_ONLY)
    m = size_bounds(cfg)
    for decay in (False, True):
        lengths = []
        for i in range(4):
            kinds, p, _ = _shape_params(cfg.replace(line_length_decay=decay), sample_rng(0, i))
            band = kinds == raster.LINE
            thin = kinds == raster.THIN_LINE
            ln = np.zeros(len(kinds))
            ln[band] = 2 * p[band, 2]
            ln[thin] = np.hypot(p[thin, 2] - p[thin, 0], p[thin, 3] - p[thin, 1])
            lengths.append(ln - (m - 1))
        over = np.concatenate(lengths)
        assert (over.max() <= 1.0) if decay else (over.max() > 50)  # +1: endpoints are rounded


def test_salient_mask_per_channel(monkeypatch):
    """A zero colour component leaves that channel showing the background inside the salient shape (paper)."""
    from primps.pipeline import synth

    real = synth._salient_params

    def zero_red(cfg, rng):
        kind, p, color = real(cfg, rng)
        color[0] = 0
        return kind, p, color

    monkeypatch.setattr(synth, "_salient_params", zero_red)
    cfg = SynthConfig(variant="primitives-ps", height=64, width=64)
    img, mask = synth.render_with_mask(cfg, 0, 1)
    single, _ = synth.render_with_mask(cfg.replace(salient_mask_per_channel=False), 0, 1)
    inside = mask == 1
    assert not np.array_equal(img[..., 0][inside], single[..., 0][inside])  # red not replaced
    assert np.array_equal(img[..., 1:][inside], single[..., 1:][inside])  # green and blue replaced
