"""The one reader of what training runs leave on disk, and the one FID-curves figure.

Run layout (written by ``dvc.yaml`` and by ``primps repro`` alike; ``RUN_LAYOUT``)::

    data/real/<target>/          the ingested low-shot set (shard-*.tar, .primps/manifest.json)
    runs/pretrain/               pretraining (dvc: one run; repro: one sub-folder per synthetic source)
    runs/finetune/<target>-<arm>/   finetune: fid.jsonl, best.pt, last.pt, grid-*.png
    eval/<target>-<arm>/         evaluate: metrics.json, info.json, samples.png, fid_curve.png

``<arm>`` is what the finetune started from: ``scratch``, ``full``/``freezed`` (dvc's strategies), or the synthetic
source of the pretrained generator (repro's ``pinknoise``, ``primitives-ps``, ...).

* ``fid.jsonl`` (finetune's FID-vs-kimg log): ``read_fid_log``;
* ``metrics.json`` / ``info.json`` (evaluate): ``read_json``;
* checkpoint metadata: ``checkpoint_strategy`` (via ``trainers.checkpoint.read_metadata``, no torch);
* run folders: ``gather_runs`` -> ``Run``; trainer snapshots ``snapshots``;
* FID against kimg: ``curves_png``.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from primps.pipeline.errors import UsageError

STRATEGIES = ("scratch", "full", "freezed")
GRID_RE = re.compile(r"grid-(\d+)k(\d+)\.png$")


def run_key(target: str, arm: str) -> str:
    """The folder name of one finetune run and its evaluation: ``<target>-<arm>``."""
    return f"{target}-{arm}"


# ------------------------------------------------------------------------------------------------------ files

def is_number(v) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def num_or_none(v) -> float | None:
    return float(v) if is_number(v) else None


def read_json(path: Path) -> dict:
    """A JSON object file (metrics.json, info.json); {} when missing, unreadable or not an object."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def read_fid_log(path: str | os.PathLike, strict: bool = False) -> list[dict]:
    """``fid.jsonl`` records with a numeric kimg and a finite fid, one per kimg (a resumed run's repeat wins),
    sorted by kimg. Lenient by default (a missing file is [], a line cut by a kill is skipped); ``strict`` (a log
    the user named, e.g. ``evaluate --log``) raises UsageError for a missing file, a bad line or no records."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        if strict:
            raise UsageError(f"FID log not found: {path}") from None
        return []
    by_kimg: dict[float, dict] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            if strict:
                raise UsageError(f"{path}:{n}: not a JSON record") from None
            continue
        if isinstance(r, dict) and is_number(r.get("kimg")) and is_number(r.get("fid")):
            by_kimg[round(float(r["kimg"]), 4)] = r
    if strict and not by_kimg:
        raise UsageError(f"FID log {path} has no records with 'kimg' and 'fid'")
    return [by_kimg[k] for k in sorted(by_kimg)]


def checkpoint_strategy(ckpt: str | os.PathLike) -> str | None:
    """The finetune strategy (scratch / full / freezed) recorded in a checkpoint's metadata (read without torch);
    None if absent or unreadable."""
    from primps.trainers.checkpoint import read_metadata

    try:
        st = read_metadata(ckpt)
    except UsageError:  # only a title depends on it
        return None
    return (st.get("extra") or {}).get("strategy")


def snapshot_kimg(path: Path) -> float | None:
    """kimg of a trainer snapshot named ``grid-<kimg>k<nimg % 1000>.png``."""
    m = GRID_RE.search(path.name)
    return int(m.group(1)) + int(m.group(2)) / 1000 if m else None


def snapshots(folder: Path) -> list[tuple[float, Path]]:
    """(kimg, path) of a run folder's sample grids, in training order."""
    out = [(k, p) for p in Path(folder).glob("grid-*.png") if (k := snapshot_kimg(p)) is not None]
    return sorted(out)


# ------------------------------------------------------------------------------------------------- run folders

@dataclass
class Run:
    """One finetune run (target x arm) and what the pipeline wrote for it."""
    key: str
    target: str
    strategy: str                                        # the arm: a strategy (dvc) or the pretraining source
    log: list[dict] = field(default_factory=list)       # fid.jsonl records with numeric kimg and fid
    metrics: dict | None = None                          # eval/<key>/metrics.json
    samples: Path | None = None                          # eval/<key>/samples.png, else the last finetune grid


def run_names(root: Path) -> dict[str, str]:
    """run key -> target, from params.yaml's finetune.runs when present."""
    p = root / "params.yaml"
    if not p.is_file():
        return {}
    import yaml

    try:
        runs = (yaml.safe_load(p.read_text()) or {}).get("finetune", {}).get("runs", {})
        return {k: v["target"] for k, v in runs.items() if isinstance(v, dict) and "target" in v}
    except Exception:  # noqa: BLE001 - a broken params.yaml only costs us the nicer names
        return {}


def split_key(key: str, targets: dict[str, str], known: tuple[str, ...] = ()) -> tuple[str, str]:
    """(target, arm) of a run key: from params.yaml's runs (``targets``), else the longest known target name
    (``known``: the folders under data/real/) that prefixes it, else ``<target>-<strategy>``."""
    target = targets.get(key)
    if target and key.startswith(target + "-"):
        return target, key[len(target) + 1:]
    if target:
        return target, key
    for t in sorted(known, key=len, reverse=True):
        if key.startswith(t + "-") and len(key) > len(t) + 1:
            return t, key[len(t) + 1:]
    head, _, tail = key.rpartition("-")
    return (head, tail) if head and tail in STRATEGIES else (key, "?")


def gather_runs(root: Path) -> list[Run]:
    """Every finetune run of a run tree (RUN_LAYOUT), sorted by target, then scratch, full, freezed, others."""
    root = Path(root)
    targets = run_names(root)
    real = root / "data" / "real"
    known = tuple(d.name for d in real.iterdir() if d.is_dir()) if real.is_dir() else ()
    keys = set()
    for base in (root / "runs" / "finetune", root / "eval"):
        if base.is_dir():
            keys |= {d.name for d in base.iterdir() if d.is_dir()}
    runs = []
    for key in sorted(keys):
        target, strategy = split_key(key, targets, known)
        run = Run(key, target, strategy)
        ft, ev = root / "runs" / "finetune" / key, root / "eval" / key
        run.log = read_fid_log(ft / "fid.jsonl")
        run.metrics = read_json(ev / "metrics.json") or None
        if (ev / "samples.png").is_file():
            run.samples = ev / "samples.png"
        elif snaps := snapshots(ft):
            run.samples = snaps[-1][1]
        runs.append(run)
    order = {s: i for i, s in enumerate(STRATEGIES)}
    return sorted(runs, key=lambda r: (r.target, order.get(r.strategy, 99), r.strategy))


# --------------------------------------------------------------------------------------------------- drawing

def curves_png(title: str, curves: dict[str, list[tuple[float, float]]], legend_title: str | None = None,
               mark: tuple[float, float] | None = None) -> bytes:
    """FID against kimg, one labelled line per entry of ``curves`` ({label: [(kimg, fid), ...]}), on one set of
    axes with the x axis from 0 (so a short run does not get a zoomed-in axis such as 0.19..0.21), optionally a
    marked point (kimg, fid) labelled "this evaluation"; a single curve gets its best point annotated. The one
    FID-curves picture: the report's, ``primps repro``'s fid_<target>.png and evaluate's fid_curve.png."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.add_subplot()
    xs, ys = [], []
    for label, points in curves.items():
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", ms=4, label=label)
            xs += [x for x, _ in points]
            ys += [y for _, y in points]
    drawn = [p for p in curves.values() if p]
    if len(drawn) == 1:
        bx, by = min(drawn[0], key=lambda p: p[1])
        ax.annotate(f"best {by:.1f} @ {bx:g} kimg", (bx, by), textcoords="offset points", xytext=(0, -14),
                    ha="center", fontsize=8)
    if mark is not None and all(math.isfinite(v) for v in mark):
        ax.scatter([mark[0]], [mark[1]], color="red", zorder=3, label="this evaluation")
        xs, ys = xs + [mark[0]], ys + [mark[1]]
    if xs:
        ax.set_xlim(0, (max(xs) if max(xs) > 0 else 1.0) * 1.05)
        lo, hi = min(ys), max(ys)
        pad = max((hi - lo) * 0.15, abs(hi) * 0.02, 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    else:
        ax.set_xlim(left=0)
    ax.set_xlabel("training progress (kimg = thousands of real images shown)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if xs:
        ax.legend(title=legend_title, fontsize=8, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
