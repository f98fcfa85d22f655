"""Read a manifest's shards back as uint8 image tensors, for training.

Public API
----------
``make_dataset(manifest, seed, resampled=True, shuffle=1000, batch_size=None) -> ManifestDataset``
    A ``torch.utils.data.IterableDataset`` built on webdataset's tar reader (``webdataset.tarfile_to_samples``):

    * shard source: with ``resampled=False`` one pass per epoch over the shards, shuffled per epoch (seeded by
      ``seed`` and the epoch number) when ``shuffle`` > 0, then split across DDP ranks and DataLoader workers (global
      worker ``g`` of ``G`` takes shards ``g, g+G, ...``), so no two workers read the same shard; with fewer shards
      than workers some workers get none. With ``resampled=True`` the stream is infinite: each (rank, worker)
      draws shards with replacement from its own generator seeded by ``(seed, rank, worker)``, so every worker has
      a distinct stream, even for a single shard of 100 images (low-shot sets).
    * sample shuffle buffer of ``shuffle`` samples (0 disables), seeded the same way.
    * decode ``png``/``jpg``/``npy`` with imagecodecs to ``torch.uint8 [3, H, W]``; with ``batch_size`` the items are
      ``[B, 3, H, W]`` (a last partial batch only when not resampled).

    Rank and world size come from ``torch.distributed`` when initialised, else env ``RANK``/``WORLD_SIZE``.
    Output is deterministic given ``seed``, the number of workers and the world size. For repeated finite passes
    with DataLoader workers call ``dataset.set_epoch(e)`` before each epoch (workers get a copy of the dataset, so
    the automatic per-pass epoch counter only advances when ``num_workers=0``).
``make_loader(manifest, batch_size, seed, resampled=True, num_workers=0, shuffle=1000) -> DataLoader``
    Yields ``torch.uint8 [B, 3, H, W]`` batches (batched inside each worker).

``manifest`` may be a ``Manifest`` or a path accepted by ``load_manifest``.
"""

from __future__ import annotations

import os
from typing import Iterator

import numpy as np

IMAGE_EXTS = ("png", "jpg", "jpeg", "npy")


def rank_world() -> tuple[int, int]:
    """(rank, world size): from torch.distributed when initialised, else env RANK / WORLD_SIZE (torchrun). The
    one helper for it: the loader, the stream, the trainer and the metrics ask here."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _worker() -> tuple[int, int]:
    import torch.utils.data

    info = torch.utils.data.get_worker_info()
    return (info.id, info.num_workers) if info is not None else (0, 1)


def _as_manifest(manifest):
    from primps.pipeline.manifest import Manifest, load_manifest

    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)


def _decode(sample: dict):
    import torch

    from primps.pipeline.shards import decode_image

    for ext in IMAGE_EXTS:
        if ext in sample:
            arr = decode_image(sample[ext], ext)
            return torch.from_numpy(arr).permute(2, 0, 1).contiguous()
    raise ValueError(f"sample {sample.get('__key__')!r} in {sample.get('__url__')!r} has no image")


def _shuffle(it: Iterator, bufsize: int, rng: np.random.Generator) -> Iterator:
    buf: list = []
    for x in it:
        if len(buf) < bufsize:
            buf.append(x)
            continue
        j = int(rng.integers(len(buf)))
        buf[j], x = x, buf[j]
        yield x
    rng.shuffle(buf)  # type: ignore[arg-type]
    yield from buf


def _batched(it: Iterator, batch_size: int, partial: bool) -> Iterator:
    import torch

    buf = []
    for x in it:
        buf.append(x)
        if len(buf) == batch_size:
            yield torch.stack(buf)
            buf = []
    if buf and partial:
        yield torch.stack(buf)


def _make_base():
    import torch.utils.data

    return torch.utils.data.IterableDataset


class ManifestDataset(_make_base()):  # type: ignore[misc]
    def __init__(self, manifest, seed: int, resampled: bool = True, shuffle: int = 1000,
                 batch_size: int | None = None) -> None:
        super().__init__()
        m = _as_manifest(manifest)
        self.urls = m.shard_paths()
        self.resolution = m.resolution
        if not self.urls:
            raise ValueError(f"manifest {m.path} lists no shards")
        self.seed = int(seed)
        self.resampled = bool(resampled)
        self.shuffle = int(shuffle)
        self.batch_size = batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def shard_urls(self) -> Iterator[str]:
        """The shard paths this (rank, worker) reads this epoch (infinite when resampled)."""
        rank, world = rank_world()
        wid, nw = _worker()
        if self.resampled:
            rng = np.random.default_rng([self.seed, rank, wid, 0x5EED])
            while True:
                yield self.urls[int(rng.integers(len(self.urls)))]
        order = np.arange(len(self.urls))
        if self.shuffle > 0:
            order = np.random.default_rng([self.seed, self.epoch, 0x5A4D]).permutation(len(self.urls))
        g, gn = rank * nw + wid, world * nw
        for i in order[g::gn]:
            yield self.urls[int(i)]

    def __iter__(self):
        import webdataset as wds

        rank, _ = rank_world()
        wid, _ = _worker()
        it = wds.tarfile_to_samples()(({"url": u} for u in self.shard_urls()))
        if self.shuffle > 0:
            it = _shuffle(it, self.shuffle, np.random.default_rng([self.seed, rank, wid, self.epoch, 0xB0F]))
        it = (_decode(s) for s in it)
        if not self.resampled:
            self.epoch += 1
        if self.batch_size:
            it = _batched(it, self.batch_size, partial=not self.resampled)
        return it


def make_dataset(manifest, seed: int, resampled: bool = True, shuffle: int = 1000,
                 batch_size: int | None = None) -> ManifestDataset:
    return ManifestDataset(manifest, seed, resampled=resampled, shuffle=shuffle, batch_size=batch_size)


def make_loader(manifest, batch_size: int, seed: int, resampled: bool = True, num_workers: int = 0,
                shuffle: int = 1000):
    import torch.utils.data

    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    ds = make_dataset(manifest, seed, resampled=resampled, shuffle=shuffle, batch_size=batch_size)
    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=num_workers,
                                       persistent_workers=False)
