"""primps: copyright- and privacy-free GAN pretraining data (Primitives-PS) and a StyleGAN2 trainer.

The installed package is ``primps`` with three sub-packages: ``primps.pipeline`` (synthesizer, shards, manifests,
loader), ``primps.trainers`` (networks, training loop, metrics) and ``primps.stages`` (the ``primps`` command).
This module is the small public API; it imports nothing heavy until a function is called::

    import primps
    img = primps.render_one(primps.SynthConfig(), seed=0, index=7)   # uint8 [H, W, 3]
    ds = primps.open_dataset("manifests/render.json", seed=0)         # iterable of uint8 [3, H, W] tensors
    G = primps.load_generator("runs/pretrain/last.pt")                # G_ema, eval mode
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

try:
    __version__ = _dist_version("primps")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__", "SynthConfig", "render_one", "open_dataset", "load_generator"]


def __getattr__(name: str):
    if name == "SynthConfig":
        from primps.pipeline.config import SynthConfig

        return SynthConfig
    raise AttributeError(f"module 'primps' has no attribute {name!r}")


def render_one(cfg=None, seed: int = 0, index: int = 0):
    """One synthetic image, uint8 [H, W, 3]: a pure function of (config, seed, index). ``cfg`` is a
    ``SynthConfig``, a dict of its fields, or None for the default (Primitives-PS, 256²)."""
    from primps.pipeline.config import SynthConfig
    from primps.pipeline.synth import render_one as _render_one

    if cfg is None:
        cfg = SynthConfig()
    elif isinstance(cfg, dict):
        cfg = SynthConfig.from_dict(cfg)
    return _render_one(cfg, seed, index)


def open_dataset(manifest, seed: int = 0, resampled: bool = False, shuffle: int = 1000):
    """A shard set (manifest path, shard directory or loaded manifest) as an iterable torch dataset of
    uint8 [3, H, W] tensors; ``resampled=True`` makes it infinite (shards drawn with replacement)."""
    from primps.pipeline.loader import make_dataset

    return make_dataset(manifest, seed, resampled=resampled, shuffle=shuffle)


def load_generator(checkpoint, device: str = "cpu", ema: bool = True):
    """The generator of a primps checkpoint (G_ema by default), in eval mode on ``device``.
    ``G(z)`` maps latents [N, z_dim] to float images in [-1, 1]; ``G.z_dim`` gives the latent size."""
    from primps.trainers.loop import Trainer

    tr = Trainer.load(checkpoint, device=device, weights_only=True)
    G = tr.G_ema if ema else tr.G
    return G.eval().requires_grad_(False)
