"""The budget plan of `primps repro`: from measured speeds to kimg per job.

Calibration gives, at the concurrency that will be used, the seconds per kimg of one training job while the others
run (``sec_per_kimg``), the start-up cost of a job (``start_s``: interpreter, imports, model build, checkpoint) and
the cost of one FID evaluation (``eval_s``). ``solve`` then picks the finetune kimg F (and the pretrain kimg
P = ratio * F, the paper's 800:400 is ratio 2) so that the whole run fits the remaining budget under two limits:

* the total work divided by the concurrency (jobs share the GPU), and
* the critical path: a pretrain, then a finetune with its evaluations, then the re-scoring evaluation.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from primps.pipeline.errors import UsageError


@dataclass(frozen=True)
class Speed:
    concurrency: int
    sec_per_kimg: float     # one training job, with ``concurrency`` jobs running at once
    start_s: float          # fixed cost per job
    eval_s: float           # one FID evaluation (n_gen generated images + Inception)

    def to_dict(self) -> dict:
        return asdict(self)


def steady_sec_per_kimg(stats_path: Path) -> float | None:
    """Median ``sec_per_kimg`` of a training log, leaving out the first record (warm-up) when there are others."""
    vals = []
    try:
        lines = Path(stats_path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            v = json.loads(line).get("sec_per_kimg")
        except (ValueError, AttributeError):
            continue
        if isinstance(v, (int, float)) and math.isfinite(v) and v > 0:
            vals.append(float(v))
    if len(vals) > 1:
        vals = vals[1:]
    return statistics.median(vals) if vals else None


def pick_concurrency(throughput: dict[int, float], gain: float = 1.1) -> int:
    """The smallest concurrency whose total throughput (kimg/s, all jobs together) is within reach of the best:
    a larger one is taken only if it beats the smaller by at least ``gain``."""
    best = min(throughput)
    for c in sorted(throughput):
        if throughput[c] >= gain * throughput[best]:
            best = c
    return best


def _round_kimg(k: float, batch: int) -> float:
    step = batch / 1000
    return round(max(step, math.floor(k / step) * step), 6)


def solve(budget_s: float, elapsed_s: float, speed: Speed, n_pretrain: int, n_finetune: int, ratio: float,
          n_evals: int, batch: int, margin: float = 0.9) -> dict:
    """kimg for pretrain and finetune filling ``margin`` of the remaining budget; raises UsageError if none fits."""
    c, s, t0, te = speed.concurrency, speed.sec_per_kimg, speed.start_s, speed.eval_s
    remain = (budget_s - elapsed_s) * margin
    ratio_eff = ratio if n_pretrain else 0.0
    fixed_work = n_pretrain * t0 + n_finetune * ((n_evals + 1) * te + t0) + n_finetune * (te + t0)
    per_f_work = s * (n_pretrain * ratio + n_finetune)
    f_work = (c * remain - fixed_work) / per_f_work
    fixed_crit = (t0 if n_pretrain else 0.0) + t0 + (n_evals + 1) * te + te + t0
    f_crit = (remain - fixed_crit) / (s * (ratio_eff + 1))
    f = min(f_work, f_crit)
    if not f > batch / 1000:
        raise UsageError(f"the budget is too small: after {elapsed_s:.0f} s of set-up and calibration, "
                         f"{budget_s - elapsed_s:.0f} s are left, but the fixed costs alone (job start-up "
                         f"{t0:.0f} s, FID evaluation {te:.0f} s each) need about "
                         f"{max(fixed_crit, fixed_work / c):.0f} s;"
                         f" raise --budget-min or lower --n-gen / --n-evals")
    fk = _round_kimg(f, batch)
    pk = _round_kimg(ratio * fk, batch) if n_pretrain else 0.0
    work = fixed_work + s * (n_pretrain * pk + n_finetune * fk)
    crit = fixed_crit + s * (pk + fk)
    return {
        "pretrain_kimg": pk, "finetune_kimg": fk, "eval_every": round(fk / n_evals, 6),
        "expected_s": {"pretrain_one": round(t0 + s * pk, 1) if n_pretrain else 0.0,
                       "finetune_one": round(t0 + s * fk + (n_evals + 1) * te, 1),
                       "evaluate_one": round(t0 + te, 1),
                       "total": round(elapsed_s + max(work / c, crit), 1)},
        "limited_by": "critical path" if f_crit < f_work else "total work / concurrency",
    }
