"""Training throughput of the StyleGAN2 trainer for any preset and device; prints one JSON object.

    python benchmarks/bench_train.py --train-preset cpu-smoke --device cpu --kimg-steps 16
    python benchmarks/bench_train.py --train-preset lowshot256 --device cuda --batch 16 [--bf16] [--compile] \
        [--kimg-steps N]
    python benchmarks/bench_train.py --train-preset lowshot256 --device cuda --batch 16 --bf16 --kimg-steps 16 \
        --matrix conv-ops=torch,custom compile=off,on

``--matrix KEY=V1,V2 ...`` runs every combination (keys: conv-ops, compile, precision, fused-modconv) one after the
other in this one process, each with a fresh trainer and its own warmup, and prints one JSON line per combination.

Reports flops_per_img (G+D forward, FlopCounterMode), s_per_kimg and peak_mem_gib (CUDA max allocated, else process
max RSS). Data are random uint8 batches made in memory (no decoding), so this measures the G/D/regulariser/EMA step
only. Regularisers run at their preset intervals; timed steps start after --warmup steps (compilation happens there).
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

IMPLS = ("auto", "torch", "custom")
MATRIX = {"conv-ops": IMPLS, "compile": ("off", "on"), "precision": ("fp32", "bf16", "fp16"),
          "fused-modconv": ("off", "on")}


def main(argv=None) -> int:
    import torch

    from primps.trainers.presets import preset_names

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-preset", "--preset", dest="preset", default="cpu-smoke", choices=preset_names())
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--kimg-steps", "--steps", dest="steps", type=int, default=16,
                   help="timed steps (a multiple of the R1 interval is fairest)")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--diffaug", default="color,translation,cutout")
    p.add_argument("--compile", action="store_true")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--bf16", action="store_true", help="bf16 autocast in the high-resolution blocks")
    prec.add_argument("--fp16", action="store_true", help="fp16 autocast + GradScaler")
    p.add_argument("--fused-modconv", action="store_true", help="grouped-conv modulated conv instead of the default")
    p.add_argument("--conv-ops", default="auto", choices=IMPLS,
                   help="convolution autograd: torch (F.conv2d) or custom (backward made of convolutions)")
    p.add_argument("--matrix", nargs="+", default=[], metavar="KEY=V1,V2",
                   help="run every combination of these settings side by side (keys: " + ", ".join(MATRIX) + ")")
    a = p.parse_args(argv)
    from primps.trainers.runtime import exact_float32

    exact_float32()   # as `primps pretrain` runs: float32 paths in IEEE float32, TF32 off
    if a.threads:
        torch.set_num_threads(a.threads)
    axes = []
    for item in a.matrix:
        key, _, vals = item.partition("=")
        if key not in MATRIX or not vals:
            p.error(f"--matrix {item!r}: expected KEY=V1,V2 with KEY one of {', '.join(MATRIX)}")
        for v in vals.split(","):
            if v not in MATRIX[key]:
                p.error(f"--matrix {key}: unknown value {v!r} (choose from {', '.join(MATRIX[key])})")
        axes.append([(key, v) for v in vals.split(",")])
    for combo in itertools.product(*axes):
        b = argparse.Namespace(**vars(a))
        for key, v in combo:
            if key == "conv-ops":
                b.conv_ops = v
            elif key == "precision":
                b.bf16, b.fp16 = v == "bf16", v == "fp16"
            else:
                setattr(b, key.replace("-", "_"), v == "on")
        run_one(b)
    return 0


def run_one(a) -> None:
    import torch

    from primps.trainers import convops
    from primps.trainers.loop import Trainer
    from primps.trainers.presets import get_preset

    t_config = time.perf_counter()
    convops.set_impl(a.conv_ops)
    torch._dynamo.reset()
    over = {"diffaug_policy": a.diffaug}
    if a.batch:
        over["batch"] = a.batch
    cfg = get_preset(a.preset, **over)
    from primps.trainers.flops import flops_per_image

    flops = flops_per_image(cfg)
    precision = "bf16" if a.bf16 else "fp16" if a.fp16 else "fp32"
    torch.manual_seed(0)
    tr = Trainer(cfg, a.device, 0, compile=a.compile, precision=precision)
    tr.G.synthesis.fused_modconv = a.fused_modconv
    g = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (tr.batch_per_rank, 3, cfg.resolution, cfg.resolution), dtype=torch.uint8,
                          generator=g)
    cuda = tr.device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize(tr.device)

    for _ in range(a.warmup):
        tr.step(batch)
    tr.flush_stats()
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats(tr.device)
    t0 = time.perf_counter()
    for _ in range(a.steps):
        tr.step(batch)
    tr.flush_stats()   # also syncs; raises if the run diverged
    sync()
    dt = time.perf_counter() - t0
    n = a.steps * cfg.batch
    out = {
        "preset": a.preset, "device": str(tr.device), "batch": cfg.batch, "resolution": cfg.resolution,
        "diffaug": a.diffaug, "steps": a.steps, "threads": torch.get_num_threads(), "compile": a.compile,
        "precision": precision, "fused_modconv": a.fused_modconv,
        "conv_ops": convops.get_impl(tr.device.type), "flops_per_img": flops,
        "img_per_s": n / dt, "s_per_kimg": dt / n * 1000, "sec_per_step": dt / a.steps,
        "peak_mem_gib": (torch.cuda.max_memory_allocated(tr.device) / 2 ** 30 if cuda
                         else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20),
        "peak_mem_kind": "cuda max_memory_allocated" if cuda else "process max RSS (cumulative over --matrix runs)",
        "config_wall_s": time.perf_counter() - t_config,   # build + warmup (compilation) + timed steps
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
