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
GENERATOR_VERSION = "primps-synth-1"

VARIANTS = ("pinknoise", "primitives", "primitives-s", "primitives-ps")
SIZE_POLICIES = ("decay", "fix", "rand")
SALIENT_KINDS = ("circle", "ellipse", "rectangle")
MIN_SIDE, MAX_SIDE = 16, 1024
MAX_SHAPES = 500


@dataclass(frozen=True)
class SynthConfig:
    """How one synthetic image is drawn. Sizes are fractions of S = min(height, width); shape positions are uniform
    over the whole H x W image, so every size and position scales with the resolution (square or not).

    Fields:
        variant: ``pinknoise`` (pink noise only), ``primitives`` (random shapes on a flat random colour),
            ``primitives-s`` (plus a solid salient central shape) or ``primitives-ps`` (pink-noise background and a
            salient shape filled with a second, independent pink-noise field). Default ``primitives-ps``.
        height, width: image size in pixels, each 16..1024.
        n_shapes: number N of random primitive shapes, 0..500 (ignored by ``pinknoise``). 0 gives background plus
            salient shape only (the paper's "PinkNoise + PS").
        size_policy: how the size s_n of shape n (0-based) is drawn. ``decay``: s_n = floor + U(0,1) * S/5 * (N-n)/N,
            so shapes drawn later are smaller; ``fix``: s_n = fix_fraction * S; ``rand``: s_n = floor + U(0,1) * S/5.
            The size is the radius of a circle, the major semi-axis of an ellipse, the larger half-side of a rectangle
            and half the length of a line.
        fix_fraction: size for the ``fix`` policy, as a fraction of S, in (0, 1] (the paper uses 1/10, 1/5, 1/2).
        size_floor: the small minimum size added by ``decay`` and ``rand``, fraction of S in [0, 0.5].
        weight_line, weight_circle, weight_ellipse, weight_rectangle: relative frequencies of the four shape kinds
            (non-negative, not all zero; default 1:2:2:2).
        line_thickness_min, line_thickness_max: line thickness as a fraction of the line's size (0 < min <= max <= 2);
            at least one pixel.
        minor_ratio_min: the minor semi-axis of an ellipse (and the shorter half-side of a rectangle) is the major one
            times U(minor_ratio_min, 1); in (0, 1].
        alpha_min, alpha_max: range of the spectral exponents a and b of pink noise, drawn independently per channel
            and field from U(alpha_min, alpha_max); the spectrum magnitude is 1 / (|fx|^a + |fy|^b), with fx, fy in
            cycles per image. 0 <= min <= max <= 8; default 0.5 .. 3.5.
        salient_kinds: kinds the salient shape is drawn from, uniformly; a non-empty subset of circle, ellipse,
            rectangle.
        salient_size_min, salient_size_max: radius (circle), semi-axes (ellipse) or half-sides (rectangle) of the
            salient shape, fraction of S; 0 < min <= max <= 1; default 1/4 .. 3/8.
        salient_jitter: the salient centre lies within +-salient_jitter * S of the image centre in x and y, in [0, 0.5].
    """

    variant: str = "primitives-ps"
    height: int = 256
    width: int = 256
    n_shapes: int = 100
    size_policy: str = "decay"
    fix_fraction: float = 0.2
    size_floor: float = 0.01
    weight_line: float = 1.0
    weight_circle: float = 2.0
    weight_ellipse: float = 2.0
    weight_rectangle: float = 2.0
    line_thickness_min: float = 0.05
    line_thickness_max: float = 0.3
    minor_ratio_min: float = 0.3
    alpha_min: float = 0.5
    alpha_max: float = 3.5
    salient_kinds: tuple[str, ...] = field(default=SALIENT_KINDS)
    salient_size_min: float = 0.25
    salient_size_max: float = 0.375
    salient_jitter: float = 0.1

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
        """Build and validate from a mapping; unknown keys and wrong types raise ConfigError naming the key."""
        if d is None:
            d = {}
        if not isinstance(d, dict):
            raise ConfigError(f"synth config must be a mapping, got {type(d).__name__}")
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
_TYPES = {"int": int, "float": float, "str": str, "tuple[str, ...]": tuple}


def _coerce(key: str, value: Any, type_name: Any) -> Any:
    t = _TYPES[type_name if isinstance(type_name, str) else type_name.__name__]
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
    _check(0 <= c.size_floor <= 0.5, "size_floor", "must be in [0, 0.5]", c.size_floor)
    weights = ("weight_line", "weight_circle", "weight_ellipse", "weight_rectangle")
    for k in weights:
        _check(getattr(c, k) >= 0, k, "must be >= 0", getattr(c, k))
    _check(sum(getattr(c, k) for k in weights) > 0, "weight_rectangle", "and the other shape weights must not all be 0",
           c.weight_rectangle)
    _check(0 < c.line_thickness_min <= 2, "line_thickness_min", "must be in (0, 2]", c.line_thickness_min)
    _check(c.line_thickness_min <= c.line_thickness_max <= 2, "line_thickness_max",
           "must be in [line_thickness_min, 2]", c.line_thickness_max)
    _check(0 < c.minor_ratio_min <= 1, "minor_ratio_min", "must be in (0, 1]", c.minor_ratio_min)
    _check(0 <= c.alpha_min <= 8, "alpha_min", "must be in [0, 8]", c.alpha_min)
    _check(c.alpha_min <= c.alpha_max <= 8, "alpha_max", "must be in [alpha_min, 8]", c.alpha_max)
    _check(len(c.salient_kinds) > 0 and all(k in SALIENT_KINDS for k in c.salient_kinds), "salient_kinds",
           f"must be a non-empty list from {', '.join(SALIENT_KINDS)}", list(c.salient_kinds))
    _check(0 < c.salient_size_min <= 1, "salient_size_min", "must be in (0, 1]", c.salient_size_min)
    _check(c.salient_size_min <= c.salient_size_max <= 1, "salient_size_max", "must be in [salient_size_min, 1]",
           c.salient_size_max)
    _check(0 <= c.salient_jitter <= 0.5, "salient_jitter", "must be in [0, 0.5]", c.salient_jitter)


# -- files and hashing --------------------------------------------------------------------------------------------
def load_config(path: str | Path, section: str | None = None) -> SynthConfig:
    """Load a SynthConfig from YAML. With ``section``, read that top-level key (e.g. ``synth`` in params.yaml)."""
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
    return SynthConfig.from_dict(data)


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


#: Named presets: each is a set of SynthConfig field values applied over the defaults (the paper's look is the default).
PRESETS: dict[str, dict[str, Any]] = {"paper": {}}


def resolve_synth_config(config_path: str | Path | None = None, section: str | None = None,
                         preset: str | None = None, variant: str | None = None,
                         resolution: str | int | None = None) -> SynthConfig:
    """The one way every command turns its synthesizer options into a SynthConfig: defaults, then the preset's
    values, then the YAML file (``--config``), then the explicit ``variant`` / ``resolution`` overrides."""
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown synthesizer preset {preset!r} (choose from {', '.join(PRESETS)})")
    cfg = load_config(config_path, section) if config_path else SynthConfig()
    if preset is not None:
        cfg = cfg.replace(**PRESETS[preset])
    changes: dict[str, Any] = {"variant": variant}
    if resolution is not None:
        changes["height"], changes["width"] = parse_resolution(resolution)
    return with_overrides(cfg, **changes)


__all__ = ["GENERATOR_VERSION", "PRESETS", "resolve_synth_config", "VARIANTS", "SIZE_POLICIES", "SALIENT_KINDS", "SynthConfig", "load_config",
           "config_hash", "parse_resolution", "with_overrides", "ConfigError"]
