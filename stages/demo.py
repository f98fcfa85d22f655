"""`./run demo`: the main job on a small embedded default, no cluster and no GPU.

It runs the project's own pipeline end to end at smoke scale and prints where each output went.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stages.cli import main as primps


def steps(out: Path) -> list[list[str]]:
    return [
        ["preview", "--variant", "all", "--n", "8", "--resolution", "128", "--seed", "0",
         "--out", str(out / "preview.png")],
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./run demo", description=__doc__)
    parser.add_argument("--out", default="out/demo", help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    for step in steps(out):
        print("+ primps " + " ".join(step), flush=True)
        rc = primps(step)
        if rc != 0:
            print(f"demo: step 'primps {step[0]}' failed with exit code {rc}", file=sys.stderr)
            return rc
    print(f"demo: done; outputs in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
