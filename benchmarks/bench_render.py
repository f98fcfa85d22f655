"""Render speed as a user sees it: `primps render` runs timed side by side in one go, printed as one JSON object.

Usage: python benchmarks/bench_render.py [--resolution 256] [--sizes 2000 10000] [--shard-size 1000] [--variant V]
                                         [--repeats 3] [--rounds 3] [--codecs]

Every render is a separate `primps render ... --no-progress` process (fresh output folder), timed for wall clock and
for the user and system CPU time of its whole process tree (Dask workers included); each process's peak RSS is read
from /proc while it runs. Figures:

- ``parts``: per image, in this process, synthesis (``render_one``), PNG encoding (``encode_image``) and tar + sha256
  + fsync (``write_shard`` of the encoded samples), ms (best of --repeats blocks of 200 images);
- ``inline``/``workers2``: `--workers 0` and `--workers 2` at each of --sizes; the slope between the two sizes is the
  steady per-image time (start-up separated out), the intercept the fixed cost;
- ``startup``: `primps render -n 1 --workers 0` wall (median of --repeats), and ``worker_ready``: a fresh one-worker
  local cluster until its worker has returned one rendered 1-image shard (process spawn, imports, JIT cache);
- ``scaling_2_vs_inline`` (img/s at the largest size, both including start-up; with --rounds, the median of the
  rounds' ratios, each from runs minutes apart), ``sys_share`` (system / user CPU
  time of each run) and the extrapolated minutes for 1,000,000 images (intercept + slope x 1e6; ``_cpu_bound``:
  the CPU time per image spread over the processes, i.e. the time with the cores to itself on a shared machine).
- ``--codecs``: lossless encoders compared on the same images (imagecodecs PNG filters and levels, Pillow, PPM).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CLI = "import sys; from primps.stages.cli import main; sys.exit(main(sys.argv[1:]))"


# -- processes ------------------------------------------------------------------------------------------------------
def _tree(pid: int) -> list[int]:
    out = [pid]
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                for c in f.read().split():
                    out += _tree(int(c))
    except OSError:
        pass
    return out


def _hwm_mib(pid: int) -> tuple[str, float] | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/cmdline") as f:
            cmd = f.read().replace("\0", " ")
        return cmd, int(st["VmHWM"].split()[0]) / 1024.0
    except (OSError, KeyError, ValueError):
        return None


def timed(args: list[str], cwd: str) -> dict:
    """Run ``python -c CLI args`` in ``cwd``: wall, user and sys CPU of the tree, peak RSS of the main process and of
    each Dask worker process (spawned children), in MiB."""
    r0 = os.times()
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", CLI, *args], cwd=cwd, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    peaks: dict[int, tuple[str, float]] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for pid in _tree(p.pid):
                got = _hwm_mib(pid)
                if got:
                    peaks[pid] = got
            done.wait(0.25)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    _, err = p.communicate()
    wall = time.perf_counter() - t0
    done.set()
    th.join()
    r1 = os.times()
    if p.returncode != 0:
        raise RuntimeError(f"primps {' '.join(args)} failed: {err[-2000:]}")
    workers = [mib for cmd, mib in peaks.values() if "spawn_main" in cmd]
    main = peaks.get(p.pid, ("", 0.0))[1]
    return {"wall_s": round(wall, 3), "user_s": round(r1.children_user - r0.children_user, 2),
            "sys_s": round(r1.children_system - r0.children_system, 2), "main_rss_mib": round(main, 1),
            "worker_rss_mib": [round(m, 1) for m in sorted(workers)]}


def render_run(n: int, workers: int, a, tmp: str) -> dict:
    d = tempfile.mkdtemp(dir=tmp)
    try:
        r = timed(["render", "--resolution", a.resolution, "--variant", a.variant, "-n", str(n), "--shard-size",
                   str(a.shard_size), "--seed", "7", "--workers", str(workers), "--root", "data", "--manifest-dir",
                   "man", "--no-progress"], d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    r.update(n_images=n, workers=workers, img_per_s=round(n / r["wall_s"], 1),
             sys_share=round(r["sys_s"] / max(r["user_s"], 1e-9), 3))
    return r


def _median_run(runs: list[dict], n: int) -> dict:
    """The run of median wall time among those of ``n`` images (the lower middle one for an even count)."""
    same = sorted((r for r in runs if r["n_images"] == n), key=lambda r: r["wall_s"])
    return same[(len(same) - 1) // 2]


def slope(runs: list[dict], procs: int) -> dict:
    """Steady per-image time and fixed cost from the smallest and largest run (wall clock and CPU). The CPU-bound
    estimate for 1M images assumes ``procs`` cores free for this render alone: CPU time per image / procs."""
    a, b = min(runs, key=lambda r: r["n_images"]), max(runs, key=lambda r: r["n_images"])
    dn = b["n_images"] - a["n_images"]
    ms = (b["wall_s"] - a["wall_s"]) / dn * 1e3
    cpu_ms = ((b["user_s"] + b["sys_s"]) - (a["user_s"] + a["sys_s"])) / dn * 1e3
    icpt = a["wall_s"] - ms * a["n_images"] / 1e3
    return {"ms_per_image": round(ms, 3), "img_per_s": round(1e3 / ms, 1), "cpu_ms_per_image": round(cpu_ms, 3),
            "intercept_s": round(icpt, 2), "est_minutes_for_1M_images": round((icpt + ms * 1e3) / 60, 1),
            "est_minutes_for_1M_images_cpu_bound": round((icpt + cpu_ms * 1e3 / procs) / 60, 1)}


# -- in-process parts -----------------------------------------------------------------------------------------------
def parts(cfg, n: int, repeats: int, tmp: str) -> dict:
    """ms per image of synthesis, PNG encoding and tar writing (+ sha256 + fsync), best of ``repeats`` blocks."""
    from primps.pipeline.render import limit_threads
    from primps.pipeline.shards import encode_image, write_shard
    from primps.pipeline.synth import render_one

    limit_threads()
    render_one(cfg, 0, 0)
    best = {"synth": float("inf"), "encode": float("inf"), "tar_hash_fsync": float("inf")}
    for r in range(repeats):
        t0 = time.perf_counter()
        imgs = [render_one(cfg, r, i) for i in range(n)]
        t1 = time.perf_counter()
        enc = [encode_image(a) for a in imgs]
        t2 = time.perf_counter()
        meta = [json.dumps({"index": i, "seed": r, "variant": cfg.variant, "config_hash": "0" * 16},
                           sort_keys=True).encode() for i in range(n)]
        write_shard(Path(tmp) / "parts.tar", ((f"{i:06d}", {"png": e, "json": m})
                                              for i, (e, m) in enumerate(zip(enc, meta))))
        t3 = time.perf_counter()
        for k, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2)):
            best[k] = min(best[k], dt / n * 1e3)
    return {k: round(v, 3) for k, v in best.items()}


def worker_ready(cfg, tmp: str) -> dict:
    """Seconds from starting a one-worker local cluster (as `primps render` starts it) to its first rendered shard."""
    from dask.distributed import Client

    from primps.pipeline import render as R

    t0 = time.perf_counter()
    import dask
    from dask.distributed import LocalCluster

    R.limit_threads()
    with dask.config.set(R.LOCAL_WORKER_CONFIG):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0")
    with cluster, Client(cluster) as client:
        t1 = time.perf_counter()
        fut = client.submit(R.render_shard_task, cfg.to_dict(), 0, 0, 1, str(Path(tmp) / "ready.tar"), "png", 95, 6,
                            "0" * 16, "bench", pure=False)
        fut.result()
        t2 = time.perf_counter()
    return {"cluster_started_s": round(t1 - t0, 2), "first_shard_s": round(t2 - t1, 2),
            "worker_ready_s": round(t2 - t0, 2)}


# -- encoders -------------------------------------------------------------------------------------------------------
def codec_compare(cfg, n: int = 100, repeats: int = 3) -> dict:
    """ms per image and mean bytes of lossless encoders a plain webdataset reader decodes, on the same n images."""
    import imagecodecs
    import numpy as np
    from PIL import Image

    from primps.pipeline.synth import render_one

    def png(level, filt, strategy=None):
        kw = {"level": level, "filter": filt, **({"strategy": strategy} if strategy is not None else {})}
        return lambda a: bytes(imagecodecs.png_encode(a, **kw))

    def pil(fmt, **kw):
        def enc(a):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format=fmt, **kw)
            return buf.getvalue()
        return enc

    F, S = imagecodecs.PNG.FILTER, imagecodecs.PNG.STRATEGY
    encs = {"png_l1_paeth_rle (primps default)": png(1, F.PAETH, S.RLE), "png_l1_up_rle": png(1, F.UP, S.RLE),
            "png_l1_paeth": png(1, F.PAETH), "png_l0_none (stored)": png(0, F.NONE),
            "png_pillow_default": pil("PNG"), "png_pillow_level1": pil("PNG", compress_level=1),
            "ppm_pillow (raw)": pil("PPM")}
    imgs = [render_one(cfg, 0, i) for i in range(n)]
    best = {k: float("inf") for k in encs}
    size = {}
    for _ in range(repeats):
        for k, f in encs.items():
            t = time.perf_counter()
            out = [f(a) for a in imgs]
            best[k] = min(best[k], (time.perf_counter() - t) / n)
            size[k] = int(np.mean([len(o) for o in out]))
    return {k: {"ms": round(best[k] * 1e3, 3), "bytes": size[k]} for k in encs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", default="256")
    ap.add_argument("--sizes", type=int, nargs=2, default=[2000, 10000], metavar=("SMALL", "LARGE"))
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--variant", default="primitives-ps")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds of the interleaved size runs; slopes from the median run of each, scaling the median "
                         "of the rounds' ratios")
    ap.add_argument("--parts-n", type=int, default=200)
    ap.add_argument("--codecs", action="store_true", help="also compare lossless encoders")
    a = ap.parse_args()
    from primps.pipeline.config import resolve_synth_config

    cfg = resolve_synth_config(None, None, variant=a.variant, resolution=a.resolution)
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[:3]
    tmp = tempfile.mkdtemp(prefix="bench-render-")
    try:
        res = {"benchmark": "render", "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.platform()}",
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "load_before": load0,
               "resolution": a.resolution, "variant": a.variant, "format": "png", "shard_size": a.shard_size,
               "parts_ms_per_image": parts(cfg, a.parts_n, a.repeats, tmp)}
        starts = [render_run(1, 0, a, tmp)["wall_s"] for _ in range(a.repeats)]
        res["startup_n1_inline_s"] = {"median": round(statistics.median(starts), 2), "all": starts}
        res["worker_ready"] = worker_ready(cfg, tmp)
        runs: dict[str, list[dict]] = {"inline": [], "workers2": []}
        ratios = []
        for _ in range(a.rounds):  # interleaved: each size inline, then with two workers; then the next round
            for n in a.sizes:
                runs["inline"].append(render_run(n, 0, a, tmp))
                runs["workers2"].append(render_run(n, 2, a, tmp))
            ratios.append(round(runs["workers2"][-1]["img_per_s"] / runs["inline"][-1]["img_per_s"], 3))
        res["runs"] = runs
        typical = {k: [_median_run(v, n) for n in a.sizes] for k, v in runs.items()}
        res["slope"] = {k: slope(v, 1 if k == "inline" else 2) for k, v in typical.items()}
        # The ratio of each round's two largest runs (minutes apart), then the median over rounds: a shared
        # machine's speed drifts between rounds more than within one.
        res["scaling_2_vs_inline"] = statistics.median(ratios)
        res["scaling_2_vs_inline_rounds"] = ratios
        res["scaling_2_vs_inline_slope"] = round(res["slope"]["workers2"]["img_per_s"]
                                                 / res["slope"]["inline"]["img_per_s"], 3)
        res["sys_share_workers2"] = typical["workers2"][-1]["sys_share"]
        if a.codecs:
            res["codecs"] = codec_compare(cfg)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with open("/proc/loadavg") as f:
        res["load_after"] = f.read().split()[:3]
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
