"""The render driver (``primps render``): synthesize a dataset into deterministic WebDataset shards with Dask,
then write its manifest.

Layout::

    <root>/<dataset-id or --dataset-name>/shard-000000.tar ...    the shards
    <root>/<dataset-id or --dataset-name>/README.md               dataset card (Hub YAML front matter)
    <root>/<dataset-id or --dataset-name>/.primps/                sidecars, wids-index.json, SHA256SUMS and
                                                                  manifest.json (the folder's own copy)
    <manifest-dir>/<dataset-id or --dataset-name>.json            the manifest, written last

(``pipeline.manifest`` owns the layout: only shards and the card are visible, so Hugging Face ``datasets`` loads the
folder as it is.)

The dataset id is ``synth-`` + 16 hex of sha256 over (config hash, seed, n_images, shard_size, format, quality).
One Dask task renders one shard, streaming samples to disk (flat memory in n_images). A rerun skips shards whose
sha256 sidecar matches and redoes the rest, so a killed render resumes to the same bytes.

Python API: ``RenderSpec`` (validated parameters), ``render_dataset(spec, scheduler=None, workers=None,
progress=True) -> Path`` (the manifest), ``render_shard_task(...)`` (one shard; what each Dask task runs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from primps.pipeline.errors import UsageError
from primps.pipeline.shards import DEFAULT_SHARD_SIZE

SHARD_PREFIX = "shard"
# NUMBA_NUM_THREADS is deliberately absent: numba re-reads it at every compile and refuses a value that differs
# from its running thread pool; the rasterizers are serial anyway, and numba.set_num_threads(1) covers the rest.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
              "NUMEXPR_NUM_THREADS")


#: Default of ``primps render --min-shards``: 4 GPUs x 2 DataLoader workers, a common way to read a shard set.
DEFAULT_MIN_SHARDS = 8


def too_few_shards(n_shards: int, n_images: int, min_shards: int) -> str | None:
    """One warning line when ``n_shards < min_shards`` (0 disables), with the --shard-size that would do.

    The rule: plain webdataset with ``split_by_node`` and ``split_by_worker`` hands each of R ranks x W DataLoader
    workers whole shards, so it needs at least R x W shards (a worker without one stops with "No samples found"),
    and a multiple of R equally full shards for equal samples per rank; ``resampled=True`` readers need only one."""
    if min_shards <= 0 or n_shards >= min_shards:
        return None
    size = n_images // min_shards
    fix = f"--shard-size {size} gives {-(-n_images // size)}" if size >= 1 else "more images (-n) are needed"
    return (f"primps render: warning: {n_shards} shard(s) < --min-shards {min_shards}: plain webdataset over R ranks x "
            f"W DataLoader workers needs R x W shards or more; {fix}, or read with resampled=True")


@dataclass(frozen=True)
class RenderSpec:
    """Everything that defines a rendered dataset plus where it goes. Built by ``make_spec`` (validated)."""

    config: object  # pipeline.config.SynthConfig
    seed: int
    n_images: int
    shard_size: int
    image_format: str
    quality: int
    root: Path
    manifest_dir: Path
    dataset_name: str | None = None

    @property
    def config_hash(self) -> str:
        from primps.pipeline.config import config_hash

        return config_hash(self.config)

    @property
    def dataset_id(self) -> str:
        payload = {"config_hash": self.config_hash, "seed": self.seed, "n_images": self.n_images,
                   "shard_size": self.shard_size, "format": self.image_format,
                   "quality": self.quality if self.image_format == "jpg" else None}
        from primps.pipeline.manifest import make_dataset_id

        return make_dataset_id("synth", payload)

    @property
    def out_name(self) -> str:
        return self.dataset_name or self.dataset_id

    @property
    def shard_dir(self) -> Path:
        return self.root / self.out_name

    @property
    def manifest_path(self) -> Path:
        return self.manifest_dir / f"{self.out_name}.json"

    @property
    def n_shards(self) -> int:
        return -(-self.n_images // self.shard_size)

    @property
    def key_width(self) -> int:
        return max(6, len(str(self.n_images - 1)))

    def shard_name(self, i: int) -> str:
        return f"{SHARD_PREFIX}-{i:06d}.tar"

    def shard_range(self, i: int) -> tuple[int, int]:
        return i * self.shard_size, min(self.n_images, (i + 1) * self.shard_size)


def _check_writable(path: Path, what: str) -> None:
    """Raise UsageError unless ``path`` exists as a writable dir or could be created (nothing is created)."""
    from primps.pipeline.atomic import can_create_in, nearest_existing

    p = nearest_existing(path)
    if not p.is_dir():
        raise UsageError(f"{what} {path} is not a directory (or lies under the file {p})")
    if not can_create_in(p):
        raise UsageError(f"{what} {path} is not writable ({p} is read-only)")


def make_spec(*, config_path: str | None = None, config_section: str | None = None, seed: int = 0,
              n_images: int = 1000, shard_size: int = DEFAULT_SHARD_SIZE, image_format: str = "png", quality: int = 95,
              root: str | os.PathLike = "data/synthetic", manifest_dir: str | os.PathLike = "manifests",
              dataset_name: str | None = None, resolution: str | None = None, variant: str | None = None,
              preset: str | None = None) -> RenderSpec:
    """Validate every parameter (raising UsageError/ConfigError) without touching the file system."""
    from primps.pipeline.config import resolve_synth_config
    from primps.pipeline.shards import check_format

    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images <= 0:
        raise UsageError(f"n_images must be a positive integer, got {n_images!r}")
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size <= 0:
        raise UsageError(f"shard_size must be a positive integer, got {shard_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    check_format(image_format, quality)
    if dataset_name is not None and (not dataset_name or "/" in dataset_name or dataset_name.startswith(".")):
        raise UsageError(f"dataset name must be a plain directory name, got {dataset_name!r}")
    cfg = resolve_synth_config(config_path, config_section, preset=preset, variant=variant, resolution=resolution)
    root, manifest_dir = Path(root), Path(manifest_dir)
    _check_writable(root, "output root")
    _check_writable(manifest_dir, "manifest directory")
    return RenderSpec(config=cfg, seed=seed, n_images=n_images, shard_size=shard_size, image_format=image_format,
                      quality=quality, root=root, manifest_dir=manifest_dir, dataset_name=dataset_name)


#: glibc malloc settings for rendering processes. A 256^2 image allocates ~1.2 MB of short-lived arrays (spectra, FFT
#: outputs, float fields) in blocks above malloc's default 128 KiB mmap threshold: each was a fresh mmap, page-faulted
#: and zeroed by the kernel, then unmapped (~300 page faults per image, ~0.9 ms of system time; in a Dask worker's
#: task thread more). Above these thresholds (32 MiB / 256 MiB) freed blocks stay in the heap and are reused.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 25), "MALLOC_TRIM_THRESHOLD_": str(1 << 28)}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt() parameter numbers (glibc malloc.h)


def _tune_malloc() -> None:
    """Apply MALLOC_ENV to this process now (mallopt) and to the processes it starts (environment). glibc only:
    elsewhere mallopt is absent and nothing happens."""
    import ctypes

    os.environ.update(MALLOC_ENV)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no C library handle, or no mallopt (macOS, Windows)
        return
    mallopt(_M_MMAP_THRESHOLD, int(MALLOC_ENV["MALLOC_MMAP_THRESHOLD_"]))
    mallopt(_M_TRIM_THRESHOLD, int(MALLOC_ENV["MALLOC_TRIM_THRESHOLD_"]))


def limit_threads(renders: bool = True) -> None:
    """Prepare a rendering process: one compute thread (Dask gives parallelism across processes, so BLAS/FFT/numba
    must not) and malloc settings that reuse freed image buffers (MALLOC_ENV). The environment is also inherited by
    processes started afterwards (the workers of a local cluster). ``renders=False`` (the process that only starts
    a cluster): the environment and malloc only, without importing numba (0.2 s on the way to the first shard)."""
    for k in THREAD_ENV:
        os.environ[k] = "1"
    _tune_malloc()
    if not renders:
        return
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # numba absent or its threading layer already fixed
        pass


def render_shard_task(cfg_dict: dict, seed: int, start: int, stop: int, path: str, fmt: str, quality: int,
                      key_width: int, cfg_hash: str, dataset_id: str) -> dict:
    """Render samples [start, stop) into the shard at ``path``; skip if already complete. Returns ShardInfo dict."""
    from primps.pipeline.config import SynthConfig
    from primps.pipeline.shards import encode_image, shard_is_complete, write_shard
    from primps.pipeline.synth import render_one

    limit_threads()
    meta = {"dataset_id": dataset_id, "start": start, "stop": stop}
    done = shard_is_complete(path, stop - start, meta)
    if done is not None:
        return {**done.to_dict(), "skipped": True}
    cfg = SynthConfig.from_dict(cfg_dict)
    delay = float(os.environ.get("PRIMPS_TEST_SHARD_DELAY_S", "0") or 0)  # test hook: slow down to kill mid-way

    def samples():
        for i in range(start, stop):
            img = render_one(cfg, seed, i)
            meta = {"index": i, "seed": seed, "variant": cfg.variant, "config_hash": cfg_hash}
            yield f"{i:0{key_width}d}", {fmt: encode_image(img, fmt, quality),
                                         "json": json.dumps(meta, sort_keys=True).encode()}
        if delay:
            time.sleep(delay)

    return {**write_shard(path, samples(), meta).to_dict(), "skipped": False}


def _tasks(spec: RenderSpec) -> list[tuple]:
    cfg_dict, h = spec.config.to_dict(), spec.config_hash
    out = []
    for i in range(spec.n_shards):
        a, b = spec.shard_range(i)
        # absolute: workers of a remote cluster may run elsewhere (the root must be on a shared file system)
        out.append((cfg_dict, spec.seed, a, b, str((spec.shard_dir / spec.shard_name(i)).absolute()), spec.image_format,
                    spec.quality, spec.key_width, h, spec.dataset_id))
    return out


def _run_inline(tasks, on_done) -> list[dict]:
    results = []
    for t in tasks:
        r = render_shard_task(*t)
        on_done(r)
        results.append(r)
    return results


#: Local cluster settings: no statistical profiler in the workers (it samples the task thread's stack every 10 ms), no
#: disk and GIL monitoring, and the event-loop tick, memory and system monitors at 1-2 s instead of 20-500 ms
#: (measured: the scheduler's and workers' own threads 2.9 -> 2.0 s CPU for 20,000 64^2 images on two workers).
#: A render task is one long CPU-bound call.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False,
                       "distributed.admin.system-monitor.gil.enabled": False,
                       "distributed.admin.system-monitor.disk": False,
                       "distributed.admin.system-monitor.interval": "2s",
                       "distributed.admin.tick.interval": "1s",
                       "distributed.worker.memory.monitor-interval": "1s"}


def _run_dask(tasks, on_done, scheduler: str | None, workers: int | None, name: str) -> list[dict]:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        import dask

        n = workers or os.cpu_count() or 1
        limit_threads(renders=False)  # the environment, inherited by the worker processes
        with dask.config.set(LOCAL_WORKER_CONFIG):  # the nannies pass it on to their workers
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    try:
        futs = [client.submit(render_shard_task, *t, key=f"render-{name}-{i:06d}", pure=False)
                for i, t in enumerate(tasks)]
        results: dict[int, dict] = {}
        index = {f.key: i for i, f in enumerate(futs)}
        for fut in as_completed(futs):
            r = fut.result()
            on_done(r)
            results[index[fut.key]] = r
        return [results[i] for i in range(len(tasks))]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _clean_stale(spec: RenderSpec) -> None:
    """Remove tmp files of killed runs; with a fixed --dataset-name, also shards and manifests of other params."""
    import re

    from primps.pipeline.manifest import SHARD_DIR_MANIFEST, migrate_legacy_layout
    from primps.pipeline.shards import META_DIR, SIDECAR_SUFFIX

    migrate_legacy_layout(spec.shard_dir)
    meta = spec.shard_dir / META_DIR
    for stale in [*spec.shard_dir.glob("*.tmp-*"), *meta.glob("*.tmp-*")]:
        stale.unlink(missing_ok=True)
    wanted = {spec.shard_name(i) for i in range(spec.n_shards)}
    pat = re.compile(rf"^{SHARD_PREFIX}-\d{{6}}\.tar$")
    for f in [*spec.shard_dir.iterdir(), *(meta.iterdir() if meta.is_dir() else ())]:
        base = f.name[: -len(SIDECAR_SUFFIX)] if f.name.endswith(SIDECAR_SUFFIX) else f.name
        if pat.match(base) and base not in wanted:
            f.unlink(missing_ok=True)
    for m in (spec.shard_dir / SHARD_DIR_MANIFEST, spec.manifest_path):
        try:
            if json.loads(m.read_text()).get("dataset_id") != spec.dataset_id:
                m.unlink()
        except (OSError, ValueError, AttributeError):
            pass


def render_dataset(spec: RenderSpec, scheduler: str | None = None, workers: int | None = None,
                   progress: bool = True) -> Path:
    """Render all shards (Dask, or inline when workers == 0), write wids index and manifests; return manifest path."""
    from tqdm import tqdm

    from primps.pipeline.config import GENERATOR_VERSION
    from primps.pipeline.manifest import SHARD_DIR_MANIFEST, build_manifest, write_manifest, write_wids_index
    from primps.pipeline.shards import ShardInfo

    spec.shard_dir.mkdir(parents=True, exist_ok=True)
    spec.manifest_dir.mkdir(parents=True, exist_ok=True)
    _clean_stale(spec)
    tasks = _tasks(spec)
    t0 = time.perf_counter()
    bar = tqdm(total=spec.n_images, unit="img", disable=not progress, desc=f"render {spec.out_name}",
               file=sys.stderr)
    stats = {"rendered": 0, "skipped": 0}

    def on_done(r: dict) -> None:
        stats["skipped" if r["skipped"] else "rendered"] += r["n_samples"]
        bar.update(r["n_samples"])
        dt = time.perf_counter() - t0
        bar.set_postfix_str(f"{stats['rendered'] / max(dt, 1e-9):.0f} new img/s")

    try:
        if workers == 0 and not scheduler:
            results = _run_inline(tasks, on_done)
        else:
            results = _run_dask(tasks, on_done, scheduler, workers, spec.dataset_id)
    finally:
        bar.close()
    shards = [ShardInfo.from_dict(r) for r in results]
    write_wids_index(spec.shard_dir, shards, spec.dataset_id)
    cfg = spec.config
    common = dict(dataset_id=spec.dataset_id, kind="synthetic", resolution=(cfg.height, cfg.width),
                  image_format=spec.image_format, shards=shards, shard_dir=spec.shard_dir, config=cfg.to_dict(),
                  config_hash=spec.config_hash, generator_version=GENERATOR_VERSION,
                  extra={"seed": spec.seed, "shard_size": spec.shard_size,
                         "quality": spec.quality if spec.image_format == "jpg" else None})
    local = spec.shard_dir / SHARD_DIR_MANIFEST
    write_manifest(local, build_manifest(manifest_path=local, **common))
    mpath = write_manifest(spec.manifest_path, build_manifest(manifest_path=spec.manifest_path, **common))
    dt = time.perf_counter() - t0
    print(f"primps render: {spec.n_images} images in {len(shards)} shards ({stats['rendered']} rendered, "
          f"{stats['skipped']} skipped) in {dt:.1f} s = {stats['rendered'] / max(dt, 1e-9):.0f} img/s; "
          f"dataset {spec.dataset_id} -> {spec.shard_dir}; manifest {mpath}", file=sys.stderr)
    return mpath


