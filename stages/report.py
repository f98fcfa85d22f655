"""`primps report RUN_DIR`: one self-contained HTML page for a run tree (the demo's or any `dvc repro` tree, or
the ``--out`` of `primps repro`: both write the run layout of ``trainers/runs.py``, which reads it).

What it looks for under RUN_DIR (every part is optional; a missing part becomes a note in the page):

* the synthesizer preview grid: ``runs/preview.png`` (the dvc ``preview`` stage), else ``preview.png``;
* pretraining snapshots: ``runs/pretrain/grid-*.png`` (or ``runs/pretrain/<source>/grid-*.png`` per synthetic
  source), a few spread over time;
* finetune runs: ``runs/finetune/<target>-<arm>/`` with ``fid.jsonl`` (the FID-vs-kimg log) and ``grid-*.png``;
* their evaluations: ``eval/<target>-<arm>/metrics.json`` and ``samples.png``;
* the real images of each target: ``data/real/<target>/shard-*.tar`` (a few decoded into a grid).

Target and arm come from ``params.yaml``'s ``finetune.runs`` when RUN_DIR has one, else from the run name
(``<target>-<arm>``, the target being a folder of ``data/real/``). Every picture is embedded as a base64 ``data:``
URI, so the file opens anywhere, offline.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
import tarfile
from pathlib import Path

from primps.pipeline.atomic import atomic_write
from primps.pipeline.errors import UsageError
from primps.trainers.runs import Run, curves_png, gather_runs, is_number, snapshots

N_SNAPSHOTS = 6          # pretraining snapshots shown
N_REAL = 16              # real images per target


# ------------------------------------------------------------------------------------------------- gathering

def spread(items: list, n: int) -> list:
    """At most ``n`` items, evenly spaced, always keeping the first and the last."""
    if len(items) <= n:
        return list(items)
    idx = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in idx]


def real_grid_png(folder: Path, n: int = N_REAL) -> bytes | None:
    """A PNG grid of the first ``n`` images of a shard folder (``shard-*.tar``), or None when there are none."""
    import numpy as np

    from primps.pipeline.grid import make_grid
    from primps.pipeline.shards import decode_image

    imgs = []
    for shard in sorted(folder.glob("shard-*.tar")):
        with tarfile.open(shard) as tf:
            for m in tf:
                if len(imgs) >= n:
                    break
                ext = m.name.rsplit(".", 1)[-1]
                if m.isfile() and ext in ("png", "jpg", "jpeg"):
                    imgs.append(decode_image(tf.extractfile(m).read(), ext))
        if len(imgs) >= n:
            break
    if not imgs:
        return None
    return png_bytes(make_grid(np.stack(imgs), pad=2))


def png_bytes(array) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


# -------------------------------------------------------------------------------------------------- drawing

def fid_curves_png(target: str, runs: list[Run]) -> bytes:
    """FID against kimg for every strategy of one target, on one set of axes."""
    return curves_png(f"{target}: FID during finetuning, " + " vs ".join(r.strategy for r in runs),
                      {r.strategy: [(rec["kimg"], rec["fid"]) for rec in r.log] for r in runs}, "strategy")


# ------------------------------------------------------------------------------------------------- the page

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
figure{display:inline-block;margin:.4em 1em .8em 0;vertical-align:top} figcaption{font-size:.9em;color:#444}
img{image-rendering:pixelated;border:1px solid #ccc} table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .8em;text-align:right} th{background:#f4f4f4}
td:first-child,td:nth-child(2){text-align:left} .note{color:#8a5a00;font-style:italic}"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png: bytes, caption: str, width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    return (f'<figure><img src="{data_uri(png)}" alt="{html.escape(caption)}"{w}>'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def note(text: str) -> str:
    return f'<p class="note">{html.escape(text)}</p>'


def fmt(v, spec: str) -> str:
    return format(v, spec) if is_number(v) else "–"


def _img_width(png: bytes, scale: int = 3, cap: int = 520) -> int:
    from PIL import Image

    return min(cap, Image.open(io.BytesIO(png)).width * scale)


def build_report(root: str | Path) -> tuple[str, list[str]]:
    """(HTML text, notes about missing parts) for the run tree at ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"run folder not found: {root}")
    notes: list[str] = []
    parts = [f"<h1>primps run report</h1><p>Run folder: <code>{html.escape(str(root.resolve()))}</code></p>"]

    runs = gather_runs(root)
    parts.append("<h2>Results</h2>")
    rows = [r for r in runs if r.metrics]
    if rows:
        select = any(is_number(r.metrics.get("fid_select")) for r in rows)  # best FID of the finetune log, if given
        parts.append("<table><tr><th>target</th><th>strategy</th><th>FID</th>"
                     + ("<th>FID at selection</th>" if select else "")
                     + "<th>KID ×10³</th><th>kimg</th><th>generated / real images</th></tr>")
        for r in rows:
            m = r.metrics
            kid = m.get("kid") * 1e3 if is_number(m.get("kid")) else None
            sel = f"<td>{fmt(m.get('fid_select'), '.1f')}</td>" if select else ""
            parts.append(f"<tr><td>{html.escape(r.target)}</td><td>{html.escape(r.strategy)}</td>"
                         f"<td>{fmt(m.get('fid'), '.1f')}</td>{sel}<td>{fmt(kid, '.1f')}</td>"
                         f"<td>{fmt(m.get('kimg'), '.3g')}</td><td>{m.get('n_gen', '–')} / {m.get('n_real', '–')}"
                         "</td></tr>")
        parts.append("</table><p>FID and KID of each run's best checkpoint (eval/&lt;run&gt;/metrics.json)"
                     + (", re-scored on fresh latents; 'FID at selection' is the value that picked it" if select
                        else "")
                     + ". At demo scale they only compare the runs with each other; the paper's protocol uses 5000 "
                       "generated images.</p>")
    else:
        notes.append("no evaluations found (eval/*/metrics.json)")
        parts.append(note(notes[-1]))

    parts.append("<h2>Synthetic pretraining data</h2>")
    preview = next((p for p in (root / "runs" / "preview.png", root / "preview.png") if p.is_file()), None)
    if preview:
        png = preview.read_bytes()
        parts.append(figure(png, "Synthesizer variants, one row each: pinknoise, primitives, primitives-s, "
                                 "primitives-ps (the one used for pretraining)", _img_width(png, 1, 1000)))
    else:
        notes.append("no preview grid found (runs/preview.png or preview.png)")
        parts.append(note(notes[-1]))

    parts.append("<h2>Pretraining snapshots</h2>")
    pre = root / "runs" / "pretrain"
    # dvc: one pretraining run in runs/pretrain; primps repro: one per synthetic source, runs/pretrain/<source>
    sources = [("", pre)] if snapshots(pre) else \
        [(d.name, d) for d in sorted(pre.iterdir()) if d.is_dir() and snapshots(d)] if pre.is_dir() else []
    if sources:
        parts.append("<p>Generator samples from the same fixed latents as pretraining goes on.</p>")
        for name, folder in sources:
            for kimg, p in spread(snapshots(folder), N_SNAPSHOTS):
                png = p.read_bytes()
                what = f"{name}, after {kimg:g} kimg" if name else f"after {kimg:g} kimg"
                parts.append(figure(png, what, _img_width(png, 2, 260)))
    else:
        notes.append("no pretraining snapshots found (runs/pretrain/grid-*.png)")
        parts.append(note(notes[-1]))

    for target in sorted({r.target for r in runs}):
        truns = [r for r in runs if r.target == target]
        parts.append(f"<h2>Target: {html.escape(target)}</h2>")
        real_dir = root / "data" / "real" / target
        real = real_grid_png(real_dir) if real_dir.is_dir() else None
        if real:
            parts.append(figure(real, f"{target}: real training images", _img_width(real, 2, 300)))
        else:
            notes.append(f"no real images found for {target} (data/real/{target}/shard-*.tar)")
            parts.append(note(notes[-1]))
        for r in truns:
            if r.samples:
                png = r.samples.read_bytes()
                parts.append(figure(png, f"{target}, {r.strategy}: generated samples", _img_width(png, 2, 300)))
            else:
                notes.append(f"no samples found for {r.key}")
                parts.append(note(notes[-1]))
        logged = [r for r in truns if r.log]
        if logged:
            parts.append("<br>" + figure(fid_curves_png(target, logged), f"{target}: FID vs kimg per strategy"))
        else:
            notes.append(f"no FID log found for {target} (runs/finetune/{target}-*/fid.jsonl)")
            parts.append(note(notes[-1]))
    if not runs:
        notes.append("no finetune runs found (runs/finetune/*, eval/*)")
        parts.append(note(notes[-1]))

    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>primps run report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    return page, notes


def write_report(root: str | Path, out: str | Path | None = None) -> tuple[Path, list[str]]:
    page, notes = build_report(root)
    out = Path(out) if out else Path(root) / "report.html"
    atomic_write(out, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return out, notes


# ---------------------------------------------------------------------------------------------------------- CLI

def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="one self-contained HTML page of a run: preview, pretraining, samples, FID curves",
        description="Collect what a pipeline run wrote under RUN_DIR (the demo's, or any `dvc repro` tree: "
                    "runs/preview.png, runs/pretrain/grid-*.png, runs/finetune/*/fid.jsonl, eval/*/metrics.json "
                    "and samples.png, data/real/*/) into one HTML file with every picture embedded, so it opens "
                    "anywhere. Missing parts are listed in the page instead of failing.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run folder (the repository root after `dvc repro`)")
    p.add_argument("--out", default=None, help="output HTML file (default: RUN_DIR/report.html)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from primps.stages import checks

    run_dir = checks.existing_path(args.run_dir, "RUN_DIR", "run folder")
    if not run_dir.is_dir():
        raise UsageError(f"RUN_DIR {args.run_dir} is not a folder")
    checks.output_file(args.out if args.out is not None else run_dir / "report.html", "--out", (".html", ".htm"))
    out, notes = write_report(args.run_dir, args.out)
    for n in notes:
        print(f"primps report: note: {n}", file=sys.stderr)
    print(f"primps report: wrote {out}")
    return 0
