"""Stream synthetic training batches straight from the synthesizer (no render step, nothing stored).

``SynthStream(cfg, seed, batch_size, start_batch=0)`` is an infinite ``torch.utils.data.IterableDataset`` of uint8
``[B, 3, H, W]`` batches whose pixels equal what ``primps render --seed S`` stores for the same config: sample ``i``
is ``render_one(cfg, S, i)``.

Index split (so that rank/worker counts never change the pixels of a global batch):

* Rank ``r`` of ``W`` takes global batch ``g = j * W + r`` as its ``j``-th batch; global batch ``g`` holds sample
  indices ``[g * B, (g + 1) * B)`` where ``B`` is the per-rank batch size. With one rank the stream is indices
  0, 1, 2, ... in order, i.e. a render read back in index order with shuffling off.
* DataLoader worker ``k`` of ``K`` renders the rank's batches ``j = k, k + K, ...``; the DataLoader returns worker
  outputs round-robin, so the rank sees ``j = 0, 1, 2, ...`` in order whatever ``K`` is.
* ``start_batch`` skips the rank's first batches arithmetically (a resume costs nothing).

``dataset_id(cfg, seed)`` names the stream (config hash + seed) for checkpoints.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

import numpy as np

from primps.pipeline.config import SynthConfig, config_hash
from primps.pipeline.errors import UsageError
from primps.pipeline.loader import rank_world


def dataset_id(cfg: SynthConfig, seed: int) -> str:
    """'stream-<16 hex>' from the synthesizer config hash and the seed (``manifest.make_dataset_id``)."""
    from primps.pipeline.manifest import make_dataset_id

    return make_dataset_id("stream", {"config_hash": config_hash(cfg), "seed": int(seed)})


def batch_indices(global_batch: int, batch_size: int) -> range:
    """Sample indices of global batch ``global_batch``."""
    return range(global_batch * batch_size, (global_batch + 1) * batch_size)


def _base():
    import torch.utils.data

    return torch.utils.data.IterableDataset


class SynthStream(_base()):  # type: ignore[misc]
    def __init__(self, cfg: SynthConfig, seed: int, batch_size: int, start_batch: int = 0,
                 rank: int | None = None, world: int | None = None) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.cfg, self.seed, self.batch_size = cfg, int(seed), int(batch_size)
        self.start_batch = int(start_batch)
        self.rank, self.world = rank, world

    def global_batches(self, worker: int = 0, num_workers: int = 1):
        """Global batch numbers this (rank, worker) renders, in order (infinite)."""
        rank, world = rank_world()
        rank = self.rank if self.rank is not None else rank
        world = self.world if self.world is not None else world
        j = self.start_batch + worker
        while True:
            yield j * world + rank
            j += num_workers

    def __iter__(self):
        import torch
        import torch.utils.data

        from primps.pipeline.synth import render_into

        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        h, w = self.cfg.height, self.cfg.width
        for g in self.global_batches(wid, nw):
            out = np.empty((self.batch_size, h, w, 3), dtype=np.uint8)
            for k, i in enumerate(batch_indices(g, self.batch_size)):
                render_into(self.cfg, self.seed, i, out[k])
            yield torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def make_stream_loader(cfg: SynthConfig, seed: int, batch_size: int, start_batch: int = 0, num_workers: int = 0,
                       pin_memory: bool = False):
    """A DataLoader over ``SynthStream`` (workers render in parallel; batches come back in index order)."""
    import torch.utils.data

    ds = SynthStream(cfg, seed, batch_size, start_batch)
    kw = dict(prefetch_factor=4, persistent_workers=True) if num_workers > 0 else {}
    return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=num_workers, pin_memory=pin_memory, **kw)


# -- resumable training streams (what pretrain and finetune feed the Trainer) ---------------------------------

def resumable_stream(make_iter: Callable[[int], Iterable], start_batch: int = 0,
                     chunk_batches: int = 1000) -> Iterator:
    """An endless batch stream cut into chunks; chunk k comes from ``make_iter(k)`` (e.g. a loader seeded from
    (seed, k)). Starting at ``start_batch`` skips at most ``chunk_batches`` batches, so resuming is cheap and exact."""
    chunk, skip = divmod(int(start_batch), chunk_batches)
    while True:
        it = iter(make_iter(chunk))
        for i in range(chunk_batches):
            try:
                batch = next(it)
            except StopIteration:
                raise UsageError("the data stream ended; the loader must be infinite (resampled=True)") from None
            if i >= skip:
                yield batch
        skip = 0
        chunk += 1


def data_stream(manifest, trainer, seed: int, workers: int, chunk_batches: int = 10_000):
    """Resumable infinite batch stream: chunk k is a loader seeded from (seed, k) (pinned memory on CUDA). Long
    chunks keep loader rebuilds rare; a resume skips at most ``chunk_batches`` batches."""
    import torch.utils.data

    from primps.pipeline.loader import make_dataset

    def make(chunk: int):
        ds = make_dataset(manifest, seed * 100_003 + chunk, resampled=True, batch_size=trainer.batch_per_rank)
        return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                           pin_memory=trainer.device.type == "cuda")

    return resumable_stream(make, trainer.batches_consumed, chunk_batches)


def synth_stream(cfg, trainer, seed: int, workers: int):
    """Batches synthesized on the fly; resumes at the trainer's batch count with no skipping cost."""
    return make_stream_loader(cfg, seed, trainer.batch_per_rank, start_batch=trainer.batches_consumed,
                              num_workers=workers, pin_memory=trainer.device.type == "cuda")


__all__ = ["SynthStream", "make_stream_loader", "dataset_id", "batch_indices", "resumable_stream", "data_stream",
           "synth_stream"]
