"""Training throughput of the StyleGAN2 trainer for any preset and device; prints one JSON object.

    python benchmarks/bench_train.py --preset cpu-smoke --device cpu --steps 20
    python benchmarks/bench_train.py --preset lowshot256 --device cuda --steps 50 [--compile]

Data are random uint8 batches made in memory (no decoding), so this measures the G/D/regulariser/EMA step only.
Regularisers run at their preset intervals; timed steps start after --warmup steps.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    import torch

    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset, preset_names

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="cpu-smoke", choices=preset_names())
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=16, help="timed steps (a multiple of the R1 interval is fairest)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--diffaug", default="color,translation,cutout")
    p.add_argument("--compile", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    over = {"diffaug_policy": a.diffaug}
    if a.batch:
        over["batch"] = a.batch
    cfg = get_preset(a.preset, **over)
    tr = Trainer(cfg, a.device, 0, compile=a.compile)
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (tr.batch_per_rank, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8,
                          generator=g)
    cuda = tr.device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(tr.device)

    for _ in range(a.warmup):
        tr.step(batch)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(tr.device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        tr.step(batch)
    sync()
    dt = time.perf_counter() - t0
    n = a.steps * cfg.batch
    out = {
        "preset": a.preset, "device": str(tr.device), "batch": cfg.batch, "resolution": cfg.resolution,
        "diffaug": a.diffaug, "steps": a.steps, "threads": torch.get_num_threads(), "compile": a.compile,
        "img_per_s": n / dt, "sec_per_kimg": dt / n * 1000, "sec_per_step": dt / a.steps,
        "peak_mem_gb": (torch.cuda.max_memory_allocated(tr.device) / 2 ** 30 if cuda
                        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20),
        "peak_mem_kind": "cuda max_memory_allocated" if cuda else "process max RSS",
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
