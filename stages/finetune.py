"""`primps finetune`: finetune a pretrained StyleGAN2 on a low-shot set (scratch / full / freezed K), tracking FID."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from primps.pipeline.errors import UsageError
from primps.stages import checks
from primps.stages.cli import hidden_alias
from primps.stages.train_options import DEFAULT_PRESET, DEVIATIONS, add_common, make_config, setup_runtime

STRATEGIES = ("scratch", "full", "freezed")

HELP = """Finetune on a low-shot manifest (from `primps ingest`). Strategies: scratch (fresh weights, --train-preset);
full (load G, D, G_ema from --init and train everything, as in TransferGAN); freezed (as full, but the first
--freeze-d K discriminator blocks, counted from the image input side, stay frozen, as in FreezeD). Optimizers and the
kimg counter start fresh; the path-length running mean carries over from --init. DiffAugment is on by default. The
FID/KID of G_ema (random noise, latents and noise from --eval-seed) is computed at kimg 0 and every --eval-every kimg
(trainers.metrics.FIDEvaluator) and appended to OUT/fid.jsonl ({"kimg", "fid", "kid", "seed"}); the lowest-FID
checkpoint is kept as OUT/best.pt next to OUT/last.pt. That FID is selection-biased: report best.pt re-scored by
`primps evaluate` on a fresh seed. --resume OUT/last.pt continues a finetune run. --profile paper-ps / diffaugment
sets the training protocol of the Primitives-PS paper / of DiffAugment's published runs.

""" + DEVIATIONS


def register(subparsers) -> None:
    from primps.trainers.presets import preset_names, profile_names

    p = subparsers.add_parser("finetune", help="finetune a pretrained generator on a low-shot set, tracking FID",
                              description=HELP)
    p.add_argument("--manifest", required=True, help="low-shot shard manifest JSON (from `primps ingest`)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--init", default=None, help="pretrained checkpoint (from `primps pretrain`)")
    src.add_argument("--from", dest="from_", choices=["scratch"], default=None,
                     help="'scratch': start from fresh weights (same as --strategy scratch)")
    p.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="scratch, full or freezed (default: full with --init, scratch otherwise)")
    p.add_argument("--freeze-d", type=int, default=None,
                   help="freezed: number of D blocks to freeze, from the image side (block 0 holds fromRGB); "
                        "stylegan2-ada's --freezed counts layers: --freeze-d K = --freezed 3K+1")
    p.add_argument("--train-preset", default=DEFAULT_PRESET, choices=preset_names(),
                   help="training config preset for scratch")
    hidden_alias(p, "--preset", dest="train_preset", choices=preset_names())
    p.add_argument("--resolution", type=int, default=None,
                   help="scratch only: override the preset's resolution (must match the manifest)")
    p.add_argument("--profile", default=None, choices=profile_names(),
                   help="a published finetuning protocol laid over the checkpoint's (or preset's) training fields, "
                        "architecture kept: paper-ps (what the Primitives-PS paper ran: batch 16, lr 0.002, R1 10, "
                        "EMA 10 kimg, no ramp-up, no x-flip; 400 kimg) or diffaugment (DiffAugment's 100-shot runs: "
                        "x-flip on, G_ema = G for the first 10 kimg, no path length; 300 kimg); README.md gives the "
                        "sources. --batch and --diffaug still override it; a --resume run keeps its own")
    p.add_argument("--diffaug", default="color,translation,cutout", help="DiffAugment policy ('' = off)")
    p.add_argument("--eval-every", type=float, default=0.0,
                   help="evaluate FID/KID every this many kimg (0 = only at the end, negative = never)")
    p.add_argument("--eval-n-images", dest="n_gen", metavar="N", type=int, default=5000,
                   help="generated images per FID evaluation")
    hidden_alias(p, "--n-gen", dest="n_gen", type=int)
    p.add_argument("--eval-batch", type=int, default=32, help="batch size for FID evaluation")
    p.add_argument("--eval-seed", type=int, default=0,
                   help="seed of the latents and noise used to select best.pt (evaluate re-scores on another seed)")
    add_common(p)
    p.set_defaults(func=run)


class EvalHook:
    """Evaluates G_ema (random noise), appends {kimg, fid, kid, seed} to OUT/fid.jsonl and keeps the lowest-FID
    checkpoint as best.pt. Runs at kimg 0 too (``at_start``), so every curve starts from the initial model."""

    at_start = True

    def __init__(self, evaluator, out_dir: Path, every_kimg: float, seed: int = 0):
        self.evaluator = evaluator
        self.out = Path(out_dir)
        self.every_kimg = every_kimg
        self.seed = int(seed)

    def __call__(self, trainer, done: bool) -> None:
        from primps.trainers.networks import full_precision

        def fn(z, generator=None):
            with full_precision(trainer.G_ema):   # metrics in float32 even when training in bf16/fp16
                return trainer.G_ema(z.to(trainer.device), noise_mode="random", generator=generator)

        fn.z_dim = trainer.cfg.z_dim
        fn.takes_generator = True
        res = self.evaluator.evaluate(fn)
        if trainer.rank != 0:
            return
        fid = float(res["fid"])
        rec = {"kimg": round(trainer.kimg, 4), "fid": fid, "kid": float(res.get("kid", math.nan)), "seed": self.seed}
        trainer.extra["eval_seed"] = self.seed
        best = trainer.extra.get("best_fid", math.inf)
        if math.isfinite(fid) and fid < best:
            trainer.extra.update(best_fid=fid, best_kimg=trainer.kimg)
            trainer.save(self.out / "best.pt")
        rec["best_fid"] = trainer.extra.get("best_fid")
        with open(self.out / "fid.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")


def resolve_strategy(args) -> str:
    strategy = args.strategy or ("full" if args.init else "scratch")
    if args.resume:
        return strategy
    if strategy == "scratch":
        if args.init:
            raise UsageError("--strategy scratch starts from fresh weights; drop --init")
    elif not args.init:
        raise UsageError(f"--strategy {strategy} needs a pretrained checkpoint: pass --init CKPT")
    if strategy != "scratch" and args.resolution is not None:
        raise UsageError("--resolution only applies to --strategy scratch; a pretrained checkpoint fixes it")
    if strategy == "freezed":
        if args.freeze_d is None:
            raise UsageError("--strategy freezed needs --freeze-d K (discriminator blocks to freeze)")
    elif args.freeze_d is not None:
        raise UsageError("--freeze-d is only valid with --strategy freezed")
    return strategy


def train_config(args, strategy: str):
    """The training config, without torch: the checkpoint's (--resume, else --init) or the preset's (scratch), with
    this command's overrides. Returns (config, checkpoint path or None, checkpoint metadata or None)."""
    from primps.trainers.presets import TrainConfig, apply_profile, get_preset

    ckpt, flag = (args.resume, "--resume") if args.resume else (args.init, "--init")
    if ckpt:  # (resolve_strategy: scratch takes no --init)
        info = checks.checkpoint_info(ckpt, flag)
        base = TrainConfig.from_dict(info["config"])
        if not args.resume:   # a resumed run keeps its config, the profile included
            base = apply_profile(base, args.profile)
        return make_config(args, base), ckpt, info
    return make_config(args, apply_profile(get_preset(args.train_preset), args.profile)), None, None


def build_trainer(args, manifest, strategy: str, cfg=None):
    from primps.trainers.loop import Trainer, default_device

    if cfg is None:
        cfg = train_config(args, strategy)[0]
    device = args.device or default_device()
    if args.resume:
        return Trainer.load(args.resume, device, compile=args.compile, cfg=cfg, precision=args.precision)
    if strategy == "scratch":
        tr = Trainer(cfg, device, args.seed, manifest.dataset_id, compile=args.compile, precision=args.precision)
        tr.extra = {"init": None}
    else:
        tr = Trainer.load(args.init, device, compile=args.compile, weights_only=True, cfg=cfg, seed=args.seed,
                          precision=args.precision)
        tr.manifest_id = manifest.dataset_id
        if strategy == "freezed":
            tr.freeze_d(args.freeze_d)
    tr.extra["strategy"] = strategy
    tr.extra["profile"] = args.profile
    return tr


def finetune(args, evaluator=None) -> int:
    """The command body; ``evaluator`` (anything with ``evaluate(fn) -> {"fid", "kid"}``) may be injected."""
    manifest, strategy, cfg = check_args(args)  # every input up front, before torch

    from primps.pipeline.stream import data_stream
    from primps.trainers.loop import TrainingDiverged

    setup_runtime(args)
    trainer = build_trainer(args, manifest, strategy, cfg)
    hooks = []
    if args.eval_every >= 0:
        if evaluator is None:
            from primps.trainers.metrics import FIDEvaluator
            evaluator = FIDEvaluator(manifest, n_gen=args.n_gen, batch=args.eval_batch, device=str(trainer.device),
                                     seed=args.eval_seed, progress=not args.no_progress)
        hooks.append(EvalHook(evaluator, Path(args.out), args.eval_every, args.eval_seed))
    if trainer.rank == 0:   # only rank 0 writes
        Path(args.out).mkdir(parents=True, exist_ok=True)
    data = data_stream(manifest, trainer, trainer.seed, args.workers)
    try:
        trainer.train(data, args.kimg, args.out, hooks, progress=not args.no_progress)
    except TrainingDiverged as exc:
        print(f"primps finetune: training diverged: {exc}; the last good checkpoint is "
              f"{Path(args.out) / 'last.pt'}", file=sys.stderr)
        return 3
    if trainer.rank == 0:
        best = trainer.extra.get("best_fid")
        print(f"primps finetune: done at kimg {trainer.kimg:.3f} ({strategy}); best FID "
              f"{best if best is not None else 'n/a'}; outputs in {args.out}")
    return 0


def check_args(args):
    """Every argument, input and output of a finetune run, up front and without torch (see ``stages.checks``);
    returns (the target manifest, the strategy, the training config)."""
    checks.training_options(args)
    checks.finite_float(args.eval_every, "--eval-every")
    checks.int_in_range(args.n_gen, "--eval-n-images", 2, 10**7)
    checks.positive_int(args.eval_batch, "--eval-batch")
    strategy = resolve_strategy(args)
    manifest = checks.manifest(args.manifest, "--manifest", kind="ingest")
    if args.resolution is not None:
        checks.training_resolution(args.resolution, "--resolution")
    cfg, ckpt, info = train_config(args, strategy)
    checks.same_resolution(manifest, cfg.resolution, f"checkpoint {ckpt}" if ckpt else f"preset {args.train_preset}")
    if args.resume:
        checks.kimg_to_go(info, args.kimg, args.resume)
    elif strategy == "freezed":
        checks.freeze_d(args.freeze_d, cfg.resolution)
    return manifest, strategy, cfg


def run(args) -> int:
    return finetune(args)
