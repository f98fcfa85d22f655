"""`./run demo`: the main job on a small embedded default, no cluster and no GPU.

1. a preview grid of every synthesizer variant (out/demo/preview.png);
2. the whole DVC pipeline at the smoke scale of params.yaml: render → pretrain → ingest (obama, grumpy_cat) →
   finetune (scratch / full / freezed) → evaluate, then `dvc metrics show`.

The low-shot target sets are read from $PRIMPS_LOWSHOT_DIR, else from params.yaml's ingest.src_root
(default ../shared/data/lowshot).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from primps.stages.cli import main as primps

ROOT = Path(__file__).resolve().parents[1]


def lowshot_root() -> Path:
    env = os.environ.get("PRIMPS_LOWSHOT_DIR")
    if env:
        return Path(env)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return (ROOT / params["ingest"]["src_root"]).resolve()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="out/demo", help="folder for the preview grid (default: %(default)s)")
    parser.add_argument("--preview-only", action="store_true", help="only write the preview grid")
    args = parser.parse_args(argv)

    step = ["preview", "--variant", "all", "--n", "8", "--resolution", "128", "--seed", "0",
            "--out", str(Path(args.out) / "preview.png")]
    print("+ primps " + " ".join(step), flush=True)
    if (rc := primps(step)) != 0:
        return rc
    if args.preview_only:
        return 0

    src = lowshot_root()
    if not src.is_dir():
        print(f"demo: error: low-shot target sets not found at {src}; set PRIMPS_LOWSHOT_DIR to the folder holding "
              "obama/ and grumpy_cat/", file=sys.stderr)
        return 2
    env = dict(os.environ, PRIMPS_LOWSHOT_DIR=str(src))
    # dvc runs `primps`; make sure the one of this environment is first on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    dvc = shutil.which("dvc", path=env["PATH"])
    if dvc is None:
        print("demo: error: dvc is not installed (pip install -e '.[dvc]')", file=sys.stderr)
        return 2
    for cmd in ([dvc, "repro"], [dvc, "metrics", "show"]):
        print("+ " + " ".join(["dvc"] + cmd[1:]), flush=True)
        if (rc := subprocess.call(cmd, cwd=ROOT, env=env)) != 0:
            print(f"demo: '{' '.join(['dvc'] + cmd[1:])}' failed with exit code {rc}", file=sys.stderr)
            return rc
    print("demo: done. Preview: out/demo/preview.png; metrics: eval/*/metrics.json; FID curves: eval/*/fid_curve.png;"
          " `dvc plots show` renders them to HTML.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
