"""Results of `primps repro`: ``results.json``, ``results.md``, ``fid_<target>.png``, ``samples_<arm>_<target>.png``.

Everything is read from what the jobs left on disk (``fid.jsonl`` of each finetune, ``metrics.json`` of each
evaluation, the job markers), so the files can be refreshed at any moment - after every finished job - and a run
taken away mid-way still leaves consistent partial results. Every file is written atomically.
"""

from __future__ import annotations

import time
from pathlib import Path

from primps.pipeline.atomic import atomic_write, atomic_write_json
from primps.trainers.runs import curves_png, num_or_none, read_fid_log, read_json, snapshots


def cell(arm: str, target: str, paths: dict, states: dict) -> dict:
    """One arm x target entry from the run folder, FID log, evaluation and job markers."""
    curve = read_fid_log(paths["run"] / "fid.jsonl")
    best = min(curve, key=lambda r: r["fid"]) if curve else None
    ev = read_json(paths["eval"] / "metrics.json")
    info = {**ev, **read_json(paths["eval"] / "info.json")}   # seeds live in info.json since the trainer issue
    # The evaluation records the selection FID as fid_select (trainer issue); older ones do not.
    fid_select = num_or_none(ev.get("fid_select")) if ev else None
    return {
        "arm": arm, "target": target,
        "best_fid": fid_select if fid_select is not None else (best["fid"] if best else None),
        "best_kimg": best["kimg"] if best else None,   # (evaluate's own "kimg" is the init's pretraining kimg)
        "selection_seed": best.get("seed", info.get("selection_seed")) if best else None,
        "rescored_fid": num_or_none(ev.get("fid")),
        "rescored_kid": num_or_none(ev.get("kid")),
        "rescore_seed": info.get("seed"),
        "n_gen": ev.get("n_gen"), "n_real": ev.get("n_real"),
        "curve": [[r["kimg"], r["fid"]] for r in curve],
        "finetune_wall_s": states.get("finetune", {}).get("wall_s_total"),
        "pretrain_wall_s": states.get("pretrain", {}).get("wall_s_total"),
        "evaluate_wall_s": states.get("evaluate", {}).get("wall_s_total"),
        "status": {k: v.get("status", "pending") for k, v in states.items()},
    }


def _fmt(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def markdown(results: dict) -> str:
    plan = results.get("plan", {})
    lines = [
        "# primps repro: low-shot finetuning, scratch vs pretrained",
        "",
        f"Resolution {results['config']['resolution']}², preset `{results['config']['preset']}`, "
        f"pretrain {plan.get('pretrain_kimg', '–')} kimg, finetune {plan.get('finetune_kimg', '–')} kimg "
        f"(DiffAugment color,translation,cutout), FID every {plan.get('eval_every', '–')} kimg on "
        f"{results['config']['n_gen']} generated images vs all real ones; device {results.get('device', '?')}, "
        f"concurrency {plan.get('concurrency', '–')}. Wall time so far {results.get('wall_s', 0):.0f} s"
        f"{' (complete)' if results.get('complete') else ' (in progress or interrupted)'}.",
        "",
        "| arm | target | best FID (selection seed) | re-scored FID (fresh seed) | kimg of best | finetune wall (s) "
        "| pretrain wall (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in results["cells"]:
        lines.append(f"| {c['arm']} | {c['target']} | {_fmt(c['best_fid'], '.2f')} | {_fmt(c['rescored_fid'], '.2f')}"
                     f" | {_fmt(c['best_kimg'], 'g')} | {_fmt(c['finetune_wall_s'], '.0f')}"
                     f" | {_fmt(c['pretrain_wall_s'], '.0f')} |")
    return "\n".join(lines) + "\n"


def plot_curves(cells: list[dict], target: str, path: Path) -> None:
    png = curves_png(f"{target}: FID during finetuning, one line per arm",
                     {c["arm"]: [(p[0], p[1]) for p in c["curve"]] for c in cells}, "arm")
    atomic_write(path, lambda p: Path(p).write_bytes(png))


def small_grid(src: Path, dst: Path, max_side: int = 512) -> bool:
    """Copy a sample grid, shrunk to at most ``max_side`` pixels; False if there is none (yet)."""
    from PIL import Image

    try:
        with Image.open(src) as im:
            im = im.convert("RGB")
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side), Image.LANCZOS)
            atomic_write(dst, lambda p: im.save(p, format="PNG"))
        return True
    except OSError:
        return False


def write_all(out: Path, header: dict, layout: dict, states: dict, started: float, complete: bool) -> dict:
    """Refresh every result file under ``out``. ``layout[(arm, target)]`` = {"run": dir, "eval": dir};
    ``states[(arm, target)]`` = {"pretrain"|"finetune"|"evaluate": job marker}."""
    cells = [cell(a, t, layout[(a, t)], states[(a, t)]) for (a, t) in layout]
    results = {**header, "cells": cells, "wall_s": round(time.time() - started, 1), "complete": complete,
               "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for c in cells:
        paths = layout[(c["arm"], c["target"])]
        src = paths["eval"] / "samples.png"
        grids = snapshots(paths["run"])
        src = src if src.is_file() else (grids[-1][1] if grids else None)
        name = f"samples_{c['arm']}_{c['target']}.png"
        c["samples"] = name if src is not None and small_grid(src, out / name) else None
    for target in dict.fromkeys(c["target"] for c in cells):
        plot_curves([c for c in cells if c["target"] == target], target, out / f"fid_{target}.png")
    atomic_write_json(out / "results.json", results)
    text = markdown(results)
    atomic_write(out / "results.md", lambda p: p.write_text(text, encoding="utf-8"))
    return results
