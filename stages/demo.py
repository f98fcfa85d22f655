"""`./run demo`: the whole DVC pipeline at the demo scale of params.yaml, on the CPU, in a few minutes.

preview → render (2,000 Primitives-PS images at 32²) → pretrain (6 kimg) → ingest (obama) → finetune from
scratch and from the pretrained generator → evaluate → report. Each stage shows its progress; the demo stamps
every stage with the time since the start, then prints a summary table (target × strategy: FID, KID, kimg), the
time each stage took, and where the pictures are: one self-contained HTML page, report.html.

The low-shot target sets are read from $PRIMPS_LOWSHOT_DIR, else from params.yaml's ingest.src_root
(default ../shared/data/lowshot).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGE_RE = re.compile(r"^Running stage '([^']+)'")


def lowshot_root(root: Path = ROOT) -> Path:
    env = os.environ.get("PRIMPS_LOWSHOT_DIR")
    if env:
        return Path(env)
    params = yaml.safe_load((root / "params.yaml").read_text())
    return (root / params["ingest"]["src_root"]).resolve()


def clock(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


def run_stamped(cmd: list[str], cwd: Path, env: dict, t0: float) -> tuple[int, dict[str, float]]:
    """Run ``cmd``, echoing its stdout with a [mm:ss] stamp on every "Running stage" line; (exit code, stage times).

    stderr (the stages' progress bars) goes straight to the terminal.
    """
    times: dict[str, float] = {}
    current, started = None, t0
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            m = STAGE_RE.match(line)
            if m:
                now = time.perf_counter()
                if current:
                    times[current] = now - started
                current, started = m.group(1), now
                line = f"[{clock(now - t0)}] {line}"
            sys.stdout.write(line)
            sys.stdout.flush()
        rc = proc.wait()
    if current:
        times[current] = time.perf_counter() - started
    return rc, times


def summary(root: Path) -> str:
    """The target × strategy table (FID, KID, kimg) from eval/*/metrics.json."""
    from primps.trainers.runs import gather_runs

    rows = [r for r in gather_runs(root) if r.metrics]
    if not rows:
        return "no evaluations found (eval/*/metrics.json)"

    def num(v, spec):
        return format(v, spec) if isinstance(v, (int, float)) else "-"

    lines = [f"{'target':<12} {'strategy':<9} {'FID':>7} {'KID x1e3':>9} {'kimg':>6}"]
    for r in rows:
        m = r.metrics
        kid = m["kid"] * 1e3 if isinstance(m.get("kid"), (int, float)) else None
        lines.append(f"{r.target:<12} {r.strategy:<9} {num(m.get('fid'), '7.1f')} {num(kid, '9.1f')} "
                     f"{num(m.get('kimg'), '6.3g')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rerun every stage (dvc repro --force)")
    args = parser.parse_args(argv)

    src = lowshot_root()
    if not src.is_dir():
        print(f"demo: error: low-shot target sets not found at {src}; set PRIMPS_LOWSHOT_DIR to the folder holding "
              "obama/ and grumpy_cat/", file=sys.stderr)
        return 2
    # dvc runs `primps`; make sure the one of this environment is first on PATH. Unbuffered, so that every stage's
    # output reaches the terminal as it is printed.
    env = dict(os.environ, PRIMPS_LOWSHOT_DIR=str(src), PYTHONUNBUFFERED="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    dvc = shutil.which("dvc", path=env["PATH"])
    if dvc is None:
        print("demo: error: dvc is not installed (pip install -e '.[dvc]')", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    cmd = [dvc, "repro"] + (["--force"] if args.force else [])
    print(f"[{clock(0)}] + {' '.join(['dvc'] + cmd[1:])}", flush=True)
    rc, times = run_stamped(cmd, ROOT, env, t0)
    if rc != 0:
        print(f"demo: 'dvc repro' failed with exit code {rc}", file=sys.stderr)
        return rc
    total = time.perf_counter() - t0
    print(f"\n[{clock(total)}] demo: done in {total:.0f} s\n")
    print(summary(ROOT))
    if times:
        print("\nstage times: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    report = ROOT / "report.html"
    print(f"\nreport (open it in a browser; every picture is inside): {report}")
    print(f"pictures: {ROOT / 'runs' / 'preview.png'}, runs/pretrain/grid-*.png, eval/*/samples.png, "
          "eval/*/fid_curve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
