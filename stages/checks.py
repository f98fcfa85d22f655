"""Up-front checks of command-line input, shared by every sub-command.

Each ``run(args)`` calls these in its first lines, before heavy imports (torch, dask) and before any work, so a bad
argument, input or output location costs well under a second and leaves nothing behind. Every check raises
``UsageError`` with one line that names the flag and the problem in the user's terms; ``stages/cli.py`` prints it
and exits 2. Nothing here creates a file or folder (writability is probed with an unnamed temporary file).

Conventions (README "CLI conventions"): image side lengths follow ``pipeline.config``'s one rule, 16..1024 pixels;
counts are positive integers; ``--seed`` is a non-negative integer.

    from primps.stages import checks
    checks.positive_int(args.n_images, "--n-images")
    out = checks.output_dir(args.out, "--out")
"""

from __future__ import annotations

import math
from pathlib import Path

from primps.pipeline.atomic import can_create_in, nearest_existing
from primps.pipeline.config import MAX_SIDE, MIN_SIDE
from primps.pipeline.errors import UsageError
from primps.trainers.presets import freeze_d_problem, resolution_problem

# ------------------------------------------------------------------------------------------------------ numbers

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def positive_int(value, flag: str) -> int:
    if not _is_int(value) or value < 1:
        raise UsageError(f"{flag} must be a positive integer, got {value!r}")
    return value


def non_negative_int(value, flag: str) -> int:
    if not _is_int(value) or value < 0:
        raise UsageError(f"{flag} must be an integer >= 0, got {value!r}")
    return value


def int_in_range(value, flag: str, lo: int, hi: int) -> int:
    if not _is_int(value) or not lo <= value <= hi:
        raise UsageError(f"{flag} must be an integer in {lo}..{hi}, got {value!r}")
    return value


def positive_float(value, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UsageError(f"{flag} must be a number > 0, got {value!r}")
    return float(value)


def finite_float(value, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{flag} must be a finite number, got {value!r}")
    return float(value)


def side(value, flag: str = "--resolution") -> int:
    """A square image side length: the project's one rule, MIN_SIDE..MAX_SIDE pixels (as the synthesizer)."""
    return int_in_range(value, flag, MIN_SIDE, MAX_SIDE)


def choice(value, flag: str, choices) -> str:
    if value not in choices:
        raise UsageError(f"{flag} must be one of {', '.join(map(str, choices))}, got {value!r}")
    return value


# -------------------------------------------------------------------------------------------------------- inputs

def existing_path(path, flag: str, what: str = "file or folder") -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag}: {what} not found: {path}")
    return p


def existing_file(path, flag: str, what: str = "file") -> Path:
    p = existing_path(path, flag, what)
    if not p.is_file():
        raise UsageError(f"{flag}: {path} is a folder, not a file")
    return p


def checkpoint_info(path, flag: str) -> dict:
    """The metadata of a primps training checkpoint, read without torch (``trainers.checkpoint.read_metadata``)."""
    from primps.trainers.checkpoint import read_metadata

    return read_metadata(path, flag)


def manifest(path, flag: str, kind: str | None = None):
    """Load a shard manifest (file, or a shard folder holding .primps/manifest.json); with ``kind``, require it."""
    from primps.pipeline.manifest import load_manifest

    try:
        m = load_manifest(path)
    except UsageError as exc:
        raise UsageError(f"{flag}: {exc}") from None
    if kind is not None and m.kind != kind:
        origin = {"synthetic": "primps render", "ingest": "primps ingest"}
        raise UsageError(f"{flag}: {path} is a {m.kind} set of {m.n_images} images (from `{origin.get(m.kind, '?')}`);"
                         f" this needs a {kind} set (from `{origin.get(kind, '?')}`)")
    return m


def same_resolution(manifest, model_res: int, model: str) -> None:
    """The data of ``manifest`` and the model (``model`` names it: a preset, a checkpoint) have the same size."""
    if tuple(manifest.resolution) != (model_res, model_res):
        h, w = manifest.resolution
        raise UsageError(f"the data in {manifest.path} is {h}x{w} but the model resolution is {model_res} "
                         f"({model}); use data and a model of the same resolution")


# ------------------------------------------------------------------------------------------------------- outputs

def output_dir(path, flag: str, _file=None) -> Path:
    """A folder the command may write into: an existing writable folder, or one that can be created."""
    if path is None or str(path) == "":
        raise UsageError(f"{flag}: an output folder is required")
    p = Path(path)
    shown = _file if _file is not None else path
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag}: cannot write {shown}: {path} is a file, not a folder")
    base = nearest_existing(p)
    if not base.is_dir():
        raise UsageError(f"{flag}: cannot create {shown}: {base} is a file, not a folder")
    if not can_create_in(base):
        raise UsageError(f"{flag}: cannot write {shown}: {base} is not writable")
    return p


def output_file(path, flag: str, suffixes: tuple[str, ...] | None = None) -> Path:
    """A file the command may (re)write: its folder passes ``output_dir`` and it is not itself a folder."""
    if path is None or str(path) == "":
        raise UsageError(f"{flag}: an output file name is required")
    p = Path(path)
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} must end in {' or '.join(suffixes)}, got {path}")
    if p.is_dir():
        raise UsageError(f"{flag}: {path} is a folder, not a file")
    output_dir(p.parent, flag, _file=path)
    return p


# ------------------------------------------------------------------------------------------------------ training

def training_resolution(value, flag: str = "--resolution") -> int:
    """A model resolution (``trainers.presets.resolution_problem``: a power of two in 16..1024)."""
    if (problem := resolution_problem(value)) is not None:
        raise UsageError(f"{flag} {problem}")
    return value


def freeze_d(value, resolution: int, flag: str = "--freeze-d") -> int:
    """FreezeD's K for a model of ``resolution`` (``trainers.presets.freeze_d_problem``)."""
    if (problem := freeze_d_problem(value, resolution)) is not None:
        raise UsageError(f"{flag} {problem}")
    return value


def kimg_to_go(info: dict, kimg: float, path) -> None:
    """A resumed run (checkpoint metadata ``info`` from ``checkpoint_info``) still has training to do."""
    done = info.get("cur_nimg", 0)
    if isinstance(done, int) and done >= kimg * 1000:
        raise UsageError(f"the checkpoint {path} is already at kimg {done / 1000:.3f} >= --kimg {kimg}")


def training_options(args) -> None:
    """The options every training command shares (``stages.pretrain.add_common``) and its output folder."""
    positive_float(args.kimg, "--kimg")
    non_negative_int(args.seed, "--seed")
    if args.batch is not None:
        positive_int(args.batch, "--batch")
    if args.workers is not None:  # None: the default, chosen from the cores available
        non_negative_int(args.workers, "--loader-workers")
    if args.threads is not None:
        positive_int(args.threads, "--threads")
    for value, flag in ((args.snapshot_kimg, "--snapshot-kimg"), (args.log_kimg, "--log-kimg")):
        if value is not None:
            positive_float(value, flag)
    output_dir(args.out, "--out")
