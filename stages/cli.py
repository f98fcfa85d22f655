"""The `primps` console command.

Each stage module exposes ``register(subparsers)``, which adds its sub-command and sets ``func`` (called with the
parsed namespace, returning an exit code). Stage modules import heavy libraries (torch, dask) inside ``func`` so that
``primps --help`` stays fast, and check every argument and output location first (``stages/checks.py``).
Every sub-command parser is a ``Parser`` (one help format; parse errors are one line, exit 2); old option
spellings stay accepted through ``hidden_alias``.
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
    "primps.stages.report",
    "primps.stages.repro",
]


class HelpFormatter(argparse.HelpFormatter):
    """Help lines end in "(required)" for required options and "(default: X)" once for real defaults.

    Nothing is added when the help text already says "default" or "required", when the default is None/False
    (an unset option or a flag), or for hidden aliases.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        low = text.lower()
        if action.required and action.option_strings and "required" not in low:
            return f"{text} (required)".strip()
        unset = action.default is None or action.default is False or action.default is argparse.SUPPRESS
        if "default" not in low and action.option_strings and not unset and action.nargs != 0:
            return f"{text} (default: %(default)s)".strip()
        return text


class Parser(argparse.ArgumentParser):
    """argparse with our help formatter, and parse errors as one line (exit 2) naming where --help is."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["formatter_class"] = HelpFormatter  # one formatter for every (sub-)command
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def hidden_alias(parser: argparse.ArgumentParser, *flags: str, dest: str, **kwargs) -> None:
    """Old spellings of an option: still accepted, not shown in --help."""
    parser.add_argument(*flags, dest=dest, help=argparse.SUPPRESS, default=argparse.SUPPRESS, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
        print(f"primps {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"primps {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
