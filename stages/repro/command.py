"""`primps repro`: the paper's comparison (scratch vs pretrained on PinkNoise vs on Primitives-PS, each finetuned with
DiffAugment on ~100 images) at reduced scale, in one resumable command.

It runs `primps` sub-commands as subprocesses (``stages/repro/jobs.py``), a few at a time on one device:
``ingest`` per target, ``pretrain`` per synthetic source, ``finetune`` per arm x target, ``evaluate`` (best
checkpoint re-scored on a fresh seed) per arm x target. Layout of ``--out``::

    data/real/<target>/       ingested low-shot set (shards, README.md, .primps/manifest.json)
    runs/pretrain/<source>/   pretraining (last.pt, stats.jsonl, grids)
    runs/finetune/<target>-<arm>/   finetune (fid.jsonl, best.pt, last.pt)
    eval/<target>-<arm>/      metrics.json, samples.png

(the run layout of ``dvc.yaml`` too, ``trainers/runs.py``, so ``primps report OUT`` reads it)
    calib/                    calibration runs (with --budget-min)
    logs/, state/             one log and one marker per job
    plan.json                 settings, kimg per job, calibration (a rerun reuses it)
    results.json, results.md, fid_<target>.png, samples_<arm>_<target>.png   (``stages/repro/report.py``)
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from primps.pipeline.atomic import atomic_write_json
from primps.pipeline.config import SYNTH_PRESETS
from primps.pipeline.errors import UsageError
from primps.stages.cli import hidden_alias
from primps.trainers.runs import run_key

ARMS = {"scratch": None, "pinknoise": "pinknoise", "primitives-ps": "primitives-ps", "primitives": "primitives",
        "primitives-s": "primitives-s"}
DEFAULT_ARMS = "scratch,pinknoise,primitives-ps"
DIFFAUG = "color,translation,cutout"
REPO = Path(__file__).resolve().parents[2]  # stages/repro/command.py -> the repository root
# --tiny: the same code path at 32^2 on the CPU in a few minutes (CI).
TINY = dict(resolution=32, train_preset="cpu-smoke", pretrain_kimg=0.032, finetune_kimg=0.032, eval_every=0.016,
            n_gen=8, device="cpu", concurrency=2)


@dataclass(frozen=True)
class ReproConfig:
    targets: tuple[str, ...]
    lowshot_dir: str
    arms: tuple[str, ...]
    resolution: int
    preset: str
    seed: int
    device: str
    n_gen: int
    n_evals: int
    eval_every: float | None
    pretrain_ratio: float
    synth_preset: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"], d["arms"] = list(self.targets), list(self.arms)
        return d

    @property
    def sources(self) -> list[str]:
        return [ARMS[a] for a in self.arms if ARMS[a] is not None]


# ---------------------------------------------------------------------------------------------- validation
def default_lowshot_dir() -> Path:
    env = os.environ.get("PRIMPS_LOWSHOT_DIR")
    return Path(env) if env else (REPO.parent / "shared" / "data" / "lowshot")


def split_list(text: str, what: str) -> tuple[str, ...]:
    items = tuple(x.strip() for x in text.split(",") if x.strip())
    if not items:
        raise UsageError(f"{what} is empty")
    if len(set(items)) != len(items):
        raise UsageError(f"{what} lists a name twice: {text}")
    return items


def check_device(device: str) -> None:
    kind = device.split(":")[0]
    if kind not in ("cpu", "cuda"):
        raise UsageError(f"--device must be cpu or cuda[:N], got {device!r}")
    if kind == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        raise UsageError(f"--device {device}: no CUDA device is available")


def make_config(args) -> ReproConfig:
    from primps.stages import checks

    lowshot = Path(args.lowshot_dir) if args.lowshot_dir else default_lowshot_dir()
    if not lowshot.is_dir():
        raise UsageError(f"low-shot directory not found: {lowshot} (pass --lowshot-dir or set PRIMPS_LOWSHOT_DIR)")
    targets = split_list(args.targets, "--targets")
    for t in targets:
        d = lowshot / t
        if not d.is_dir() or not any(f.is_file() for f in d.rglob("*")):
            raise UsageError(f"target {t!r}: no images in {d}")
    arms = split_list(args.arms, "--arms")
    for a in arms:
        if a not in ARMS:
            raise UsageError(f"unknown arm {a!r} (choose from {', '.join(ARMS)})")
    if args.resolution is not None:
        checks.training_resolution(args.resolution, "--resolution")
    for name in ("pretrain_kimg", "finetune_kimg", "eval_every", "budget_min"):
        if getattr(args, name) is not None:
            checks.positive_float(getattr(args, name), f"--{name.replace('_', '-')}")
    if args.n_gen < 2:
        raise UsageError(f"--n-gen must be >= 2, got {args.n_gen}")
    if args.n_evals < 1 or args.seed < 0 or not args.pretrain_ratio > 0:
        raise UsageError("--n-evals must be >= 1, --seed >= 0 and --pretrain-ratio > 0")
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError(f"--concurrency must be >= 1, got {args.concurrency}")
    fixed = args.finetune_kimg is not None and (args.pretrain_kimg is not None or all(a == "scratch" for a in arms))
    if args.budget_min is None and not fixed:
        raise UsageError("give a wall-clock budget (--budget-min M) or fix the kimg (--pretrain-kimg and "
                         "--finetune-kimg)")
    if args.budget_min is not None and (args.pretrain_kimg is not None or args.finetune_kimg is not None):
        raise UsageError("--budget-min chooses the kimg itself; drop it or drop --pretrain-kimg/--finetune-kimg")
    checks.output_dir(args.out, "--out")
    check_device(args.device)
    return ReproConfig(targets, str(lowshot.resolve()), arms, args.resolution, args.train_preset, args.seed,
                       args.device, args.n_gen, args.n_evals, args.eval_every, args.pretrain_ratio, args.synth_preset)


# ---------------------------------------------------------------------------------------------- jobs
class Layout:
    def __init__(self, out: Path):
        self.out = Path(out)

    def data(self, target: str) -> Path:
        return self.out / "data" / "real" / target

    def manifest(self, target: str) -> Path:
        from primps.pipeline.manifest import folder_manifest_path

        return folder_manifest_path(self.data(target))

    def pretrain(self, source: str) -> Path:
        return self.out / "runs" / "pretrain" / source

    def finetune(self, arm: str, target: str) -> Path:
        return self.out / "runs" / "finetune" / run_key(target, arm)

    def eval(self, arm: str, target: str) -> Path:
        return self.out / "eval" / run_key(target, arm)


class JobBuilder:
    """The `primps` command lines of one repro run."""

    def __init__(self, cfg: ReproConfig, layout: Layout, concurrency: int):
        from primps.trainers.presets import get_preset

        self.cfg, self.L, self.concurrency = cfg, layout, concurrency
        self.batch = get_preset(cfg.preset, resolution=cfg.resolution).batch
        cpu = os.cpu_count() or 1
        self.on_cpu = cfg.device == "cpu"
        self.threads = max(1, cpu // concurrency)
        self.workers = 0 if self.on_cpu else max(1, (cpu - 1) // concurrency)

    def common(self) -> list[str]:
        out = ["--device", self.cfg.device]
        return out + (["--threads", str(self.threads)] if self.on_cpu else [])

    def ingest(self, target: str):
        from primps.stages.repro.jobs import Job

        return Job(f"ingest/{target}", ["ingest", str(Path(self.cfg.lowshot_dir) / target), "--resolution",
                                        str(self.cfg.resolution), "--out", str(self.L.data(target))])

    def data_args(self, source: str) -> list[str]:
        """The pretraining's data: images of ``source`` synthesized on the fly (no render step)."""
        return ["--stream", "--synth-preset", self.cfg.synth_preset, "--variant", source,
                "--loader-workers", str(self.workers)]

    def pretrain(self, name: str, source: str, out: Path, kimg: float, snapshot: float, log_kimg: float | None = None):
        from primps.stages.repro.jobs import Job

        argv = ["pretrain", *self.data_args(source), "--train-preset", self.cfg.preset, "--resolution",
                str(self.cfg.resolution), "--seed", str(self.cfg.seed), "--kimg", num(kimg), "--out", str(out),
                "--snapshot-kimg", num(snapshot), *self.common()]
        if log_kimg is not None:
            argv += ["--log-kimg", num(log_kimg)]
        return Job(name, argv, resume=out / "last.pt", target_kimg=kimg, out_dir=out)

    def finetune(self, arm: str, target: str, kimg: float, eval_every: float):
        from primps.stages.repro.jobs import Job

        out = self.L.finetune(arm, target)
        source = ARMS[arm]
        deps = [f"ingest/{target}"]
        if source is None:
            init = ["--from", "scratch", "--train-preset", self.cfg.preset, "--resolution", str(self.cfg.resolution)]
        else:
            init = ["--init", str(self.L.pretrain(source) / "last.pt"), "--strategy", "full"]
            deps.append(f"pretrain/{source}")
        argv = ["finetune", "--manifest", str(self.L.manifest(target)), *init, "--diffaug", DIFFAUG,
                "--kimg", num(kimg), "--eval-every", num(eval_every), "--eval-n-images", str(self.cfg.n_gen),
                "--seed", str(self.cfg.seed), "--out", str(out), "--snapshot-kimg", num(eval_every),
                *self.common()]
        return Job(f"finetune/{arm}/{target}", argv, deps=deps, resume=out / "last.pt", target_kimg=kimg,
                   out_dir=out)

    def evaluate(self, arm: str, target: str, ckpt: Path | None = None, out: Path | None = None,
                 name: str | None = None, deps: list[str] | None = None, n_gen: int | None = None):
        from primps.stages.repro.jobs import Job

        run = self.L.finetune(arm, target)
        argv = ["evaluate", str(ckpt or run / "best.pt"), "--real", str(self.L.manifest(target)),
                "--seed", str(fresh_seed(self.cfg.seed)), "--n-images", str(n_gen or self.cfg.n_gen),
                "--out", str(out or self.L.eval(arm, target)), "--device", self.cfg.device]
        if ckpt is None:
            argv += ["--log", str(run / "fid.jsonl")]
        return Job(name or f"evaluate/{arm}/{target}", argv,
                   deps=deps if deps is not None else [f"finetune/{arm}/{target}"])

    def all_jobs(self, pretrain_kimg: float, finetune_kimg: float, eval_every: float) -> list:
        cfg = self.cfg
        jobs = [self.ingest(t) for t in cfg.targets]
        for src in cfg.sources:
            jobs.append(self.pretrain(f"pretrain/{src}", src, self.L.pretrain(src), pretrain_kimg,
                                      snapshot=max(pretrain_kimg / 10, self.batch / 1000)))
        # Pretrained arms first: they wait longest; scratch fills free slots while pretraining runs.
        arms = [a for a in cfg.arms if ARMS[a] is None] + [a for a in cfg.arms if ARMS[a] is not None]
        for a in arms:
            jobs += [self.finetune(a, t, finetune_kimg, eval_every) for t in cfg.targets]
        jobs += [self.evaluate(a, t) for a in cfg.arms for t in cfg.targets]
        return jobs


def num(x: float) -> str:
    """A kimg on the command line, exactly (``:g`` would round 1234.564 to 1234.56, which a resume then misreads)."""
    return repr(round(float(x), 6))


def fresh_seed(seed: int) -> int:
    """Latent seed for re-scoring the best checkpoint: never the finetune's selection seed."""
    return seed + 10_007


# ---------------------------------------------------------------------------------------------- the command
HELP = """Reproduce the paper's comparison at reduced scale: for each target set, finetune with DiffAugment
(color,translation,cutout) from scratch and from generators pretrained on PinkNoise and on Primitives-PS (optionally
Primitives, Primitives-S), the same kimg for every arm; select the best checkpoint by FID and re-score it on a fresh
seed. With --budget-min the kimg are chosen from a short calibration so that everything fits the wall-clock budget;
the plan is printed before the work starts. Jobs run as `primps` subprocesses, --concurrency at a time on one device.
Results (results.json, results.md, fid_<target>.png, samples_<arm>_<target>.png) are refreshed after every job;
rerunning the same command resumes: finished jobs are skipped, unfinished ones continue from their checkpoint."""


def register(subparsers) -> None:
    from primps.trainers.presets import preset_names

    p = subparsers.add_parser("repro", help="scratch vs pretrained finetuning comparison in one resumable command",
                              description=HELP, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--targets", default="obama,grumpy_cat", help="comma-separated folders of --lowshot-dir")
    p.add_argument("--lowshot-dir", default=None,
                   help="folder holding the target folders (default: $PRIMPS_LOWSHOT_DIR or ../shared/data/lowshot)")
    p.add_argument("--arms", default=DEFAULT_ARMS, help=f"comma-separated, from {', '.join(ARMS)}")
    p.add_argument("--resolution", type=int, default=None, help="image size (default 64; --tiny 32)")
    p.add_argument("--train-preset", default=None, choices=preset_names(), help="training preset (default small64)")
    hidden_alias(p, "--preset", dest="train_preset", choices=preset_names())
    p.add_argument("--budget-min", type=float, default=None,
                   help="wall-clock budget in minutes for the whole run; kimg chosen by calibration")
    p.add_argument("--pretrain-kimg", type=float, default=None, help="fix the pretraining kimg (no calibration)")
    p.add_argument("--finetune-kimg", type=float, default=None, help="fix the finetuning kimg (no calibration)")
    p.add_argument("--pretrain-ratio", type=float, default=2.0,
                   help="pretrain kimg / finetune kimg under --budget-min (paper: 800/400)")
    p.add_argument("--eval-every", type=float, default=None,
                   help="FID every this many finetuning kimg (default: finetune kimg / --n-evals)")
    p.add_argument("--n-evals", type=int, default=10, help="FID evaluations per finetune (besides kimg 0)")
    p.add_argument("--n-gen", type=int, default=None, help="generated images per FID (default 5000; --tiny 8)")
    p.add_argument("--synth-preset", default="paper", choices=list(SYNTH_PRESETS),
                   help="synthesizer preset of the pretraining data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="jobs at once (default: measured under --budget-min, else 2 on a GPU, 1 on the CPU; --tiny 2)")
    p.add_argument("--out", default="out/repro", help="output folder (rerun with the same one to resume)")
    p.add_argument("--tiny", action="store_true", help="CPU check of the whole path: 32², cpu-smoke, a few steps")
    p.set_defaults(func=run)


def fill_defaults(args) -> None:
    if args.tiny:
        for k in ("resolution", "train_preset", "n_gen", "device", "concurrency"):
            if getattr(args, k) is None:
                setattr(args, k, TINY[k])
        if args.budget_min is None:
            for k in ("pretrain_kimg", "finetune_kimg", "eval_every"):
                if getattr(args, k) is None:
                    setattr(args, k, TINY[k])
    args.resolution = args.resolution or 64
    args.train_preset = args.train_preset or "small64"
    args.n_gen = args.n_gen or 5000
    if args.device is None:
        import torch
        args.device = "cuda" if torch.cuda.is_available() else "cpu"


def load_or_check_plan(path: Path, cfg: ReproConfig) -> dict | None:
    import json

    if not path.is_file():
        return None
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(f"{path} is unreadable; remove it or use another --out") from None
    if plan.get("config") != cfg.to_dict():
        diff = sorted(k for k, v in cfg.to_dict().items() if plan.get("config", {}).get(k) != v)
        raise UsageError(f"{path.parent} holds a run with other settings ({', '.join(diff)}); rerun with the same "
                         f"options to resume, or use another --out")
    return plan


def run(args) -> int:
    from primps.stages.repro import report as repro_report
    from primps.stages.repro.jobs import JobRunner
    from primps.stages.repro.plan import solve

    fill_defaults(args)
    cfg = make_config(args)
    # A SIGTERM (timeout, a job scheduler) stops the running jobs as Ctrl-C does; a rerun resumes them.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    L = Layout(Path(args.out))
    started = time.time()
    plan_path = L.out / "plan.json"
    plan = load_or_check_plan(plan_path, cfg)
    fixed = args.budget_min is None
    if plan is not None:
        print(f"repro: resuming the run in {L.out} (plan from {plan_path})", flush=True)
        started = plan.get("started", started)
    L.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("PRIMPS_CACHE_DIR", str(L.out / "cache"))
    if plan is None:
        conc = args.concurrency or (1 if cfg.device == "cpu" else 2)
        plan = {"config": cfg.to_dict(), "started": started, "command": ["primps", *sys.argv[1:]],
                "budget_min": args.budget_min, "tiny": args.tiny}
        if fixed:
            f = args.finetune_kimg
            plan.update(concurrency=conc, pretrain_kimg=args.pretrain_kimg or 0.0, finetune_kimg=f,
                        eval_every=cfg.eval_every or round(f / cfg.n_evals, 6), calibration=None)
        else:
            from primps.stages.repro.calib import CalibrationFailed, calibrate
            try:
                speed, calib = calibrate(cfg, L, JobBuilder, env, args.concurrency)
            except CalibrationFailed as exc:
                print(f"repro: error: {exc}", file=sys.stderr)
                return 1
            budget_s = args.budget_min * 60
            batch = JobBuilder(cfg, L, speed.concurrency).batch
            sol = solve(budget_s, time.time() - started, speed, len(cfg.sources),
                        len(cfg.arms) * len(cfg.targets), cfg.pretrain_ratio, cfg.n_evals, batch)
            if cfg.eval_every is not None:
                sol["eval_every"] = cfg.eval_every
            plan.update(concurrency=speed.concurrency, calibration=calib, **sol)
        atomic_write_json(plan_path, plan)
    builder = JobBuilder(cfg, L, plan["concurrency"])
    jobs = builder.all_jobs(plan["pretrain_kimg"], plan["finetune_kimg"], plan["eval_every"])
    pre = f"pretrain {plan['pretrain_kimg']:g} kimg x {len(cfg.sources)}, " if cfg.sources else ""
    print(f"repro: plan: {len(jobs)} jobs, {plan['concurrency']} at a time on {cfg.device}; "
          f"{pre}finetune {plan['finetune_kimg']:g} kimg x "
          f"{len(cfg.arms) * len(cfg.targets)} (FID every {plan['eval_every']:g} kimg, n_gen {cfg.n_gen})"
          + (f"; expected {plan['expected_s']['total']:.0f} s of a {args.budget_min:g} min budget"
             if plan.get("expected_s") else ""), flush=True)

    runner = JobRunner(L.out, plan["concurrency"], env=env)
    header = {"plan": plan, "config": cfg.to_dict(), "device": device_name(cfg.device),
              "arms": list(cfg.arms), "targets": list(cfg.targets)}
    layout = {(a, t): {"run": L.finetune(a, t), "eval": L.eval(a, t)} for a in cfg.arms for t in cfg.targets}

    def states():
        by = {j.name: runner.state(j) for j in jobs}
        return {(a, t): {"pretrain": by.get(f"pretrain/{ARMS[a]}", {}) if ARMS[a] else {},
                         "finetune": by.get(f"finetune/{a}/{t}", {}), "evaluate": by.get(f"evaluate/{a}/{t}", {})}
                for (a, t) in layout}

    def refresh(complete: bool = False):
        header["jobs"] = {j.name: {k: v for k, v in runner.state(j).items() if k in ("status", "wall_s_total", "rc",
                                                                                     "attempts")} for j in jobs}
        return repro_report.write_all(L.out, header, layout, states(), started, complete)

    runner.on_change = refresh
    status = runner.run(jobs)
    ok = all(s == "done" for s in status.values())
    res = refresh(complete=ok)
    print(f"repro: {'finished' if ok else 'finished with failed jobs'} in {res['wall_s']:.0f} s; "
          f"see {L.out / 'results.md'}", flush=True)
    return 0 if ok else 1


def device_name(device: str) -> str:
    import platform

    if device.startswith("cuda"):
        import torch
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
