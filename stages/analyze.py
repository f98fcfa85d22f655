"""`primps analyze filters CKPT [CKPT ...]`: filter diversity of G and D (the paper's Table 3).

For every convolution weight ``[out, in, kh, kw]`` of the generator and discriminator in a checkpoint, each output
filter is flattened to a vector of ``in * kh * kw`` values and L2-normalised; the layer's score is the mean of the
off-diagonal pairwise cosine similarities (``mean_cos``; ``mean_abs_cos`` also reported). Low values mean diverse
filters. Per-network means over layers are reported too. Results are printed as a table and, with ``--out``,
written as JSON (atomically).

Python API: ``filter_similarity(weight) -> (mean_cos, mean_abs_cos)``, ``analyze_state_dict(sd)``,
``analyze_checkpoint(path, nets=("G", "D")) -> dict``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from primps.pipeline.errors import UsageError
from primps.stages import checks

NETS = ("G", "D", "G_ema")


def filter_similarity(weight) -> tuple[float, float]:
    """(mean, mean absolute) off-diagonal cosine similarity between the flattened output filters of a conv weight."""
    import torch

    w = torch.as_tensor(weight).detach().double()
    n = w.shape[0]
    if n < 2:
        return float("nan"), float("nan")
    v = w.reshape(n, -1)
    v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    g = v @ v.T
    off = ~torch.eye(n, dtype=torch.bool)
    return float(g[off].mean()), float(g[off].abs().mean())


def analyze_state_dict(sd: dict) -> list[dict]:
    """One record per 4-D (convolution) weight of a state dict, in state-dict order."""
    rows = []
    for name, t in sd.items():
        if getattr(t, "ndim", 0) == 4 and name.endswith("weight") and t.shape[0] >= 2:
            m, a = filter_similarity(t)
            rows.append({"layer": name, "shape": list(t.shape), "n_filters": int(t.shape[0]), "mean_cos": m,
                         "mean_abs_cos": a})
    return rows


def analyze_checkpoint(path: str | Path, nets: tuple[str, ...] = ("G", "D")) -> dict:
    from primps.trainers.checkpoint import load_checkpoint

    st = load_checkpoint(path)
    out: dict = {"checkpoint": str(path), "kimg": st.get("cur_nimg", 0) / 1000, "manifest_id": st.get("manifest_id"),
                 "nets": {}}
    for net in nets:
        if net not in st:
            raise UsageError(f"checkpoint {path} has no network {net!r}")
        rows = analyze_state_dict(st[net])
        if not rows:
            raise UsageError(f"network {net} in {path} has no convolution weights")
        out["nets"][net] = {"layers": rows,
                            "mean_cos": sum(r["mean_cos"] for r in rows) / len(rows),
                            "mean_abs_cos": sum(r["mean_abs_cos"] for r in rows) / len(rows)}
    return out


def format_table(results: list[dict]) -> str:
    lines = []
    for res in results:
        lines.append(f"# {res['checkpoint']} (kimg {res['kimg']:g})")
        lines.append(f"{'net':<6} {'layer':<48} {'filters':>7} {'mean cos':>9} {'mean |cos|':>10}")
        for net, d in res["nets"].items():
            for r in d["layers"]:
                lines.append(f"{net:<6} {r['layer'][:48]:<48} {r['n_filters']:>7} {r['mean_cos']:>9.4f} "
                             f"{r['mean_abs_cos']:>10.4f}")
            lines.append(f"{net:<6} {'(mean over layers)':<48} {'':>7} {d['mean_cos']:>9.4f} "
                         f"{d['mean_abs_cos']:>10.4f}")
    return "\n".join(lines)


def register(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="analyses of trained networks (filters: Table 3 filter similarity)",
                              description="Analyses of trained checkpoints.")
    sub = p.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    f = sub.add_parser(
        "filters", help="mean pairwise cosine similarity of conv filters per layer of G and D",
        description="For each convolution layer of G and D: flatten every output filter, L2-normalise, and "
                    "average the off-diagonal pairwise cosine similarities (the paper's Table 3; lower = more "
                    "diverse filters). Prints a table; --out writes JSON.")
    f.add_argument("checkpoints", nargs="+", metavar="CKPT", help="training checkpoint(s) (.pt)")
    f.add_argument("--nets", default="G,D", help=f"comma-separated networks to analyse, from {', '.join(NETS)}")
    f.add_argument("--out", default=None, help="JSON output file")
    f.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    nets = tuple(n.strip() for n in args.nets.split(",") if n.strip())
    bad = [n for n in nets if n not in NETS]
    if bad or not nets:
        raise UsageError(f"--nets: unknown network(s) {', '.join(bad) or '(none)'}; choose from {', '.join(NETS)}")
    if args.out:
        checks.output_file(args.out, "--out", (".json",))
    for c in args.checkpoints:
        checks.checkpoint_info(c, "CKPT")
    results = [analyze_checkpoint(c, nets) for c in args.checkpoints]
    print(format_table(results))
    if args.out:
        from primps.pipeline.atomic import atomic_write_json

        atomic_write_json(args.out, {"analysis": "filters", "results": results})
        print(f"primps analyze filters: wrote {args.out}", file=sys.stderr)
    return 0
