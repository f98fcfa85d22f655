"""The `primps` console command.

Each stage module exposes ``register(subparsers)``, which adds its sub-command and sets ``func`` (called with the
parsed namespace, returning an exit code). Stage modules import heavy libraries (torch, dask) inside ``func`` so that
``primps --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from primps.pipeline.errors import UsageError

# Order is the order shown in `primps --help`.
STAGE_MODULES = [
    "primps.stages.preview",
    "primps.stages.fidelity",
    "primps.stages.bench",
    "primps.stages.render",
    "primps.stages.verify",
    "primps.stages.pretrain",
    "primps.stages.finetune",
    "primps.stages.ingest",
    "primps.stages.evaluate",
    "primps.stages.analyze",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="primps",
        description="Primitives-PS synthetic pretraining data for GANs: preview, render, train, evaluate.",
    )
    from primps import __version__

    parser.add_argument("--version", action="version", version=f"primps {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in STAGE_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"primps {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"primps {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
