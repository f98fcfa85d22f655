"""Typed training configs and named presets. ``get_preset(name, **overrides)`` validates names, keys and values.

This is the torch-free core of training: every rule about a training config lives here and imports no torch, so
the command line checks it up front (``stages/checks.py`` calls these functions): the model resolution, the
DiffAugment policy names, the number of discriminator blocks (the range of ``--freeze-d``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from primps.pipeline.config import MAX_SIDE, MIN_SIDE
from primps.pipeline.errors import ConfigError

#: The augmentations of DiffAugment (``trainers/diffaug.py`` implements them; their names are checked here).
DIFFAUG_NAMES = ("color", "translation", "cutout")


def parse_policy(policy: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> tuple of names; '' -> (). Unknown names raise ConfigError."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    for n in names:
        if n not in DIFFAUG_NAMES:
            raise ConfigError(f"diffaug policy: unknown augmentation {n!r} (known: {', '.join(DIFFAUG_NAMES)})")
    return names


def resolution_problem(r) -> str | None:
    """The one rule for a model resolution: a power of two (StyleGAN2's blocks halve it) within the image side
    rule of ``pipeline.config`` (MIN_SIDE..MAX_SIDE). None when ``r`` is fine, else what is wrong."""
    if isinstance(r, bool) or not isinstance(r, int) or not MIN_SIDE <= r <= MAX_SIDE or r & (r - 1):
        return f"must be a power of two in {MIN_SIDE}..{MAX_SIDE} ({MIN_SIDE}, {2 * MIN_SIDE}, ..., {MAX_SIDE}), " \
               f"got {r!r}"
    return None


def d_blocks(resolution: int) -> int:
    """Number of discriminator blocks at a resolution (``trainers.networks.Discriminator``: one per level from
    the input resolution down to 8x8, the 4x4 epilogue not counted) - the upper bound of ``--freeze-d``."""
    return max(0, int(round(math.log2(resolution))) - 2)


def freeze_d_problem(k, resolution: int) -> str | None:
    """FreezeD's K (discriminator blocks frozen from the input side): 1..d_blocks(resolution). None when fine."""
    n = d_blocks(resolution)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        return f"must be between 1 and {n} for resolution {resolution} (the discriminator has {n} blocks), got {k!r}"
    return None


@dataclass(frozen=True)
class TrainConfig:
    resolution: int = 256
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 2
    channel_base: int = 32768
    channel_max: int = 512
    batch: int = 16
    mbstd_group: int = 4
    mbstd_channels: int = 1
    g_lr: float = 0.002
    d_lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float = 10.0
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing_prob: float = 0.9
    ema_halflife_kimg: float = 10.0
    ema_rampup: float | None = None   # stylegan2-ada: half-life min(ema_halflife, cur_nimg * ema_rampup); None: off
    ema_start_kimg: float = 0.0   # DiffAugment (TF): G_ema = G until this many kimg of the run, then the EMA
    mirror: bool = False          # x-flip each real image with p = 0.5 before DiffAugment
    diffaug_policy: str = ""
    num_amp_res: int = 4          # bf16 autocast in the N highest-resolution blocks (CUDA only)
    log_every_kimg: float = 1.0
    snapshot_every_kimg: float = 10.0
    grid_size: int = 16           # number of images in the sample grid (fixed latents)

    def __post_init__(self):
        if (problem := resolution_problem(self.resolution)) is not None:
            raise ConfigError(f"resolution: {problem}")
        for key in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "batch", "mbstd_group",
                    "r1_interval", "pl_interval", "pl_batch_shrink", "grid_size"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{key}: must be a positive integer, got {v!r}")
        for key in ("g_lr", "d_lr", "ema_halflife_kimg", "log_every_kimg", "snapshot_every_kimg"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or v <= 0:
                raise ConfigError(f"{key}: must be a positive number, got {v!r}")
        for key in ("r1_gamma", "pl_weight", "ema_start_kimg"):
            v = getattr(self, key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
                raise ConfigError(f"{key}: must be a number >= 0, got {v!r}")
        r = self.ema_rampup
        if r is not None and (not isinstance(r, (int, float)) or isinstance(r, bool) or not r > 0):
            raise ConfigError(f"ema_rampup: must be a positive number or null (off), got {r!r}")
        if not isinstance(self.mirror, bool):
            raise ConfigError(f"mirror: must be true or false, got {self.mirror!r}")
        if not 0 <= self.style_mixing_prob <= 1:
            raise ConfigError("style_mixing_prob: must be in [0, 1]")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas: must be two numbers in [0, 1), got {self.betas!r}")
        if self.mbstd_channels < 1:
            raise ConfigError("mbstd_channels: must be >= 1")
        parse_policy(self.diffaug_policy)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        for k in d:
            if k not in names:
                raise ConfigError(f"unknown training config key {k!r}")
        d = dict(d)
        if "betas" in d:
            d["betas"] = tuple(float(b) for b in d["betas"])
        try:
            return cls(**d)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    def replace(self, **overrides) -> "TrainConfig":
        return TrainConfig.from_dict({**self.to_dict(), **overrides})


# The low-shot presets train as DiffAugment's published 100-shot runs did (TensorFlow code, run_low_shot.py and
# training/training_loop.py of mit-han-lab/data-efficient-gans): reals x-flipped (--mirror-augment, default on there)
# and G_ema = G until ema_start_kimg, which defaults there to the EMA half-life; no stylegan2-ada ramp-up.
TRAIN_PRESETS: dict[str, dict] = {
    # Paper setting for 100-shot finetuning at 256^2 (full-width StyleGAN2, 2-layer mapping).
    "lowshot256": dict(resolution=256, batch=16, mbstd_group=4, channel_base=32768, channel_max=512,
                       mapping_layers=2, g_lr=0.002, d_lr=0.002, r1_gamma=10.0, ema_halflife_kimg=10.0,
                       ema_start_kimg=10.0, mirror=True),
    "small128": dict(resolution=128, batch=32, mbstd_group=4, channel_base=8192, channel_max=256,
                     mapping_layers=2, r1_gamma=1.0, ema_halflife_kimg=10.0, ema_start_kimg=10.0, mirror=True),
    "small64": dict(resolution=64, batch=32, mbstd_group=4, channel_base=4096, channel_max=256,
                    mapping_layers=2, r1_gamma=0.5, ema_halflife_kimg=5.0, ema_start_kimg=5.0, mirror=True),
    "cpu-smoke": dict(resolution=32, z_dim=64, w_dim=64, batch=8, mbstd_group=4, channel_base=256,
                      channel_max=32, mapping_layers=2, r1_gamma=1.0, r1_interval=4, pl_interval=2,
                      ema_halflife_kimg=0.1, log_every_kimg=0.016, snapshot_every_kimg=0.064, grid_size=16),
}

#: Finetuning protocols by name (``primps finetune --profile``): training fields only, laid over the checkpoint's
#: (or the scratch preset's) config, so the architecture of an --init checkpoint is kept. README.md gives sources.
PROFILES: dict[str, dict] = {
    # What the Primitives-PS paper ran: the `low_shot` config of its stylegan2-ada based code (batch 16, minibatch
    # std group 4, lr 0.002, R1 gamma 10, EMA half-life 10 kimg, no EMA ramp-up, path length on), DiffAugment
    # color,translation,cutout, no x-flip (--mirror defaults to off there); 400 kimg per finetune.
    "paper-ps": dict(batch=16, mbstd_group=4, g_lr=0.002, d_lr=0.002, r1_gamma=10.0, pl_weight=2.0,
                     ema_halflife_kimg=10.0, ema_rampup=None, ema_start_kimg=0.0, mirror=False,
                     diffaug_policy="color,translation,cutout"),
    # DiffAugment's published 100-shot runs (TensorFlow code): batch 16, lr 0.002, R1 gamma 10, no path length,
    # EMA half-life 10 kimg with G_ema = G for the first 10 kimg, x-flip on; 300 kimg.
    "diffaugment": dict(batch=16, mbstd_group=4, g_lr=0.002, d_lr=0.002, r1_gamma=10.0, pl_weight=0.0,
                        ema_halflife_kimg=10.0, ema_rampup=None, ema_start_kimg=10.0, mirror=True,
                        diffaug_policy="color,translation,cutout"),
}


def preset_names() -> list[str]:
    return list(TRAIN_PRESETS)


def get_preset(name: str, **overrides) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ConfigError(f"unknown preset {name!r} (known: {', '.join(TRAIN_PRESETS)})")
    return TrainConfig.from_dict({**TrainConfig().to_dict(), **TRAIN_PRESETS[name], **overrides})


def preset_resolution(name: str, override: int | None = None) -> int:
    """The model resolution of a training preset, or ``override`` when given."""
    return override if override is not None else get_preset(name).resolution


def profile_names() -> list[str]:
    return list(PROFILES)


def apply_profile(cfg: TrainConfig, name: str | None) -> TrainConfig:
    """``cfg`` with the training fields of finetune profile ``name`` (None: unchanged)."""
    if name is None:
        return cfg
    if name not in PROFILES:
        raise ConfigError(f"unknown finetune profile {name!r} (known: {', '.join(PROFILES)})")
    return cfg.replace(**PROFILES[name])
