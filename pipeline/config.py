"""Synthesizer configuration: the typed, validated `SynthConfig` and its YAML loading and hashing.

Everything that changes a rendered pixel lives in `SynthConfig` (the seed does not: it is passed separately).
Validation happens here, at the edge; the renderer trusts a `SynthConfig`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from primps.pipeline.errors import ConfigError

#: Bumped whenever the pixels produced for a given (config, seed, index) change.
GENERATOR_VERSION = "primps-synth-3"

VARIANTS = ("pinknoise", "primitives", "primitives-s", "primitives-ps")
SIZE_POLICIES = ("decay", "fix", "rand")
SALIENT_KINDS = ("circle", "ellipse", "rectangle")
NOISE_UNITS = ("image", "pixel")
PARTICLE_BOUNDS = ("scaled", "official", "image")
MIN_SIDE, MAX_SIDE = 16, 1024
#: The official generator's side: sizes and positions are drawn in pixels of a 256-pixel short side, then scaled.
REF_SIDE = 256
MAX_SHAPES = 500


@dataclass(frozen=True)
class SynthConfig:
    """How one synthetic image is drawn. The defaults draw the distribution of the published Primitives-PS
    generator (the images the paper trained on, quirks included; see ../shared/reference/official-256/SPEC.md and
    README.md "Synthesizer"). S = min(height, width); x positions are drawn from the width W, y from the height H.
    Integer ranges U{a..b} include both ends.

    Fields (the look):
        variant: ``pinknoise`` (pink-noise image only), ``primitives`` (shapes on a flat background),
            ``primitives-s`` (plus a solid salient shape) or ``primitives-ps`` (pink-noise background and a salient
            shape filled with a second, independent pink-noise image). Default ``primitives-ps``.
        height, width: image size in pixels, each 16..1024.
        n_shapes: number N of particles, 0..500 (ignored by ``pinknoise``); 0 gives the paper's "PinkNoise + PS".
        size_policy: the size bound m_n of particle n (0-based); every size (radius, semi-axis, rectangle extent,
            line thickness) is U{1..m_n - 1}. ``decay`` (paper): m_n = round(floor(size_max_fraction*S) * (N-n)/N
            + 2), so later particles are smaller; ``rand``: m_n = floor(size_max_fraction*S) + 2 for every n;
            ``fix``: every size is max(1, round(fix_fraction * S)).
        size_max_fraction: the 1/5 of the size bound, in (0, 1]. fix_fraction: size for ``fix``, in (0, 1].
        weight_line, weight_circle, weight_ellipse, weight_rectangle: relative frequencies of the particle kinds
            (non-negative, not all zero; paper 1:2:2:2).
        alpha_min, alpha_max: both pink-noise exponents of every channel are U(alpha_min, alpha_max); weight
            1 / (f_y^a + f_x^b + 2e-6). 0 <= min <= max <= 8; paper 0.5 .. 3.5.
        noise_unit: the frequency unit. ``image`` (default): f = 5k/256 with k in cycles per S pixels, so the
            texture scales with the image (same as the paper at 256^2); ``pixel``: f = 5k/L on an axis of L pixels,
            the official per-pixel unit (texture scale fixed in pixels).
        noise_dc_fraction: the zero frequency is replaced by this fraction of the first non-zero one (paper 0.1).
        joint_normalisation: the three noise channels are min-max normalised together (paper: one dominant
            channel over a tint); false normalises each channel on its own (colourful noise).
        color_max: shape and background colour components are U{0..color_max}, 254 (paper) or 255.
        salient_kinds: kinds the salient shape is drawn from, uniformly; a non-empty subset of circle, ellipse,
            rectangle.
        salient_size_min, salient_size_max: radius / semi-axes of the salient circle and ellipse are
            U{floor(min*S)..floor(max*S) - 1}; 0 < min <= max <= 1; paper 1/4 .. 3/8.
        salient_rect_min, salient_rect_max: the salient rectangle's extents, U{floor(min*S)..floor(max*S) - 1};
            paper 3/8 .. 3/4.
        salient_jitter: the salient centre is U{L/2 - floor(j*L) .. L/2 + floor(j*L) - 1} on an axis of L pixels,
            in [0, 0.5]; paper 1/10.
        ellipse_growth: both semi-axes of every ellipse are enlarged by this many pixels (the official polygon
            raster measures as +0.45), in [0, 2].

    Quirks of the published generator (true = the paper's look; the ``clean`` preset switches the bugs off):
        grey_background: the flat background of ``primitives``/``-s`` is grey (one level for all channels);
            false: an RGB colour.
        sorted_line_endpoints: line endpoint coordinates are sorted separately, so every line runs top-left to
            bottom-right ("\\"); false: the drawn endpoint pairs, all orientations.
        particle_bounds: where line endpoints and particle-rectangle corners may lie on an axis of L pixels.
            ``scaled`` (paper): endpoints U{0..B-1}, corners U{0..B-1-m_n} with B = floor(255 L / 256), i.e. the
            official U{0..254} / U{0..254 - m_n} at L = 256 (never the last one or two pixels), scaled to the image;
            ``official``: B = 255 whatever the size (the official code: at S = 32 almost every line and rectangle
            falls off the canvas); ``image`` (clean): B = L.
        line_length_decay: false (paper): a line's length is not bounded by m_n (only its thickness is); true: the
            segment is shortened to a length U{1..m_n - 1} about its first endpoint.
        salient_rect_by_corner: the salient rectangle is placed by its corner U{floor(L/8)..floor(L/2) - 1}
            (off-centre, often clipped); false: centred like the circle and ellipse.
        salient_ellipse_rotation: false (paper): the salient ellipse is axis-aligned; true: uniform rotation.
        salient_mask_per_channel: in ``primitives-ps`` a channel keeps the background inside the salient shape
            where the shape's colour component is 0 (probability 1/255 per channel); false: one mask.

    Other sizes (the rule; README "Other resolutions"). With S = min(H, W), every quantity above that is given in
    pixels (sizes, bounds, positions, thicknesses, the ellipse growth) is in *reference pixels*: the image is
    H*256/S x W*256/S reference pixels, one reference pixel is u = S/256 image pixels, and all shapes are scaled by u
    (so size_max_fraction and the salient fractions are fractions of S at every size, and at S = 256 nothing
    changes). Below 256 a pixel is the area mean of the official 256^2 raster under it (coverage rasterisation,
    pink noise through the area filter with the 256^2 field's range); above 256 shapes are the reference-grid raster
    painted in blocks of about u x u pixels and the noise has no frequencies above 128 cycles per image.
        crisp_edges: above 256, sample shapes at the image's own pixel centres instead of in reference-pixel
            blocks (false: the paper's look enlarged). No effect at S <= 256.
    """

    variant: str = "primitives-ps"
    height: int = 256
    width: int = 256
    n_shapes: int = 100
    size_policy: str = "decay"
    size_max_fraction: float = 0.2
    fix_fraction: float = 0.2
    weight_line: float = 1.0
    weight_circle: float = 2.0
    weight_ellipse: float = 2.0
    weight_rectangle: float = 2.0
    alpha_min: float = 0.5
    alpha_max: float = 3.5
    noise_unit: str = "image"
    noise_dc_fraction: float = 0.1
    joint_normalisation: bool = True
    color_max: int = 254
    salient_kinds: tuple[str, ...] = field(default=SALIENT_KINDS)
    salient_size_min: float = 0.25
    salient_size_max: float = 0.375
    salient_rect_min: float = 0.375
    salient_rect_max: float = 0.75
    salient_jitter: float = 0.1
    ellipse_growth: float = 0.45
    grey_background: bool = True
    sorted_line_endpoints: bool = True
    particle_bounds: str = "scaled"
    line_length_decay: bool = False
    salient_rect_by_corner: bool = True
    salient_ellipse_rotation: bool = False
    salient_mask_per_channel: bool = True
    crisp_edges: bool = False

    def __post_init__(self) -> None:
        _validate(self)

    # -- conversion ---------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: Any) -> "SynthConfig":
        """Build and validate from a mapping; unknown keys and wrong types raise ConfigError naming the key.

        An optional ``preset`` key (a name in SYNTH_PRESETS) supplies values for the fields the mapping does not set."""
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise ConfigError(f"synth config must be a mapping, got {type(d).__name__}")
        d = dict(d)
        preset = d.pop("preset", None)
        if preset is not None:
            if not isinstance(preset, str) or preset not in SYNTH_PRESETS:
                raise ConfigError(f"unknown synthesizer preset {preset!r} (choose from {', '.join(SYNTH_PRESETS)})")
            d = {**SYNTH_PRESETS[preset], **d}
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in d.items():
            if key not in known:
                raise ConfigError(f"unknown synth config key '{key}' (known: {', '.join(known)})")
            kwargs[key] = _coerce(key, value, known[key].type)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "SynthConfig":
        """A validated copy with some fields changed (same type rules as from_dict)."""
        d = self.to_dict()
        d.update(changes)
        return SynthConfig.from_dict(d)


# -- validation ---------------------------------------------------------------------------------------------------
_TYPES = {"int": int, "float": float, "str": str, "bool": bool, "tuple[str, ...]": tuple}


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    t = _TYPES[type_name if isinstance(type_name, str) else type_name.__name__]
    if t is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"synth config key '{key}' must be true or false, got {value!r}")
        return value
    if t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"synth config key '{key}' must be an integer, got {value!r}")
        return value
    if t is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"synth config key '{key}' must be a number, got {value!r}")
        return float(value)
    if t is str:
        if not isinstance(value, str):
            raise ConfigError(f"synth config key '{key}' must be a string, got {value!r}")
        return value
    # tuple of strings: accept a list/tuple, or a single string
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"synth config key '{key}' must be a list of strings, got {value!r}")
    return tuple(value)


def _check(ok: bool, key: str, msg: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"synth config key '{key}' {msg}, got {value!r}")


def _validate(c: SynthConfig) -> None:
    for f in fields(c):  # type checks also for direct construction
        v = getattr(c, f.name)
        coerced = _coerce(f.name, v, f.type)
        object.__setattr__(c, f.name, coerced)
        if isinstance(coerced, float):
            _check(math.isfinite(coerced), f.name, "must be finite", v)
    _check(c.variant in VARIANTS, "variant", f"must be one of {', '.join(VARIANTS)}", c.variant)
    _check(MIN_SIDE <= c.height <= MAX_SIDE, "height", f"must be in {MIN_SIDE}..{MAX_SIDE}", c.height)
    _check(MIN_SIDE <= c.width <= MAX_SIDE, "width", f"must be in {MIN_SIDE}..{MAX_SIDE}", c.width)
    _check(0 <= c.n_shapes <= MAX_SHAPES, "n_shapes", f"must be in 0..{MAX_SHAPES}", c.n_shapes)
    _check(c.size_policy in SIZE_POLICIES, "size_policy", f"must be one of {', '.join(SIZE_POLICIES)}",
           c.size_policy)
    _check(0 < c.fix_fraction <= 1, "fix_fraction", "must be in (0, 1]", c.fix_fraction)
    _check(0 < c.size_max_fraction <= 1, "size_max_fraction", "must be in (0, 1]", c.size_max_fraction)
    weights = ("weight_line", "weight_circle", "weight_ellipse", "weight_rectangle")
    for k in weights:
        _check(getattr(c, k) >= 0, k, "must be >= 0", getattr(c, k))
    _check(sum(getattr(c, k) for k in weights) > 0, "weight_rectangle", "and the other shape weights must not all be 0",
           c.weight_rectangle)
    _check(0 <= c.alpha_min <= 8, "alpha_min", "must be in [0, 8]", c.alpha_min)
    _check(c.alpha_min <= c.alpha_max <= 8, "alpha_max", "must be in [alpha_min, 8]", c.alpha_max)
    _check(len(c.salient_kinds) > 0 and all(k in SALIENT_KINDS for k in c.salient_kinds), "salient_kinds",
           f"must be a non-empty list from {', '.join(SALIENT_KINDS)}", list(c.salient_kinds))
    _check(0 < c.salient_size_min <= 1, "salient_size_min", "must be in (0, 1]", c.salient_size_min)
    _check(c.salient_size_min <= c.salient_size_max <= 1, "salient_size_max", "must be in [salient_size_min, 1]",
           c.salient_size_max)
    _check(0 < c.salient_rect_min <= 1, "salient_rect_min", "must be in (0, 1]", c.salient_rect_min)
    _check(c.salient_rect_min <= c.salient_rect_max <= 1, "salient_rect_max", "must be in [salient_rect_min, 1]",
           c.salient_rect_max)
    _check(0 <= c.salient_jitter <= 0.5, "salient_jitter", "must be in [0, 0.5]", c.salient_jitter)
    _check(c.noise_unit in NOISE_UNITS, "noise_unit", f"must be one of {', '.join(NOISE_UNITS)}", c.noise_unit)
    _check(0 < c.noise_dc_fraction <= 1, "noise_dc_fraction", "must be in (0, 1]", c.noise_dc_fraction)
    _check(c.particle_bounds in PARTICLE_BOUNDS, "particle_bounds", f"must be one of {', '.join(PARTICLE_BOUNDS)}",
           c.particle_bounds)
    _check(c.color_max in (254, 255), "color_max", "must be 254 or 255", c.color_max)
    _check(0 <= c.ellipse_growth <= 2, "ellipse_growth", "must be in [0, 2]", c.ellipse_growth)


# -- files and hashing --------------------------------------------------------------------------------------------
def load_config(path: str | Path, section: str | None = None) -> SynthConfig:
    """Load a SynthConfig from YAML. With ``section``, read that top-level key (e.g. ``synth`` in params.yaml)."""
    return SynthConfig.from_dict(load_config_mapping(path, section))


def load_config_mapping(path: str | Path, section: str | None = None) -> Any:
    """The raw mapping of a synth config YAML file (or of its ``section``); errors as ConfigError."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"bad YAML in config file {p}{where}") from None
    if section is not None:
        if not isinstance(data, dict) or section not in data:
            raise ConfigError(f"config file {p} has no '{section}' section")
        data = data[section]
    return data


def config_hash(cfg: SynthConfig) -> str:
    """sha256 hex of the canonical JSON of ``cfg.to_dict()`` together with GENERATOR_VERSION."""
    payload = {"generator_version": GENERATOR_VERSION, "config": cfg.to_dict()}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_RES = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?$")


def parse_resolution(text: str | int) -> tuple[int, int]:
    """'256' -> (256, 256); '256x128' -> (H=256, W=128). Raises UsageError-compatible ConfigError when bad."""
    m = _RES.match(str(text))
    if not m:
        raise ConfigError(f"resolution must look like 256 or 256x128 (HxW), got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    for name, v in (("height", h), ("width", w)):
        if not MIN_SIDE <= v <= MAX_SIDE:
            raise ConfigError(f"resolution {name} must be in {MIN_SIDE}..{MAX_SIDE}, got {v}")
    return h, w


def with_overrides(cfg: SynthConfig, **changes: Any) -> SynthConfig:
    """Copy of cfg with the non-None keyword arguments applied (validated)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return cfg.replace(**changes) if changes else cfg


#: Named presets: each is a set of SynthConfig field values applied over the defaults (the paper's look is the
#: default). ``clean``: the corrections of SPEC.md section 8 (RGB flat backgrounds, lines in every orientation,
#: centred salient rectangles, particle positions and bounds from the image size); everything else as the paper.
SYNTH_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "clean": {"grey_background": False, "sorted_line_endpoints": False, "particle_bounds": "image",
              "salient_rect_by_corner": False, "salient_mask_per_channel": False},
}


def resolve_synth_config(config_path: str | Path | None = None, section: str | None = None,
                         preset: str | None = None, variant: str | None = None,
                         resolution: str | int | None = None) -> SynthConfig:
    """The one way every command turns its synthesizer options into a SynthConfig: defaults, then the preset's
    values (``preset``, else the file's ``preset:`` key), then the YAML file's fields (``--config``), then the
    explicit ``variant`` / ``resolution`` overrides."""
    if preset is not None and preset not in SYNTH_PRESETS:
        raise ConfigError(f"unknown synthesizer preset {preset!r} (choose from {', '.join(SYNTH_PRESETS)})")
    data = load_config_mapping(config_path, section) if config_path else {}
    if preset is not None:
        if not isinstance(data, dict):
            raise ConfigError(f"synth config must be a mapping, got {type(data).__name__}")
        data = {**data, "preset": preset}  # the file's own fields still win over the preset
    cfg = SynthConfig.from_dict(data)
    changes: dict[str, Any] = {"variant": variant}
    if resolution is not None:
        changes["height"], changes["width"] = parse_resolution(resolution)
    return with_overrides(cfg, **changes)


def config_section(path: str | None) -> str | None:
    """'synth' when the YAML file at ``path`` has a top-level 'synth' mapping (params.yaml), else None."""
    if path is None:
        return None
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None  # resolve_synth_config raises the proper ConfigError
    return "synth" if isinstance(data, dict) and isinstance(data.get("synth"), dict) else None


def load_synth_config(path: str | None, preset: str | None = None):
    """SynthConfig from --config (a plain mapping, or a file with a 'synth' section) and --preset."""
    return resolve_synth_config(path, config_section(path), preset=preset)


__all__ = ["GENERATOR_VERSION", "REF_SIDE", "SYNTH_PRESETS", "resolve_synth_config", "load_synth_config",
           "config_section", "VARIANTS", "SIZE_POLICIES", "NOISE_UNITS", "PARTICLE_BOUNDS", "SALIENT_KINDS",
           "SynthConfig", "load_config", "config_hash", "load_config_mapping", "parse_resolution", "with_overrides",
           "ConfigError"]
