"""Calibration for `primps repro --budget-min`: measure how fast this machine trains and evaluates.

For each candidate concurrency c (1, 2, 4 on a GPU unless --concurrency fixes it) it runs c short pretrainings at
once (64 steps each, on the first synthetic source) and reads their steady seconds per kimg from ``stats.jsonl``;
total throughput is c / (s/kimg). The smallest c within 10 % of the best throughput is kept. One `primps evaluate`
of a calibration checkpoint against the first target with n_gen/10 images, then one with n_gen, time an FID
evaluation by their difference (the first also fills the real-set cache).
Calibration jobs are ordinary repro jobs (markers, logs), so a killed calibration resumes too.
"""

from __future__ import annotations

import statistics

from primps.stages.repro.plan import Speed, pick_concurrency, steady_sec_per_kimg


class CalibrationFailed(RuntimeError):
    pass


def calibrate(cfg, layout, builder_cls, env, concurrency: int | None) -> tuple[Speed, dict]:
    from primps.stages.repro.jobs import JobRunner

    on_cpu = cfg.device == "cpu"
    candidates = [concurrency] if concurrency else ([1] if on_cpu else [1, 2, 4])
    source = cfg.sources[0] if cfg.sources else "pinknoise"
    steps = 16 if on_cpu else 64
    measured: dict[int, dict] = {}
    first_ckpt = None
    for c in candidates:
        b = builder_cls(cfg, layout, c)
        kimg = steps * b.batch / 1000
        jobs, runs = [b.ingest(cfg.targets[0])], []
        for i in range(c):
            out = layout.out / "calib" / f"c{c}-{i}"
            job = b.pretrain(f"calib/c{c}-{i}", source, out, kimg, snapshot=kimg, log_kimg=kimg / 8)
            jobs.append(job)
            runs.append((job, out))
        runner = JobRunner(layout.out, c, env=env)
        status = runner.run(jobs)
        bad = [n for n, s in status.items() if s != "done"]
        if bad:
            raise CalibrationFailed(f"calibration job(s) {', '.join(bad)} failed; see {layout.out / 'logs'}")
        spk = [steady_sec_per_kimg(out / "stats.jsonl") for _, out in runs]
        if any(v is None for v in spk):
            raise CalibrationFailed(f"calibration at concurrency {c} logged no speed; see {layout.out / 'calib'}")
        s = statistics.median(spk)
        walls = [runner.state(job).get("wall_s_total") or 0.0 for job, _ in runs]
        start = max(0.0, statistics.median(walls) - kimg * s)
        measured[c] = {"sec_per_kimg": s, "start_s": start, "kimg_per_s_total": c / s, "kimg": kimg}
        first_ckpt = first_ckpt or runs[0][1] / "last.pt"
        print(f"repro: calibration: concurrency {c}: {s:.2f} s/kimg per job, {c / s:.3f} kimg/s in total, "
              f"start-up {start:.1f} s", flush=True)
    best = pick_concurrency({c: m["kimg_per_s_total"] for c, m in measured.items()})
    # Two evaluations, small then full: their difference is the cost of generating and scoring n_gen images,
    # which is what each evaluation inside a finetune adds (start-up, weights and real statistics are paid once).
    b = builder_cls(cfg, layout, best)
    target = cfg.targets[0]
    n_small = max(2, cfg.n_gen // 10)
    small = b.evaluate("calib", target, ckpt=first_ckpt, out=layout.out / "calib" / "eval-small",
                       name="calib/evaluate-small", deps=[f"ingest/{target}"], n_gen=n_small)
    full = b.evaluate("calib", target, ckpt=first_ckpt, out=layout.out / "calib" / "eval",
                      name="calib/evaluate", deps=[small.name])
    runner = JobRunner(layout.out, 1, env=env)
    if runner.run([b.ingest(target), small, full]).get(full.name) != "done":
        raise CalibrationFailed(f"calibration evaluation failed; see {layout.out / 'logs'}")
    wall = runner.state(full).get("wall_s_total") or 0.0
    wall_small = runner.state(small).get("wall_s_total") or 0.0
    start = measured[best]["start_s"]
    marginal = (wall - wall_small) * cfg.n_gen / max(1, cfg.n_gen - n_small)
    eval_s = max(marginal, 0.1 * wall)
    speed = Speed(best, measured[best]["sec_per_kimg"], start, eval_s)
    print(f"repro: calibration: using concurrency {best}; one FID evaluation ({cfg.n_gen} images) "
          f"{eval_s:.1f} s", flush=True)
    return speed, {"candidates": {str(c): m for c, m in measured.items()}, "evaluate_wall_s": wall,
                   "evaluate_small_wall_s": wall_small, "evaluate_small_n_gen": n_small,
                   "speed": speed.to_dict()}
