"""Readers of what training runs leave on disk, and the one FID-curves figure.

* ``fid.jsonl`` (finetune's FID-vs-kimg log): ``read_jsonl``, ``read_curve``, ``read_fid_log``;
* ``metrics.json`` / ``info.json`` (evaluate): ``read_json``;
* run folders (``runs/finetune/<run>/``, ``eval/<run>/``): ``gather_runs`` -> ``Run``; trainer snapshots ``snapshots``;
* FID against kimg: ``curves_png`` (one line per run) and ``plot_fid_curve`` (one run, with a marked evaluation).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from primps.pipeline.atomic import atomic_write
from primps.pipeline.errors import UsageError

STRATEGIES = ("scratch", "full", "freezed")
GRID_RE = re.compile(r"grid-(\d+)k(\d+)\.png$")


# ------------------------------------------------------------------------------------------------- gathering

@dataclass
class Run:
    """One finetune run (target x strategy) and what the pipeline wrote for it."""
    key: str
    target: str
    strategy: str
    log: list[dict] = field(default_factory=list)       # fid.jsonl records with numeric kimg and fid
    metrics: dict | None = None                          # eval/<key>/metrics.json
    samples: Path | None = None                          # eval/<key>/samples.png, else the last finetune grid


def snapshot_kimg(path: Path) -> float | None:
    """kimg of a trainer snapshot named ``grid-<kimg>k<nimg % 1000>.png``."""
    m = GRID_RE.search(path.name)
    return int(m.group(1)) + int(m.group(2)) / 1000 if m else None


def snapshots(folder: Path) -> list[tuple[float, Path]]:
    out = [(k, p) for p in folder.glob("grid-*.png") if (k := snapshot_kimg(p)) is not None]
    return sorted(out)


def read_jsonl(path: Path) -> list[dict]:
    recs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if isinstance(r, dict) and _num(r.get("kimg")) and _num(r.get("fid")):
            recs.append(r)
    return sorted(recs, key=lambda r: r["kimg"])


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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


def split_key(key: str, targets: dict[str, str]) -> tuple[str, str]:
    target = targets.get(key)
    if target and key.startswith(target + "-"):
        return target, key[len(target) + 1:]
    if target:
        return target, key
    head, _, tail = key.rpartition("-")
    return (head, tail) if head and tail in STRATEGIES else (key, "?")


def gather_runs(root: Path) -> list[Run]:
    targets = run_names(root)
    keys = set()
    for base in (root / "runs" / "finetune", root / "eval"):
        if base.is_dir():
            keys |= {d.name for d in base.iterdir() if d.is_dir()}
    runs = []
    for key in sorted(keys):
        target, strategy = split_key(key, targets)
        run = Run(key, target, strategy)
        ft, ev = root / "runs" / "finetune" / key, root / "eval" / key
        if (ft / "fid.jsonl").is_file():
            run.log = read_jsonl(ft / "fid.jsonl")
        if (ev / "metrics.json").is_file():
            try:
                run.metrics = json.loads((ev / "metrics.json").read_text())
            except ValueError:
                run.metrics = None
        if (ev / "samples.png").is_file():
            run.samples = ev / "samples.png"
        elif snaps := snapshots(ft):
            run.samples = snaps[-1][1]
        runs.append(run)
    order = {s: i for i, s in enumerate(STRATEGIES)}
    return sorted(runs, key=lambda r: (r.target, order.get(r.strategy, 99), r.strategy))


def read_curve(path: Path) -> list[dict]:
    """``fid.jsonl`` records with numeric kimg and finite fid, one per kimg (a resumed run's repeat wins), sorted."""
    by_kimg: dict[float, dict] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            r = json.loads(line)
        except ValueError:
            continue   # a line cut by a kill
        if isinstance(r, dict) and isinstance(r.get("kimg"), (int, float)) \
                and isinstance(r.get("fid"), (int, float)) and math.isfinite(r["fid"]):
            by_kimg[round(float(r["kimg"]), 4)] = r
    return [by_kimg[k] for k in sorted(by_kimg)]


def read_json(path: Path) -> dict:
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def num_or_none(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def read_fid_log(path: str | os.PathLike) -> list[dict]:
    """Records with numeric ``kimg`` and finite ``fid`` from a JSONL log, sorted by kimg."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"FID log not found: {path}")
    recs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            raise UsageError(f"{path}:{n}: not a JSON record") from None
        if isinstance(r, dict) and isinstance(r.get("kimg"), (int, float)) and isinstance(r.get("fid"), (int, float)) \
                and math.isfinite(r["fid"]):
            recs.append(r)
    if not recs:
        raise UsageError(f"FID log {path} has no records with 'kimg' and 'fid'")
    return sorted(recs, key=lambda r: r["kimg"])


def plot_fid_curve(records: list[dict], path: str | os.PathLike, mark: tuple[float, float] | None = None,
                   title: str = "FID vs kimg") -> Path:
    """Line plot of fid against kimg (Agg backend), optional marked point (kimg, fid).

    The x axis starts at 0 and spans at least the logged range, so a short run does not get a zoomed-in axis such as
    0.19..0.21; labels say what the units are.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    xs, ys = [r["kimg"] for r in records], [r["fid"] for r in records]
    ax.plot(xs, ys, marker="o", ms=4, label="finetune log (selection)")
    if mark is not None and all(math.isfinite(v) for v in mark):
        ax.scatter([mark[0]], [mark[1]], color="red", zorder=3, label="this evaluation")
        xs, ys = xs + [mark[0]], ys + [mark[1]]
    best = min(records, key=lambda r: r["fid"])
    ax.annotate(f"best {best['fid']:.1f} @ {best['kimg']:g} kimg", (best["kimg"], best["fid"]),
                textcoords="offset points", xytext=(0, -14), ha="center", fontsize=8)
    span = max(xs) if max(xs) > 0 else 1.0
    ax.set_xlim(0, span * 1.05)
    lo, hi = min(ys), max(ys)
    pad = max((hi - lo) * 0.15, abs(hi) * 0.02, 1.0)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xlabel("training progress (kimg = thousands of real images shown)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path = Path(path)
    atomic_write(path, lambda p: fig.savefig(p, format="png"))
    return path


def checkpoint_strategy(ckpt: str | os.PathLike) -> str | None:
    """The finetune strategy (scratch / full / freezed) recorded in a checkpoint's metadata (read without torch);
    None if absent or unreadable."""
    from primps.trainers.checkpoint import read_metadata

    try:
        st = read_metadata(ckpt)
    except UsageError:  # only a title depends on it
        return None
    return (st.get("extra") or {}).get("strategy")


# --------------------------------------------------------------------------------------------------- drawing

def curves_png(title: str, curves: dict[str, list[tuple[float, float]]], legend_title: str | None = None) -> bytes:
    """FID against kimg, one labelled line per entry of ``curves`` ({label: [(kimg, fid), ...]}), on one set of
    axes with the x axis from 0: the one FID-curves picture of the report and of ``primps repro``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    ax = fig.add_subplot()
    for label, points in curves.items():
        if points:
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", ms=4, label=label)
    ax.set_xlabel("training progress (kimg = thousands of real images shown)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title(title)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    if any(curves.values()):
        ax.legend(title=legend_title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
