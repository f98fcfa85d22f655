"""Synthesis speed at several sizes, this checkout side by side with a baseline checkout, in one run.

Each (size, variant, side) block is one fresh process that warms up (JIT, FFT plans) and then renders ``--n``
images into a reused buffer, reporting CPU ms per image (single-threaded work; less disturbed by the other load on a
shared machine than wall time). The blocks alternate between the two checkouts, ``--repeats`` times, and the best
of each is kept. The baseline is a directory holding an older ``primps`` package (e.g. ``git archive <commit>``
unpacked into DIR/primps), put first on PYTHONPATH.

    python benchmarks/bench_synth_sizes.py --baseline /tmp/old --sizes 32,64,256,512 --n 400 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = """
import json, sys, time, numpy as np
from primps.pipeline.config import SynthConfig
from primps.pipeline.synth import render_into
s, v, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cfg = SynthConfig(variant=v, height=s, width=s)
canvas = np.empty((s, s, 3), np.uint8)
for i in range(20):
    render_into(cfg, 0, 10**6 + i, canvas)
t = time.process_time()
for i in range(n):
    render_into(cfg, 0, i, canvas)
print(json.dumps((time.process_time() - t) / n * 1e3))
"""


def _block(pythonpath: str | None, side: int, variant: str, n: int) -> float:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, "-c", CODE, str(side), variant, str(n)], env=env, cwd="/",
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="directory holding the baseline primps package")
    ap.add_argument("--sizes", default="32,64,256,512")
    ap.add_argument("--variants", default="primitives-ps,primitives,primitives-s,pinknoise")
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    for side in (int(s) for s in args.sizes.split(",")):
        n = max(20, args.n * 64 * 64 // max(side * side, 64 * 64))
        for variant in args.variants.split(","):
            best = {"new": float("inf"), "baseline": float("inf")}
            for _ in range(args.repeats):
                best["baseline"] = min(best["baseline"], _block(args.baseline, side, variant, n))
                best["new"] = min(best["new"], _block(None, side, variant, n))
            row = {"side": side, "variant": variant, "n": n, "new_ms": round(best["new"], 3),
                   "baseline_ms": round(best["baseline"], 3), "ratio": round(best["new"] / best["baseline"], 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
