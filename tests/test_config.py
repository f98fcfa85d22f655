"""SynthConfig: validation at the edge, YAML loading, canonical hashing, resolution parsing."""

from __future__ import annotations

import json

import pytest

from primps.pipeline import config as cfgmod
from primps.pipeline.config import (
    GENERATOR_VERSION,
    SYNTH_PRESETS,
    SynthConfig,
    config_hash,
    load_config,
    parse_resolution,
    resolve_synth_config,
    with_overrides,
)
from primps.pipeline.errors import ConfigError, UsageError


def test_defaults_and_roundtrip():
    c = SynthConfig()
    assert c.variant == "primitives-ps" and c.n_shapes == 100 and (c.height, c.width) == (256, 256)
    assert (c.weight_line, c.weight_circle, c.weight_ellipse, c.weight_rectangle) == (1, 2, 2, 2)
    assert (c.alpha_min, c.alpha_max) == (0.5, 3.5)
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d  # JSON-able, lists not tuples
    assert SynthConfig.from_dict(d) == c
    assert SynthConfig.from_dict({}) == c


def test_int_is_accepted_for_float_and_lists_become_tuples():
    c = SynthConfig.from_dict({"fix_fraction": 1, "salient_kinds": ["circle"]})
    assert isinstance(c.fix_fraction, float) and c.salient_kinds == ("circle",)
    hash(c)  # frozen and hashable


@pytest.mark.parametrize("bad, key", [
    ({"no_such_key": 1}, "no_such_key"),
    ({"height": True}, "height"),
    ({"n_shapes": 1.5}, "n_shapes"),
    ({"n_shapes": "100"}, "n_shapes"),
    ({"n_shapes": 501}, "n_shapes"),
    ({"n_shapes": -1}, "n_shapes"),
    ({"height": 15}, "height"),
    ({"width": 1025}, "width"),
    ({"variant": "primitives-x"}, "variant"),
    ({"size_policy": "grow"}, "size_policy"),
    ({"fix_fraction": 0}, "fix_fraction"),
    ({"fix_fraction": False}, "fix_fraction"),
    ({"alpha_min": 2.0, "alpha_max": 1.0}, "alpha_max"),
    ({"alpha_min": float("nan")}, "alpha_min"),
    ({"salient_kinds": []}, "salient_kinds"),
    ({"salient_kinds": ["triangle"]}, "salient_kinds"),
    ({"salient_kinds": [1]}, "salient_kinds"),
    ({"salient_size_min": 0.5, "salient_size_max": 0.3}, "salient_size_max"),
    ({"salient_jitter": 0.6}, "salient_jitter"),
    ({"weight_line": -1}, "weight_line"),
    ({"weight_line": 0, "weight_circle": 0, "weight_ellipse": 0, "weight_rectangle": 0}, "weight"),
    ({"line_thickness_min": 0.5}, "line_thickness_min"),  # a primps-synth-1 field, gone
    ({"salient_rect_min": 0.8, "salient_rect_max": 0.5}, "salient_rect_max"),
    ({"size_max_fraction": 0}, "size_max_fraction"),
    ({"noise_unit": "cycles"}, "noise_unit"),
    ({"particle_bounds": "fixed"}, "particle_bounds"),
    ({"noise_dc_fraction": 0}, "noise_dc_fraction"),
    ({"color_max": 200}, "color_max"),
    ({"grey_background": 1}, "grey_background"),
    ({"sorted_line_endpoints": "yes"}, "sorted_line_endpoints"),
    ({"preset": "fancy"}, "preset"),
])
def test_bad_values_name_the_key(bad, key):
    with pytest.raises(ConfigError) as ei:
        SynthConfig.from_dict(bad)
    assert key in str(ei.value)
    assert "\n" not in str(ei.value)
    assert isinstance(ei.value, UsageError)


def test_direct_construction_is_validated_too():
    with pytest.raises(ConfigError, match="n_shapes"):
        SynthConfig(n_shapes=True)


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="mapping"):
        SynthConfig.from_dict([1, 2])


def test_load_config(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("variant: primitives\nn_shapes: 20\nheight: 64\nwidth: 32\n")
    c = load_config(p)
    assert (c.variant, c.n_shapes, c.height, c.width) == ("primitives", 20, 64, 32)
    q = tmp_path / "params.yaml"
    q.write_text("synth:\n  n_shapes: 7\nother: {a: 1}\n")
    assert load_config(q, section="synth").n_shapes == 7
    with pytest.raises(ConfigError, match="section"):
        load_config(p, section="synth")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == SynthConfig()


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("variant: [unclosed\n")
    with pytest.raises(ConfigError, match="bad YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("n_shapes: yes\n")  # YAML 1.1 bool
    with pytest.raises(ConfigError, match="n_shapes"):
        load_config(wrong)


def test_config_hash_canonical(monkeypatch):
    a = SynthConfig()
    h = config_hash(a)
    assert len(h) == 64 and int(h, 16) >= 0
    assert config_hash(SynthConfig.from_dict(dict(reversed(list(a.to_dict().items()))))) == h  # key order
    assert config_hash(SynthConfig(fix_fraction=1)) == config_hash(SynthConfig(fix_fraction=1.0))
    assert config_hash(a.replace(n_shapes=99)) != h
    assert config_hash(a.replace(variant="primitives")) != h
    monkeypatch.setattr(cfgmod, "GENERATOR_VERSION", GENERATOR_VERSION + "-x")
    assert cfgmod.config_hash(a) != h


def test_parse_resolution():
    assert parse_resolution("256") == (256, 256)
    assert parse_resolution(64) == (64, 64)
    assert parse_resolution("256x128") == (256, 128)
    assert parse_resolution(" 32X48 ") == (32, 48)
    for bad in ("", "abc", "12", "2048", "64x8", "64x", "x64", "-64"):
        with pytest.raises(ConfigError):
            parse_resolution(bad)


def test_with_overrides_ignores_none():
    c = SynthConfig()
    assert with_overrides(c, height=None) is c
    assert with_overrides(c, height=32, width=None).height == 32
    with pytest.raises(ConfigError, match="height"):
        with_overrides(c, height=8)


def test_presets_paper_is_default_and_clean_switches_the_quirks_off():
    assert set(SYNTH_PRESETS) == {"paper", "clean"}
    assert resolve_synth_config(preset="paper") == SynthConfig() == resolve_synth_config()
    clean = resolve_synth_config(preset="clean")
    assert not clean.grey_background and not clean.sorted_line_endpoints and clean.particle_bounds == "image"
    assert not clean.salient_rect_by_corner
    paper = SynthConfig()
    assert paper.grey_background and paper.sorted_line_endpoints and paper.particle_bounds == "scaled"
    assert paper.salient_rect_by_corner and not paper.line_length_decay and not paper.salient_ellipse_rotation
    # a preset is only field values: the same look written out field by field hashes the same
    assert config_hash(SynthConfig.from_dict(SYNTH_PRESETS["clean"])) == config_hash(clean)
    with pytest.raises(ConfigError, match="preset"):
        resolve_synth_config(preset="nope")


def test_preset_in_yaml_and_on_the_command_line(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("preset: clean\ngrey_background: true\nn_shapes: 7\n")
    c = resolve_synth_config(p)
    assert c.n_shapes == 7 and c.grey_background and not c.sorted_line_endpoints  # the file's fields win
    q = tmp_path / "params.yaml"
    q.write_text("synth:\n  n_shapes: 5\n  sorted_line_endpoints: true\n")
    d = resolve_synth_config(q, "synth", preset="clean", variant="primitives", resolution="64x32")
    assert (d.n_shapes, d.variant, d.height, d.width) == (5, "primitives", 64, 32)
    assert d.sorted_line_endpoints and not d.grey_background
    assert "preset" not in d.to_dict()  # the manifest records the resulting field values
